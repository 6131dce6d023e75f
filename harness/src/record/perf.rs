//! `perf record` for one unwinding mode: arguments, start-up, stop, and what it left behind.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Recording, Sink};
use crate::process::{self, Child, Exit, ProcessError};

/// How perf records, beside the unwinding mode.
#[derive(Clone, Debug, Default)]
pub struct PerfOptions {
    /// Sampling frequency in Hz (`-F`); None: perf's default (4000 Hz, capped by
    /// `kernel.perf_event_max_sample_rate`).
    pub freq: Option<u32>,
    /// Time to wait before enabling the events (`--delay`): the workload's ramp.
    pub delay: Duration,
}

/// `--delay` and `-F`, which perf and the online recorder take alike.
fn timing_args(opts: &PerfOptions) -> Vec<String> {
    let mut args = Vec::new();
    if !opts.delay.is_zero() {
        args.push("--delay".into());
        args.push(opts.delay.as_millis().to_string());
    }
    if let Some(freq) = opts.freq {
        args.push("-F".into());
        args.push(freq.to_string());
    }
    args
}

/// The harness's own online recorder (`unwindbench online-record`) for `online:SIZE` modes:
/// the same options as perf's, driven the same way (it prints perf's milestones).
fn online_args(rec: Recording, opts: &PerfOptions, output: &Path) -> Vec<String> {
    let mut args = vec![
        "online-record".to_string(),
        "-o".to_string(),
        output.display().to_string(),
    ];
    args.extend(timing_args(opts));
    args.extend(rec.mode.perf_args());
    args
}

/// perf's arguments for a system-wide recording into `output` (a file), or to stdout for the
/// pipe sink.
pub fn record_args(rec: Recording, opts: &PerfOptions, output: &Path) -> Vec<String> {
    let target = match rec.sink {
        Sink::File => output.display().to_string(),
        Sink::Pipe => "-".to_string(),
    };
    let mut args = vec![
        "record".to_string(),
        "-a".to_string(),
        "-o".to_string(),
        target,
        // Build ids of every mapped DSO, without the end-of-run pass over all samples that
        // perf otherwise makes to find the hit ones (minutes on a 10 GB DWARF file).
        "--buildid-all".to_string(),
    ];
    args.extend(timing_args(opts));
    args.extend(rec.mode.perf_args());
    if let Some(k) = rec.knob {
        args.extend(k.perf_args());
    }
    args
}

#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("perf record failed to start: {message} (full log: {log})")]
    StartFailed { message: String, log: PathBuf },
    #[error(
        "perf record exited with {code} without writing its data: {message} (full log: {log})"
    )]
    Failed {
        code: i32,
        message: String,
        log: PathBuf,
    },
    #[error("cannot create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A running `perf record`.
pub struct Running {
    child: Child,
    pub log: PathBuf,
    pub output: PathBuf,
}

/// Starts perf and waits until it has set up (it prints "Events disabled" before its delay
/// starts), so the workload started next is recorded from the end of its ramp on.
/// `stdout` is where a pipe-sink recording streams (the analyzer's stdin).
pub fn start(
    rec: Recording,
    opts: &PerfOptions,
    output: &Path,
    log: &Path,
    stdout: Option<std::process::Stdio>,
) -> Result<Running, PerfError> {
    let mut cmd = if rec.mode.is_online() {
        // This very program. Once its file is replaced (a rebuild while it runs), the path
        // reads "... (deleted)"; /proc/self/exe still opens the running one.
        let exe = std::env::current_exe()
            .ok()
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
        process::command(&exe.display().to_string(), &online_args(rec, opts, output))
    } else {
        process::command("perf", &record_args(rec, opts, output))
    };
    let file = process::to_file(log).map_err(|source| PerfError::Io {
        path: log.to_path_buf(),
        source,
    })?;
    cmd.stderr(file);
    cmd.stdout(stdout.unwrap_or_else(std::process::Stdio::null));
    let mut child = process::spawn("perf", cmd)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if opts.delay.is_zero() || text.contains("Events disabled") {
            return Ok(Running {
                child,
                log: log.to_path_buf(),
                output: output.to_path_buf(),
            });
        }
        if let Some(exit) = child.try_wait()? {
            let _ = exit;
            return Err(PerfError::StartFailed {
                message: explain(&text),
                log: log.to_path_buf(),
            });
        }
        process::check_interrupt()?;
        if Instant::now() >= deadline {
            child.kill();
            return Err(PerfError::StartFailed {
                message: "no \"Events disabled\" after 120 s".into(),
                log: log.to_path_buf(),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The usual reasons perf fails, turned into the fix; otherwise perf's own last line.
pub fn explain(stderr: &str) -> String {
    if stderr.contains("perf_event_paranoid") || stderr.contains("Permission denied") {
        return "not permitted to sample system-wide: run as root, or `sysctl kernel.perf_event_paranoid=-1`".into();
    }
    if stderr.contains("No space left on device") {
        return "the disk is full: free space or pass --out on a larger disk".into();
    }
    stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("perf printed nothing")
        .to_string()
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// Ends the recording early (SIGINT: perf still finalizes its file); [`Running::stop`]
    /// then only collects it.
    pub fn interrupt(&self) {
        self.child.signal_group(libc::SIGINT);
    }

    /// Stops the recording with SIGINT (perf then flushes and finalizes the file) and waits.
    /// perf re-raises the SIGINT as it exits, so dying of SIGINT is its normal end.
    pub fn stop(mut self) -> Result<Exit, PerfError> {
        let grace = Duration::from_secs(300);
        let exit = self.child.stop(libc::SIGINT, grace)?;
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let wrote = text.contains("Captured and wrote");
        let normal = exit.status.success() || exit.code() == 128 + libc::SIGINT;
        if !wrote || !normal {
            return Err(PerfError::Failed {
                code: exit.code(),
                message: explain(&text),
                log: self.log.clone(),
            });
        }
        Ok(exit)
    }
}

/// perf's own warnings worth keeping with the results ("Check IO/CPU overload!", lost chunks).
pub fn warnings(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| {
            l.contains("lost") || l.contains("overload") || l.contains("Warning") && l.len() > 8
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::UnwindMode;

    #[test]
    fn args_cover_mode_delay_and_frequency() {
        let opts = PerfOptions {
            freq: Some(999),
            delay: Duration::from_millis(1500),
        };
        let args = record_args(
            Recording::plain(UnwindMode::Dwarf { stack_bytes: 4096 }),
            &opts,
            Path::new("/r/x.data"),
        );
        let joined = args.join(" ");
        assert!(joined.starts_with("record -a -o /r/x.data"), "{joined}");
        assert!(joined.contains("--delay 1500"), "{joined}");
        assert!(joined.contains("-F 999"), "{joined}");
        assert!(joined.ends_with("--call-graph dwarf,4096"), "{joined}");
        let online = online_args(
            Recording::plain(UnwindMode::Online { stack_bytes: 32768 }),
            &opts,
            Path::new("/r/o.data"),
        );
        assert_eq!(
            online.join(" "),
            "online-record -o /r/o.data --delay 1500 -F 999 --stack 32768"
        );
        let none = record_args(
            Recording::plain(UnwindMode::None),
            &PerfOptions::default(),
            Path::new("x"),
        );
        let piped = record_args(
            Recording {
                mode: UnwindMode::Fp,
                sink: Sink::Pipe,
                knob: Some(super::super::Knob::Zstd),
            },
            &PerfOptions::default(),
            Path::new("x"),
        );
        assert_eq!(&piped[1..4], ["-a", "-o", "-"]);
        assert_eq!(piped.last().map(String::as_str), Some("-z"));
        assert!(!none
            .iter()
            .any(|a| a.contains("call-graph") || a == "--delay"));
    }

    #[test]
    fn explains_permission_problems() {
        let msg = explain("Error:\nAccess to performance monitoring and observability operations is limited.\nperf_event_paranoid setting is 4\n");
        assert!(msg.contains("run as root"), "{msg}");
        assert_eq!(explain("a\nlast line\n\n"), "last line");
    }
}
