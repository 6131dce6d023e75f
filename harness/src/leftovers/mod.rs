//! What a run that was killed outright leaves behind, found and cleaned by the next one.
//!
//! An orderly end (done, error, first Ctrl-C) stops every child and tidies up. A SIGKILL,
//! an out-of-memory kill, a power cut or a second Ctrl-C cannot: perf dies with the harness
//! (its death signal) and leaves a perf.data it never finalized, often gigabytes; an atomic
//! write leaves its `.NAME.PID.N.tmp`; a kernel NBD device stays attached to a server that
//! is gone; a loop device stays attached to a file on a FUSE mount whose nbdfuse is gone,
//! and the mount stays, stale. So a run folder says who owns it: [`claim`] writes the
//! harness's pid and start time into [`OWNER`] and removes it at the orderly end, and an
//! attached NBD device is written into its measurement folder ([`DEVICE_MARKER`]) until it
//! is detached; the scratch folder that holds the socket and the FUSE mount is owned the
//! same way ([`scratch`]). [`sweep`] (run by `compare` before it starts and by `doctor`)
//! cleans the scratch folders of killed runs machine-wide, then looks for run folders whose
//! owner is gone, says what it found, removes the unfinalized recordings and temporary
//! files, and detaches the devices that run attached. Finalized recordings are kept: they
//! are results.

mod found;
mod owner;
pub mod scratch;

use std::path::{Path, PathBuf};

pub use self::found::Found;
pub use self::owner::{claim, Claim, OWNER};
pub(crate) use self::owner::{process_alive, start_ticks};
pub use self::scratch::ScratchDir;
use crate::workload::device::nbd;
pub use crate::workload::device::nbd::MARKER as DEVICE_MARKER;

/// Cleans what killed runs left: first on the machine (loop devices, FUSE mounts and
/// scratch folders, see [`scratch`]), then the run folders in `dir` (and `dir` itself)
/// whose owner is gone.
pub fn sweep(dir: &Path) -> Vec<Found> {
    let mut found = scratch::sweep();
    found.extend(sweep_run_folders(dir));
    found
}

fn sweep_run_folders(dir: &Path) -> Vec<Found> {
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
            marker.exists() && !owner::owner_alive(&marker)
        })
        .map(|f| clean(&f))
        .collect()
}

/// Cleans one abandoned run folder and drops its owner marker.
fn clean(run_dir: &Path) -> Found {
    let mut found = Found::new(run_dir);
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

/// Detaches the NBD device a marker names if it is still connected.
fn detach(marker: &Path, found: &mut Found) {
    let device = std::fs::read_to_string(marker).unwrap_or_default();
    let device = PathBuf::from(device.trim());
    if !nbd::is_nbd_path(&device) {
        found.problems.push(format!(
            "{} names no NBD device ({})",
            marker.display(),
            device.display()
        ));
        let _ = std::fs::remove_file(marker);
        return;
    }
    if nbd::connected(&device) {
        match nbd::detach(&device) {
            Ok(()) => found.detached.push((device, None)),
            Err(e) => found.problems.push(e),
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
        let found = sweep_run_folders(dir.path());
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
