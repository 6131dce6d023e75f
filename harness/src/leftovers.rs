//! What a run that was killed outright leaves behind, found and cleaned by the next one.
//!
//! An orderly end (done, error, first Ctrl-C) stops every child and tidies up. A SIGKILL,
//! an out-of-memory kill, a power cut or a second Ctrl-C cannot: perf dies with the harness
//! (its death signal) and leaves a perf.data it never finalized, often gigabytes; an atomic
//! write leaves its `.NAME.PID.N.tmp`; a kernel NBD device stays attached to a server that
//! is gone. So a run folder says who owns it: [`claim`] writes the harness's pid and start
//! time into [`OWNER`] and removes it at the orderly end, and an attached device is written
//! into its measurement folder ([`DEVICE_MARKER`]) until it is detached. [`sweep`] (run by
//! `compare` before it starts and by `doctor`) looks for folders whose owner is gone, says
//! what it found, removes the unfinalized recordings and temporary files, and detaches the
//! devices that run attached. Finalized recordings are kept: they are results.

use std::path::{Path, PathBuf};

use crate::units::human_bytes;

/// The owner marker in a run folder: `PID START_TICKS`.
pub const OWNER: &str = ".unwindbench-owner";
/// The kernel NBD device a measurement attached, in its folder while attached.
pub const DEVICE_MARKER: &str = "nbd-device";

/// A run folder held by this process; the marker goes when it is dropped (the orderly end).
pub struct Claim {
    marker: PathBuf,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.marker);
    }
}

/// Marks `run_dir` as this process's.
pub fn claim(run_dir: &Path) -> std::io::Result<Claim> {
    let pid = std::process::id();
    let marker = run_dir.join(OWNER);
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
fn owner_alive(marker: &Path) -> bool {
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

/// What was found in one abandoned run folder, and what was done about it.
#[derive(Debug, Default)]
pub struct Found {
    pub run_dir: PathBuf,
    /// Unfinalized recordings and temporary files removed, with their sizes.
    pub removed: Vec<(PathBuf, u64)>,
    /// Finalized recordings left in place (results the run did not get to analyze).
    pub kept: Vec<(PathBuf, u64)>,
    pub detached: Vec<PathBuf>,
    /// What could not be cleaned, and why.
    pub problems: Vec<String>,
}

impl Found {
    /// One line for the terminal, the doctor and the notes.
    pub fn line(&self) -> String {
        let list = |items: &[(PathBuf, u64)]| {
            items
                .iter()
                .map(|(p, n)| format!("{} ({})", self.relative(p), human_bytes(*n)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !self.removed.is_empty() {
            parts.push(format!("removed {}", list(&self.removed)));
        }
        if !self.detached.is_empty() {
            let devices: Vec<String> = self
                .detached
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            parts.push(format!("detached {}", devices.join(", ")));
        }
        if !self.kept.is_empty() {
            parts.push(format!(
                "kept the finalized {} (analyze with `unwindbench analyze`, or delete)",
                list(&self.kept)
            ));
        }
        parts.extend(self.problems.iter().cloned());
        if parts.is_empty() {
            parts.push("nothing left to clean".into());
        }
        format!(
            "{} belongs to a run that was killed: {}",
            self.run_dir.display(),
            parts.join("; ")
        )
    }

    fn relative(&self, p: &Path) -> String {
        p.strip_prefix(&self.run_dir)
            .unwrap_or(p)
            .display()
            .to_string()
    }
}

/// Finds the run folders in `dir` (and `dir` itself) whose owner is gone, and cleans them.
pub fn sweep(dir: &Path) -> Vec<Found> {
    let mut folders = vec![dir.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut children: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        children.sort();
        folders.extend(children);
    }
    folders
        .into_iter()
        .filter(|f| {
            let marker = f.join(OWNER);
            marker.exists() && !owner_alive(&marker)
        })
        .map(|f| clean(&f))
        .collect()
}

/// Cleans one abandoned run folder and drops its owner marker.
fn clean(run_dir: &Path) -> Found {
    let mut found = Found {
        run_dir: run_dir.to_path_buf(),
        ..Found::default()
    };
    visit(run_dir, 0, &mut found);
    let _ = std::fs::remove_file(run_dir.join(OWNER));
    found
}

/// Run folders are shallow: measurement folders, and in them the analysis outputs.
const MAX_DEPTH: usize = 3;

fn visit(dir: &Path, depth: usize, found: &mut Found) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if depth < MAX_DEPTH {
                visit(&path, depth + 1, found);
            }
            continue;
        }
        if !meta.is_file() {
            continue; // symlinks are never followed or removed
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == DEVICE_MARKER {
            detach(&path, found);
        } else if name.starts_with('.') && name.ends_with(".tmp") {
            remove(&path, meta.len(), found);
        } else if name.ends_with(".data") {
            match crate::perfdata::is_unfinalized(&path) {
                Some(true) => remove(&path, meta.len(), found),
                Some(false) => found.kept.push((path, meta.len())),
                None => {}
            }
        }
    }
}

fn remove(path: &Path, len: u64, found: &mut Found) {
    match std::fs::remove_file(path) {
        Ok(()) => found.removed.push((path.to_path_buf(), len)),
        Err(e) => found
            .problems
            .push(format!("could not remove {}: {e}", path.display())),
    }
}

/// Detaches the device a marker names if it is still connected (sysfs has its `pid`).
fn detach(marker: &Path, found: &mut Found) {
    let device = std::fs::read_to_string(marker).unwrap_or_default();
    let device = PathBuf::from(device.trim());
    let name = device
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let valid = name
        .strip_prefix("nbd")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && device.parent() == Some(Path::new("/dev"));
    if !valid {
        found.problems.push(format!(
            "{} names no NBD device ({})",
            marker.display(),
            device.display()
        ));
        let _ = std::fs::remove_file(marker);
        return;
    }
    if Path::new(&format!("/sys/block/{name}/pid")).exists() {
        let dev = device.display().to_string();
        match crate::process::capture("nbd-client", &["-d", &dev]) {
            Ok((status, _, _)) if status.success() => found.detached.push(device),
            Ok((status, _, err)) => found.problems.push(format!(
                "`nbd-client -d {dev}` failed ({status}): {}",
                err.trim()
            )),
            Err(e) => found.problems.push(format!("cannot detach {dev}: {e}")),
        }
    }
    let _ = std::fs::remove_file(marker);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_owner_is_left_alone_and_a_dead_one_is_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("live");
        let dead = dir.path().join("dead");
        std::fs::create_dir_all(&live).unwrap();
        std::fs::create_dir_all(dead.join("r1-fp")).unwrap();
        let claim = claim(&live).unwrap();
        // A pid that cannot exist (above pid_max's ceiling) is a dead owner.
        std::fs::write(dead.join(OWNER), "4194305 1\n").unwrap();
        std::fs::write(dead.join("r1-fp/.report.md.77.0.tmp"), b"half").unwrap();
        std::fs::write(live.join(".report.md.78.0.tmp"), b"in use").unwrap();
        let found = sweep(dir.path());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].run_dir, dead);
        assert_eq!(found[0].removed.len(), 1);
        assert!(
            found[0].line().contains("r1-fp/.report.md.77.0.tmp (4 B)"),
            "{}",
            found[0].line()
        );
        assert!(!dead.join(OWNER).exists());
        assert!(live.join(".report.md.78.0.tmp").exists());
        drop(claim);
        assert!(!live.join(OWNER).exists());
    }
}
