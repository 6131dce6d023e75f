//! The process tree from /proc: whom a child started, also when they left its process group.

/// The parent pid of every live process (`/proc/PID/stat`, the field after the state, which
/// follows the command name's last `)`).
fn parents() -> Vec<(libc::pid_t, libc::pid_t)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<libc::pid_t>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat[stat.rfind(')')? + 1..].split_whitespace().nth(1)?;
            Some((pid, ppid.parse().ok()?))
        })
        .collect()
}

/// Live children of `pid`.
pub fn children(pid: libc::pid_t) -> Vec<libc::pid_t> {
    parents()
        .into_iter()
        .filter(|&(_, parent)| parent == pid)
        .map(|(p, _)| p)
        .collect()
}

/// Live descendants of `pid`, children before grandchildren.
pub fn descendants(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let table = parents();
    let mut found = Vec::new();
    let mut next = vec![pid];
    while let Some(p) = next.pop() {
        for &(child, _) in table.iter().filter(|&&(_, parent)| parent == p) {
            if !found.contains(&child) {
                found.push(child);
                next.push(child);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{command, spawn};
    use std::time::{Duration, Instant};

    fn alive(pid: i32) -> bool {
        // SAFETY: signal 0 only checks for existence.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    fn wait_for(what: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !what() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        what()
    }

    #[test]
    fn a_killed_child_takes_descendants_that_left_its_group() {
        // The grandchild starts a session of its own, as fio's job processes do.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pid");
        let script = format!("setsid sleep 30 & echo $! > {}; wait", file.display());
        let mut child = spawn("sh", command("sh", &["-c", &script])).unwrap();
        assert!(wait_for(
            || std::fs::read_to_string(&file).is_ok_and(|t| t.ends_with('\n'))
        ));
        let grandchild: i32 = std::fs::read_to_string(&file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(wait_for(|| descendants(child.pid()).contains(&grandchild)));
        assert!(children(child.pid()).contains(&grandchild));
        child.kill();
        // Reparented to init, which reaps it.
        assert!(
            wait_for(|| !alive(grandchild)),
            "grandchild {grandchild} survived"
        );
    }
}
