//! One measurement at a time on a shared machine (see `unwindbench::exclusive`): a second
//! `compare` is refused (`--no-wait`) or waits, naming the first; `calibrate` too; and a
//! `perf record -a` running beside a comparison is named by the doctor and in the report.
//! Each test uses a lock file of its own (UNWINDBENCH_LOCK), so that it neither waits for
//! nor blocks a real measurement on the machine.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin(lock: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_unwindbench"));
    c.env("UNWINDBENCH_LOCK", lock);
    c
}

/// Kills and reaps a helper process (perf, flock) when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // SAFETY: signals our own child; SIGINT lets perf finish its file.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn perf_events_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|t| t.as_os_str() == "anon_inode:[perf_event]")
                })
                .count()
        })
        .unwrap_or(0)
}

fn short_compare(lock: &Path, run_dir: &Path) -> Command {
    let mut c = bin(lock);
    c.args([
        "compare",
        "--unwind",
        "fp",
        "--runtime",
        "3s",
        "--ramp",
        "1s",
    ])
    .args(["--prices", "none", "--without-none", "--overhead", "runs"])
    .args(["--repeat", "1", "--quiet", "--out"])
    .arg(run_dir);
    c
}

#[test]
fn a_second_compare_is_refused_or_waits_and_a_perf_beside_it_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("measure.lock");
    // Someone's own system-wide recording, beside the comparison.
    let perf = Reaped(
        Command::new("perf")
            .args(["record", "-a", "-F", "99", "-q", "-o"])
            .arg(dir.path().join("someone.data"))
            .args(["--", "sleep", "300"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let perf_pid = perf.0.id();
    wait_for("perf opened its events", || perf_events_of(perf_pid) > 0);

    let doctor = bin(&lock)
        .args(["doctor", "--json", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let d: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let other = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "other profilers")
        .expect("an `other profilers` finding");
    assert_eq!(other["status"], "warn", "{other}");
    let detail = other["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("pid {perf_pid} `perf record")),
        "{detail}"
    );

    let run1 = dir.path().join("run1");
    let mut first = short_compare(&lock, &run1)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first_pid = first.id();
    wait_for("the first comparison holds the machine", || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.starts_with(&format!("{first_pid} ")))
    });

    // --no-wait: refused at once, in one line naming the first.
    let o = short_compare(&lock, &dir.path().join("run2"))
        .arg("--no-wait")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "another measurement holds this machine: pid {first_pid}"
        )),
        "{err}"
    );
    assert!(err.contains("compare --unwind fp"), "{err}");
    assert!(!dir.path().join("run2/results.json").exists());

    // Without it: waits, saying for whom, until given up (Ctrl-C).
    let mut third = short_compare(&lock, &dir.path().join("run3"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(third.stderr.take().unwrap()).lines();
    let waiting = lines.next().unwrap().unwrap();
    assert!(waiting.contains("waiting for"), "{waiting}");
    assert!(waiting.contains(&format!("pid {first_pid}")), "{waiting}");
    // SAFETY: signals our own child.
    unsafe { libc::kill(third.id() as i32, libc::SIGINT) };
    let status = third.wait().unwrap();
    assert_eq!(status.code(), Some(130), "a waiting run gives up on Ctrl-C");
    assert!(!dir.path().join("run3/results.json").exists());

    let status = first.wait().unwrap();
    let mut first_err = String::new();
    std::io::Read::read_to_string(&mut first.stderr.take().unwrap(), &mut first_err).unwrap();
    assert!(status.success(), "{first_err}");
    // The recording beside it is named in the report, with its pid.
    let md = std::fs::read_to_string(run1.join("report.md")).unwrap();
    assert!(
        md.contains("other profiling sessions ran on this machine"),
        "{md}"
    );
    assert!(md.contains(&format!("pid {perf_pid} `perf record")), "{md}");
    // Released at the end: the record is gone, the next one gets it at once.
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), "");
}

#[test]
fn calibrate_is_refused_while_another_process_holds_the_machine() {
    let dir = tempfile::tempdir().unwrap();
    let lock: PathBuf = dir.path().join("measure.lock");
    std::fs::write(&lock, "").unwrap();
    // util-linux flock(1) holds it: no record of ours, so /proc/locks names it.
    let holder = Reaped(
        Command::new("flock")
            .arg(&lock)
            .args(["sleep", "300"])
            .spawn()
            .unwrap(),
    );
    let holder_pid = holder.0.id();
    wait_for("flock holds the file", || {
        std::fs::read_to_string("/proc/locks").is_ok_and(|t| {
            t.lines()
                .any(|l| l.contains("FLOCK") && l.contains(&format!(" {holder_pid} ")))
        })
    });
    let o = bin(&lock)
        .args(["calibrate", "--no-wait", "--out"])
        .arg(dir.path().join("prices"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(&format!("pid {holder_pid} (flock")), "{err}");
    assert!(!dir.path().join("prices").exists());
}
