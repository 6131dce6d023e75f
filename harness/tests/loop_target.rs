//! `--target loop` on the real nbdkit, nbdfuse, losetup, fio and perf, briefly: the kernel
//! block device path where the kernel has no NBD driver. A normal run, a Ctrl-C and a
//! SIGKILL each must leave no loop device, FUSE mount or process behind (the last one once
//! the next run has cleaned up). Needs root, loop devices and FUSE; skipped (with the
//! reason) where those are missing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use unwindbench::workload::device::kernel;

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

/// None, with the reason printed, where this machine cannot attach a loop device over FUSE.
fn loop_available() -> bool {
    match unwindbench::workload::target::loop_unavailable() {
        None => true,
        Some(why) => {
            eprintln!("skipped: --target loop is not possible here: {why}");
            false
        }
    }
}

/// `compare --target loop MODES` for `runtime`: one repeat, no price list, no `none`, the
/// overheads from separate runs (the baseline, and the nbd engine's beside it).
fn compare_on_loop(modes: &str, runtime: &str, run_dir: &Path) -> Command {
    let mut cmd = bin();
    cmd.args(["compare", "--target", "loop", "--unwind", modes])
        .args(["--runtime", runtime, "--ramp", "1s", "--prices", "none"])
        .args(["--overhead", "runs", "--without-none", "--repeat", "1"])
        .arg("--out")
        .arg(run_dir);
    cmd
}

/// The loop devices of the harness with this pid (backed by a file in its scratch folder).
fn loop_devices_of(pid: u32) -> Vec<kernel::LoopDevice> {
    let scratch = format!("unwindbench-{pid}-");
    kernel::loop_devices()
        .into_iter()
        .filter(|l| l.backing_file.to_string_lossy().contains(&scratch))
        .collect()
}

/// Waits (up to two minutes) until `ready` holds, failing with `what` if it never does or
/// if the harness exits first.
fn wait_while_running(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}");
        assert!(child.try_wait().unwrap().is_none(), "harness exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads the device has completed (the first field of its sysfs stat; it is not reset when
/// a loop device is attached again).
fn reads_completed(device: &Path) -> u64 {
    let name = device.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::read_to_string(format!("/sys/block/{name}/stat"))
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Waits until the harness's loop device is attached and fio's I/O flows through it (round
/// 1 starts with the baseline on the device), and returns it.
fn wait_for_io(child: &mut Child) -> kernel::LoopDevice {
    let pid = child.id();
    wait_while_running(child, "no loop device was attached", || {
        !loop_devices_of(pid).is_empty()
    });
    let device = loop_devices_of(pid).remove(0);
    let before = reads_completed(&device.device);
    wait_while_running(child, "no I/O reached the loop device", || {
        reads_completed(&device.device) > before
    });
    device
}

#[test]
fn a_comparison_on_a_loop_device_names_its_hops_and_leaves_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !loop_available() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("run");
    let child = compare_on_loop("fp,dwarf:4k", "3s", &run_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    let r = results(&run_dir);
    assert_eq!(r["status"], "complete");
    assert_eq!(r["workload"]["target"], "loop");
    // The kernel NBD device comes first in `auto`'s order; why it did not run is said.
    let passed = r["workload"]["targets_passed_over"].as_array().unwrap();
    assert_eq!(passed[0]["target"], "kernel-nbd", "{passed:?}");
    assert!(passed[0]["why"].as_str().unwrap().len() > 5);
    // fio drove the loop device, not a file and not its nbd engine.
    for folder in ["r1-baseline", "r1-fp", "r1-dwarf-4k"] {
        let job = std::fs::read_to_string(run_dir.join(folder).join("job.fio")).unwrap();
        assert!(job.contains("ioengine=libaio\nfilename=/dev/loop"), "{job}");
        assert!(job.contains("direct=1"), "{job}");
    }
    let engine = std::fs::read_to_string(run_dir.join("r1-baseline-nbd-engine/job.fio")).unwrap();
    assert!(engine.contains("ioengine=nbd\n"), "{engine}");
    // Both baselines measured, and set side by side in every report.
    let base = &r["baseline"];
    assert!(base["iops"]["median"].as_f64().unwrap() > 0.0, "{base}");
    assert!(
        base["nbd_engine_iops"]["median"].as_f64().unwrap() > 0.0,
        "{base}"
    );
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    let html = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    for text in [&md, &html, &stdout.to_string()] {
        assert!(text.contains("Baseline IOPS by target"), "{text}");
        assert!(
            text.contains("/dev/loopN (loop, direct I/O) → FUSE → nbdfuse"),
            "{text}"
        );
    }
    assert!(
        md.contains("hops a kernel NBD device does not have"),
        "{md}"
    );
    for m in r["modes"].as_array().unwrap() {
        assert_eq!(m["status"], "ok", "{m}");
        assert!(m["figures"]["samples"]["median"].as_f64().unwrap() > 0.0);
    }
    // The stacks go through the block layer, loop and FUSE on the way to nbdkit.
    let folded = std::fs::read_to_string(run_dir.join("r1-fp/stacks.folded")).unwrap();
    let frames: Vec<&str> = folded
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .flat_map(|(stack, _)| stack.split(';'))
        .collect();
    assert!(
        frames
            .iter()
            .any(|f| f.starts_with("lo_") || f.starts_with("loop_")),
        "no loop frames"
    );
    assert!(
        frames.iter().any(|f| f.starts_with("fuse_")),
        "no FUSE frames"
    );
    assert!(
        folded.lines().any(|l| l.starts_with("nbdfuse")),
        "no nbdfuse stacks"
    );
    let left = common::leftovers(&run_dir, pid);
    assert!(left.is_empty(), "{left:?}");
}

/// Ctrl-C while fio drives the loop device: the measurement stops, the loop device is
/// detached, the FUSE file unmounted, nbdfuse and nbdkit are gone.
#[test]
fn ctrl_c_on_the_loop_target_detaches_and_unmounts() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !loop_available() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("run");
    let mut child = compare_on_loop("fp", "30s", &run_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let device = wait_for_io(&mut child);
    // SAFETY: plain kill(2) of our child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    // The release said nothing went wrong (it names what it could not undo).
    for trouble in ["still held", "lazily", "cannot", "failed", "did not exit"] {
        assert!(!stderr.contains(trouble), "{stderr}");
    }
    let r = results(&run_dir);
    assert_eq!(r["status"], "interrupted");
    let first = &r["runs"][0];
    assert_eq!(first["label"], "baseline", "{first}");
    assert_eq!(first["status"], "interrupted", "{first}");
    assert!(kernel::loop_backing_file(&device.device) != Some(device.backing_file));
    let left = common::leftovers(&run_dir, pid);
    assert!(left.is_empty(), "{left:?}");
}

/// A harness killed outright (SIGKILL: no handler runs) mid-measurement leaves a loop device
/// attached to a file on a FUSE mount whose nbdfuse died with it; the next run finds both
/// by its dead owner's scratch folder, detaches, unmounts and says so.
#[test]
fn a_killed_loop_run_is_cleaned_by_the_next_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !loop_available() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("killed");
    let mut child = compare_on_loop("fp", "30s", &run_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let device = wait_for_io(&mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    // nbdkit, nbdfuse, fio and perf go with the harness (their death signal).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !common::processes_left(&run_dir, pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            common::processes_left(&run_dir, pid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // What the kernel keeps stays: the device on its file, the mount, now stale.
    assert_eq!(loop_devices_of(pid), std::slice::from_ref(&device));
    let mount = device.backing_file.parent().unwrap().to_path_buf();
    assert!(
        kernel::is_fuse_mount(&mount),
        "{} not mounted",
        mount.display()
    );

    // The next run, beside it (any target), cleans up before it starts.
    let next = out.path().join("next");
    let o = bin()
        .args(["compare", "--target", "nbd-engine", "--unwind", "fp"])
        .args(["--runtime", "1s", "--ramp", "1s", "--prices", "none"])
        .args([
            "--overhead",
            "runs",
            "--without-none",
            "--repeat",
            "1",
            "--quiet",
        ])
        .arg("--out")
        .arg(&next)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("belongs to a run that was killed") && l.contains("detached"))
        .unwrap_or_else(|| panic!("no clean-up line: {stderr}"));
    assert!(
        line.contains(&device.device.display().to_string()),
        "{line}"
    );
    assert!(line.contains("unmounted the FUSE mount"), "{line}");
    let notes = results(&next)["notes"].to_string();
    assert!(
        notes.contains(&device.device.display().to_string()),
        "{notes}"
    );
    assert!(kernel::loop_backing_file(&device.device) != Some(device.backing_file));
    assert!(!kernel::is_fuse_mount(&mount));
    let left = common::leftovers(&run_dir, pid);
    assert!(left.is_empty(), "{left:?}");
}
