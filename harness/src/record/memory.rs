//! The page cache's dirty data: a recording fills it, and once it reaches the kernel's
//! limits perf can write only as fast as the disk takes the data.

use serde::{Deserialize, Serialize};

/// The kernel's dirty-page limits, as they stood.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DirtyLimits {
    /// `vm.dirty_ratio` and `vm.dirty_background_ratio` (percent of available memory; 0 when
    /// the `_bytes` variants are set instead).
    pub ratio: u32,
    pub background_ratio: u32,
    /// The thresholds they amount to now (/proc/vmstat), in MB.
    pub threshold_mb: f64,
    pub background_threshold_mb: f64,
}

impl DirtyLimits {
    pub fn read() -> DirtyLimits {
        let num = |p: &str| {
            std::fs::read_to_string(p)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .unwrap_or(0)
        };
        let vmstat = std::fs::read_to_string("/proc/vmstat").unwrap_or_default();
        let pages = |key: &str| {
            vmstat
                .lines()
                .find_map(|l| l.strip_prefix(key)?.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let page_mb = page_size() as f64 / 1e6;
        DirtyLimits {
            ratio: num("/proc/sys/vm/dirty_ratio"),
            background_ratio: num("/proc/sys/vm/dirty_background_ratio"),
            threshold_mb: pages("nr_dirty_threshold ") * page_mb,
            background_threshold_mb: pages("nr_dirty_background_threshold ") * page_mb,
        }
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// Dirty data waiting for the disk now, in MB (`Dirty` + `Writeback` of /proc/meminfo).
pub fn dirty_mb() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = |key: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(key)?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    (kb("Dirty:") + kb("Writeback:")) * 1024.0 / 1e6
}
