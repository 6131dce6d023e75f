//! Children the harness starts (nbdkit, fio, perf, nbd-client), and the guarantee that none of
//! them outlives it.
//!
//! Every child runs in its own process group, so a signal reaches the whole group and the
//! terminal's Ctrl-C reaches only the harness, which then stops the children in order: perf
//! gets SIGINT so it finishes writing its file. A child's descendants that left its group
//! (fio's job processes each start a session of their own) are found through /proc and
//! killed with it: orphaned, they would go on driving a device the harness is taking down. Each child also gets
//! `PR_SET_PDEATHSIG`, so even a SIGKILL of the harness takes them down. A [`Child`] that is
//! dropped unreaped kills its group and reaps it: errors and panics unwind through those drops.
//!
//! Children are reaped with `wait4`, which also gives the resources they used (with their own
//! reaped children folded in): that is how fio's and perf's CPU time is measured.

mod tree;

pub use self::tree::{children, descendants};

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("`{program}` is not installed or not on PATH; run scripts/setup.sh (or install it) and retry")]
    NotFound { program: String },
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("waiting for `{program}` failed: {source}")]
    Wait {
        program: String,
        source: std::io::Error,
    },
    #[error("`{program}` did not finish within {seconds:.0} s; it was killed")]
    Timeout { program: String, seconds: f64 },
    #[error("interrupted (signal {0})")]
    Interrupted(i32),
}

/// The signal that asked the harness to stop (0: none). Set from the signal handler, polled by
/// every wait loop.
static INTERRUPT: AtomicI32 = AtomicI32::new(0);
/// Whether a second stop signal ends the program at once (see [`install_interrupt_handler`]).
static QUIT_ON_SECOND: AtomicBool = AtomicBool::new(true);
/// Whether stderr is a terminal: the first Ctrl-C is then answered with a line there.
static ANNOUNCE: AtomicBool = AtomicBool::new(false);

/// Exit status of a program ended by a second stop signal (as a shell reports SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

const FIRST_SIGNAL_NOTE: &[u8] =
    b"\nunwindbench: stopping after the current step (the children are stopped and the results so far kept); press Ctrl-C again to quit at once\n";

extern "C" fn on_signal(sig: libc::c_int) {
    let previous = INTERRUPT.swap(sig, Ordering::SeqCst);
    if previous != 0 && QUIT_ON_SECOND.load(Ordering::SeqCst) {
        // Only async-signal-safe calls here. The children go with the harness: each has
        // PR_SET_PDEATHSIG (SIGKILL), and what they leave behind is found by the next run.
        // SAFETY: _exit is async-signal-safe and ends the process without unwinding.
        unsafe { libc::_exit(i32::from(EXIT_INTERRUPTED)) };
    }
    if previous == 0 && ANNOUNCE.load(Ordering::SeqCst) {
        // SAFETY: write(2) is async-signal-safe; a short or failed write is harmless.
        unsafe {
            libc::write(
                libc::STDERR_FILENO,
                FIRST_SIGNAL_NOTE.as_ptr().cast(),
                FIRST_SIGNAL_NOTE.len(),
            )
        };
    }
}

/// Routes SIGINT, SIGTERM and SIGHUP to [`interrupted`] instead of killing the harness on the
/// spot, so the children are stopped and the results written first. A second signal ends the
/// program at once (exit 130): the first one may be waiting on perf's finalize (up to five
/// minutes), and a user pressing Ctrl-C again means it.
pub fn install_interrupt_handler() {
    // SAFETY: isatty only queries the descriptor.
    ANNOUNCE.store(
        unsafe { libc::isatty(libc::STDERR_FILENO) } == 1,
        Ordering::SeqCst,
    );
    // SAFETY: the handler only uses atomics, write(2) and _exit, all async-signal-safe.
    unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// For a process that its parent stops with repeated signals and that must still finish its
/// work (the online recorder: the harness interrupts it, then stops it like perf): further
/// signals only repeat the request.
pub fn finish_despite_repeated_signals() {
    QUIT_ON_SECOND.store(false, Ordering::SeqCst);
}

/// The pending interrupt signal, if one arrived.
pub fn interrupted() -> Option<i32> {
    match INTERRUPT.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// Fails with [`ProcessError::Interrupted`] once a stop signal has arrived.
pub fn check_interrupt() -> Result<(), ProcessError> {
    match interrupted() {
        Some(sig) => Err(ProcessError::Interrupted(sig)),
        None => Ok(()),
    }
}

/// A reader that gives up once a stop signal has arrived. The handler is installed without
/// SA_RESTART, so a read blocked on a silent pipe returns EINTR; std's `read_exact` would
/// retry it for as long as the pipe stays open, this reader stops instead.
pub struct Interruptible<R>(pub R);

impl<R: std::io::Read> std::io::Read for Interruptible<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if interrupted().is_some() {
                return Err(std::io::Error::other("interrupted"));
            }
            match self.0.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

/// Sleeps up to `duration`, waking early (with an error) when interrupted.
pub fn sleep_interruptibly(duration: Duration) -> Result<(), ProcessError> {
    let end = Instant::now() + duration;
    loop {
        check_interrupt()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// CPU time a reaped process used, its reaped descendants included.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTimes {
    pub user_s: f64,
    pub system_s: f64,
}

impl CpuTimes {
    pub fn total(&self) -> f64 {
        self.user_s + self.system_s
    }

    pub fn saturating_sub(&self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user_s: (self.user_s - earlier.user_s).max(0.0),
            system_s: (self.system_s - earlier.system_s).max(0.0),
        }
    }

    pub fn add(&self, other: CpuTimes) -> CpuTimes {
        CpuTimes {
            user_s: self.user_s + other.user_s,
            system_s: self.system_s + other.system_s,
        }
    }
}

/// How a reaped child ended and what it used.
#[derive(Clone, Copy, Debug)]
pub struct Exit {
    pub status: ExitStatus,
    pub cpu: CpuTimes,
    pub max_rss_kib: u64,
    pub wall: Duration,
}

impl Exit {
    /// Exit code, or 128 + signal like a shell reports it.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .or_else(|| self.status.signal().map(|s| 128 + s))
            .unwrap_or(-1)
    }
}

/// A running child in its own process group.
#[derive(Debug)]
pub struct Child {
    program: String,
    pid: libc::pid_t,
    started: Instant,
    reaped: bool,
}

/// Where the workload's programs come from: PATH, or first a folder of rebuilt ones (the
/// frame-pointer builds of nbdkit and fio, `--fp-built`). A value handed to whatever starts
/// or asks those programs, so that two runs in one process can use different ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tools {
    dir: Option<PathBuf>,
}

impl Tools {
    /// Every program from PATH.
    pub fn system() -> Tools {
        Tools::default()
    }

    /// Programs from `dir` where it has them, from PATH otherwise.
    pub fn preferring(dir: PathBuf) -> Tools {
        Tools { dir: Some(dir) }
    }

    /// The path `program` resolves to: the folder's copy, else the name (for PATH).
    pub fn resolve(&self, program: &str) -> PathBuf {
        self.dir
            .as_ref()
            .map(|d| d.join(program))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(program))
    }

    /// Whether `program` is a rebuilt one from the folder.
    pub fn is_rebuilt(&self, program: &str) -> bool {
        self.resolve(program).is_absolute()
    }

    /// The full path of `program`: the folder's copy, else the first on PATH.
    pub fn which(&self, program: &str) -> Option<PathBuf> {
        let resolved = self.resolve(program);
        if resolved.is_absolute() {
            return Some(resolved);
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    }

    /// [`command`] for `program` as these tools resolve it.
    pub fn command<S: AsRef<OsStr>>(&self, program: &str, args: &[S]) -> Command {
        group_command(self.resolve(program), args)
    }

    /// [`capture`] of `program` as these tools resolve it.
    pub fn capture(
        &self,
        program: &str,
        args: &[&str],
    ) -> Result<(ExitStatus, String, String), ProcessError> {
        let mut cmd = Command::new(self.resolve(program));
        cmd.args(args).stdin(Stdio::null());
        let out = cmd
            .output()
            .map_err(|source| start_error(program, source))?;
        Ok((
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

/// Builds a [`Command`] for `program` (from PATH, or a path) that will run in its own process
/// group and die with the harness. Arguments are passed as a vector, never through a shell.
pub fn command<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Command {
    group_command(PathBuf::from(program), args)
}

fn group_command<S: AsRef<OsStr>>(program: PathBuf, args: &[S]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).process_group(0);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Output redirection for [`spawn`]: stdout and stderr each to a file, or discarded.
pub fn to_file(path: &Path) -> std::io::Result<Stdio> {
    Ok(Stdio::from(File::create(path)?))
}

/// Why `program` did not start: missing (with the fix) or another error.
fn start_error(program: &str, source: std::io::Error) -> ProcessError {
    if source.kind() == std::io::ErrorKind::NotFound {
        ProcessError::NotFound {
            program: program.to_string(),
        }
    } else {
        ProcessError::Spawn {
            program: program.to_string(),
            source,
        }
    }
}

/// Starts `cmd`. A missing program becomes [`ProcessError::NotFound`], with the fix.
pub fn spawn(program: &str, mut cmd: Command) -> Result<Child, ProcessError> {
    let child = cmd.spawn().map_err(|source| start_error(program, source))?;
    let pid = child.id() as libc::pid_t;
    // The std handle is dropped without waiting: reaping is ours (wait4), so that the child's
    // resource usage is not lost.
    drop(child);
    Ok(Child {
        program: program.to_string(),
        pid,
        started: Instant::now(),
        reaped: false,
    })
}

/// Starts `cmd` with a pipe to its stdin and returns the writing end: for the pipe sink, perf's
/// stdout. The pipe is enlarged to 1 MiB so perf's bursts are absorbed.
pub fn spawn_with_stdin(
    program: &str,
    mut cmd: Command,
) -> Result<(Child, std::process::ChildStdin), ProcessError> {
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| start_error(program, source))?;
    let pid = child.id() as libc::pid_t;
    let stdin = child.stdin.take().ok_or_else(|| ProcessError::Spawn {
        program: program.to_string(),
        source: std::io::Error::other("no stdin pipe"),
    })?;
    {
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on a pipe fd we own; failure only leaves the default size.
        unsafe {
            libc::fcntl(stdin.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
        }
    }
    drop(child);
    Ok((
        Child {
            program: program.to_string(),
            pid,
            started: Instant::now(),
            reaped: false,
        },
        stdin,
    ))
}

impl Child {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    /// Sends `signal` to the child's whole process group.
    pub fn signal_group(&self, signal: i32) {
        if !self.reaped {
            // SAFETY: plain syscall; the group exists as long as the leader is unreaped.
            unsafe {
                libc::kill(-self.pid, signal);
            }
        }
    }

    /// Reaps the child if it has exited, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<Exit>, ProcessError> {
        self.wait4(libc::WNOHANG)
    }

    /// Waits for the child to exit, polling so that an interrupt is noticed. On interrupt the
    /// child is left running: the caller decides how to stop it.
    pub fn wait_interruptibly(&mut self, timeout: Duration) -> Result<Exit, ProcessError> {
        self.wait_ticking(timeout, &mut || {})
    }

    /// Like [`Child::wait_interruptibly`], calling `tick` between polls (to watch something
    /// while the child runs).
    pub fn wait_ticking(
        &mut self,
        timeout: Duration,
        tick: &mut dyn FnMut(),
    ) -> Result<Exit, ProcessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(exit) = self.try_wait()? {
                return Ok(exit);
            }
            check_interrupt()?;
            if Instant::now() >= deadline {
                self.kill();
                return Err(ProcessError::Timeout {
                    program: self.program.clone(),
                    seconds: timeout.as_secs_f64(),
                });
            }
            tick();
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asks the group to stop with `signal`, waits up to `grace`, then kills it.
    pub fn stop(&mut self, signal: i32, grace: Duration) -> Result<Exit, ProcessError> {
        if let Some(exit) = self.try_wait()? {
            return Ok(exit);
        }
        self.signal_group(signal);
        let deadline = Instant::now() + grace;
        loop {
            if let Some(exit) = self.try_wait()? {
                // The leader is gone; make sure nothing of its group lingers.
                kill_group(self.pid);
                return Ok(exit);
            }
            if Instant::now() >= deadline {
                self.signal_group(libc::SIGKILL);
                return self.wait4(0).map(|e| e.expect("blocking wait4 reaps"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the group and every descendant of the leader, and reaps the leader.
    pub fn kill(&mut self) {
        if !self.reaped {
            // Listed first: once the leader is gone, its children belong to init.
            let strays = descendants(self.pid);
            self.signal_group(libc::SIGKILL);
            for pid in strays {
                // SAFETY: plain syscall on a pid listed a moment ago as the leader's descendant.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            let _ = self.wait4(0);
        }
    }

    fn wait4(&mut self, flags: i32) -> Result<Option<Exit>, ProcessError> {
        if self.reaped {
            return Err(ProcessError::Wait {
                program: self.program.clone(),
                source: std::io::Error::other("already reaped"),
            });
        }
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid out-parameter.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: pid is our unreaped child.
            let r = unsafe { libc::wait4(self.pid, &mut status, flags, &mut usage) };
            if r == 0 {
                return Ok(None);
            }
            if r < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(ProcessError::Wait {
                    program: self.program.clone(),
                    source: err,
                });
            }
            break;
        }
        self.reaped = true;
        let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        Ok(Some(Exit {
            status: ExitStatus::from_raw(status),
            cpu: CpuTimes {
                user_s: secs(usage.ru_utime),
                system_s: secs(usage.ru_stime),
            },
            max_rss_kib: usage.ru_maxrss as u64,
            wall: self.started.elapsed(),
        }))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill();
        }
    }
}

/// SIGKILLs whatever is left of a process group whose leader has been reaped (fio job
/// processes, for instance, if fio itself died first).
fn kill_group(pgid: libc::pid_t) {
    // SAFETY: plain syscall; ESRCH (nothing left) is the common, harmless outcome.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Runs a short command (from PATH) to completion and returns its stdout and stderr (for
/// version probes and the like). Fails if it cannot start; the exit status is returned
/// beside the output.
pub fn capture(program: &str, args: &[&str]) -> Result<(ExitStatus, String, String), ProcessError> {
    Tools::system().capture(program, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: i32) -> bool {
        // SAFETY: signal 0 only checks for existence.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    #[test]
    fn dropped_child_and_its_group_are_killed() {
        // The shell's background sleep is a grandchild in the same process group.
        let mut cmd = command("sh", &["-c", "sleep 30 & echo $!; wait"]);
        cmd.stdout(Stdio::piped());
        let mut std_child = cmd.spawn().unwrap();
        let pid = std_child.id() as i32;
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(std_child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let grandchild: i32 = line.trim().parse().unwrap();
        drop(std_child);
        let child = Child {
            program: "sh".into(),
            pid,
            started: Instant::now(),
            reaped: false,
        };
        assert!(alive(grandchild));
        drop(child);
        // The grandchild is reparented and reaped by init; give it a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(grandchild) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(grandchild), "grandchild {grandchild} survived");
    }

    #[test]
    fn wait_reports_cpu_and_exit_code() {
        let cmd = command(
            "sh",
            &[
                "-c",
                "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 3",
            ],
        );
        let mut child = spawn("sh", cmd).unwrap();
        let exit = child.wait_interruptibly(Duration::from_secs(30)).unwrap();
        assert_eq!(exit.code(), 3);
        assert!(exit.cpu.total() > 0.0);
    }

    #[test]
    fn missing_program_names_the_fix() {
        let err = spawn(
            "unwindbench-no-such-tool",
            command("unwindbench-no-such-tool", &["x"]),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("not installed"), "{msg}");
        assert!(msg.contains("scripts/setup.sh"), "{msg}");
    }

    #[test]
    fn stop_escalates_to_kill() {
        // A child that ignores SIGTERM is killed after the grace period.
        let cmd = command("sh", &["-c", "trap '' TERM; sleep 30"]);
        let mut child = spawn("sh", cmd).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let exit = child
            .stop(libc::SIGTERM, Duration::from_millis(200))
            .unwrap();
        assert_eq!(exit.status.signal(), Some(libc::SIGKILL));
    }
}
