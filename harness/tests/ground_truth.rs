//! Every mode scored against stacks whose right answer is known: deepstack (built with and
//! without frame pointers, run side by side) under fp, dwarf:4k and dwarf:32k, and the online
//! recorder at the same copy sizes (online:4k, online:32k), in two shapes.
//! The expected outcomes follow from how unwinding works, not from tuning. Needs root, perf
//! and gcc.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// A workload file for deepstack DEPTH x FRAME in a temporary folder (with the program's
/// source beside it, where workload files look for it).
fn workload(dir: &Path, depth: u32, frame: u32) -> std::path::PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::create_dir_all(dir.join("programs")).unwrap();
    std::fs::copy(
        repo.join("workloads/programs/deepstack.c"),
        dir.join("programs/deepstack.c"),
    )
    .unwrap();
    let path = dir.join(format!("deep-{depth}x{frame}.toml"));
    std::fs::write(
        &path,
        format!(
            "description = \"deepstack {depth} x {frame}\"\n[program]\nsource = \"programs/deepstack.c\"\ndepth = {depth}\nframe_bytes = {frame}\nthreads = 1\nruntime = \"2s\"\nramp = \"1s\"\n"
        ),
    )
    .unwrap();
    path
}

/// (mode, comm) -> (exact, truncated, wrong) shares.
fn scores(depth: u32, frame: u32) -> Vec<(String, String, f64, f64, f64)> {
    let dir = tempfile::tempdir().unwrap();
    let w = workload(dir.path(), depth, frame);
    let run = dir.path().join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .args(["compare", "--workload"])
        .arg(&w)
        .args([
            "--unwind",
            "fp,dwarf:4k,dwarf:32k,online:4k,online:32k",
            "--repeat",
            "1",
            "--prices",
            "none",
            "--without-none",
            "--quiet",
            "--out",
        ])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["workload"]["focus"][0], "deepstack-fp");
    let mut v = Vec::new();
    for m in r["modes"].as_array().unwrap() {
        for a in m["accuracy"].as_array().unwrap() {
            assert!(a["samples"].as_u64().unwrap() > 200, "{a}");
            v.push((
                m["mode"].as_str().unwrap().to_string(),
                a["comm"].as_str().unwrap().to_string(),
                a["exact_share"].as_f64().unwrap(),
                a["truncated_share"].as_f64().unwrap(),
                a["wrong_share"].as_f64().unwrap(),
            ));
        }
    }
    assert_eq!(v.len(), 10, "5 modes x 2 builds: {v:?}");
    v
}

fn get<'a>(
    v: &'a [(String, String, f64, f64, f64)],
    mode: &str,
    comm: &str,
) -> &'a (String, String, f64, f64, f64) {
    v.iter().find(|x| x.0 == mode && x.1 == comm).unwrap()
}

#[test]
fn every_mode_scores_as_unwinding_predicts() {
    // 4 frames of 256 bytes: about 1.4 KB of stack, inside every copy size.
    let small = scores(4, 256);
    // 8 frames of 2 KiB: about 17 KB, beyond a 4K copy, inside a 32K one.
    let deep = scores(8, 2048);
    for (v, deep_stack) in [(&small, false), (&deep, true)] {
        // Frame pointers: the build that keeps them unwinds exactly ...
        let fp = get(v, "fp", "deepstack-fp");
        assert!(fp.2 >= 0.99, "fp on the frame-pointer build: {fp:?}");
        // ... the one without them does not.
        let nofp = get(v, "fp", "deepstack-nofp");
        assert!(
            nofp.2 <= 0.05 && nofp.3 + nofp.4 >= 0.95,
            "fp on the build without: {nofp:?}"
        );
        for (comm, kind) in ["deepstack-fp", "deepstack-nofp"]
            .into_iter()
            .flat_map(|c| [(c, "dwarf"), (c, "online")])
        {
            // DWARF does not care about frame pointers, only about the copy size; unwinding
            // online or later gives the same stacks from the same bytes.
            let d32 = get(v, &format!("{kind}:32k"), comm);
            assert!(d32.2 >= 0.95, "{kind}:32k, {comm}: {d32:?}");
            let d4 = get(v, &format!("{kind}:4k"), comm);
            if deep_stack {
                assert!(
                    d4.3 >= 0.95,
                    "{kind}:4k on a 17 KB stack must truncate, {comm}: {d4:?}"
                );
            } else {
                assert!(
                    d4.2 >= 0.95,
                    "{kind}:4k on a 1.4 KB stack is exact, {comm}: {d4:?}"
                );
            }
        }
    }
}
