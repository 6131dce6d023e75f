//! CPU time of live processes from /proc, to cut the measured window out of a process's
//! lifetime: wait4's rusage covers a whole life (ramp and start-up included), so the usage at
//! the window's start is read here and subtracted.

use serde::{Deserialize, Serialize};

use crate::process::CpuTimes;

pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Fields of /proc/PID/stat after the `comm` field (which may contain spaces and parentheses,
/// hence the split at the last `)`).
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// User and system time of a live process (all its threads, dead ones included), or None if it
/// is gone.
pub fn process_cpu(pid: i32) -> Option<CpuTimes> {
    let f = stat_fields(pid)?;
    // After `)`: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    let tick = ticks_per_second();
    let field = |i: usize| f.get(i)?.parse::<f64>().ok();
    Some(CpuTimes {
        user_s: (field(11)? + field(13)?) / tick,
        system_s: (field(12)? + field(14)?) / tick,
    })
}

/// On-CPU seconds of a live process's current threads, at nanosecond resolution (the sum of
/// `/proc/PID/task/*/schedstat`). Exited threads are not counted, so use it only for a process
/// whose threads live through the interval measured, like perf; /proc/PID/stat's 10 ms ticks
/// would round perf's frame-pointer cost to zero.
pub fn thread_run_seconds(pid: i32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut ns = 0u64;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        ns += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(ns as f64 / 1e9)
}

/// Live children of `pid` (fio's job processes, for instance).
pub fn children(pid: i32) -> Vec<i32> {
    crate::process::children(pid)
}

/// CPU time of `pid` and all its live descendants. Reaped descendants are already folded into
/// their parent's cutime/cstime, which [`process_cpu`] includes, so nothing is counted twice.
pub fn tree_cpu(pid: i32) -> CpuTimes {
    let mut total = process_cpu(pid).unwrap_or_default();
    for child in children(pid) {
        total = total.add(tree_cpu(child));
    }
    total
}

/// Online CPUs, as the kernel counts them for system-wide sampling.
pub fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n > 0 {
        n as usize
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_cpu_time_and_a_parent() {
        // Burn a little CPU so the tick counter moves.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed().as_millis() < 50 {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let me = std::process::id() as i32;
        let cpu = process_cpu(me).unwrap();
        assert!(cpu.total() > 0.0);
        assert!(thread_run_seconds(me).unwrap() >= 0.04);
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() };
        assert!(children(parent).contains(&me));
        assert!(process_cpu(i32::MAX).is_none());
        assert!(online_cpus() >= 1);
    }
}

/// Scheduler figures of a set of threads, summed (`/proc/PID/task/*/schedstat`): time on a
/// CPU, time runnable but waiting for one, and timeslices run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreadTimes {
    pub run_ns: u64,
    pub wait_ns: u64,
    pub slices: u64,
}

impl ThreadTimes {
    fn add(&mut self, other: ThreadTimes) {
        self.run_ns += other.run_ns;
        self.wait_ns += other.wait_ns;
        self.slices += other.slices;
    }

    /// What happened between `earlier` and `self` (threads that left take their time with
    /// them, so a difference is never negative).
    pub fn since(&self, earlier: &ThreadTimes) -> ThreadTimes {
        ThreadTimes {
            run_ns: self.run_ns.saturating_sub(earlier.run_ns),
            wait_ns: self.wait_ns.saturating_sub(earlier.wait_ns),
            slices: self.slices.saturating_sub(earlier.slices),
        }
    }
}

/// One line of `/proc/PID/task/TID/schedstat`.
pub fn schedstat(path: &std::path::Path) -> Option<ThreadTimes> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut f = text.split_whitespace().map(|v| v.parse::<u64>().ok());
    Some(ThreadTimes {
        run_ns: f.next()??,
        wait_ns: f.next()??,
        slices: f.next()??,
    })
}

/// Every live thread of the processes `pids`, summed.
pub fn threads_of(pids: &[i32]) -> ThreadTimes {
    let mut total = ThreadTimes::default();
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Some(t) = schedstat(&task.path().join("schedstat")) {
                total.add(t);
            }
        }
    }
    total
}
