//! A run's figures for benchmark trackers, so that CI can follow profiling cost over time
//! with tools it already has:
//!
//! - **Bencher Metric Format** (`bmf.json`, for `bencher run --adapter json --file`): one
//!   benchmark per workload and mode (`nbd-null/dwarf:8k`), each with the [`MEASURES`] the run
//!   has, as `value` with `lower_value`/`upper_value`. The host is Bencher's testbed
//!   (`bencher run --testbed`), not part of the name.
//! - **github-action-benchmark**'s custom format: a JSON array of `{name, unit, value, range,
//!   extra}`. The action reads one tool type per step, so costs go to
//!   `benchmark-action-smaller.json` (`tool: customSmallerIsBetter`) and completeness to
//!   `benchmark-action-bigger.json` (`tool: customBiggerIsBetter`), each file named after
//!   the tool that reads it.
//!
//! Both take the same [`Measurement`]s: the value is the figure's 95%-interval estimate where
//! it has an interval (overheads, prices), else its median over the repeats; the bounds are
//! that interval, else the repeats' min and max (none with a single repeat). Shares are
//! given in percent. A figure the run does not have (a failed or skipped mode, no price
//! list, no pipe) is left out, never written as zero; [`Export::notes`] says what was left
//! out and why. BMF has no field for that (every key of its object is a benchmark), so
//! there the notes are only printed; github-action-benchmark shows `extra` beside a point,
//! so there they go into the first entry's `extra`.
//!
//! github-action-benchmark alerts on the ratio of a value to the previous one: for an
//! overhead near zero (or negative, within noise) that ratio means little; Bencher's
//! thresholds (t-test, or static bounds) suit those figures better.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::metric::Metric;
use super::spread::{verdict, Verdict};
use super::{ModeStatus, Results, ResultsError};

/// What to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Bencher Metric Format.
    Bmf,
    /// github-action-benchmark's customSmallerIsBetter / customBiggerIsBetter.
    BenchmarkAction,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s.trim() {
            "bmf" | "bencher" => Ok(Format::Bmf),
            "benchmark-action" | "github-action-benchmark" => Ok(Format::BenchmarkAction),
            other => Err(format!(
                "`{other}` is not an export format: bmf (Bencher) or benchmark-action (github-action-benchmark)"
            )),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Bmf => "bmf",
            Format::BenchmarkAction => "benchmark-action",
        })
    }
}

/// The Bencher file.
pub const BMF_FILE: &str = "bmf.json";
/// github-action-benchmark's file for `tool: customSmallerIsBetter`.
pub const SMALLER_FILE: &str = "benchmark-action-smaller.json";
/// github-action-benchmark's file for `tool: customBiggerIsBetter`.
pub const BIGGER_FILE: &str = "benchmark-action-bigger.json";

/// Which way a measure improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Smaller,
    Bigger,
}

/// One exported measure: which figure, under which Bencher measure slug (kebab case, at
/// most 64 characters), in which unit.
pub struct MeasureDef {
    pub metric: Metric,
    pub slug: &'static str,
    /// As github-action-benchmark shows it (its time units are spelled s, ms, us, ns).
    pub unit: &'static str,
    /// From the figure's unit in results.json to `unit` (100 for shares in percent).
    pub scale: f64,
    pub better: Better,
}

/// A cost in the figure's own unit.
const fn cost(metric: Metric, slug: &'static str, unit: &'static str) -> MeasureDef {
    MeasureDef {
        metric,
        slug,
        unit,
        scale: 1.0,
        better: Better::Smaller,
    }
}

/// A share, in percent, that is better `better`.
const fn percent(metric: Metric, slug: &'static str, better: Better) -> MeasureDef {
    MeasureDef {
        metric,
        slug,
        unit: "%",
        scale: 100.0,
        better,
    }
}

const SMALLER: Better = Better::Smaller;

/// What a tracker follows: what a mode costs (smaller is better) and how complete its stacks
/// are (bigger is better). Counts that only describe the run (samples, IOPS, depth) are
/// left to results.json.
pub const MEASURES: &[MeasureDef] = &[
    cost(Metric::PerfDataBytes, "perf-data-bytes", "bytes"),
    cost(Metric::PerfDataMbPerS, "perf-data-mb-per-s", "MB/s"),
    cost(Metric::LostChunks, "lost-chunks", "chunks"),
    percent(Metric::LostShare, "lost-events-percent", SMALLER),
    percent(
        Metric::OverheadThroughput,
        "overhead-throughput-percent",
        SMALLER,
    ),
    percent(
        Metric::OverheadPerfCpu,
        "overhead-perf-cpu-percent",
        SMALLER,
    ),
    percent(
        Metric::OverheadSampleShare,
        "overhead-sample-share-percent",
        SMALLER,
    ),
    percent(
        Metric::OverheadCpuPerIo,
        "overhead-cpu-per-io-percent",
        SMALLER,
    ),
    percent(
        Metric::OverheadReaderCpu,
        "overhead-reader-cpu-percent",
        SMALLER,
    ),
    percent(
        Metric::OverheadThroughputVsNone,
        "overhead-throughput-vs-none-percent",
        SMALLER,
    ),
    percent(
        Metric::OverheadCpuPerIoVsNone,
        "overhead-cpu-per-io-vs-none-percent",
        SMALLER,
    ),
    cost(Metric::CostPerSampleUs, "cost-per-sample-us", "us"),
    cost(Metric::PriceKernelUs, "price-kernel-us", "us"),
    cost(Metric::PriceWholeUs, "price-whole-us", "us"),
    cost(Metric::AnalysisWallS, "analysis-wall-s", "s"),
    cost(Metric::AnalysisPeakRssMib, "analysis-peak-rss-mib", "MiB"),
    percent(
        Metric::Completeness,
        "stack-completeness-percent",
        Better::Bigger,
    ),
    percent(
        Metric::ClientCompleteness,
        "client-stack-completeness-percent",
        Better::Bigger,
    ),
];

/// Where a measurement's bounds come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundsKind {
    /// The figure's 95% confidence interval.
    Ci95,
    /// The lowest and highest repeat.
    Range,
}

/// One value of one benchmark, in the measure's unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// `WORKLOAD/MODE`.
    pub benchmark: String,
    pub slug: &'static str,
    pub unit: &'static str,
    pub better: Better,
    pub value: f64,
    /// (lower, upper), holding `value`.
    pub bounds: Option<(f64, f64)>,
    pub bounds_kind: BoundsKind,
    /// Repeats behind the figure.
    pub repeats: usize,
    /// An overhead whose interval holds zero.
    pub within_noise: bool,
}

/// The measurements of a run, and what was left out.
pub fn measurements(results: &Results) -> (Vec<Measurement>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    // Per measured mode, the slugs it lacks.
    let mut missing: Vec<(String, Vec<&'static str>)> = Vec::new();
    for mode in &results.modes {
        if !mode.measured() {
            notes.push(not_measured(
                &mode.mode.to_string(),
                mode.status,
                mode.reason.as_deref(),
            ));
            continue;
        }
        if mode.status == ModeStatus::Partial {
            notes.push(format!(
                "{}: some repeats failed; its figures are from the {} that succeeded",
                mode.mode, mode.repeats
            ));
        }
        let benchmark = format!("{}/{}", results.workload.name, mode.mode);
        let mut lacks = Vec::new();
        for def in MEASURES {
            match mode
                .figure(def.metric)
                .and_then(|s| measurement(&benchmark, def, &s))
            {
                Some(m) => out.push(m),
                None => lacks.push(def.slug),
            }
        }
        missing.push((mode.mode.to_string(), lacks));
    }
    notes.extend(missing_notes(&missing));
    (out, notes)
}

fn not_measured(mode: &str, status: ModeStatus, reason: Option<&str>) -> String {
    let status = match status {
        ModeStatus::Failed => "failed",
        ModeStatus::Skipped => "skipped",
        _ => "not measured",
    };
    match reason {
        Some(r) => format!("{mode}: {status} ({r}); nothing exported for it"),
        None => format!("{mode}: {status}; nothing exported for it"),
    }
}

/// What the measured modes lack: once for the run where they all lack it, else per mode.
fn missing_notes(missing: &[(String, Vec<&'static str>)]) -> Vec<String> {
    let Some((_, first)) = missing.first() else {
        return Vec::new();
    };
    let common: Vec<&str> = first
        .iter()
        .copied()
        .filter(|s| missing.iter().all(|(_, l)| l.contains(s)))
        .collect();
    let mut notes = Vec::new();
    if !common.is_empty() {
        notes.push(format!("not measured in this run: {}", common.join(", ")));
    }
    for (mode, lacks) in missing {
        let own: Vec<&str> = lacks
            .iter()
            .copied()
            .filter(|s| !common.contains(s))
            .collect();
        if !own.is_empty() {
            notes.push(format!("{mode}: no {}", own.join(", ")));
        }
    }
    notes
}

/// A figure as a measurement; None when it is not a finite number.
fn measurement(
    benchmark: &str,
    def: &'static MeasureDef,
    figure: &super::Spread,
) -> Option<Measurement> {
    let s = figure.scaled(def.scale);
    let value = s.value();
    if !value.is_finite() {
        return None;
    }
    let (bounds, kind) = match s.interval {
        Some(i) => (Some((i.low, i.high)), BoundsKind::Ci95),
        None if s.n >= 2 => (Some((s.min, s.max)), BoundsKind::Range),
        None => (None, BoundsKind::Range),
    };
    // Bounds always hold the value (a rounding step must not put it outside).
    let bounds = bounds
        .filter(|(l, h)| l.is_finite() && h.is_finite())
        .map(|(l, h)| (l.min(value), h.max(value)));
    Some(Measurement {
        benchmark: benchmark.to_string(),
        slug: def.slug,
        unit: def.unit,
        better: def.better,
        value,
        bounds,
        bounds_kind: kind,
        repeats: figure.n,
        within_noise: figure.interval.is_some() && verdict(figure) == Verdict::WithinNoise,
    })
}

/// A metric of Bencher Metric Format.
#[derive(Serialize)]
struct BmfMetric {
    value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lower_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upper_value: Option<f64>,
}

/// BMF: benchmark name -> measure slug -> metric.
pub fn bmf(measurements: &[Measurement]) -> serde_json::Value {
    let mut doc: BTreeMap<&str, BTreeMap<&str, BmfMetric>> = BTreeMap::new();
    for m in measurements {
        doc.entry(&m.benchmark).or_default().insert(
            m.slug,
            BmfMetric {
                value: m.value,
                lower_value: m.bounds.map(|b| b.0),
                upper_value: m.bounds.map(|b| b.1),
            },
        );
    }
    serde_json::to_value(doc).unwrap_or_default()
}

/// An entry of github-action-benchmark's custom format.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ActionEntry {
    pub name: String,
    pub unit: String,
    pub value: f64,
    /// `± HALF_WIDTH`, the form the action reads (and rescales with the unit): the larger
    /// side of the bounds, so that the band holds them; the exact bounds are in `extra`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra: Option<String>,
}

/// A number as the range and notes show it: whole above 1000, else four decimals at most.
fn short(x: f64) -> String {
    if x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else {
        let s = format!("{x:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".into()
        } else {
            s.to_string()
        }
    }
}

fn action_entry(m: &Measurement, host: &str) -> ActionEntry {
    let mut extra = format!("host: {host}\n{} repeat(s)", m.repeats);
    if let Some((lo, hi)) = m.bounds {
        let what = match m.bounds_kind {
            BoundsKind::Ci95 => "95% CI",
            BoundsKind::Range => "min-max of the repeats",
        };
        extra.push_str(&format!(
            "\n{what}: {} to {} {}",
            short(lo),
            short(hi),
            m.unit
        ));
    }
    if m.within_noise {
        extra.push_str("\nwithin noise: the interval holds zero");
    }
    ActionEntry {
        name: format!("{}/{}", m.benchmark, m.slug),
        unit: m.unit.to_string(),
        value: m.value,
        range: m
            .bounds
            .map(|(lo, hi)| format!("± {}", short((m.value - lo).max(hi - m.value)))),
        extra: Some(extra),
    }
}

/// github-action-benchmark's two arrays: (smaller is better, bigger is better). The run's
/// notes go into the first entry of each.
pub fn benchmark_action(
    measurements: &[Measurement],
    notes: &[String],
    host: &str,
) -> (Vec<ActionEntry>, Vec<ActionEntry>) {
    let pick = |better: Better| {
        let mut entries: Vec<ActionEntry> = measurements
            .iter()
            .filter(|m| m.better == better)
            .map(|m| action_entry(m, host))
            .collect();
        if let (Some(first), false) = (entries.first_mut(), notes.is_empty()) {
            let extra = first.extra.get_or_insert_with(String::new);
            extra.push_str("\nleft out of this run's export:\n- ");
            extra.push_str(&notes.join("\n- "));
        }
        entries
    };
    (pick(Better::Smaller), pick(Better::Bigger))
}

/// The files of the formats asked for, and the notes on what was left out.
pub struct Export {
    /// (file name, contents)
    pub files: Vec<(&'static str, Vec<u8>)>,
    pub notes: Vec<String>,
}

fn pretty(v: &impl Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(v).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Renders the formats asked for (each once, in the order given).
pub fn render(results: &Results, formats: &[Format]) -> Export {
    let (ms, mut notes) = measurements(results);
    let mut files = Vec::new();
    let mut empty = Vec::new();
    let mut done = Vec::new();
    for f in formats {
        if done.contains(f) {
            continue;
        }
        done.push(*f);
        match f {
            Format::Bmf => {
                let doc = bmf(&ms);
                if doc.as_object().is_none_or(|o| o.is_empty()) {
                    empty.push(BMF_FILE);
                }
                files.push((BMF_FILE, pretty(&doc)));
            }
            Format::BenchmarkAction => {
                let m = &results.machine;
                let host = format!("{} ({}, {} CPUs)", m.hostname, m.cpu_model, m.online_cpus);
                let (smaller, bigger) = benchmark_action(&ms, &notes, &host);
                for (name, entries) in [(SMALLER_FILE, &smaller), (BIGGER_FILE, &bigger)] {
                    if entries.is_empty() {
                        empty.push(name);
                    }
                    files.push((name, pretty(entries)));
                }
            }
        }
    }
    // An empty file is still written, so that a tracker fails loudly on a run that measured
    // nothing (github-action-benchmark refuses one) rather than on a missing file.
    notes.extend(
        empty
            .iter()
            .map(|name| format!("{name}: no figure to export")),
    );
    Export { files, notes }
}

/// Renders the formats asked for and writes them into `dir` (the run folder), each file
/// whole or not at all; returns the paths written and the notes.
pub fn write(
    results: &Results,
    formats: &[Format],
    dir: &Path,
) -> Result<(Vec<PathBuf>, Vec<String>), ResultsError> {
    let export = render(results, formats);
    let mut written = Vec::new();
    for (name, contents) in &export.files {
        let path = dir.join(name);
        crate::files::write_atomically(&path, contents).map_err(|source| ResultsError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok((written, export.notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::metric::Worse;

    #[test]
    fn measures_are_unique_slugs_and_agree_with_history() {
        let mut seen = std::collections::BTreeSet::new();
        for d in MEASURES {
            assert!(seen.insert(d.slug), "{} twice", d.slug);
            assert!(d.slug.len() <= 64, "{}", d.slug);
            assert!(
                d.slug
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{} is not kebab case",
                d.slug
            );
            // Where history watches the metric, it watches it the same way round.
            if let Some(w) = d.metric.def().watch {
                let expected = match w.worse {
                    Worse::Higher => Better::Smaller,
                    Worse::Lower => Better::Bigger,
                };
                assert_eq!(d.better, expected, "{}", d.slug);
            }
        }
    }

    #[test]
    fn formats_parse_and_print() {
        for f in [Format::Bmf, Format::BenchmarkAction] {
            assert_eq!(f.to_string().parse::<Format>(), Ok(f));
        }
        assert!("csv".parse::<Format>().unwrap_err().contains("bmf"));
    }

    #[test]
    fn bounds_hold_the_value_and_one_repeat_has_none() {
        let def = &MEASURES[0];
        let one = super::super::Spread::of([5.0]).unwrap();
        let m = measurement("w/fp", def, &one).unwrap();
        assert_eq!((m.value, m.bounds), (5.0, None));
        let two = super::super::Spread::of([4.0, 8.0]).unwrap();
        let m = measurement("w/fp", def, &two).unwrap();
        assert_eq!((m.value, m.bounds), (6.0, Some((4.0, 8.0))));
        assert_eq!(m.bounds_kind, BoundsKind::Range);
        let nan = super::super::Spread {
            median: f64::INFINITY,
            ..two
        };
        assert!(measurement("w/fp", def, &nan).is_none());
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(short(1234.56), "1235");
        assert_eq!(short(0.000_04), "0");
        assert_eq!(short(1.5), "1.5");
        assert_eq!(short(-0.25), "-0.25");
    }
}
