//! The stack-size sweep on a program whose stacks are known (workloads/programs/deepstack.c,
//! built here the way the harness builds it): recorded now with the largest copy perf allows,
//! the bytes each stack needed must come out as the program's frames add up. Needs root,
//! perf and gcc.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use unwindbench::analyze::{analyze, AnalyzeOptions};
use unwindbench::sweep::SweepProcess;
use unwindbench::workload::program::{self, Build, ProgramSpec};

static SERIAL: Mutex<()> = Mutex::new(());

/// Records deepstack DEPTH FRAME with 65528-byte copies and returns its sweep.
fn sweep_of(depth: u32, frame: u32) -> SweepProcess {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("deep.data");
    let spec = ProgramSpec {
        source: "programs/deepstack.c".into(),
        depth,
        frame_bytes: frame,
        threads: 1,
        builds: vec![Build::Fp],
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads/programs/deepstack.c");
    let built = program::build(&spec, &source, dir.path()).unwrap();
    let status = Command::new("perf")
        .args([
            "record",
            "-q",
            "-F",
            "199",
            "--call-graph",
            "dwarf,65528",
            "-o",
        ])
        .arg(&data)
        .arg("--")
        .arg(&built[0].path)
        .args([depth.to_string(), "1".into(), "0".into(), "400".into()])
        .status()
        .unwrap();
    assert!(status.success());
    let a = analyze(&AnalyzeOptions::new(data, dir.path().join("out"))).unwrap();
    let sweep = a.sweep.expect("a DWARF recording has a sweep");
    assert_eq!(sweep.copy_bytes, 65528);
    sweep.processes["deepstack-fp"].clone()
}

#[test]
fn needed_bytes_follow_the_known_frames() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // What a thread needs without the chain: the leaf, the worker, start_thread, clone3.
    let base = sweep_of(0, 1024);
    let base_needed = base.needed_p50.expect("shallow stacks fit the copy");
    assert!(base_needed < 1024, "{base:?}");
    for (depth, frame) in [(16u32, 1024u32), (32, 1536)] {
        let p = sweep_of(depth, frame);
        assert!(p.user_samples >= 20, "{p:?}");
        // Each level holds its locals plus return address, saved registers and alignment.
        let expected = base_needed + depth * frame.next_multiple_of(16);
        let needed = p.needed_p50.expect("fits the copy");
        let per_level_overhead = (f64::from(needed) - f64::from(expected)) / f64::from(depth);
        assert!(
            (0.0..=96.0).contains(&per_level_overhead),
            "D={depth} F={frame}: needed {needed} B, frames alone {expected} B"
        );
        // Every sample of the spinning thread is the same stack: the distribution is tight.
        assert!(p.needed_p99.unwrap() - needed <= 256, "{p:?}");
        // Complete at the needed size, not below the frames' own bytes.
        assert_eq!(p.smallest_100.map(|s| s <= needed), Some(true), "{p:?}");
        assert!(p.completeness_at(expected - 512).unwrap() < 0.05, "{p:?}");
        assert!(p.curve.windows(2).all(|w| w[0][1] <= w[1][1]), "monotone");
        assert!(p.beyond_copy == 0 && p.unwind_errors == 0, "{p:?}");
    }
}
