//! A recorder whose sampling the harness switches on and off while it runs, through a control
//! FIFO: perf's `--control fifo:CTL,ACK` with its events disabled at start (`-D -1`), or the
//! online recorder, which answers the same protocol.
//!
//! perf reads its ring buffers at the top of its main loop and handles one control command per
//! pass, only once a pass found nothing new, and acknowledges it before the next. So:
//! - `enable`/`disable` take effect (the ioctls) just before the acknowledgement: the time the
//!   answer arrives is when sampling changed, to within the answer's travel (well under a
//!   millisecond). An overloaded perf may take a second to get round to a command; the
//!   harness waits, and times rounds from the answer, never from the request.
//! - after `disable` is acknowledged, a `ping`'s acknowledgement means perf has been round its
//!   loop once more and has read (and written) every sample taken before sampling stopped.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::{self, Child, ProcessError};

/// How long a recorder may take to start, answer a command or finish its file.
const START: Duration = Duration::from_secs(60);
const ANSWER: Duration = Duration::from_secs(30);
const FINISH: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("{message} (log: {log})")]
    Recorder { message: String, log: PathBuf },
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ControlError {
    pub fn is_interrupt(&self) -> bool {
        matches!(self, ControlError::Process(ProcessError::Interrupted(_)))
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock perf stamps samples with under `-k mono`, and
/// fio its logs with `log_alternate_epoch_clock_id=1`.
pub fn monotonic_ns() -> u64 {
    // SAFETY: out-parameter of the right type.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// The FIFOs of one session, inside its folder.
pub struct Fifos {
    pub ctl: PathBuf,
    pub ack: PathBuf,
}

impl Fifos {
    /// Makes `ctl.fifo` and `ack.fifo` in `dir` (mode 0600: only the harness and the
    /// recorder, both root or both the same user, use them).
    pub fn create(dir: &Path) -> Result<Fifos, ControlError> {
        let fifos = Fifos {
            ctl: dir.join("ctl.fifo"),
            ack: dir.join("ack.fifo"),
        };
        mkfifo(&fifos.ctl)?;
        mkfifo(&fifos.ack)?;
        Ok(fifos)
    }

    /// perf's (and the online recorder's) `--control` argument.
    pub fn argument(&self) -> String {
        format!("fifo:{},{}", self.ctl.display(), self.ack.display())
    }
}

fn mkfifo(path: &Path) -> Result<(), ControlError> {
    let _ = std::fs::remove_file(path);
    let io = |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    };
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io(std::io::Error::other("path holds a NUL byte")))?;
    // SAFETY: a valid C string.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(io(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// A running recorder, events disabled until [`Session::enable`].
pub struct Session {
    child: Child,
    ctl: File,
    ack: File,
    pub output: PathBuf,
    pub log: PathBuf,
}

impl Session {
    /// Starts `cmd` (whose arguments already name `fifos` and `output`), its stderr into
    /// `log`, and waits until it answers a ping.
    pub fn launch(
        name: &str,
        mut cmd: Command,
        fifos: &Fifos,
        output: &Path,
        log: &Path,
    ) -> Result<Session, ControlError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ControlError::Io { path, source }
        };
        cmd.stderr(process::to_file(log).map_err(io(log))?);
        cmd.stdout(std::process::Stdio::null());
        let mut child = process::spawn(name, cmd)?;
        // The ack FIFO opens at once for reading without blocking; the control FIFO opens for
        // writing only once the recorder has it open for reading (ENXIO until then).
        let ack = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifos.ack)
            .map_err(io(&fifos.ack))?;
        let deadline = Instant::now() + START;
        let ctl = loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifos.ctl)
            {
                Ok(f) => break f,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
                Err(e) => return Err(io(&fifos.ctl)(e)),
            }
            if child.try_wait()?.is_some() || Instant::now() >= deadline {
                child.kill();
                return Err(ControlError::Recorder {
                    message: format!("{name} did not start: {}", complaint(log)),
                    log: log.to_path_buf(),
                });
            }
            process::check_interrupt()?;
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut session = Session {
            child,
            ctl,
            ack,
            output: output.to_path_buf(),
            log: log.to_path_buf(),
        };
        session.command("ping")?;
        Ok(session)
    }

    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// Sends one control command and waits for the acknowledgement; returns CLOCK_MONOTONIC
    /// when it arrived.
    pub fn command(&mut self, cmd: &str) -> Result<u64, ControlError> {
        self.ctl
            .write_all(format!("{cmd}\n").as_bytes())
            .map_err(|source| ControlError::Io {
                path: PathBuf::from("the recorder's control FIFO"),
                source,
            })?;
        let deadline = Instant::now() + ANSWER;
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
                Ok(_) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(source) => {
                    return Err(ControlError::Io {
                        path: PathBuf::from("the recorder's ack FIFO"),
                        source,
                    })
                }
            }
            // perf answers "ack\n" (with a NUL before it in some versions).
            if got.windows(4).any(|w| w == b"ack\n") {
                return Ok(monotonic_ns());
            }
            if self.child.try_wait()?.is_some() || Instant::now() >= deadline {
                return Err(ControlError::Recorder {
                    message: format!("no acknowledgement of `{cmd}`: {}", complaint(&self.log)),
                    log: self.log.clone(),
                });
            }
            process::check_interrupt()?;
        }
    }

    pub fn enable(&mut self) -> Result<u64, ControlError> {
        self.command("enable")
    }

    pub fn disable(&mut self) -> Result<u64, ControlError> {
        self.command("disable")
    }

    /// One more pass of the recorder's loop: everything sampled before now has been read.
    pub fn ping(&mut self) -> Result<u64, ControlError> {
        self.command("ping")
    }

    /// The recorder's CPU seconds so far (every thread, at the scheduler's resolution).
    pub fn cpu_seconds(&self) -> Result<f64, ControlError> {
        process_cpu_seconds(self.child.pid()).ok_or(ControlError::Recorder {
            message: "the recorder's CPU clock cannot be read (did it exit?)".into(),
            log: self.log.clone(),
        })
    }

    /// Stops the recorder (SIGINT: it finishes its file) and returns the recording's path and
    /// how the process ended.
    pub fn finish(mut self) -> Result<(PathBuf, process::Exit), ControlError> {
        let exit = self.child.stop(libc::SIGINT, FINISH)?;
        if !exit.status.success() && exit.code() != 130 {
            return Err(ControlError::Recorder {
                message: format!("exited with {}: {}", exit.code(), complaint(&self.log)),
                log: self.log,
            });
        }
        Ok((self.output, exit))
    }
}

/// Seconds of CPU (user + system, every thread, live or exited) another process has used, at
/// the scheduler's nanosecond resolution: /proc's 10 ms ticks are coarser than a round.
pub fn process_cpu_seconds(pid: i32) -> Option<f64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: out-parameters of the right types.
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

/// The line of a recorder's log that says what went wrong, or its last line.
pub fn complaint(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .find(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("permission") || l.contains("not supported")
        })
        .or_else(|| text.lines().map(str::trim).rfind(|l| !l.is_empty()))
        .unwrap_or("it printed nothing")
        .to_string()
}
