//! One measurement at a time on a shared machine.
//!
//! Two comparisons measuring at once would each report the other's cost as their own, and
//! so would a comparison beside someone's own `perf record -a`. So `compare` (its price
//! list, its switchback and every measurement) and `calibrate` hold a machine-wide lock
//! ([`acquire`]), and every measurement looks for other profiling sessions ([`sessions`]) and
//! names them in the run.
//!
//! The lock is `flock(2)` on one file: the kernel releases it on every exit path, SIGKILL
//! and power loss included, so a lock cannot go stale. The file also records its holder (pid,
//! start time, command line) for the message a second run prints; a record whose process is
//! gone is stale text, recognised as [`crate::leftovers`] recognises a dead run's owner.

pub mod sessions;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::leftovers::{process_alive, start_ticks};

/// The lock file: in /run/lock (emptied at boot, writable by every user, so ordinary users'
/// runs and root's exclude each other), else in the temp dir. `UNWINDBENCH_LOCK` names
/// another (tests, or a deliberate second measuring domain).
pub fn lock_path() -> PathBuf {
    if let Some(p) = std::env::var_os("UNWINDBENCH_LOCK").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let run_lock = Path::new("/run/lock");
    let dir = if run_lock.is_dir() {
        run_lock.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join("unwindbench-measure.lock")
}

/// Who holds the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    /// Its command line and start, as it wrote them (or as /proc tells).
    pub what: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid} ({})", self.what),
            None => write!(f, "{}", self.what),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another measurement holds this machine: {holder}; wait for it to finish, or leave out --no-wait to queue behind it (lock {})", path.display())]
    Busy { holder: Holder, path: PathBuf },
    #[error("cannot use the machine-wide lock {}: {source}; set UNWINDBENCH_LOCK to a file every user of this machine can open", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Interrupted(#[from] crate::process::ProcessError),
}

/// The machine, held until dropped (or the process ends, however it ends).
pub struct MachineLock {
    file: File,
    /// The holder a stale record named (its process gone): said in the run's notes.
    pub stale: Option<String>,
}

impl Drop for MachineLock {
    fn drop(&mut self) {
        // The next holder writes its own record; an empty file is clearer meanwhile. The
        // lock itself goes with the descriptor.
        let _ = self.file.set_len(0);
    }
}

/// Takes the machine for `command`. When another run holds it: with `wait`, calls
/// `waiting` once with the holder and waits (Ctrl-C gives up); without, refuses at once.
pub fn acquire(
    command: &str,
    wait: bool,
    waiting: &mut dyn FnMut(&Holder),
) -> Result<MachineLock, LockError> {
    acquire_at(&lock_path(), command, wait, waiting)
}

/// [`acquire`] for a measuring command, saying on stderr (once) whom it waits for.
pub fn hold(command: &str, wait: bool) -> Result<MachineLock, LockError> {
    acquire(command, wait, &mut |holder| {
        eprintln!(
            "unwindbench: waiting for the measurement running on this machine: {holder} (Ctrl-C to give up; --no-wait refuses instead)"
        )
    })
}

/// [`acquire`] with the lock file at `path`.
pub fn acquire_at(
    path: &Path,
    command: &str,
    wait: bool,
    waiting: &mut dyn FnMut(&Holder),
) -> Result<MachineLock, LockError> {
    let path = path.to_path_buf();
    let file = open(&path).map_err(|source| LockError::Open {
        path: path.clone(),
        source,
    })?;
    let mut announced = false;
    while !try_lock(&file).map_err(|source| LockError::Open {
        path: path.clone(),
        source,
    })? {
        let holder = holder(&file);
        if !wait {
            return Err(LockError::Busy { holder, path });
        }
        if !announced {
            waiting(&holder);
            announced = true;
        }
        crate::process::sleep_interruptibly(Duration::from_millis(200))?;
    }
    let stale = stale_record(&file);
    let mut lock = MachineLock { file, stale };
    let pid = std::process::id();
    let record = format!(
        "{pid} {}\n{command}\nsince {}\n",
        start_ticks(pid).unwrap_or(0),
        crate::timestamp::now_rfc3339()
    );
    // A file another user created may be read-only to us: the lock holds all the same,
    // and /proc/locks still names us.
    let _ = lock
        .file
        .set_len(0)
        .and_then(|_| lock.file.rewind())
        .and_then(|_| lock.file.write_all(record.as_bytes()));
    Ok(lock)
}

/// Opens the lock file without following a symlink, creating it readable and writable by
/// every user (where the sticky /run/lock lets another user's file be opened at all).
fn open(path: &Path) -> std::io::Result<File> {
    let flags = libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let existing = |write: bool| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(flags)
            .open(path)
    };
    for _ in 0..3 {
        match existing(true) {
            Ok(f) => return Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return existing(false),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        // Created exclusively: O_CREAT on another user's file in a sticky folder is refused
        // by fs.protected_regular, so an existing file is only ever opened.
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(flags)
            .open(path)
        {
            Ok(f) => {
                // The harness's umask (077) would make it ours alone.
                f.set_permissions(std::fs::Permissions::from_mode(0o666))?;
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    existing(false)
}

/// flock(LOCK_EX | LOCK_NB): whether it is ours now.
fn try_lock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        Some(libc::EINTR) => Ok(false),
        _ => Err(e),
    }
}

/// The holder's record: its pid (first word) and the rest as one line.
fn record(file: &File) -> (Option<u32>, Option<u64>, String) {
    let mut text = String::new();
    let mut reader = file;
    let _ = reader.rewind();
    let _ = reader.take(4096).read_to_string(&mut text);
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let pid = first.next().and_then(|p| p.parse().ok());
    let start = first.next().and_then(|s| s.parse().ok());
    let rest: Vec<&str> = lines.map(str::trim).filter(|l| !l.is_empty()).collect();
    (pid, start, rest.join(", "))
}

/// Who holds the lock: the kernel's word (/proc/locks) for the pid, the record for what it
/// runs.
fn holder(file: &File) -> Holder {
    let (recorded, _, what) = record(file);
    let pid = file
        .metadata()
        .ok()
        .and_then(|m| flock_holder(m.ino()))
        .or(recorded);
    let what = if what.is_empty() {
        pid.and_then(command_line)
            .unwrap_or_else(|| "a process this user cannot see".into())
    } else {
        what
    };
    Holder { pid, what }
}

/// The pid /proc/locks gives for a FLOCK on inode `ino`.
fn flock_holder(ino: u64) -> Option<u32> {
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"
        let (kind, pid, id) = (f.get(1)?, f.get(4)?, f.get(5)?);
        let inode: u64 = id.rsplit(':').next()?.parse().ok()?;
        (*kind == "FLOCK" && inode == ino)
            .then(|| pid.parse().ok())
            .flatten()
            .filter(|&p: &u32| p > 0)
    })
}

/// A process's command line, spaces for NULs.
pub fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let line = String::from_utf8_lossy(&raw).replace('\0', " ");
    let line = line.trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// The record a holder left when it was killed (the kernel released its lock; its words
/// stayed): a line naming it, for the notes.
fn stale_record(file: &File) -> Option<String> {
    let (pid, start, what) = record(file);
    let pid = pid?;
    if process_alive(pid, start.unwrap_or(0)) {
        return None;
    }
    Some(format!(
        "the machine-wide lock named pid {pid} ({what}), which is gone (killed); its lock had been released by the kernel and was taken over"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_first_and_served_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first =
            acquire_at(&path, "unwindbench compare --unwind fp", false, &mut |_| {}).unwrap();
        assert_eq!(first.stale, None);
        // flock locks belong to the open file: a second open in this process conflicts too.
        let err = acquire_at(&path, "second", false, &mut |_| {})
            .err()
            .expect("refused while held");
        let LockError::Busy { holder, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(holder.pid, Some(std::process::id()));
        assert!(holder.what.contains("compare --unwind fp"), "{holder}");
        let line = err.to_string();
        assert!(
            line.contains(&format!("pid {}", std::process::id())),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
        drop(first);
        let second = acquire_at(&path, "second", false, &mut |_| {}).unwrap();
        assert_eq!(second.stale, None, "an orderly release leaves no record");
    }

    #[test]
    fn a_record_left_by_a_killed_holder_is_named_as_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        // A pid that cannot exist (above pid_max's ceiling): its holder was killed.
        std::fs::write(&path, "4194305 1\nunwindbench compare\nsince then\n").unwrap();
        let lock = acquire_at(&path, "now", false, &mut |_| {}).unwrap();
        let stale = lock.stale.clone().expect("stale record named");
        assert!(stale.contains("pid 4194305"), "{stale}");
        let record = std::fs::read_to_string(&path).unwrap();
        assert!(
            record.starts_with(&format!("{} ", std::process::id())),
            "{record}"
        );
    }

    #[test]
    fn a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.path().join("lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            acquire_at(&link, "x", false, &mut |_| {}),
            Err(LockError::Open { .. })
        ));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }
}
