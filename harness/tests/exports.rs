//! The tracker exports of a real run (tests/fixtures/results, a compare run with fp, dwarf:4k
//! and a skipped lbr): `report RUN_DIR --export` writes them into the run folder, they are
//! valid against JSON Schemas written from the formats' docs (tests/fixtures/schemas), and
//! they hold what the run has: every measure of every measured mode, bounds around values,
//! unique names, the two github-action-benchmark files splitting the measures by which way
//! is better, and nothing (but a note) for what the run lacks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use unwindbench::results::export::{self, Better, Format, MEASURES};
use unwindbench::results::{Metric, ModeStatus, Results, Spread};
use unwindbench::stats::Interval;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results/results.json")
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/schemas")
        .join(name);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft7::new(&schema).unwrap()
}

fn assert_valid(validator: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

/// A run folder holding a copy of the fixture's results.json, exported by `report`.
fn exported(args: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture(), dir.path().join("results.json")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .arg("report")
        .arg(dir.path())
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    (dir, stderr)
}

fn read(dir: &Path, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

fn better(slug: &str) -> Better {
    MEASURES.iter().find(|d| d.slug == slug).unwrap().better
}

/// (benchmark, slug) of every measure of every measured mode of the fixture, with its value.
fn expected() -> BTreeMap<(String, String), f64> {
    let r = Results::read(&fixture()).unwrap();
    let mut out = BTreeMap::new();
    for m in r.modes.iter().filter(|m| m.measured()) {
        for d in MEASURES {
            if let Some(s) = m.figure(d.metric).filter(|s| s.value().is_finite()) {
                let key = (
                    format!("{}/{}", r.workload.name, m.mode),
                    d.slug.to_string(),
                );
                out.insert(key, s.value() * d.scale);
            }
        }
    }
    out
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn bmf_of_the_real_run_is_valid_and_holds_every_measure_it_has() {
    let (dir, stderr) = exported(&["--export", "bmf"]);
    assert!(
        !dir.path().join(export::SMALLER_FILE).exists(),
        "only what was asked"
    );
    let doc = read(dir.path(), export::BMF_FILE);
    assert_valid(&schema("bmf.schema.json"), &doc, "bmf.json");
    let want = expected();
    let mut got = BTreeMap::new();
    for (bench, measures) in doc.as_object().unwrap() {
        for (slug, metric) in measures.as_object().unwrap() {
            let value = metric["value"].as_f64().unwrap();
            // Bounds come in pairs and hold the value.
            match (metric.get("lower_value"), metric.get("upper_value")) {
                (Some(lo), Some(hi)) => {
                    let (lo, hi) = (lo.as_f64().unwrap(), hi.as_f64().unwrap());
                    assert!(
                        lo <= value && value <= hi,
                        "{bench} {slug}: {lo} {value} {hi}"
                    );
                }
                (None, None) => {}
                _ => panic!("{bench} {slug}: one bound only"),
            }
            got.insert((bench.clone(), slug.clone()), value);
        }
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "every measure the run has, no other"
    );
    for (k, v) in &want {
        assert!(close(got[k], *v), "{k:?}: {} against {v}", got[k]);
    }
    // Both measured modes, the skipped one nowhere, and said why.
    let benches: BTreeSet<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        benches,
        BTreeSet::from(["nbd-null/dwarf:4k", "nbd-null/fp"])
    );
    assert!(stderr.contains("export note: lbr: skipped"), "{stderr}");
    assert!(
        stderr.contains("price-kernel-us"),
        "no prices in this run: {stderr}"
    );
    // The overheads carry bounds (two repeats), the completeness too.
    let fp = &doc["nbd-null/fp"];
    for slug in ["overhead-throughput-percent", "stack-completeness-percent"] {
        assert!(fp[slug].get("lower_value").is_some(), "{slug}");
    }
}

/// The entries of a github-action-benchmark file: name -> entry.
fn entries(doc: &Value) -> BTreeMap<String, Value> {
    let list = doc.as_array().unwrap();
    let map: BTreeMap<String, Value> = list
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect();
    assert_eq!(map.len(), list.len(), "names unique within a file");
    map
}

/// `± N` as the action reads it.
fn half_width(range: &str) -> f64 {
    range.strip_prefix("± ").unwrap().parse().unwrap()
}

#[test]
fn benchmark_action_files_are_valid_and_split_the_measures_by_direction() {
    let (dir, _) = exported(&["--export", "benchmark-action,bmf"]);
    let validator = schema("benchmark-action-custom.schema.json");
    let smaller_doc = read(dir.path(), export::SMALLER_FILE);
    let bigger_doc = read(dir.path(), export::BIGGER_FILE);
    assert_valid(&validator, &smaller_doc, export::SMALLER_FILE);
    assert_valid(&validator, &bigger_doc, export::BIGGER_FILE);
    let (smaller, bigger) = (entries(&smaller_doc), entries(&bigger_doc));
    let bmf = read(dir.path(), export::BMF_FILE);
    // The two files partition the measures of the run: each in one, the right one.
    let mut all = BTreeSet::new();
    for (file, map, way) in [
        ("smaller", &smaller, Better::Smaller),
        ("bigger", &bigger, Better::Bigger),
    ] {
        for (name, e) in map {
            let (bench, slug) = name.rsplit_once('/').unwrap();
            assert_eq!(better(slug), way, "{name} in the {file} file");
            assert!(
                all.insert((bench.to_string(), slug.to_string())),
                "{name} twice"
            );
            let metric = &bmf[bench][slug];
            let value = e["value"].as_f64().unwrap();
            assert!(close(value, metric["value"].as_f64().unwrap()), "{name}");
            // The symmetric range covers the bounds (up to its rounding to 4 decimals).
            if let Some(lo) = metric["lower_value"].as_f64() {
                let hi = metric["upper_value"].as_f64().unwrap();
                let h = half_width(e["range"].as_str().unwrap());
                let need = (value - lo).max(hi - value);
                assert!(
                    h + 5e-5 >= need && h <= need + 0.5,
                    "{name}: ± {h} for {need}"
                );
            }
            let extra = e["extra"].as_str().unwrap();
            assert!(extra.starts_with("host: vm ("), "{extra}");
        }
    }
    let want: BTreeSet<(String, String)> = expected().into_keys().collect();
    assert_eq!(all, want);
    assert!(bigger.contains_key("nbd-null/dwarf:4k/stack-completeness-percent"));
    assert!(smaller.contains_key("nbd-null/dwarf:4k/perf-data-bytes"));
    // What was left out is said beside the first point of each file, nowhere else.
    for doc in [&smaller_doc, &bigger_doc] {
        let list = doc.as_array().unwrap();
        let first = list[0]["extra"].as_str().unwrap();
        assert!(first.contains("lbr: skipped (no hardware PMU"), "{first}");
        assert!(list[1..]
            .iter()
            .all(|e| !e["extra"].as_str().unwrap().contains("left out")));
        assert!(list
            .iter()
            .all(|e| !e["name"].as_str().unwrap().contains("lbr")));
    }
}

#[test]
fn a_failed_mode_is_left_out_and_prices_come_with_their_interval() {
    let mut r = Results::read(&fixture()).unwrap();
    let dwarf = r
        .modes
        .iter_mut()
        .find(|m| m.mode.to_string() == "dwarf:4k")
        .unwrap();
    dwarf.status = ModeStatus::Failed;
    dwarf.reason = Some("perf record exited with status 1".into());
    dwarf.figures.clear();
    let fp = r
        .modes
        .iter_mut()
        .find(|m| m.mode.to_string() == "fp")
        .unwrap();
    let price = Interval {
        estimate: 1.5,
        low: 1.2,
        high: 1.9,
    };
    fp.figures.insert(
        Metric::PriceKernelUs,
        Spread::of([1.5]).unwrap().with_interval(Some(price)),
    );
    let out = export::render(&r, &[Format::Bmf, Format::BenchmarkAction, Format::Bmf]);
    let names: Vec<&str> = out.files.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [export::BMF_FILE, export::SMALLER_FILE, export::BIGGER_FILE],
        "each file once"
    );
    let bmf: Value = serde_json::from_slice(&out.files[0].1).unwrap();
    assert_valid(&schema("bmf.schema.json"), &bmf, "bmf.json");
    assert!(
        bmf.get("nbd-null/dwarf:4k").is_none(),
        "no zeros for a failed mode"
    );
    let p = &bmf["nbd-null/fp"]["price-kernel-us"];
    assert_eq!(
        (
            p["value"].as_f64(),
            p["lower_value"].as_f64(),
            p["upper_value"].as_f64()
        ),
        (Some(1.5), Some(1.2), Some(1.9))
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.starts_with("dwarf:4k: failed (perf record exited")),
        "{:?}",
        out.notes
    );
    // The price is no longer among what the run lacks; the other one still is.
    let lacks = out
        .notes
        .iter()
        .find(|n| n.starts_with("not measured"))
        .unwrap();
    assert!(!lacks.contains("price-kernel-us") && lacks.contains("price-whole-us"));
    let smaller: Value = serde_json::from_slice(&out.files[1].1).unwrap();
    let e = smaller
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "nbd-null/fp/price-kernel-us")
        .unwrap();
    assert_eq!(
        (e["unit"].as_str(), e["range"].as_str()),
        (Some("us"), Some("± 0.4"))
    );
    assert!(e["extra"]
        .as_str()
        .unwrap()
        .contains("95% CI: 1.2 to 1.9 us"));
}

#[test]
fn a_run_with_nothing_measured_writes_empty_files_and_says_so() {
    let mut r = Results::read(&fixture()).unwrap();
    for m in &mut r.modes {
        m.status = ModeStatus::Failed;
        m.figures.clear();
    }
    let out = export::render(&r, &[Format::BenchmarkAction, Format::Bmf]);
    for (name, contents) in &out.files {
        let v: Value = serde_json::from_slice(contents).unwrap();
        assert!(
            v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(|o| o.is_empty()),
            "{name}"
        );
        assert!(out
            .notes
            .iter()
            .any(|n| n == &format!("{name}: no figure to export")));
    }
    // github-action-benchmark refuses an empty file: the schema says so too.
    let empty: Value = serde_json::from_slice(&out.files[0].1).unwrap();
    assert!(!schema("benchmark-action-custom.schema.json").is_valid(&empty));
}

#[test]
fn the_export_flag_is_repeatable_and_refuses_unknown_formats() {
    let (dir, stderr) = exported(&["--export", "bmf", "--export", "benchmark-action"]);
    for name in [export::BMF_FILE, export::SMALLER_FILE, export::BIGGER_FILE] {
        assert!(dir.path().join(name).exists(), "{name}");
        assert!(stderr.contains(&format!("exported {}", dir.path().join(name).display())));
    }
    for sub in ["report", "compare"] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_unwindbench"));
        c.arg(sub);
        if sub == "report" {
            c.arg(dir.path());
        }
        let o = c.args(["--export", "csv"]).output().unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{sub}: {e}");
        assert!(
            e.contains("bmf") && e.contains("benchmark-action"),
            "{sub}: {e}"
        );
    }
}

#[test]
fn the_schemas_refuse_what_the_formats_refuse() {
    let bmf = schema("bmf.schema.json");
    let ok = serde_json::json!({"w/fp": {"lost-chunks": {"value": 1.0, "lower_value": 0.0}}});
    assert!(bmf.is_valid(&ok));
    for bad in [
        serde_json::json!({"w/fp": {"lost-chunks": {"lower_value": 0.0}}}),
        serde_json::json!({"w/fp": {"lost-chunks": {"value": "1"}}}),
        serde_json::json!({"w/fp": {"lost-chunks": {"value": 1.0, "note": "x"}}}),
        serde_json::json!({"w/fp": {}}),
        serde_json::json!({"": {"lost-chunks": {"value": 1.0}}}),
        serde_json::json!({"w/fp": {"x".repeat(65): {"value": 1.0}}}),
        serde_json::json!([]),
    ] {
        assert!(!bmf.is_valid(&bad), "{bad}");
    }
    let action = schema("benchmark-action-custom.schema.json");
    let ok = serde_json::json!([{"name": "a", "unit": "%", "value": 1.0, "range": "± 1"}]);
    assert!(action.is_valid(&ok));
    for bad in [
        serde_json::json!([{"name": "a", "value": 1.0}]),
        serde_json::json!([{"name": "a", "unit": "%", "value": null}]),
        serde_json::json!([{"name": "a", "unit": "%", "value": 1.0, "range": 1.0}]),
        serde_json::json!([{"name": "a", "unit": "%", "value": 1.0, "lower": 0.0}]),
        serde_json::json!({"name": "a", "unit": "%", "value": 1.0}),
    ] {
        assert!(!action.is_valid(&bad), "{bad}");
    }
}
