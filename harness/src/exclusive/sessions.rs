//! Other profiling sessions on the machine: processes outside this run that hold perf event
//! descriptors (`perf record`, `perf top`, `perf stat`, a BPF profiler's sampling events,
//! another harness). Each one samples or counts beside the measurement and takes CPU and
//! memory bandwidth from it; the run names them rather than report their cost as its own.
//!
//! Seen through `/proc/PID/fd`: all processes as root, only one's own as an ordinary user
//! (the scan says how many it could not look into).

use std::collections::{BTreeMap, BTreeSet};

/// One process holding perf events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub pid: u32,
    pub command: String,
    pub perf_events: usize,
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} `{}` ({} perf event{})",
            self.pid,
            self.command,
            self.perf_events,
            if self.perf_events == 1 { "" } else { "s" }
        )
    }
}

/// What a scan found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub sessions: Vec<Session>,
    /// Processes whose descriptors this user may not list (other users', when not root).
    pub hidden: usize,
}

impl Scan {
    /// Sessions of both scans, once each (by pid).
    pub fn merge(mut self, other: Scan) -> Scan {
        for s in other.sessions {
            if !self.sessions.iter().any(|x| x.pid == s.pid) {
                self.sessions.push(s);
            }
        }
        self.hidden = self.hidden.max(other.hidden);
        self
    }

    /// The line a run carries when other sessions ran beside a measurement.
    pub fn warning(&self) -> Option<String> {
        (!self.sessions.is_empty()).then(|| {
            let names: Vec<String> = self.sessions.iter().map(Session::to_string).collect();
            format!(
                "other profiling sessions ran on this machine during this measurement: {}; its figures include their cost",
                names.join("; ")
            )
        })
    }
}

/// Longest command line kept for a message.
const COMMAND_CHARS: usize = 160;

/// Processes other than this one and its descendants that hold perf events now.
pub fn others() -> Scan {
    let parents = parents();
    let ours = descendants(std::process::id(), &parents);
    let mut scan = Scan::default();
    for &pid in parents.keys().filter(|p| !ours.contains(p)) {
        match perf_events(pid) {
            Ok(0) => {}
            Ok(n) => scan.sessions.push(Session {
                pid,
                command: command(pid),
                perf_events: n,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => scan.hidden += 1,
            Err(_) => {} // gone meanwhile
        }
    }
    scan
}

/// Every process's parent, from /proc/PID/stat.
fn parents() -> BTreeMap<u32, u32> {
    let mut map = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return map;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // The name (field 2) may hold spaces and parentheses: count after its last ')'.
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat.get(i + 2..))
            .and_then(|rest| rest.split(' ').nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            map.insert(pid, ppid);
        }
    }
    map
}

/// `root` and everything it started, transitively.
fn descendants(root: u32, parents: &BTreeMap<u32, u32>) -> BTreeSet<u32> {
    let mut ours = BTreeSet::from([root]);
    loop {
        let before = ours.len();
        for (&pid, ppid) in parents {
            if ours.contains(ppid) {
                ours.insert(pid);
            }
        }
        if ours.len() == before {
            return ours;
        }
    }
}

/// How many of `pid`'s descriptors are perf events.
fn perf_events(pid: u32) -> std::io::Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
        if std::fs::read_link(e.path()).is_ok_and(|t| t.as_os_str() == "anon_inode:[perf_event]") {
            n += 1;
        }
    }
    Ok(n)
}

fn command(pid: u32) -> String {
    let line = super::command_line(pid)
        .or_else(|| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
        .unwrap_or_default();
    let line = line.trim();
    match line.char_indices().nth(COMMAND_CHARS) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_follow_the_tree() {
        let parents = BTreeMap::from([(2, 1), (3, 2), (4, 3), (5, 1), (6, 5)]);
        assert_eq!(descendants(2, &parents), BTreeSet::from([2, 3, 4]));
    }

    #[test]
    fn a_process_holding_a_perf_event_is_counted_and_its_own_are_not_others() {
        // A task-clock counter on this test process, as a profiler would open one.
        let Ok(counter) =
            perf_event::Builder::new(perf_event::events::Software::TASK_CLOCK).build()
        else {
            eprintln!("perf events not permitted here; skipped");
            return;
        };
        assert_eq!(perf_events(std::process::id()).unwrap(), 1);
        assert!(!others()
            .sessions
            .iter()
            .any(|s| s.pid == std::process::id()));
        drop(counter);
        assert_eq!(perf_events(std::process::id()).unwrap(), 0);
    }
}
