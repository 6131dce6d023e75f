//! What is read at the edges of every round: the time, the CPU of the workload's and the
//! recorder's threads (with how long they waited to run), the whole machine's CPU by kind,
//! the kernel threads that write dirty pages back, the page cache's dirty data and the
//! recording's size. All cheap enough to read four times a second (about a millisecond).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::record::control::monotonic_ns;
pub use crate::record::cpu::{threads_of, ThreadTimes};

/// The machine's CPU time by kind, from the first line of /proc/stat, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuByKind {
    pub user: f64,
    pub system: f64,
    pub irq: f64,
    pub softirq: f64,
    pub idle: f64,
    pub iowait: f64,
    pub steal: f64,
}

impl CpuByKind {
    pub fn read() -> CpuByKind {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| CpuByKind::parse(&t))
            .unwrap_or_default()
    }

    /// The `cpu` line: user nice system idle iowait irq softirq steal, in clock ticks (nice
    /// counts as user).
    pub fn parse(text: &str) -> Option<CpuByKind> {
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let tick = crate::record::cpu::ticks_per_second();
        let at = |i: usize| v.get(i).copied().unwrap_or(0.0) / tick;
        Some(CpuByKind {
            user: at(0) + at(1),
            system: at(2),
            idle: at(3),
            iowait: at(4),
            irq: at(5),
            softirq: at(6),
            steal: at(7),
        })
    }

    /// Element-wise difference, `self - earlier`.
    pub fn since(&self, e: &CpuByKind) -> CpuByKind {
        CpuByKind {
            user: self.user - e.user,
            system: self.system - e.system,
            irq: self.irq - e.irq,
            softirq: self.softirq - e.softirq,
            idle: self.idle - e.idle,
            iowait: self.iowait - e.iowait,
            steal: self.steal - e.steal,
        }
    }

    /// Every field times `k`.
    pub fn scaled(&self, k: f64) -> CpuByKind {
        CpuByKind {
            user: self.user * k,
            system: self.system * k,
            irq: self.irq * k,
            softirq: self.softirq * k,
            idle: self.idle * k,
            iowait: self.iowait * k,
            steal: self.steal * k,
        }
    }

    pub fn plus(&self, o: &CpuByKind) -> CpuByKind {
        self.since(&o.scaled(-1.0))
    }

    /// Busy time: everything but idle and iowait.
    pub fn busy(&self) -> f64 {
        self.user + self.system + self.irq + self.softirq + self.steal
    }
}

/// Whether a kernel thread named `comm` writes dirty pages back: the unbound workqueue
/// workers the flusher runs in (`kworker/uN:M`, `+flush-MAJ:MIN` while they flush) and the
/// filesystem journal (`jbd2/...`).
pub fn is_writeback_thread(comm: &str) -> bool {
    comm.starts_with("kworker/u") || comm.starts_with("jbd2/")
}

/// The writeback threads of the machine, found by name and re-listed now and then (workers
/// come and go).
pub struct WritebackThreads {
    stats: Vec<PathBuf>,
    listed_at: Option<std::time::Instant>,
}

impl WritebackThreads {
    pub fn new() -> WritebackThreads {
        WritebackThreads {
            stats: Vec::new(),
            listed_at: None,
        }
    }

    fn relist(&mut self) {
        self.stats.clear();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        for e in dir.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if is_writeback_thread(comm.trim()) {
                self.stats.push(e.path().join("schedstat"));
            }
        }
        self.listed_at = Some(std::time::Instant::now());
    }

    /// Their CPU time so far (ns), the list renewed once a second.
    pub fn run_ns(&mut self) -> u64 {
        if self
            .listed_at
            .is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(1))
        {
            self.relist();
        }
        self.stats
            .iter()
            .filter_map(|p| crate::record::cpu::schedstat(p))
            .map(|t| t.run_ns)
            .sum()
    }
}

impl Default for WritebackThreads {
    fn default() -> Self {
        WritebackThreads::new()
    }
}

/// Dirty and under-writeback page-cache data (MB), from /proc/meminfo.
pub fn dirty_mb() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |key: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0)
    };
    (kib("Dirty:") + kib("Writeback:")) * 1024.0 / 1e6
}

/// Everything read at one edge of a round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// CLOCK_MONOTONIC (ns).
    pub t_ns: u64,
    pub workload: ThreadTimes,
    pub recorder: ThreadTimes,
    pub system: CpuByKind,
    pub writeback_ns: u64,
    pub dirty_mb: f64,
    /// The recording's size so far.
    pub recorded_bytes: u64,
}

/// What a snapshot watches.
pub struct Watched {
    /// The workload's processes (the server, fio and its jobs; or the work program).
    pub workload: Vec<i32>,
    pub recorder: i32,
    /// The recording being written.
    pub output: PathBuf,
    pub writeback: WritebackThreads,
}

impl Watched {
    pub fn snapshot(&mut self) -> Snapshot {
        Snapshot {
            t_ns: monotonic_ns(),
            workload: threads_of(&self.workload),
            recorder: threads_of(&[self.recorder]),
            system: CpuByKind::read(),
            writeback_ns: self.writeback.run_ns(),
            dirty_mb: dirty_mb(),
            recorded_bytes: std::fs::metadata(&self.output).map_or(0, |m| m.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_is_read_by_kind() {
        let tick = crate::record::cpu::ticks_per_second();
        let c = CpuByKind::parse("cpu  100 10 200 300 40 5 6 7 0 0\ncpu0 1 2 3\n").unwrap();
        assert_eq!(c.user, 110.0 / tick);
        assert_eq!(c.system, 200.0 / tick);
        assert_eq!(c.idle, 300.0 / tick);
        assert_eq!(c.iowait, 40.0 / tick);
        assert_eq!(c.softirq, 6.0 / tick);
        assert_eq!(c.steal, 7.0 / tick);
        assert_eq!(c.busy(), (110.0 + 200.0 + 5.0 + 6.0 + 7.0) / tick);
        assert!(CpuByKind::parse("intr 1 2\n").is_none());
    }

    #[test]
    fn writeback_threads_are_known_by_name() {
        for comm in ["kworker/u4:2", "kworker/u4:0+flush-254:0", "jbd2/vda-8"] {
            assert!(is_writeback_thread(comm), "{comm}");
        }
        for comm in ["kworker/0:1", "ksoftirqd/0", "perf", "kswapd0"] {
            assert!(!is_writeback_thread(comm), "{comm}");
        }
    }

    #[test]
    fn this_process_has_threads_that_ran() {
        let own = threads_of(&[std::process::id() as i32]);
        assert!(own.run_ns > 0 && own.slices > 0, "{own:?}");
        assert_eq!(threads_of(&[i32::MAX]), ThreadTimes::default());
    }
}
