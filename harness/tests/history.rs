//! `history` over real results.json files (tests/fixtures/history, made by
//! scripts/make-history-fixtures.sh), and copies of them with an injected regression or
//! injected noise: the regression is flagged, noise alone is not, the exit code says so, the
//! charts are drawn, and files it cannot use are skipped with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;

use common::run_history as history;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/history")
}

/// A copy of the fixture nights in a temporary folder, the latest edited by `edit`.
fn nights(edit: impl FnOnce(&mut Value)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::copy(
            fixtures().join(name).join("results.json"),
            dir.path().join(name).join("results.json"),
        )
        .unwrap();
    }
    let latest = dir.path().join(names.last().unwrap()).join("results.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&latest).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&latest, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    dir
}

fn mode<'a>(v: &'a mut Value, label: &str) -> &'a mut Value {
    v["modes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["mode"] == label)
        .unwrap()
}

fn flagged(h: &Value) -> Vec<(String, String)> {
    h["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["mode"].as_str().unwrap().to_string(),
                r["metric"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_real_nights_have_no_regression() {
    let dir = nights(|_| {});
    let (code, h, _) = history(dir.path(), &["--fail-on-regression"]);
    assert_eq!(code, 0, "{:?}", flagged(&h));
    assert_eq!(h["runs_read"], 6);
    assert!(flagged(&h).is_empty());
    let groups = h["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "one host, one workload");
    // Both modes, every metric that has values.
    let series = groups[0]["series"].as_array().unwrap();
    assert!(series
        .iter()
        .any(|s| s["mode"] == "dwarf:4k" && s["metric"] == "lost_chunks"));
    assert!(series
        .iter()
        .all(|s| s["points"].as_array().unwrap().len() == 6));
    let charts = dir.path().join("history/charts");
    assert!(
        std::fs::read_dir(&charts).unwrap().count() >= 8,
        "a chart per metric"
    );
    assert!(dir.path().join("history/history.md").exists());
    assert!(dir.path().join("history/history.html").exists());
}

#[test]
fn an_injected_regression_is_flagged_and_fails_the_run() {
    let dir = nights(|v| {
        let d = mode(v, "dwarf:4k");
        d["lost_chunks"] = 800.0.into();
        d["completeness"] = 0.55.into();
        let base = d["perf_data_mb_per_s"].as_f64().unwrap();
        d["perf_data_mb_per_s"] = (base * 2.0).into();
    });
    let (code, h, stderr) = history(dir.path(), &["--fail-on-regression"]);
    assert_eq!(code, 4, "{stderr}");
    let f = flagged(&h);
    for metric in ["lost_chunks", "completeness", "perf_data_mb_per_s"] {
        assert!(
            f.contains(&("dwarf:4k".into(), metric.into())),
            "{metric} not flagged: {f:?}"
        );
    }
    assert_eq!(f.len(), 3, "nothing else: {f:?}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("REGRESSION "))
            .count(),
        3,
        "{stderr}"
    );
    // The same without --fail-on-regression reports but does not fail.
    let (code, _, _) = history(dir.path(), &[]);
    assert_eq!(code, 0);
    let md = std::fs::read_to_string(dir.path().join("history/history.md")).unwrap();
    assert!(md.contains("## Regressions (3)"), "{md}");
    let chart = std::fs::read_to_string(
        dir.path()
            .join("history/charts/vm-nbd-null-2-s-default-rate-lost-chunks.svg"),
    )
    .unwrap();
    assert!(chart.contains("<circle"), "the regression is marked");
}

#[test]
fn injected_noise_alone_is_not_flagged() {
    // Move the latest night within each metric's own scatter: the median plus its MAD.
    let dir = nights(|v| {
        for label in ["fp", "dwarf:4k"] {
            let m = mode(v, label);
            for key in ["perf_data_mb_per_s", "analysis_wall_s"] {
                let x = m[key].as_f64().unwrap();
                m[key] = (x * 1.04).into();
            }
            let t = m["overhead"]["throughput"].as_f64().unwrap();
            m["overhead"]["throughput"] = (t + 0.05).into();
        }
    });
    let (code, h, _) = history(dir.path(), &["--fail-on-regression"]);
    assert_eq!(code, 0, "{:?}", flagged(&h));
}

#[test]
fn files_it_cannot_use_are_skipped_with_the_reason() {
    let dir = nights(|_| {});
    let write = |name: &str, text: &str| {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("results.json"), text).unwrap();
    };
    let mut future: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("night-1/results.json")).unwrap(),
    )
    .unwrap();
    future["schema_version"] = 99.into();
    write("future", &future.to_string());
    let mut running = future.clone();
    running["schema_version"] = 1.into();
    running["status"] = "running".into();
    write("crashed", &running.to_string());
    write("garbage", "{ not json");
    write("foreign", "{\"hello\": 1}");
    let (code, h, stderr) = history(dir.path(), &[]);
    assert_eq!(code, 0);
    assert_eq!(h["runs_read"], 6);
    let skipped = h["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    let reason = |name: &str| {
        skipped
            .iter()
            .find(|s| s["path"].as_str().unwrap().contains(name))
            .map(|s| s["reason"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(reason("future").contains("newer unwindbench"));
    assert!(reason("crashed").contains("never finished"));
    assert!(reason("garbage").contains("not JSON"));
    assert!(reason("foreign").contains("no schema_version"));
    assert!(stderr.contains("skipped"), "{stderr}");
}

#[test]
fn an_empty_folder_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .arg("history")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("no results.json under") && e.lines().count() == 1,
        "{e}"
    );
}

#[test]
fn two_hosts_are_judged_apart_and_summed_up_per_host_and_across() {
    // The six nights as two hosts: host-a with the injected regression, host-b without.
    let dir = tempfile::tempdir().unwrap();
    for (host, nights) in [
        (
            "host-a",
            nights(|v| {
                let d = mode(v, "dwarf:4k");
                d["lost_chunks"] = 800.0.into();
                d["completeness"] = 0.55.into();
            }),
        ),
        ("host-b", nights(|_| {})),
    ] {
        for e in std::fs::read_dir(nights.path()).unwrap().flatten() {
            let file = e.path().join("results.json");
            if !file.exists() {
                continue;
            }
            let mut v: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            v["machine"]["hostname"] = host.into();
            let to = dir.path().join(host).join(e.file_name());
            std::fs::create_dir_all(&to).unwrap();
            std::fs::write(to.join("results.json"), v.to_string()).unwrap();
        }
    }
    let (code, h, _) = history(dir.path(), &["--fail-on-regression"]);
    assert_eq!(code, 4);
    assert_eq!(h["runs_read"], 12);
    assert_eq!(
        h["groups"].as_array().unwrap().len(),
        2,
        "one group per host"
    );
    let hosts: Vec<&str> = h["regressions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.len(), 2, "{hosts:?}");
    assert!(hosts.iter().all(|h| h.starts_with("host-a (")), "{hosts:?}");
    let md = std::fs::read_to_string(dir.path().join("history/history.md")).unwrap();
    assert!(md.contains("## By host"), "{md}");
    assert!(
        md.contains("2 regression(s) across 2 host(s), on 1 of them."),
        "{md}"
    );
    let section = md
        .split("## By host")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let line = |host: &str| {
        section
            .lines()
            .find(|l| l.starts_with(&format!("- {host} (")))
            .unwrap_or_else(|| panic!("no line for {host}: {md}"))
            .to_string()
    };
    let a = line("host-a");
    assert!(
        a.contains("): 2 — nbd-null, 2 s, default rate: dwarf:4k ")
            && a.contains("dwarf:4k lost_chunks")
            && a.contains("dwarf:4k completeness"),
        "{a}"
    );
    assert!(line("host-b").ends_with("): none"), "{}", line("host-b"));
    let html = std::fs::read_to_string(dir.path().join("history/history.html")).unwrap();
    assert!(html.contains("<h2>By host</h2><p>2 regression(s) across 2 host(s), on 1 of them.</p>"));
    // With no regression anywhere, the same section says so.
    let quiet = nights(|_| {});
    let (code, _, _) = history(quiet.path(), &[]);
    assert_eq!(code, 0);
    let md = std::fs::read_to_string(quiet.path().join("history/history.md")).unwrap();
    assert!(
        md.contains("No regressions on any of the 1 host(s).\n\n- vm ("),
        "{md}"
    );
    assert!(md.contains("CPUs): none"), "{md}");
}
