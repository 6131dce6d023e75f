//! The two pinned processes a price is measured with: one `perf record -p` session whose
//! sampling the harness switches on and off between rounds ([`crate::record::control`]: after
//! `disable`, a `ping`'s acknowledgement means perf has read every sample of the round, and
//! that is when its CPU time for the round is read), and the fixed work.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::mode::UnwindMode;
use crate::process::{self, Child};
use crate::record::control::Fifos;

use super::error::PriceError;

/// Pins the calling thread (0) or a child, after fork, to one CPU.
fn pin(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes within it for cpu < 1024,
    // which the callers guarantee (CPUs come from the process's own affinity mask).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The CPUs this process may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills the zeroed set; CPU_ISSET reads within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return vec![0];
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Keeps the calling thread on one CPU until dropped, then gives it back its old CPUs.
pub struct PinnedHere {
    previous: libc::cpu_set_t,
}

impl PinnedHere {
    pub fn to(cpu: usize) -> Result<PinnedHere, PriceError> {
        // SAFETY: sched_getaffinity fills the zeroed set.
        let previous = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
            set
        };
        pin(cpu).map_err(|source| PriceError::Pin { cpu, source })?;
        Ok(PinnedHere { previous })
    }
}

impl Drop for PinnedHere {
    fn drop(&mut self) {
        // SAFETY: restores a mask the kernel gave us.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.previous);
        }
    }
}

/// Starts `cmd` pinned to `cpu` (set between fork and exec, so the program never runs
/// elsewhere).
pub(super) fn pinned(mut cmd: std::process::Command, cpu: usize) -> std::process::Command {
    // SAFETY: sched_setaffinity is async-signal-safe; nothing else runs before exec.
    unsafe {
        cmd.pre_exec(move || pin(cpu));
    }
    cmd
}

pub use crate::record::control::{monotonic_ns, process_cpu_seconds, Session};

/// What a session records with.
#[derive(Clone, Debug)]
pub struct SessionSpec {
    pub mode: UnwindMode,
    pub freq: u32,
    /// Ring buffer per CPU (perf's `-m`) in bytes, large enough that a round's samples never
    /// overflow it: a lost sample would skip the very work being priced.
    pub buffer: u64,
    /// The CPU perf runs on.
    pub cpu: usize,
    /// The processes sampled: the working programs.
    pub pids: Vec<i32>,
    /// Their working threads (the online recorder samples threads, as perf's `-t`).
    pub tids: Vec<i32>,
}

/// Starts the recorder for `spec` in `dir` (its perf.data, log and FIFOs go there), sampling
/// off, and waits until it answers: `perf record -p` for perf's modes, the online recorder
/// on the working threads for `online:SIZE`.
pub fn start_session(spec: &SessionSpec, dir: &Path) -> Result<Session, PriceError> {
    let fifos = Fifos::create(dir)?;
    let output = dir.join("perf.data");
    let log = dir.join("perf.log");
    let (name, cmd) = if spec.mode.is_online() {
        online_command(spec, &fifos, &output)
    } else {
        ("perf", perf_command(spec, &fifos, &output))
    };
    Ok(Session::launch(
        name,
        pinned(cmd, spec.cpu),
        &fifos,
        &output,
        &log,
    )?)
}

fn perf_command(spec: &SessionSpec, fifos: &Fifos, output: &Path) -> std::process::Command {
    let mut args: Vec<String> = vec![
        "record".into(),
        // The working processes only. perf handles a control command only when it has
        // caught up with its buffers, so anything else sampled at DWARF rates (perf itself,
        // another program passing through the work's CPU) could keep it from ever
        // switching sampling off; and the sampling interrupt is the same one `-a` takes.
        "-p".into(),
        join(&spec.pids),
        // Sample times on CLOCK_MONOTONIC, the clock the program stamps its rounds with.
        "-k".into(),
        "mono".into(),
        "-F".into(),
        spec.freq.to_string(),
        "-m".into(),
        format!("{}K", spec.buffer / 1024),
        "-D".into(),
        "-1".into(),
        "--control".into(),
        fifos.argument(),
        "--buildid-all".into(),
        "-o".into(),
        output.display().to_string(),
    ];
    args.extend(spec.mode.perf_args());
    process::command("perf", &args)
}

/// The online recorder on the working threads: it samples, copies, unwinds and writes as it
/// does system-wide, so its CPU per sample is the price of unwinding online.
fn online_command(
    spec: &SessionSpec,
    fifos: &Fifos,
    output: &Path,
) -> (&'static str, std::process::Command) {
    let exe = std::env::current_exe()
        .ok()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
    let mut args: Vec<String> = vec![
        "online-record".into(),
        "-o".into(),
        output.display().to_string(),
        "-F".into(),
        spec.freq.to_string(),
        "-t".into(),
        join(&spec.tids),
        "--control".into(),
        fifos.argument(),
    ];
    args.extend(spec.mode.perf_args());
    (
        "unwindbench online-record",
        process::command(&exe.display().to_string(), &args),
    )
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// The fixed work (`workloads/programs/pricework.c`), running on its own CPU and answering
/// one round at a time.
pub struct Worker {
    child: Child,
    /// The thread the rounds run on: samples are counted by it.
    tid: i32,
    to: std::process::ChildStdin,
    from: std::io::BufReader<std::io::PipeReader>,
}

/// What the program said of one round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundTimes {
    /// The round's CPU time of the working thread.
    pub cpu_ns: u64,
    /// CLOCK_MONOTONIC at its start and end.
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Worker {
    pub fn start(binary: &Path, depth: u32, cpu: usize) -> Result<Worker, PriceError> {
        let cmd = process::command(&binary.display().to_string(), &[depth.to_string()]);
        let (reader, writer) = std::io::pipe().map_err(|source| PriceError::Io {
            path: PathBuf::from("pipe"),
            source,
        })?;
        let mut cmd = pinned(cmd, cpu);
        cmd.stdout(writer);
        let (child, to) = process::spawn_with_stdin("pricework", cmd)?;
        // The parent's copy of the writing end went with `cmd`: EOF arrives when the program
        // exits.
        let mut from = std::io::BufReader::new(reader);
        let mut line = String::new();
        use std::io::BufRead;
        from.read_line(&mut line)
            .map_err(|e| PriceError::Worker(format!("the price program did not start: {e}")))?;
        let tid = line
            .strip_prefix("tid ")
            .and_then(|t| t.trim().parse().ok())
            .ok_or_else(|| {
                PriceError::Worker(format!(
                    "the price program said {:?} instead of its thread id",
                    line.trim()
                ))
            })?;
        Ok(Worker {
            child,
            tid,
            to,
            from,
        })
    }

    /// The process, which perf follows.
    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// The thread the rounds run on, which the samples name.
    pub fn tid(&self) -> i32 {
        self.tid
    }

    /// Starts a round of `iterations` without waiting for it.
    pub fn start_round(&mut self, iterations: u64) -> Result<(), PriceError> {
        self.to
            .write_all(format!("{iterations}\n").as_bytes())
            .and_then(|_| self.to.flush())
            .map_err(|e| PriceError::Worker(format!("the price program stopped: {e}")))
    }

    /// Runs one round of `iterations` and returns its times.
    pub fn round(&mut self, iterations: u64) -> Result<RoundTimes, PriceError> {
        use std::io::BufRead;
        let broken =
            |e: std::io::Error| PriceError::Worker(format!("the price program stopped: {e}"));
        self.start_round(iterations)?;
        let mut line = String::new();
        self.from.read_line(&mut line).map_err(broken)?;
        let v: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        match v[..] {
            [cpu_ns, start_ns, end_ns] => Ok(RoundTimes {
                cpu_ns,
                start_ns,
                end_ns,
            }),
            _ => Err(PriceError::Worker(format!(
                "the price program answered {:?} instead of three numbers",
                line.trim()
            ))),
        }
    }

    /// Ends the program.
    pub fn quit(mut self) {
        let _ = self.to.write_all(b"q\n");
        let _ = self.to.flush();
        let _ = self.child.wait_interruptibly(Duration::from_secs(10));
    }
}
