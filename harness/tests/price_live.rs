//! The price list measured for real, briefly: `calibrate` on this machine with the real perf
//! and the repo's work program, and the sink-capacity recording. Needs root and perf. The
//! checks are about what was measured (which frames were walked, which bytes were copied,
//! which files were written, nothing left running), never about how fast anything was.

use std::process::Command;

use unwindbench::price::{self, capacity, PriceList, Variant};

mod common;

#[test]
fn calibrate_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("prices");
    let run = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .args([
            "calibrate",
            "--unwind",
            "none,fp,dwarf:8k",
            "--freqs",
            "1000,4000",
            "--pairs",
            "4",
            "--round",
            "10ms",
            "--capacity-duration",
            "0",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "calibrate failed: {stderr}");
    let list: PriceList = price::load(&out.join("prices.json")).unwrap();
    assert_eq!(list.prices.len(), 6, "3 modes x 2 stacks");
    for p in &list.prices {
        // 4 pairs at each of 2 rates, and the buffer holds every round's samples.
        assert_eq!(p.rounds, 8, "{p:?}");
        assert_eq!(p.lost, 0, "{p:?}");
        assert!(
            p.samples > 0 && p.kernel_ns.is_some() && p.total_ns.is_some(),
            "{p:?}"
        );
    }
    let get = |mode: &str, v: Variant| list.price(mode, v).unwrap();
    // The frame-pointer walk goes through all 100 levels of the deep stack (perf stops at 127
    // entries), and through a handful on the shallow one.
    let deep_chain = get("fp", Variant::Deep).chain_per_sample.unwrap();
    let shallow_chain = get("fp", Variant::Shallow).chain_per_sample.unwrap();
    assert!(deep_chain >= 100.0, "deep fp walk: {deep_chain}");
    assert!(shallow_chain < 20.0, "shallow fp walk: {shallow_chain}");
    // The deep stack holds more than 8 KiB above every sample: DWARF copies it whole.
    let copied = get("dwarf:8k", Variant::Deep).copied_per_sample.unwrap();
    assert!((8000.0..=8192.0).contains(&copied), "copied {copied}");
    // A sample without a call graph is a few words; one with an 8 KiB copy is bigger than it.
    assert!(get("none", Variant::Deep).bytes_per_sample.unwrap() < 200.0);
    assert!(get("dwarf:8k", Variant::Deep).bytes_per_sample.unwrap() > 8192.0);
    assert!(get("none", Variant::Deep).chain_per_sample == Some(0.0));
    // The raw rounds are kept: the figures can be recomputed from the file.
    let again = price::estimate("fp", Variant::Deep, &list.sessions_raw, list.seed);
    assert_eq!(&again, get("fp", Variant::Deep));

    let md = std::fs::read_to_string(out.join("prices.md")).unwrap();
    assert!(md.contains("| fp | deep (100 levels) |"), "{md}");
    if !list.machine.hardware_pmu {
        assert!(
            md.contains("no hardware PMU"),
            "the report must say how it sampled"
        );
    }
    common::assert_well_formed(
        &std::fs::read_to_string(out.join("prices.svg")).unwrap(),
        "prices.svg",
    );
    // Nothing of the sessions is left: no scratch recordings, no perf, no work program.
    assert!(!out.join("scratch").exists());
    let left = common::processes_mentioning(&out.display().to_string());
    assert!(left.is_empty(), "still running: {left:?}");
}

#[test]
fn bad_calibrate_arguments_are_one_line_errors() {
    for (args, needle) in [
        (vec!["--freqs", "0"], "not a sampling rate"),
        (vec!["--unwind", "dwarf:9"], "bad --unwind item"),
        (vec!["--pairs", "1"], "--pairs"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
            .arg("calibrate")
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn calibrate_refuses_what_it_cannot_measure() {
    for (args, needle) in [
        (vec!["--freqs", "4000"], "slope over sampling rates"),
        (vec!["--unwind", "lbr"], "nothing to price here"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
            .arg("calibrate")
            .args(&args)
            .args(["--quiet", "--capacity-duration", "0", "--out"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if args[1] == "lbr" && unwindbench::preflight::lbr_supported().is_none() {
            continue; // a machine with LBR prices it
        }
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn capacity_of_a_short_recording() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dirs = unwindbench::workload::ProjectDirs {
        root: root.to_path_buf(),
    };
    let binary = price::build_program(
        &dirs.workloads().join("programs/pricework.c"),
        &dir.path().join("build"),
    )
    .unwrap();
    // A small ask (8 KiB copies at 1 kHz, about 8 MB/s) for 2 s: no throttling to find, and a
    // few megabytes on disk.
    let opts = capacity::CapacityOptions {
        duration: std::time::Duration::from_secs(2),
        mode: "dwarf:8k".parse().unwrap(),
        freq: 1000,
        max_bytes: 200_000_000,
    };
    let cpus = price::control::allowed_cpus();
    let c = capacity::measure(
        &opts,
        &binary,
        100,
        (cpus[0], *cpus.last().unwrap()),
        dir.path(),
    )
    .unwrap();
    assert!(c.series.len() >= 4, "{c:?}");
    assert!(c.asked_mb_per_s > 4.0 && c.asked_mb_per_s < 20.0, "{c:?}");
    assert!(
        c.written_mb_per_s > 0.0 && c.cache_mb_per_s.is_some(),
        "{c:?}"
    );
    assert_eq!(
        c.throttled_mb_per_s, None,
        "2 s at 8 MB/s cannot fill the page cache"
    );
    assert!(c
        .notes
        .iter()
        .any(|n| n.contains("throttled rate is unknown")));
    assert!(
        !dir.path().join("capacity.data").exists(),
        "the recording is deleted"
    );
}

/// Ground truth for the switchback: on the price list's fixed work (one CPU, perf on the
/// other, nothing else competing) every sample costs the work the kernel's price, so the
/// switchback's throughput overhead of `none` and `fp` at 16 kHz must be that price times
/// the samples per second. The bound is the two 95% intervals overlapping: both are
/// measured (the prediction's from the price's bootstrap over rounds, the switchback's from
/// its blocks), independently, so a correct method fails it well under 1% of the time. The
/// switchback must also see the effect (at 16 kHz the interrupt alone takes about a tenth of
/// the work's time here) and pin it to within ±3 points, or the overlap would prove nothing.
#[test]
fn the_switchback_on_fixed_work_matches_the_price_list() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("prices");
    let run = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .args([
            "calibrate",
            "--unwind",
            "none,fp",
            "--freqs",
            "1000,4000,16000",
            "--pairs",
            "16",
            "--capacity-duration",
            "0",
            "--check-switchback",
            "15s",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "calibrate failed: {stderr}");
    let text = std::fs::read_to_string(out.join("switchback-check.json")).unwrap();
    let checks: Vec<unwindbench::switchback::fixed::FixedCheck> =
        serde_json::from_str(&text).unwrap();
    let modes: Vec<&str> = checks.iter().map(|c| c.mode.as_str()).collect();
    assert_eq!(modes, ["none", "fp"]);
    for c in &checks {
        let m = c.measured.overhead;
        assert_eq!(c.freq, 16000);
        assert!(c.samples_per_s > 10_000.0, "{c:?}");
        assert!(m.low > 0.05, "the switchback saw no cost: {c:?}");
        assert!(m.half_width() < 0.03, "too wide to be evidence: {c:?}");
        assert!(
            c.agrees && c.predicted.overlaps(&m),
            "{}: measured {:?}, predicted {:?}",
            c.mode,
            m,
            c.predicted
        );
    }
    let left = common::processes_mentioning(&out.display().to_string());
    assert!(left.is_empty(), "left running: {left:?}");
}
