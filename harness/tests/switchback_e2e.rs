//! `unwindbench compare` with its default overhead method, the switchback, on the real perf,
//! nbdkit and fio, briefly (about 40 s). Needs root (or perf_event_paranoid <= -1) and the
//! tools scripts/setup.sh installs.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

mod common;

fn results(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn price_fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prices/prices.json")
}

#[test]
fn the_default_compare_switches_sampling_inside_one_run() {
    let out = tempfile::tempdir().unwrap();
    let run_dir = out.path().join("run");
    // The default --overhead (switchback) and target (auto: a loop device on a kernel
    // without NBD); --repeat 0 records nothing but the switchbacks of none and fp.
    let child = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        // --runtime sets the perf-budget recording's length too (no recordings follow).
        .args([
            "compare",
            "--unwind",
            "fp",
            "--ramp",
            "2s",
            "--runtime",
            "5s",
        ])
        .args(["--switchback-time", "12s", "--repeat", "0", "--prices"])
        .arg(price_fixture())
        .args(["--capacity-duration", "0", "--out"])
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
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The column users come for, in the terminal.
    assert!(stdout.contains("overhead (switchback)"), "{stdout}");

    let r = results(&run_dir);
    assert_eq!(r["settings"]["overhead"], "switchback");
    // No unprofiled baseline runs: the off-rounds are the baseline.
    assert!(r["runs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|run| run["label"] != "baseline"));
    let switchbacks = r["switchbacks"].as_array().unwrap();
    let names: Vec<&str> = switchbacks
        .iter()
        .map(|s| s["recording"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["none", "fp"]);
    for s in switchbacks {
        assert_eq!(s["status"], "ok", "{s}");
        let summary = &s["summary"];
        // 12 s of 300 ms rounds, two per block: about 20 blocks, never all lost.
        assert!(summary["blocks"].as_u64().unwrap() >= 10, "{summary}");
        for k in ["overhead", "total", "cpu_per_io"] {
            let i = &summary[k];
            let (low, est, high) = (
                i["low"].as_f64().unwrap(),
                i["estimate"].as_f64().unwrap(),
                i["high"].as_f64().unwrap(),
            );
            assert!(low <= est && est <= high, "{k}: {i}");
        }
        // Sampling was switched, really: the kernel sampled while on, and not while off.
        let on = summary["on"]["samples_per_s"].as_f64().unwrap();
        let off = summary["off"]["samples_per_s"].as_f64().unwrap();
        assert!(on > 500.0, "{summary}");
        assert!(
            off < on * 0.02,
            "off-rounds sampled {off}/s against {on}/s on"
        );
        assert!(summary["on"]["throughput"].as_f64().unwrap() > 0.0);
        assert!(summary["off"]["throughput"].as_f64().unwrap() > 0.0);
    }
    // Every mode carries the switchback's figure, with the model's account beside it.
    for m in r["modes"].as_array().unwrap() {
        assert!(
            m["figures"]["overhead_switchback"]["interval"].is_object(),
            "{m}"
        );
        assert!(m["switchback_model"].is_object(), "{m}");
    }
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(
        md.contains("## The overhead on the workload (switchback)"),
        "{md}"
    );
    common::check_run_folder(&run_dir);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        common::leftovers(&run_dir, pid).is_empty(),
        "{:?}",
        common::leftovers(&run_dir, pid)
    );
}
