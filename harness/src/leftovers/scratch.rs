//! The run's private scratch folder (the NBD socket, and for a loop device the FUSE mount),
//! and what a killed run leaves of it on the machine.
//!
//! A harness killed outright takes nbdkit and nbdfuse with it (their death signal), but the
//! kernel keeps what they were part of: the FUSE mount stays, stale ("Transport endpoint is
//! not connected"), and the loop device stays attached to the file on it. Neither lives in
//! a run folder, so they are found machine-wide, by the scratch folder their paths lie in:
//! `unwindbench-PID-N` in the temp dir, marked with its owner like a run folder. Where the
//! owner is gone, [`sweep`] detaches the loop devices backed by files in it, unmounts the
//! FUSE mounts in it, and removes it.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::found::Found;
use super::owner::{self, Claim};
use crate::workload::device::kernel;

const PREFIX: &str = "unwindbench-";

/// How long a detached loop device may take to let go of its file, and a mount to unmount.
const PATIENCE: Duration = Duration::from_secs(5);

/// A private folder for one run's socket and mount: short (Unix socket paths are limited to
/// 108 bytes, run folders may be deeper), owned by this process; removed when dropped.
pub struct ScratchDir {
    path: PathBuf,
    _claim: Claim,
}

impl ScratchDir {
    /// `unwindbench-PID-NANOS` in the temp dir, readable by its owner only.
    pub fn create() -> std::io::Result<ScratchDir> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!("{PREFIX}{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        let claim = owner::claim(&path)?;
        Ok(ScratchDir {
            path,
            _claim: claim,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // A mount still in it (its release failed, and said so) is not walked into.
        if !mounts_under(&self.path).is_empty() {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The scratch folder a path lies in: its nearest ancestor (or itself) named
/// `unwindbench-PID-N`, with the pid.
fn scratch_of(path: &Path) -> Option<(PathBuf, i32)> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    path.ancestors().find_map(|a| {
        let name = a.file_name()?.to_str()?;
        let (pid, n) = name.strip_prefix(PREFIX)?.split_once('-')?;
        if !digits(pid) || !digits(n) {
            return None;
        }
        Some((a.to_path_buf(), pid.parse().ok()?))
    })
}

/// Whether the run that made a scratch folder is gone: its owner marker says so, or (a
/// folder from before the marker) no process has its pid.
fn abandoned(dir: &Path, pid: i32) -> bool {
    let marker = dir.join(owner::OWNER);
    if marker.exists() {
        !owner::owner_alive(&marker)
    } else {
        !owner::pid_alive(pid)
    }
}

/// FUSE mounts at or under `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mut mounts: Vec<PathBuf> = kernel::fuse_mounts()
        .into_iter()
        .filter(|m| m.starts_with(dir))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    mounts
}

/// Cleans the scratch folders of killed runs: their loop devices, FUSE mounts and files.
/// A folder with nothing but files (a killed run of the nbd engine) is removed quietly;
/// one that held kernel objects gets a [`Found`].
pub fn sweep() -> Vec<Found> {
    let loops = kernel::loop_devices();
    let mut dirs: Vec<(PathBuf, i32)> = loops
        .iter()
        .map(|l| l.backing_file.clone())
        .chain(kernel::fuse_mounts())
        .filter_map(|p| scratch_of(&p))
        .collect();
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        dirs.extend(entries.flatten().filter_map(|e| scratch_of(&e.path())));
    }
    dirs.sort();
    dirs.dedup();
    dirs.into_iter()
        .filter(|(dir, pid)| abandoned(dir, *pid))
        .filter_map(|(dir, _)| {
            let found = clean(&dir, &loops);
            (!found.is_empty()).then_some(found)
        })
        .collect()
}

/// Detaches the loop devices backed by files in `dir`, unmounts its FUSE mounts, and removes
/// it once nothing is mounted in it.
fn clean(dir: &Path, loops: &[kernel::LoopDevice]) -> Found {
    let mut found = Found::new(dir);
    for l in loops.iter().filter(|l| l.backing_file.starts_with(dir)) {
        match kernel::detach_loop(&l.device) {
            Ok(()) => {
                let released = kernel::wait_until(PATIENCE, || {
                    kernel::loop_backing_file(&l.device).as_ref() != Some(&l.backing_file)
                });
                if !released {
                    found.problems.push(format!(
                        "{} is detached but still held open by something",
                        l.device.display()
                    ));
                }
                found
                    .detached
                    .push((l.device.clone(), Some(l.backing_file.clone())));
            }
            Err(e) => found.problems.push(e),
        }
    }
    for mount in mounts_under(dir) {
        match kernel::unmount(&mount, PATIENCE) {
            Ok(()) => found.unmounted.push(mount),
            Err(e) => found.problems.push(e),
        }
    }
    if mounts_under(dir).is_empty() {
        let _ = std::fs::remove_dir_all(dir);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_a_scratch_folder_name_it_and_its_pid() {
        let file = Path::new("/tmp/unwindbench-4242-17/fuse/disk");
        assert_eq!(
            scratch_of(file),
            Some((PathBuf::from("/tmp/unwindbench-4242-17"), 4242))
        );
        assert_eq!(scratch_of(Path::new("/tmp/unwindbench-x-1/fuse")), None);
        assert_eq!(scratch_of(Path::new("/tmp/unwindbench-12/fuse")), None);
        assert_eq!(scratch_of(Path::new("/srv/images/disk.img")), None);
    }

    #[test]
    fn a_scratch_folder_whose_owner_is_gone_is_removed_and_a_live_one_kept() {
        let live = ScratchDir::create().unwrap();
        std::fs::write(live.path().join("nbd.sock"), b"").unwrap();
        // A pid above pid_max's ceiling cannot run: its folder is abandoned.
        let dead = std::env::temp_dir().join(format!("{PREFIX}4194305-{}", std::process::id()));
        std::fs::create_dir_all(dead.join("fuse")).unwrap();
        std::fs::write(dead.join("nbd.sock"), b"").unwrap();
        // Nothing but files in it: removed without a word.
        let found = sweep();
        assert!(found.iter().all(|f| f.run_dir != dead), "{found:?}");
        assert!(!dead.exists());
        assert!(live.path().join("nbd.sock").exists());
        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists());
    }
}
