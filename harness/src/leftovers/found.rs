//! What was found in one abandoned folder, and what was done about it, as one line.

use std::path::{Path, PathBuf};

use crate::units::human_bytes;

/// What was found in one abandoned run (or scratch) folder, and what was done about it.
#[derive(Debug, Default)]
pub struct Found {
    pub run_dir: PathBuf,
    /// Unfinalized recordings and temporary files removed, with their sizes.
    pub removed: Vec<(PathBuf, u64)>,
    /// Finalized recordings left in place (results the run did not get to analyze).
    pub kept: Vec<(PathBuf, u64)>,
    /// Devices detached: kernel NBD devices, and loop devices with the file behind them.
    pub detached: Vec<(PathBuf, Option<PathBuf>)>,
    /// FUSE mounts unmounted.
    pub unmounted: Vec<PathBuf>,
    /// What could not be cleaned, and why.
    pub problems: Vec<String>,
}

impl Found {
    pub fn new(run_dir: &Path) -> Found {
        Found {
            run_dir: run_dir.to_path_buf(),
            ..Found::default()
        }
    }

    /// Whether anything was done or went wrong.
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty()
            && self.kept.is_empty()
            && self.detached.is_empty()
            && self.unmounted.is_empty()
            && self.problems.is_empty()
    }

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
                .map(|(d, file)| match file {
                    Some(f) => format!("{} (backed by {})", d.display(), f.display()),
                    None => d.display().to_string(),
                })
                .collect();
            parts.push(format!("detached {}", devices.join(", ")));
        }
        if !self.unmounted.is_empty() {
            let mounts: Vec<String> = self
                .unmounted
                .iter()
                .map(|m| m.display().to_string())
                .collect();
            parts.push(format!("unmounted the FUSE mount {}", mounts.join(", ")));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_loop_run_is_told_in_one_line() {
        let dir = Path::new("/tmp/unwindbench-41-7");
        let mut found = Found::new(dir);
        assert!(found.is_empty());
        found
            .detached
            .push((PathBuf::from("/dev/loop3"), Some(dir.join("fuse/disk"))));
        found.unmounted.push(dir.join("fuse"));
        assert!(!found.is_empty());
        assert_eq!(
            found.line(),
            "/tmp/unwindbench-41-7 belongs to a run that was killed: detached /dev/loop3 \
             (backed by /tmp/unwindbench-41-7/fuse/disk); unmounted the FUSE mount \
             /tmp/unwindbench-41-7/fuse"
        );
    }
}
