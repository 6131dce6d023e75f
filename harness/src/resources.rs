//! What the harness holds at one moment: open descriptors, threads, live children, peak
//! memory. A nightly job runs it every night for months, where a slow leak would only show
//! late; the soak (harness/tests/soak.rs, scripts/soak.sh) reads this at the end of every
//! run: with `UNWINDBENCH_RESOURCES=FILE` the binary appends one JSON line to FILE as it
//! exits, after everything it started was stopped and every handle dropped.

use serde::{Deserialize, Serialize};

/// The environment variable naming the file a run appends its [`Snapshot`] to.
pub const ENV: &str = "UNWINDBENCH_RESOURCES";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Descriptors open in this process (stdin, stdout and stderr included).
    pub fds: usize,
    pub threads: usize,
    /// Processes whose parent is this one, zombies included.
    pub children: usize,
    /// Peak resident memory of this process (VmHWM), KiB.
    pub peak_rss_kib: u64,
}

/// This process, now.
pub fn snapshot() -> Snapshot {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    Snapshot {
        // The listing's own descriptor was open while it was read.
        fds: fds.saturating_sub(1),
        threads: field("Threads:") as usize,
        children: children(std::process::id()),
        peak_rss_kib: field("VmHWM:"),
    }
}

/// Processes whose parent is `pid` (from /proc/*/stat, field 4).
fn children(pid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            stat.rfind(')')
                .and_then(|i| stat.get(i + 2..))
                .and_then(|rest| rest.split(' ').nth(1))
                .and_then(|p| p.parse::<u32>().ok())
                == Some(pid)
        })
        .count()
}

/// Takes `UNWINDBENCH_RESOURCES` out of the environment (so the children the run starts,
/// analyses and recorders, do not report too) and returns the file it named.
pub fn take_request() -> Option<std::path::PathBuf> {
    let path = std::env::var_os(ENV).filter(|p| !p.is_empty())?;
    // Called first thing in main, before any thread exists.
    std::env::remove_var(ENV);
    Some(path.into())
}

/// Appends this process's snapshot to `path`.
pub fn report(path: &std::path::Path) {
    let Ok(line) = serde_json::to_string(&snapshot()) else {
        return;
    };
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_and_a_descriptor_are_counted() {
        let before = snapshot();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let during = snapshot();
        assert!(during.fds > before.fds, "{before:?} {during:?}");
        assert!(during.children > before.children, "{before:?} {during:?}");
        child.kill().unwrap();
        child.wait().unwrap();
        drop(file);
        assert!(during.peak_rss_kib > 0);
    }
}
