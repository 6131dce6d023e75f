//! `unwindbench compare` on the real perf, nbdkit and fio, briefly. Needs root (or
//! perf_event_paranoid <= -1) and the tools scripts/setup.sh installs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

/// The recordings are system-wide: one at a time, so they do not sample each other.
static SERIAL: Mutex<()> = Mutex::new(());

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_unwindbench"))
}

fn results(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `compare MODES` on `target` for `runtime` into `run_dir`, one repeat, no price list, no
/// `none`, overheads from separate runs (round 1: the baseline, then the recordings): the
/// short runs the fault tests interrupt, fill or kill.
fn start_compare(modes: &str, target: &str, runtime: &str, run_dir: &Path, stderr: Stdio) -> Child {
    bin()
        .args([
            "compare",
            "--unwind",
            modes,
            "--target",
            target,
            "--runtime",
            runtime,
            "--ramp",
            "1s",
        ])
        .args([
            "--prices",
            "none",
            "--without-none",
            "--overhead",
            "runs",
            "--repeat",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(run_dir)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// Waits (up to two minutes) until `ready` holds, failing with `what` if it never does or
/// if the harness exits first.
fn wait_while_running(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}");
        assert!(child.try_wait().unwrap().is_none(), "harness exited early");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The price list fixture (scripts/make-price-fixture.sh): the model runs on it without a
/// minute of measuring.
fn price_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prices/prices.json")
}

#[test]
fn short_comparison_reports_every_mode() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("run");
    let child = bin()
        .args([
            "compare",
            "--unwind",
            "fp,dwarf:4k",
            "--runtime",
            "3s",
            "--ramp",
            "1s",
            "--prices",
        ])
        .arg(price_fixture())
        .args(["--overhead", "runs", "--repeat", "1", "--quiet", "--out"])
        .arg(&run_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("| frame pointers"), "{stdout}");
    assert!(stdout.contains("| DWARF (4K)"), "{stdout}");

    let r = results(&run_dir);
    assert_eq!(r["schema_version"], 2);
    assert_eq!(r["status"], "complete");
    assert!(r["baseline"]["iops"]["median"].as_f64().unwrap() > 0.0);
    let modes = r["modes"].as_array().unwrap();
    let names: Vec<&str> = modes.iter().map(|m| m["mode"].as_str().unwrap()).collect();
    // `none` is recorded besides the modes asked for: the price of sampling alone.
    assert_eq!(names, ["none", "fp", "dwarf:4k"]);
    for m in modes {
        assert_eq!(m["status"], "ok", "{m}");
        let f = &m["figures"];
        assert!(f["samples"]["median"].as_f64().unwrap() > 0.0, "{m}");
        assert!(f["iops"]["median"].as_f64().unwrap() > 0.0, "{m}");
        for k in ["throughput", "perf_cpu", "sample_share", "cpu_per_io"] {
            assert!(f[format!("overhead_{k}")]["median"].is_number(), "{k}: {m}");
        }
        assert!(f["lost_chunks"]["median"].is_number() && f["lost_events"]["median"].is_number());
    }
    let fp = modes[1]["figures"]["perf_data_bytes"]["median"]
        .as_f64()
        .unwrap();
    let dwarf = modes[2]["figures"]["perf_data_bytes"]["median"]
        .as_f64()
        .unwrap();
    assert!(dwarf > fp, "dwarf:4k {dwarf} should exceed fp {fp}");
    // Every measurement is in runs[], raw: on a kernel block device (what `auto` takes where
    // it can), the nbd engine's baseline beside the device's.
    let device = r["workload"]["target"] != "nbd-engine";
    let runs = r["runs"].as_array().unwrap().len();
    assert_eq!(runs, if device { 5 } else { 4 }, "{}", r["runs"]);
    // The price list came from the file; every mode has the model beside its figures, and
    // the modes with a call graph their overhead over sampling alone.
    assert!(r["prices"]["prices"].as_array().unwrap().len() >= 3);
    assert!(run_dir.join("prices/prices.md").exists());
    for m in modes {
        let checks = m["model"]["checks"].as_array().unwrap();
        assert!(checks.iter().any(|c| c["metric"] == "lost_share"), "{m}");
        assert!(m["model"]["samples_taken_per_s"].as_f64().unwrap() > 0.0);
    }
    // perf's CPU under the workload was measured by a saturating recording, whose perf.data
    // is gone, and the lost share weighs every mode's CPU demand against it.
    let budget = &r["perf_budget"];
    assert_eq!(budget["mode"], "dwarf:65528", "{budget}");
    assert!(budget["cpus"].as_f64().unwrap() > 0.0, "{budget}");
    assert!(!run_dir.join("perf-budget/perf.data").exists());
    for m in &modes[1..] {
        let cpu = &m["model"]["prediction"]["lost"]["perf_cpu"];
        assert!(cpu["load"].as_f64().unwrap() > 0.0, "{m}");
    }
    for m in &modes[1..] {
        assert!(
            m["figures"]["overhead_throughput_vs_none"]["median"].is_number(),
            "{m}"
        );
    }
    // One repeat gives no interval, and the table says so rather than guess.
    assert!(stdout.contains("(1 repeat: no interval)"), "{stdout}");
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.contains("## What a sample costs"), "{md}");
    assert!(md.contains("## The model beside the measurement"), "{md}");
    assert!(md.contains("perf's budget under this workload"), "{md}");
    assert!(r["machine"]["sampling_event"].is_string());
    // The perf.data files are gone (no --keep-data); logs stay.
    assert!(!run_dir.join("r1-fp/perf.data").exists());
    assert!(run_dir.join("r1-fp/perf.stderr").exists());
    assert!(run_dir.join("r1-fp/job.fio").exists());
    assert!(run_dir.join("report.md").exists());
    // The page, its charts and flame graphs: every link resolves, every SVG is well-formed.
    common::check_run_folder(&run_dir);
    for m in modes {
        assert!(m["flamegraphs"]["all"].is_string(), "{m}");
    }
    // Completeness needs a call graph: none has none to judge.
    for m in &modes[1..] {
        assert!(m["figures"]["completeness"]["median"].is_number(), "{m}");
    }
    assert!(modes[2]["flamegraphs"]["diff_vs_fp"].is_string());
    assert!(modes[2]["flamegraphs"]["diff_vs_fp_all"].is_string());
    assert!(run_dir.join("r1-dwarf-4k/diff-vs-fp.svg").exists());
    assert!(
        common::leftovers(&run_dir, pid).is_empty(),
        "{:?}",
        common::leftovers(&run_dir, pid)
    );
}

#[test]
fn ctrl_c_while_recording_stops_everything_and_keeps_what_finished() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("run");
    let mut child = start_compare("fp", "nbd-engine", "30s", &run_dir, Stdio::piped());
    let pid = child.id();
    // Round 1 runs the baseline first, then fp: wait until perf is recording fp.
    let perf_log: PathBuf = run_dir.join("r1-fp/perf.stderr");
    wait_while_running(&mut child, "fp recording never started", || {
        std::fs::read_to_string(&perf_log).is_ok_and(|t| t.contains("Events enabled"))
    });
    // SAFETY: plain kill(2) of our child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let r = results(&run_dir);
    assert_eq!(r["status"], "interrupted");
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs[0]["label"], "baseline");
    assert_eq!(runs[0]["status"], "ok");
    assert_eq!(runs[1]["label"], "fp");
    assert_eq!(runs[1]["status"], "interrupted");
    assert!(r["baseline"]["iops"]["median"].as_f64().unwrap() > 0.0);
    // Give the kernel a moment to reap the killed groups, then look for survivors.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        common::leftovers(&run_dir, pid).is_empty(),
        "{:?}",
        common::leftovers(&run_dir, pid)
    );
}

fn one_line_error(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    stderr
}

#[test]
fn bad_input_is_refused_in_one_line() {
    let e = one_line_error(&["compare", "--unwind", "fp,dwarf:70000"]);
    assert!(e.contains("exceeds perf's maximum"), "{e}");
    let e = one_line_error(&["compare", "--unwind", "fp,dwraf"]);
    assert!(e.contains("valid modes"), "{e}");
    let e = one_line_error(&["compare", "--workload", "no-such-workload"]);
    assert!(e.contains("known workloads: "), "{e}");
    assert!(e.contains("nbd-null"), "{e}");
    let e = one_line_error(&[
        "compare",
        "--runtime",
        "0",
        "--out",
        "/tmp/unwindbench-never",
    ]);
    assert!(e.contains("--runtime must be greater than zero"), "{e}");
    let e = one_line_error(&["compare", "--runtime", "abc"]);
    assert!(e.contains("bad duration"), "{e}");
    let e = one_line_error(&["compare", "--ramp", "0s", "--out", "/tmp/unwindbench-never"]);
    assert!(e.contains("--ramp must be at least 1s"), "{e}");
    let e = one_line_error(&["compare", "--target", "floppy"]);
    assert!(e.contains("auto, kernel-nbd, loop or nbd-engine"), "{e}");
    // A target this machine cannot run is refused before any run folder is made.
    if let Some(why) = unwindbench::workload::target::kernel_nbd_unavailable() {
        let e = one_line_error(&[
            "compare",
            "--target",
            "kernel-nbd",
            "--out",
            "/tmp/unwindbench-never",
        ]);
        assert!(
            e.contains("--target kernel-nbd is not possible here"),
            "{e}"
        );
        assert!(e.contains(&why), "{e}");
    }
    let e = one_line_error(&["compare", "--no-such-flag"]);
    assert!(e.contains("--no-such-flag") && e.contains("--help"), "{e}");
    let e = one_line_error(&["analyze"]);
    assert!(e.contains("<INPUT>"), "{e}");
    let e = one_line_error(&["analyze", "/nonexistent/perf.data"]);
    assert_eq!(e.matches("No such file").count(), 1, "cause said once: {e}");
    assert!(!Path::new("/tmp/unwindbench-never").exists());
}

#[test]
fn doctor_reports_every_check() {
    let out = bin().args(["doctor", "--json"]).output().unwrap();
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks: Vec<&str> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    for c in [
        "perf",
        "permissions",
        "sampling event",
        "nbdkit",
        "fio",
        "fio nbd engine",
        "kernel NBD",
        "loop device",
        "target",
        "disk",
        "frame pointers",
        "workload files",
    ] {
        assert!(checks.contains(&c), "{c} missing from {checks:?}");
    }
    // Workload files are code, and doctor says so rather than claim otherwise.
    let trust = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "workload files")
        .unwrap();
    assert!(
        trust["detail"]
            .as_str()
            .unwrap()
            .contains("trusted like a script"),
        "{trust}"
    );
    assert!(d["audits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["role"] == "libc"));
}

#[test]
fn pipe_sink_zstd_knob_and_sweep_side_by_side() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("run");
    let output = bin()
        .args([
            "compare",
            "--unwind",
            "dwarf:4k",
            "--sink",
            "file,pipe",
            "--knob",
            "zstd",
        ])
        .args([
            "--sweep",
            "--runtime",
            "3s",
            "--ramp",
            "1s",
            "--repeat",
            "1",
            "--prices",
            "none",
            "--without-none",
            "--quiet",
            "--out",
        ])
        .arg(&run_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Stack-size sweep"), "{stdout}");
    let r = results(&run_dir);
    let mode = |label: &str| -> Value {
        r["modes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mode"] == label)
            .cloned()
            .unwrap_or_else(|| panic!("{label} missing"))
    };
    let (file, pipe, zstd) = (
        mode("dwarf:4k"),
        mode("dwarf:4k+pipe"),
        mode("dwarf:4k+zstd"),
    );
    for m in [&file, &pipe, &zstd, &mode("dwarf:65528+pipe")] {
        assert_eq!(m["status"], "ok", "{m}");
        assert!(
            m["figures"]["samples"]["median"].as_f64().unwrap() > 0.0,
            "{m}"
        );
    }
    assert_eq!(pipe["sink"], "pipe");
    assert!(
        pipe["figures"]["overhead_reader_cpu"]["median"].is_number(),
        "the live reader's CPU is reported"
    );

    // The same kind of stream either way: bytes per sample agree within the pipe framing.
    let per_sample = |m: &Value| {
        let f = &m["figures"];
        f["perf_data_bytes"]["median"].as_f64().unwrap() / f["samples"]["median"].as_f64().unwrap()
    };
    let ratio = per_sample(&pipe) / per_sample(&file);
    assert!(
        (0.85..1.15).contains(&ratio),
        "bytes per sample pipe/file = {ratio}"
    );
    let types = |label: &str| -> Vec<String> {
        let run = r["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["label"] == label)
            .unwrap();
        let mut t: Vec<String> = run["stats"]["records_by_type"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| {
                ["SAMPLE", "MMAP", "MMAP2", "COMM", "FORK", "EXIT", "LOST"].contains(&k.as_str())
            })
            .cloned()
            .collect();
        t.sort();
        t
    };
    let (tf, tp) = (types("dwarf:4k"), types("dwarf:4k+pipe"));
    for needed in ["SAMPLE", "MMAP2", "COMM", "FORK"] {
        assert!(
            tf.contains(&needed.to_string()) && tp.contains(&needed.to_string()),
            "{tf:?} {tp:?}"
        );
    }
    // zstd compresses the stack copies: a smaller file with as many samples to read back.
    assert!(
        per_sample(&zstd) < 0.8 * per_sample(&file),
        "zstd {} vs {}",
        per_sample(&zstd),
        per_sample(&file)
    );

    let sweep = &r["sweep"];
    assert_eq!(sweep["copy_bytes"], 65528);
    let nbdkit = &sweep["processes"]["nbdkit"];
    let fio = &sweep["processes"]["fio"];
    assert!(nbdkit["user_samples"].as_u64().unwrap() > 100, "{nbdkit}");
    assert!(fio["user_samples"].as_u64().unwrap() > 100);
    let curve = nbdkit["curve"].as_array().unwrap();
    assert!(
        curve
            .windows(2)
            .all(|w| w[0][1].as_f64() <= w[1][1].as_f64()),
        "monotone"
    );
    // The prediction checks against both real dwarf:4k recordings (file and pipe), for the
    // server and the client.
    let check = sweep["check"].as_array().unwrap();
    assert_eq!(check.len(), 4, "{check:?}");
    for c in check {
        let d = c["difference_points"].as_f64().unwrap();
        assert!(d.abs() <= 10.0, "prediction off by {d} points: {c}");
    }
    assert!(run_dir.join("charts/sweep.svg").exists());
    common::check_run_folder(&run_dir);
}

#[test]
fn repeat_auto_with_a_measured_price_list_gives_intervals() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("run");
    let child = bin()
        .args([
            "compare",
            "--unwind",
            "fp",
            "--runtime",
            "2s",
            "--ramp",
            "1s",
            "--repeat",
            "auto",
            "--max-repeat",
            "3",
            "--precision",
            "99%",
            "--price-pairs",
            "3",
            "--capacity-duration",
            "0",
            "--overhead",
            "runs",
            "--target",
            "nbd-engine",
            "--quiet",
            "--out",
        ])
        .arg(&run_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let r = results(&run_dir);
    // Three rounds at least, and a note on why it stopped where it did.
    assert_eq!(r["settings"]["repeat"], 3, "{}", r["settings"]);
    let notes = r["notes"].to_string();
    assert!(notes.contains("--repeat auto stopped"), "{notes}");
    // The price list was measured in this run: kept whole in prices/, summarized in results.
    let prices: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("prices/prices.json")).unwrap())
            .unwrap();
    assert!(!prices["sessions_raw"].as_array().unwrap().is_empty());
    assert!(r["prices"]["sessions_raw"].as_array().unwrap().is_empty());
    assert!(!run_dir.join("prices/scratch").exists());
    // Every overhead has its 95% interval, and "within noise" is exactly "holds zero".
    for m in r["modes"].as_array().unwrap() {
        let t = &m["figures"]["overhead_throughput"]["interval"];
        let (low, high) = (t["low"].as_f64().unwrap(), t["high"].as_f64().unwrap());
        assert!(low <= t["estimate"].as_f64().unwrap() && t["estimate"].as_f64().unwrap() <= high);
        let within = low <= 0.0 && 0.0 <= high;
        assert_eq!(m["verdict"]["throughput"] == "within_noise", within, "{m}");
        assert!(
            m["figures"]["cost_per_sample_us"]["interval"].is_object(),
            "{m}"
        );
    }
    assert!(
        common::leftovers(&run_dir, pid).is_empty(),
        "{:?}",
        common::leftovers(&run_dir, pid)
    );
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    /// None (with the reason printed) where mounting needs a privilege this run lacks.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "unwindbench-test",
            ])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

/// The disk fills while fp records (another writer takes all but 20 MB of a 600 MB tmpfs):
/// the recording is stopped cleanly before the disk is full, its file is finalized and
/// analyzed, and the next mode is refused with the reason; results.json keeps both. Before
/// the watch ran without --max-data, perf wrote on until the disk was full.
#[test]
fn a_disk_filling_mid_recording_stops_it_cleanly() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(disk) = Tmpfs::mount("600m") else {
        return;
    };
    let run_dir = disk.0.path().join("run");
    let mut child = start_compare("fp,dwarf:4k", "nbd-engine", "20s", &run_dir, Stdio::piped());
    let pid = child.id();
    let perf_log = run_dir.join("r1-fp/perf.stderr");
    wait_while_running(&mut child, "fp recording never started", || {
        std::fs::read_to_string(&perf_log).is_ok_and(|t| t.contains("Events enabled"))
    });
    let (free, _) = unwindbench::preflight::disk_space(disk.0.path()).unwrap();
    let filler = vec![0u8; 1 << 20];
    let mut f = std::fs::File::create(disk.0.path().join("filler")).unwrap();
    for _ in 0..(free >> 20).saturating_sub(20) {
        use std::io::Write;
        f.write_all(&filler).unwrap();
    }
    drop(f);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let r = results(&run_dir);
    let runs = r["runs"].as_array().unwrap();
    let fp = runs.iter().find(|x| x["label"] == "fp").unwrap();
    assert_eq!(fp["status"], "ok", "{fp}");
    let warnings = fp["warnings"].to_string();
    assert!(warnings.contains("before the disk filled"), "{warnings}");
    assert!(fp["stats"]["samples"].as_u64().unwrap() > 0, "{fp}");
    let dwarf = runs.iter().find(|x| x["label"] == "dwarf:4k").unwrap();
    assert_ne!(dwarf["status"], "ok", "{dwarf}");
    assert!(
        dwarf["error"].to_string().contains("not enough disk"),
        "{dwarf}"
    );
    assert!(
        common::leftovers(&run_dir, pid).is_empty(),
        "{:?}",
        common::leftovers(&run_dir, pid)
    );
}

/// A harness killed outright (SIGKILL: no handler runs) leaves perf's unfinalized recording
/// behind; `doctor --out` on the folder above finds the run by its owner marker, says what it
/// found and removes the recording. Before, nothing ever cleaned it.
#[test]
fn what_a_killed_run_leaves_is_found_and_removed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("killed");
    // The target auto takes: on a machine without NBD, a loop device over nbdfuse, whose
    // mount and device the clean-up must find too.
    let mut child = start_compare("dwarf:4k", "auto", "10s", &run_dir, Stdio::null());
    let pid = child.id();
    let data = run_dir.join("r1-dwarf-4k/perf.data");
    wait_while_running(&mut child, "the recording never grew", || {
        std::fs::metadata(&data).is_ok_and(|m| m.len() > 1 << 20)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    // perf goes with the harness (its death signal); wait until it is gone.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !common::processes_left(&run_dir, pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            common::processes_left(&run_dir, pid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(unwindbench::perfdata::is_unfinalized(&data), Some(true));

    let doctor = bin()
        .args(["doctor", "--json", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    // The run folder's finding; where the run drove a kernel device (a loop device over
    // nbdfuse on a machine without NBD), its scratch folder's too.
    let leftovers: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "leftovers")
        .map(|f| f["detail"].as_str().unwrap())
        .collect();
    let target = results(&run_dir)["workload"]["target"].clone();
    assert_eq!(
        leftovers.len(),
        if target == "loop" { 2 } else { 1 },
        "{leftovers:?}"
    );
    let detail = leftovers
        .iter()
        .find(|d| d.contains(&run_dir.display().to_string()))
        .unwrap();
    assert!(
        detail.contains("killed") && detail.contains("removed r1-dwarf-4k/perf.data"),
        "{detail}"
    );
    if target == "loop" {
        assert!(
            leftovers
                .iter()
                .any(|d| d.contains("detached /dev/loop") && d.contains("unmounted")),
            "{leftovers:?}"
        );
    }
    assert!(
        common::kernel_leftovers(pid).is_empty(),
        "{:?}",
        common::kernel_leftovers(pid)
    );
    assert!(!data.exists());
    assert!(!run_dir.join(unwindbench::leftovers::OWNER).exists());
    // A second look finds nothing more.
    let again = bin()
        .args(["doctor", "--json", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        text.contains("was left behind by a killed harness"),
        "{text}"
    );
}
