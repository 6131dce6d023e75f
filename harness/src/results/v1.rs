//! Reading results.json of schema version 1 (runs made before the figures table).
//!
//! Version 1 stored each of a mode's figures as a median field (`perf_data_bytes`,
//! `overhead.throughput`, ...) and, for some, the same median again in a spread beside it
//! (`spread.perf_data_bytes`, `spread.overhead.throughput`); the baseline likewise
//! (`iops` and `iops_spread`). Version 2 stores each once, as a spread, in `figures` keyed
//! by metric (and `baseline.iops` is a spread). A version 1 file is rewritten into that
//! shape before it is parsed: a median with a spread beside it keeps that spread's min,
//! max and n; a median without one becomes a spread of that one value, over the mode's
//! repeats. A mode's `unwind`, `sink` and `knob`, which early version 1 files lack, are
//! filled in from its label. Nothing else changed between the versions.

use serde_json::{json, Map, Value};

use super::metric::Metric;
use crate::record::Recording;

/// Where version 1 kept each figure of a mode: its median, and its spread if it had one.
const MODE_FIGURES: &[(Metric, &str, Option<&str>)] = &[
    (
        Metric::PerfDataBytes,
        "/perf_data_bytes",
        Some("/spread/perf_data_bytes"),
    ),
    (Metric::PerfDataMbPerS, "/perf_data_mb_per_s", None),
    (Metric::Samples, "/samples", Some("/spread/samples")),
    (
        Metric::LostChunks,
        "/lost_chunks",
        Some("/spread/lost_chunks"),
    ),
    (
        Metric::LostEvents,
        "/lost_events",
        Some("/spread/lost_events"),
    ),
    (Metric::LostShare, "/lost_share", None),
    (Metric::Iops, "/iops", Some("/spread/iops")),
    (
        Metric::OverheadThroughput,
        "/overhead/throughput",
        Some("/spread/overhead/throughput"),
    ),
    (
        Metric::OverheadPerfCpu,
        "/overhead/perf_cpu",
        Some("/spread/overhead/perf_cpu"),
    ),
    (
        Metric::OverheadSampleShare,
        "/overhead/sample_share",
        Some("/spread/overhead/sample_share"),
    ),
    (
        Metric::OverheadCpuPerIo,
        "/overhead/cpu_per_io",
        Some("/spread/overhead/cpu_per_io"),
    ),
    (
        Metric::OverheadReaderCpu,
        "/overhead/reader_cpu",
        Some("/spread/overhead/reader_cpu"),
    ),
    (
        Metric::Completeness,
        "/completeness",
        Some("/spread/completeness"),
    ),
    (Metric::ClientCompleteness, "/client_completeness", None),
    (Metric::DepthP50, "/depth_p50", None),
    (Metric::DepthP99, "/depth_p99", None),
    (Metric::AnalysisWallS, "/analysis_wall_s", None),
    (Metric::AnalysisPeakRssMib, "/analysis_peak_rss_mib", None),
];

/// Version 1 fields of a mode that version 2 keeps in `figures`.
const MODE_FIELDS: &[&str] = &[
    "perf_data_bytes",
    "perf_data_mb_per_s",
    "samples",
    "lost_chunks",
    "lost_events",
    "lost_share",
    "iops",
    "overhead",
    "spread",
    "completeness",
    "client_completeness",
    "depth_p50",
    "depth_p99",
    "analysis_wall_s",
    "analysis_peak_rss_mib",
];

/// The spread of a figure whose median is `median`: min, max and n from the spread
/// version 1 kept beside it, else the median alone over `repeats`.
fn spread(median: f64, beside: Option<&Value>, repeats: u64) -> Value {
    let field = |name: &str| beside.and_then(|s| s.get(name)).and_then(Value::as_f64);
    let n = beside.and_then(|s| s.get("n")).and_then(Value::as_u64);
    match (field("min"), field("max"), n) {
        (Some(min), Some(max), Some(n)) => {
            json!({"median": median, "min": min, "max": max, "n": n})
        }
        _ => json!({"median": median, "min": median, "max": median, "n": repeats}),
    }
}

fn upgrade_mode(mode: &mut Value) {
    // The parts of the label, which early version 1 files lack.
    if let Some(rec) = mode["mode"]
        .as_str()
        .and_then(|l| l.parse::<Recording>().ok())
    {
        mode["unwind"] = rec.mode.to_string().into();
        mode["sink"] = rec.sink.to_string().into();
        mode["knob"] = rec.knob.map(|k| k.to_string()).into();
    }
    let repeats = mode.get("repeats").and_then(Value::as_u64).unwrap_or(0);
    let mut figures = Map::new();
    for &(metric, median, beside) in MODE_FIGURES {
        let Some(m) = mode.pointer(median).and_then(Value::as_f64) else {
            continue;
        };
        let beside = beside.and_then(|p| mode.pointer(p));
        figures.insert(metric.name().to_string(), spread(m, beside, repeats));
    }
    if let Some(fields) = mode.as_object_mut() {
        fields.retain(|k, _| !MODE_FIELDS.contains(&k.as_str()));
        fields.insert("figures".into(), Value::Object(figures));
    }
}

fn upgrade_baseline(baseline: &mut Value) {
    let repeats = baseline.get("repeats").and_then(Value::as_u64).unwrap_or(0);
    let mut upgraded = Map::new();
    upgraded.insert("repeats".into(), repeats.into());
    for (name, beside) in [
        ("iops", Some("iops_spread")),
        ("mb_per_s", None),
        ("cpu_per_io_us", Some("cpu_per_io_spread")),
    ] {
        let figure = baseline.get(name).and_then(Value::as_f64).map(|median| {
            let beside = beside.and_then(|b| baseline.get(b));
            spread(median, beside, repeats)
        });
        upgraded.insert(name.into(), figure.unwrap_or(Value::Null));
    }
    *baseline = Value::Object(upgraded);
}

/// Rewrites a version 1 results.json, as parsed JSON, into version 2's shape.
pub(super) fn upgrade(results: &mut Value) {
    if let Some(modes) = results.get_mut("modes").and_then(Value::as_array_mut) {
        modes.iter_mut().for_each(upgrade_mode);
    }
    if let Some(baseline) = results.get_mut("baseline") {
        upgrade_baseline(baseline);
    }
    results["schema_version"] = 2.into();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_keep_their_spread_or_become_one() {
        let mut v = json!({
            "schema_version": 1,
            "baseline": {
                "iops": 100.0, "mb_per_s": 4.0, "cpu_per_io_us": null, "repeats": 2,
                "iops_spread": {"median": 100.0, "min": 90.0, "max": 110.0, "n": 2},
                "cpu_per_io_spread": null
            },
            "modes": [{
                "mode": "dwarf:8k+pipe", "repeats": 2,
                "lost_chunks": 3.0, "depth_p50": 9.0, "samples": null,
                "overhead": {"throughput": 0.1, "perf_cpu": null},
                "spread": {
                    "lost_chunks": {"median": 3.0, "min": 1.0, "max": 5.0, "n": 2},
                    "overhead": {"throughput": {"median": 0.1, "min": 0.0, "max": 0.2, "n": 2}}
                },
                "flamegraphs": {}
            }]
        });
        upgrade(&mut v);
        assert_eq!(v["schema_version"], 2);
        let f = &v["modes"][0]["figures"];
        assert_eq!(
            f["lost_chunks"],
            json!({"median": 3.0, "min": 1.0, "max": 5.0, "n": 2})
        );
        assert_eq!(
            f["depth_p50"],
            json!({"median": 9.0, "min": 9.0, "max": 9.0, "n": 2})
        );
        assert_eq!(f["overhead_throughput"]["max"], 0.2);
        assert!(f.get("samples").is_none() && f.get("overhead_perf_cpu").is_none());
        let mode = v["modes"][0].as_object().unwrap();
        assert!(!mode.contains_key("spread") && !mode.contains_key("overhead"));
        assert!(mode.contains_key("flamegraphs"));
        assert_eq!(
            (&mode["unwind"], &mode["sink"], &mode["knob"]),
            (&json!("dwarf:8k"), &json!("pipe"), &Value::Null)
        );
        assert_eq!(
            v["baseline"],
            json!({
                "repeats": 2,
                "iops": {"median": 100.0, "min": 90.0, "max": 110.0, "n": 2},
                "mb_per_s": {"median": 4.0, "min": 4.0, "max": 4.0, "n": 2},
                "cpu_per_io_us": null
            })
        );
    }
}
