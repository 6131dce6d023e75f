//! Reading every results.json under the given folders, grouping the runs by host (the
//! machine section) and workload, and judging each watched metric's latest value against
//! its own past ([`super::detect`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::detect::{judge, Thresholds, Verdict};
use super::model::{Flag, Group, History, Point, Series, Skipped};
use crate::record::Recording;
use crate::results::metric;
use crate::results::{Results, RunStatus};

/// A run read: its folder and its results.
type Run = (PathBuf, Results);

/// Options of `history`.
#[derive(Clone, Debug)]
pub struct HistoryOptions {
    /// Folders searched (recursively) for results.json.
    pub dirs: Vec<PathBuf>,
    /// Output folder. Default: `<first folder>/history`.
    pub out: PathBuf,
    /// Only hosts whose name contains this. Default: all.
    pub host: Option<String>,
    pub thresholds: Thresholds,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("no results.json under {0}: point history at run folders (e.g. reports/nightly)")]
    NothingFound(String),
    #[error(transparent)]
    Interrupted(#[from] crate::process::ProcessError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Every results.json under `dir`, recursively, in path order.
fn find_results(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), HistoryError> {
    let entries = std::fs::read_dir(dir).map_err(|source| HistoryError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        crate::process::check_interrupt()?;
        if p.is_dir() {
            find_results(&p, out)?;
        } else if p.file_name().is_some_and(|n| n == "results.json") {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads one results.json, or says why it is not used.
fn read_run(path: &Path) -> Result<Results, String> {
    let r = Results::read(path).map_err(|e| e.to_string())?;
    if r.status == RunStatus::Running {
        return Err("the run never finished (status running: still going, or it crashed)".into());
    }
    Ok(r)
}

/// The workload and the settings that change what is measured (window length, sampling
/// rate, rebuilt binaries): only runs alike in these are compared with each other.
pub fn workload_of(r: &Results) -> String {
    let mut s = format!("{}, {} s", r.workload.name, r.workload.runtime_s);
    match r.settings.freq {
        Some(f) => s.push_str(&format!(", {f} Hz")),
        None => s.push_str(", default rate"),
    }
    if r.settings.fp_built {
        s.push_str(", fp-built");
    }
    s
}

/// A host as results.json describes it.
pub fn host_of(r: &Results) -> String {
    let m = &r.machine;
    format!("{} ({}, {} CPUs)", m.hostname, m.cpu_model, m.online_cpus)
}

/// Reads, groups and judges.
pub fn build(opts: &HistoryOptions) -> Result<History, HistoryError> {
    let (runs, skipped) = read_runs(opts)?;
    // (host, workload) -> runs, in time order
    let mut by_group: BTreeMap<(String, String), Vec<&Run>> = BTreeMap::new();
    for run in &runs {
        by_group
            .entry((host_of(&run.1), workload_of(&run.1)))
            .or_default()
            .push(run);
    }
    let mut groups = Vec::new();
    let mut regressions = Vec::new();
    for ((host, workload), group_runs) in by_group {
        let series = judge_group(&group_runs, &opts.thresholds);
        regressions.extend(series.iter().filter_map(|s| {
            let j = s
                .judgement
                .as_ref()
                .filter(|j| j.verdict == Verdict::Regressed)?;
            Some(Flag {
                host: host.clone(),
                workload: workload.clone(),
                mode: s.mode,
                metric: s.metric,
                latest: j.latest,
                baseline: j.baseline.unwrap_or_default(),
                change_relative: j.change_relative,
                change: j.change,
                run: s.points.last().map(|p| p.run.clone()).unwrap_or_default(),
            })
        }));
        groups.push(Group {
            host,
            workload,
            runs: group_runs.len(),
            series,
        });
    }
    Ok(History {
        schema_version: 1,
        generated_at: crate::timestamp::now_rfc3339(),
        thresholds: opts.thresholds,
        runs_read: runs.len(),
        skipped,
        groups,
        regressions,
    })
}

/// Every results.json under the folders, in time order (of the host asked for), with
/// its run folder; and the files not used, with the reason.
fn read_runs(opts: &HistoryOptions) -> Result<(Vec<Run>, Vec<Skipped>), HistoryError> {
    let mut files = Vec::new();
    for d in &opts.dirs {
        find_results(d, &mut files)?;
    }
    if files.is_empty() {
        let where_ = opts
            .dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(HistoryError::NothingFound(where_));
    }
    let mut skipped = Vec::new();
    let mut runs: Vec<Run> = Vec::new();
    for f in files {
        // Years of nightly folders take a while: Ctrl-C is honoured between files.
        crate::process::check_interrupt()?;
        match read_run(&f) {
            Ok(r) => {
                if opts
                    .host
                    .as_ref()
                    .is_some_and(|h| !r.machine.hostname.contains(h.as_str()))
                {
                    continue;
                }
                runs.push((f.parent().unwrap_or(Path::new(".")).to_path_buf(), r));
            }
            Err(reason) => skipped.push(Skipped { path: f, reason }),
        }
    }
    runs.sort_by(|a, b| a.1.started_at.cmp(&b.1.started_at));
    Ok((runs, skipped))
}

/// A series per mode and watched metric of one host and workload, each judged.
fn judge_group(runs: &[&Run], thresholds: &Thresholds) -> Vec<Series> {
    let mut modes: Vec<Recording> = Vec::new();
    for (_, r) in runs {
        for m in &r.modes {
            if !modes.contains(&m.mode) {
                modes.push(m.mode);
            }
        }
    }
    let mut series = Vec::new();
    for mode in modes {
        for (metric, watch) in metric::watched() {
            let points: Vec<Point> = runs
                .iter()
                .filter_map(|(dir, r)| {
                    let m = r.modes.iter().find(|m| m.mode == mode)?;
                    if !m.measured() {
                        return None;
                    }
                    Some(Point {
                        time: r.started_at.clone(),
                        value: m.median(metric.metric).filter(|v| v.is_finite())?,
                        run: dir.clone(),
                    })
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            let values: Vec<f64> = points.iter().map(|p| p.value).collect();
            series.push(Series {
                mode,
                metric: metric.metric,
                label: metric.label.to_string(),
                worse: watch.worse,
                judgement: judge(
                    &values,
                    watch.worse,
                    watch.min_change,
                    scale_of(metric.unit),
                    thresholds,
                ),
                points,
            });
        }
    }
    series
}

/// Shares (overheads, the lost share, completeness) are judged in points; the rest against
/// their size too.
fn scale_of(unit: crate::results::metric::Unit) -> super::detect::Scale {
    match unit {
        crate::results::metric::Unit::Share => super::detect::Scale::Points,
        _ => super::detect::Scale::Relative,
    }
}
