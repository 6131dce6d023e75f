//! One `perf record` session whose sampling the harness switches on and off between rounds,
//! through perf's control FIFO (`--control fifo:CTL,ACK`, events disabled at start with
//! `-D -1`), and the two pinned processes a price is measured with.
//!
//! perf reads its ring buffers at the top of its main loop and handles one control command per
//! pass, acknowledging it before the next pass. So after `disable` is acknowledged, a `ping`'s
//! acknowledgement means perf has been round its loop once more and has read (and written)
//! every sample taken before sampling stopped: that is when its CPU time for the round is read.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::mode::UnwindMode;
use crate::process::{self, Child};

use super::error::PriceError;

/// How long perf may take to start, answer a command or finish its file.
const PERF_START: Duration = Duration::from_secs(60);
const PERF_ANSWER: Duration = Duration::from_secs(30);
const PERF_FINISH: Duration = Duration::from_secs(120);

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

/// Seconds of CPU (user + system, every thread, live or exited) another process has used, at
/// the scheduler's nanosecond resolution: /proc's 10 ms ticks are coarser than a round.
pub fn process_cpu_seconds(pid: i32) -> Option<f64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: out-parameters of the right types; the pid is our child.
    unsafe {
        if libc::clock_getcpuclockid(pid, &mut clock) != 0 {
            return None;
        }
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::clock_gettime(clock, &mut ts) != 0 {
            return None;
        }
        Some(ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock perf stamps samples with under `-k mono`.
pub fn monotonic_ns() -> u64 {
    // SAFETY: out-parameter of the right type.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

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
}

/// A running perf session, events disabled until [`Session::enable`].
pub struct Session {
    child: Child,
    ctl: File,
    ack: File,
    pub output: PathBuf,
    log: PathBuf,
}

fn mkfifo(path: &Path) -> Result<(), PriceError> {
    let _ = std::fs::remove_file(path);
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
        PriceError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other("path holds a NUL byte"),
        }
    })?;
    // SAFETY: a valid C string; mode 0600: only the harness and perf (root) use it.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(PriceError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

impl Session {
    /// Starts perf in `dir` (its perf.data, log and FIFOs go there) and waits until it answers.
    pub fn start(spec: &SessionSpec, dir: &Path) -> Result<Session, PriceError> {
        let ctl_path = dir.join("ctl.fifo");
        let ack_path = dir.join("ack.fifo");
        mkfifo(&ctl_path)?;
        mkfifo(&ack_path)?;
        let output = dir.join("perf.data");
        let log = dir.join("perf.log");
        let mut args: Vec<String> = vec![
            "record".into(),
            // The working processes only. perf handles a control command only when it has
            // caught up with its buffers, so anything else sampled at DWARF rates (perf itself,
            // another program passing through the work's CPU) could keep it from ever
            // switching sampling off; and the sampling interrupt is the same one `-a` takes.
            "-p".into(),
            spec.pids
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(","),
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
            format!("fifo:{},{}", ctl_path.display(), ack_path.display()),
            "--buildid-all".into(),
            "-o".into(),
            output.display().to_string(),
        ];
        args.extend(spec.mode.perf_args());
        let mut cmd = process::command("perf", &args);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PriceError::Io { path, source }
        };
        cmd.stderr(process::to_file(&log).map_err(io(&log))?);
        cmd.stdout(std::process::Stdio::null());
        let mut child = process::spawn("perf", pinned(cmd, spec.cpu))?;
        // The ack FIFO opens at once for reading without blocking; the control FIFO opens for
        // writing only once perf has it open for reading (ENXIO until then).
        let ack = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&ack_path)
            .map_err(io(&ack_path))?;
        let deadline = Instant::now() + PERF_START;
        let ctl = loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&ctl_path)
            {
                Ok(f) => break f,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
                Err(e) => return Err(io(&ctl_path)(e)),
            }
            if child.try_wait()?.is_some() || Instant::now() >= deadline {
                child.kill();
                return Err(PriceError::PerfStart {
                    message: perf_complaint(&log),
                    log,
                });
            }
            process::check_interrupt()?;
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut session = Session {
            child,
            ctl,
            ack,
            output,
            log,
        };
        session.command("ping")?;
        Ok(session)
    }

    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// Sends one control command and waits for perf's acknowledgement.
    pub fn command(&mut self, cmd: &str) -> Result<(), PriceError> {
        self.ctl
            .write_all(format!("{cmd}\n").as_bytes())
            .map_err(|source| PriceError::Io {
                path: PathBuf::from("perf control FIFO"),
                source,
            })?;
        let deadline = Instant::now() + PERF_ANSWER;
        let mut got = Vec::new();
        loop {
            let mut pfd = libc::pollfd {
                fd: self.ack.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 50) };
            let mut buf = [0u8; 64];
            match self.ack.read(&mut buf) {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                // No writer at the moment: poll() does not wait then, so wait here.
                Ok(_) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(source) => {
                    return Err(PriceError::Io {
                        path: PathBuf::from("perf ack FIFO"),
                        source,
                    })
                }
            }
            // perf answers "ack\n" (with a NUL before it in some versions).
            if got.windows(4).any(|w| w == b"ack\n") {
                return Ok(());
            }
            if self.child.try_wait()?.is_some() || Instant::now() >= deadline {
                return Err(PriceError::PerfStart {
                    message: format!(
                        "perf did not acknowledge `{cmd}`: {}",
                        perf_complaint(&self.log)
                    ),
                    log: self.log.clone(),
                });
            }
            process::check_interrupt()?;
        }
    }

    pub fn enable(&mut self) -> Result<(), PriceError> {
        self.command("enable")
    }

    pub fn disable(&mut self) -> Result<(), PriceError> {
        self.command("disable")
    }

    /// One more pass of perf's loop: everything sampled before now has been read.
    pub fn ping(&mut self) -> Result<(), PriceError> {
        self.command("ping")
    }

    /// perf's CPU seconds so far.
    pub fn cpu_seconds(&self) -> Result<f64, PriceError> {
        process_cpu_seconds(self.child.pid()).ok_or(PriceError::PerfStart {
            message: "perf's CPU clock cannot be read (did it exit?)".into(),
            log: self.log.clone(),
        })
    }

    /// Stops perf (SIGINT: it finishes its file) and returns the recording's path.
    pub fn finish(mut self) -> Result<PathBuf, PriceError> {
        let exit = self.child.stop(libc::SIGINT, PERF_FINISH)?;
        if !exit.status.success() && exit.code() != 130 {
            return Err(PriceError::PerfStart {
                message: format!(
                    "perf exited with {}: {}",
                    exit.code(),
                    perf_complaint(&self.log)
                ),
                log: self.log,
            });
        }
        Ok(self.output)
    }
}

/// The line of perf's log that says what went wrong, or its last line.
fn perf_complaint(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .find(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("permission") || l.contains("not supported")
        })
        .or_else(|| text.lines().map(str::trim).rfind(|l| !l.is_empty()))
        .unwrap_or("perf printed nothing")
        .to_string()
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
