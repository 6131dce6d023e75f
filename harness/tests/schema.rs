//! results.json across schema versions: a run made before version 2 (the version 1 fixture
//! in tests/fixtures/results/) is read, reported and rendered exactly as its rewrite in the
//! current schema is, and `history` compares version 1 runs with version 2 runs of the same
//! host (tests/fixtures/history-mixed/) as if they were all one version.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;
use unwindbench::report::{charts, html, markdown, table};
use unwindbench::results::{Metric, Results, SCHEMA_VERSION};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_version_1_run_reads_and_renders_as_its_version_2_rewrite() {
    let v1_path = fixtures().join("results/results.json");
    assert_eq!(json(&v1_path)["schema_version"], 1);
    let from_v1 = Results::load(&v1_path).unwrap();
    assert_eq!(from_v1.schema_version, SCHEMA_VERSION);

    // Written in the current schema and read back: the same results.
    let dir = tempfile::tempdir().unwrap();
    let v2_path = dir.path().join("results.json");
    std::fs::write(&v2_path, serde_json::to_vec_pretty(&from_v1).unwrap()).unwrap();
    let from_v2 = Results::load(&v2_path).unwrap();
    assert_eq!(from_v1, from_v2);

    // Every figure of version 1 is there once, with its spread where it had one.
    let v1 = json(&v1_path);
    let v2 = json(&v2_path);
    let (old, new) = (&v1["modes"][1], &v2["modes"][1]);
    assert_eq!(new["mode"], "dwarf:4k");
    assert_eq!(new["unwind"], "dwarf:4k", "filled in from the label");
    assert_eq!(
        new["figures"]["perf_data_bytes"]["median"],
        old["perf_data_bytes"]
    );
    assert_eq!(
        new["figures"]["perf_data_bytes"]["max"],
        old["spread"]["perf_data_bytes"]["max"]
    );
    assert_eq!(
        new["figures"]["overhead_cpu_per_io"]["min"],
        old["spread"]["overhead"]["cpu_per_io"]["min"]
    );
    let rate = &new["figures"]["perf_data_mb_per_s"];
    assert_eq!(rate["median"], old["perf_data_mb_per_s"]);
    assert_eq!(
        (&rate["min"], &rate["max"]),
        (&rate["median"], &rate["median"])
    );
    assert_eq!(rate["n"], old["repeats"]);
    assert!(new.get("spread").is_none() && new.get("overhead").is_none());
    assert_eq!(v2["baseline"]["iops"]["median"], v1["baseline"]["iops"]);
    assert_eq!(
        from_v1.modes[1].median(Metric::Completeness),
        old["completeness"].as_f64()
    );

    // The same table, report.md, report.html and charts from either.
    assert_eq!(table::render(&from_v1, true), table::render(&from_v2, true));
    assert_eq!(markdown::render(&from_v1), markdown::render(&from_v2));
    let page = |r: &Results| html::render(r, &charts::render_all(r), None);
    assert_eq!(page(&from_v1), page(&from_v2));
    let report = |dir: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
            .arg("report")
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let v1_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&v1_path, v1_dir.path().join("results.json")).unwrap();
    assert_eq!(report(v1_dir.path()), report(dir.path()));
    // `report` rewrote the version 1 file in the current schema.
    assert_eq!(
        json(&v1_dir.path().join("results.json"))["schema_version"],
        SCHEMA_VERSION
    );
}

/// history.json of `history DIR`, without the parts that name the folder or the time.
fn history(dir: &Path, extra: &[&str]) -> (i32, Value) {
    let (code, mut h, _) = common::run_history(dir, extra);
    h["generated_at"] = Value::Null;
    for group in h["groups"].as_array_mut().unwrap() {
        for series in group["series"].as_array_mut().unwrap() {
            for p in series["points"].as_array_mut().unwrap() {
                p["run"] = Value::Null;
            }
        }
    }
    for r in h["regressions"].as_array_mut().unwrap() {
        r["run"] = Value::Null;
    }
    (code, h)
}

/// A copy of a fixture folder of nights.
fn copy_nights(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let night = e.path().join("results.json");
        if night.exists() {
            let to = dir.path().join(e.file_name());
            std::fs::create_dir_all(&to).unwrap();
            std::fs::copy(&night, to.join("results.json")).unwrap();
        }
    }
    dir
}

#[test]
fn history_compares_version_1_runs_with_version_2_runs_of_the_same_host() {
    let mixed = copy_nights(&fixtures().join("history-mixed"));
    let versions: Vec<u64> = (1..=6)
        .map(|n| {
            let path = mixed.path().join(format!("night-{n}/results.json"));
            json(&path)["schema_version"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(versions, [1, 1, 1, 2, 2, 2]);
    let all_v1 = copy_nights(&fixtures().join("history"));
    let (code, h) = history(mixed.path(), &["--fail-on-regression"]);
    assert_eq!(code, 0);
    assert_eq!(h["runs_read"], 6);
    assert_eq!(
        h["groups"].as_array().unwrap().len(),
        1,
        "one host, one workload"
    );
    assert_eq!(h, history(all_v1.path(), &["--fail-on-regression"]).1);

    // A regression in the latest (version 2) night, judged against a past of both versions.
    let latest = mixed.path().join("night-6/results.json");
    let mut v = json(&latest);
    for m in v["modes"].as_array_mut().unwrap() {
        if m["mode"] == "dwarf:4k" {
            m["figures"]["lost_chunks"]["median"] = 800.0.into();
        }
    }
    std::fs::write(&latest, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let (code, h) = history(mixed.path(), &["--fail-on-regression"]);
    assert_eq!(code, 4);
    let flagged: Vec<(&str, &str)> = h["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["mode"].as_str().unwrap(), r["metric"].as_str().unwrap()))
        .collect();
    assert_eq!(flagged, [("dwarf:4k", "lost_chunks")]);
}
