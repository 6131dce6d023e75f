//! Faults the harness must survive without leaving a mess or a wrong number: signals at
//! each stage, SIGKILL, a small disk, and bad input. Runs the real perf, nbdkit and fio; needs
//! root (it also mounts a small tmpfs).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

static SERIAL: Mutex<()> = Mutex::new(());

fn compare(args: &[&str], run_dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .arg("compare")
        .args(args)
        .args(["--prices", "none", "--without-none"])
        // Separate runs (round 1: the baseline, then the recordings) on fio's nbd engine: the
        // faults these tests cause are the harness's and perf's, not a device's.
        .args(["--overhead", "runs", "--target", "nbd-engine"])
        .args(["--repeat", "1", "--quiet", "--out"])
        .arg(run_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_until(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} never happened");
        assert!(
            child.try_wait().unwrap().is_none(),
            "harness exited before {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn results(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
}

fn no_leftovers(run_dir: &Path, pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = common::leftovers(run_dir, pid);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still running: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigterm_during_the_ramp_stops_everything() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut child = compare(
        &["--unwind", "fp", "--runtime", "20s", "--ramp", "5s"],
        &run,
    );
    // Round 1 starts with the baseline: fio is running its ramp once its log exists.
    let fio_log = run.join("r1-baseline/fio.log");
    wait_until(&mut child, "the baseline's fio", || fio_log.exists());
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGTERM);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let r = results(&run);
    assert_eq!(r["status"], "interrupted");
    assert_eq!(r["runs"][0]["label"], "baseline");
    assert_eq!(r["runs"][0]["status"], "interrupted");
    no_leftovers(&run, child.id());
}

#[test]
fn sigint_during_the_analysis_stops_the_analyzer() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // A large recording takes a few seconds to analyze: time to catch it at it.
    let mut child = compare(
        &["--unwind", "dwarf:32k", "--runtime", "6s", "--ramp", "1s"],
        &run,
    );
    let log = run.join("r1-dwarf-32k/analysis.log");
    wait_until(&mut child, "the analysis", || log.exists());
    signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let r = results(&run);
    assert_eq!(r["status"], "interrupted");
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs[0]["status"], "ok", "the baseline before it is kept");
    assert_eq!(runs[1]["label"], "dwarf:32k");
    assert_eq!(runs[1]["status"], "interrupted", "{}", runs[1]);
    no_leftovers(&run, child.id());
    assert!(
        common::processes_mentioning("analyze")
            .iter()
            .all(|p| !p.contains(&run.display().to_string())),
        "the analyzer survived"
    );
}

#[test]
fn sigkill_leaves_readable_results_and_no_children() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let mut child = compare(
        &["--unwind", "fp", "--runtime", "20s", "--ramp", "1s"],
        &run,
    );
    let perf_log = run.join("r1-fp/perf.stderr");
    wait_until(&mut child, "the fp recording", || {
        std::fs::read_to_string(&perf_log).is_ok_and(|t| t.contains("Events enabled"))
    });
    signal(&child, libc::SIGKILL);
    child.wait().unwrap();
    // The children die with it (parent-death signal, nbdkit's --exit-with-parent). Its
    // scratch folder (the socket's) stays for the next run to remove, as a killed run's
    // must (compare_e2e::what_a_killed_run_leaves_is_found_and_removed checks that part).
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = common::processes_left(&run, pid);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still running: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // results.json was replaced atomically after the baseline: whole, and honest about it.
    let r = results(&run);
    assert_eq!(
        r["status"], "running",
        "a killed run never claims to have finished"
    );
    assert_eq!(r["runs"][0]["status"], "ok");
}

/// A small tmpfs, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        let path = dir.join("small");
        std::fs::create_dir_all(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs needs root");
        SmallDisk(path)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_small_disk_refuses_what_would_not_fit_and_max_data_truncates() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(dir.path(), "400m");

    // 3 s of DWARF 32K is predicted at about a gigabyte: refused before recording; fp fits.
    let run = disk.0.join("guard");
    let out = compare(
        &[
            "--unwind",
            "fp,dwarf:32k",
            "--runtime",
            "3s",
            "--ramp",
            "1s",
        ],
        &run,
    )
    .wait_with_output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "some measurements failed");
    let r = results(&run);
    let modes = r["modes"].as_array().unwrap();
    assert_eq!(modes[0]["status"], "ok");
    assert_eq!(modes[1]["status"], "failed");
    let why = modes[1]["reason"].as_str().unwrap();
    assert!(why.contains("not enough disk for dwarf:32k"), "{why}");
    assert!(!run.join("r1-dwarf-32k/perf.data").exists());

    // --max-data stops a recording that grows too large and says so.
    let run = disk.0.join("capped");
    let out = compare(
        &[
            "--unwind",
            "dwarf:4k",
            "--runtime",
            "4s",
            "--ramp",
            "1s",
            "--max-data",
            "30M",
            "--keep-data",
        ],
        &run,
    )
    .wait_with_output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = results(&run);
    let m = &r["modes"][0];
    assert_eq!(m["truncated_runs"], 1, "{m}");
    let bytes = m["figures"]["perf_data_bytes"]["median"].as_f64().unwrap();
    assert!(
        (25e6..45e6).contains(&bytes),
        "stopped near 30 MiB: {bytes}"
    );
    let warnings = r["runs"][1]["warnings"].to_string();
    assert!(warnings.contains("--max-data"), "{warnings}");
    assert!(
        m["figures"]["samples"]["median"].as_f64().unwrap() > 0.0,
        "what was recorded is still analyzed"
    );
}

fn one_line_error(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(!e.contains("panicked"), "{e}");
    e
}

/// A PATH holding only the named tools (symlinks to the real ones).
fn path_with(dir: &Path, tools: &[&str]) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for t in tools {
        let real = String::from_utf8(
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        std::os::unix::fs::symlink(real.trim(), bin.join(t)).unwrap();
    }
    bin
}

#[test]
fn missing_tools_permissions_and_bad_folders_are_one_line_errors() {
    // The doctor's refusals come after the machine's lock: another test's recording would
    // add the line saying whom this one waits for.
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let ub = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_unwindbench"));
        c.args([
            "compare",
            "--unwind",
            "fp",
            "--runtime",
            "1s",
            "--ramp",
            "1s",
        ]);
        c
    };
    let e = one_line_error(ub().args(["--out", "/proc/unwindbench-no"]));
    assert!(e.contains("cannot use --out /proc/unwindbench-no"), "{e}");

    let no_perf = path_with(&dir.path().join("a"), &["nbdkit", "fio"]);
    let e = one_line_error(
        ub().env("PATH", &no_perf)
            .arg("--out")
            .arg(dir.path().join("r1")),
    );
    assert!(
        e.contains("perf is not installed") && e.contains("linux-perf"),
        "{e}"
    );

    let no_nbdkit = path_with(&dir.path().join("b"), &["perf", "fio"]);
    let e = one_line_error(
        ub().env("PATH", &no_nbdkit)
            .arg("--out")
            .arg(dir.path().join("r2")),
    );
    assert!(
        e.contains("nbdkit is not installed") && e.contains("scripts/setup.sh"),
        "{e}"
    );

    let no_fio = path_with(&dir.path().join("c"), &["perf", "nbdkit"]);
    let e = one_line_error(
        ub().env("PATH", &no_fio)
            .arg("--out")
            .arg(dir.path().join("r3")),
    );
    assert!(e.contains("fio is not installed"), "{e}");

    // Workloads out of reach are "cannot read", not "unknown".
    let private = dir.path().join("private");
    std::fs::create_dir_all(private.join("workloads")).unwrap();
    std::fs::write(private.join("workloads/nbd-null.toml"), "").unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let e = one_line_error(
        Command::new("setpriv")
            .env("UNWINDBENCH_HOME", &private)
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_unwindbench"),
                "compare",
                "--unwind",
                "fp",
            ]),
    );
    assert!(
        e.contains("cannot read workload") && e.contains("Permission denied"),
        "{e}"
    );

    // Not root, and perf_event_paranoid forbids system-wide sampling to others.
    let paranoid: i32 = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if paranoid > 0 {
        let out = dir.path().join("r4");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        // The checkout may sit in a folder only root can enter (CI clones into a 0700 temp
        // folder): give the unprivileged run its own readable copy of the project's data.
        let home = dir.path().join("home");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for sub in ["workloads", "fio-jobs"] {
            std::fs::create_dir_all(home.join(sub)).unwrap();
            for entry in std::fs::read_dir(repo.join(sub)).unwrap().flatten() {
                if entry.path().is_file() {
                    std::fs::copy(entry.path(), home.join(sub).join(entry.file_name())).unwrap();
                }
            }
        }
        let mut c = Command::new("setpriv");
        c.env("UNWINDBENCH_HOME", &home)
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_unwindbench"),
            ])
            .args([
                "compare",
                "--unwind",
                "fp",
                "--runtime",
                "1s",
                "--ramp",
                "1s",
                "--out",
            ])
            .arg(&out);
        let e = one_line_error(&mut c);
        assert!(
            e.contains("perf_event_paranoid") && e.contains("run as root"),
            "{e}"
        );
    }
}
