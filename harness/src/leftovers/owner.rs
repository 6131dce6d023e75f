//! Who owns a folder: a marker with the owning harness's pid and start time, so that a
//! folder whose owner is gone (killed outright) is told from one in use.

use std::path::{Path, PathBuf};

/// The owner marker in a run folder (and a scratch folder): `PID START_TICKS`.
pub const OWNER: &str = ".unwindbench-owner";

/// A folder held by this process; the marker goes when it is dropped (the orderly end).
pub struct Claim {
    marker: PathBuf,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.marker);
    }
}

/// Marks `dir` as this process's.
pub fn claim(dir: &Path) -> std::io::Result<Claim> {
    let pid = std::process::id();
    let marker = dir.join(OWNER);
    let start = start_ticks(pid).unwrap_or(0);
    std::fs::write(&marker, format!("{pid} {start}\n"))?;
    Ok(Claim { marker })
}

/// The start time of `pid` in clock ticks since boot (`/proc/PID/stat`, field 22): with the
/// pid, it names one process, whatever reuses the pid later.
pub(crate) fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its last ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(19)?.parse().ok()
}

/// Whether the owner a marker names still runs.
pub fn owner_alive(marker: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(marker) else {
        return true; // unreadable: not ours to judge
    };
    let mut words = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(pid)), Some(Ok(start))) = (words.next(), words.next()) else {
        return false;
    };
    u32::try_from(pid).is_ok_and(|pid| process_alive(pid, start))
}

/// Whether the process `pid` that started at `start` (clock ticks since boot) still runs,
/// and not another that reuses its pid.
pub(crate) fn process_alive(pid: u32, start: u64) -> bool {
    start_ticks(pid).is_some_and(|now| now == start)
}

/// Whether a process with this pid exists (one of another user's counts: EPERM).
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks whether the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
