//! `history`: many nights, many hosts. Every results.json under the given folders becomes a
//! point; points are grouped by host (the machine section), workload and mode, and each
//! metric's latest value is judged against its own past on the same host ([`detect`]).
//! Writes history.json, history.md, history.html and trend charts.

pub mod detect;
pub mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::record::Recording;
use crate::results::metric::{self, Metric, Worse};
use crate::results::{Results, RunStatus};
use detect::{judge, Judgement, Thresholds, Verdict};

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

/// A results.json that was not used, and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// When the run started (RFC 3339).
    pub time: String,
    pub value: f64,
    /// The run folder.
    pub run: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Series {
    pub mode: Recording,
    pub metric: Metric,
    pub label: String,
    pub worse: Worse,
    pub points: Vec<Point>,
    pub judgement: Option<Judgement>,
}

/// One host running one workload with the same settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub host: String,
    pub workload: String,
    pub runs: usize,
    pub series: Vec<Series>,
}

/// A flagged regression, in one line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Flag {
    pub host: String,
    pub workload: String,
    pub mode: Recording,
    pub metric: Metric,
    pub latest: f64,
    pub baseline: f64,
    pub change_relative: Option<f64>,
    pub run: PathBuf,
}

impl Flag {
    pub fn line(&self) -> String {
        format!(
            "REGRESSION {} / {} / {}: {} {} against a baseline of {}{} (run {})",
            self.host,
            self.workload,
            self.mode,
            self.metric,
            render::value(self.metric, self.latest),
            render::value(self.metric, self.baseline),
            self.change_relative
                .map(|c| format!(" ({:+.0}%)", c * 100.0))
                .unwrap_or_default(),
            self.run.display()
        )
    }
}

/// history.json.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct History {
    pub schema_version: u32,
    pub generated_at: String,
    pub thresholds: Thresholds,
    pub runs_read: usize,
    pub skipped: Vec<Skipped>,
    pub groups: Vec<Group>,
    pub regressions: Vec<Flag>,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("no results.json under {0}: point history at run folders (e.g. reports/nightly)")]
    NothingFound(String),
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
    let mut runs: Vec<(PathBuf, Results)> = Vec::new();
    for f in files {
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
    let runs_read = runs.len();

    // host -> workload -> runs, in time order
    let mut by_group: BTreeMap<(String, String), Vec<&(PathBuf, Results)>> = BTreeMap::new();
    for run in &runs {
        by_group
            .entry((host_of(&run.1), workload_of(&run.1)))
            .or_default()
            .push(run);
    }
    let mut groups = Vec::new();
    let mut regressions = Vec::new();
    for ((host, workload), group_runs) in by_group {
        let mut modes: Vec<Recording> = Vec::new();
        for (_, r) in &group_runs {
            for m in &r.modes {
                if !modes.contains(&m.mode) {
                    modes.push(m.mode);
                }
            }
        }
        let mut series = Vec::new();
        for mode in &modes {
            for (metric, watch) in metric::watched() {
                let points: Vec<Point> = group_runs
                    .iter()
                    .filter_map(|(dir, r)| {
                        let m = r.modes.iter().find(|m| m.mode == *mode)?;
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
                let judgement = judge(&values, watch.worse, watch.min_change, &opts.thresholds);
                if let Some(j) = judgement
                    .as_ref()
                    .filter(|j| j.verdict == Verdict::Regressed)
                {
                    regressions.push(Flag {
                        host: host.clone(),
                        workload: workload.clone(),
                        mode: *mode,
                        metric: metric.metric,
                        latest: j.latest,
                        baseline: j.baseline.unwrap_or_default(),
                        change_relative: j.change_relative,
                        run: points.last().map(|p| p.run.clone()).unwrap_or_default(),
                    });
                }
                series.push(Series {
                    mode: *mode,
                    metric: metric.metric,
                    label: metric.label.to_string(),
                    worse: watch.worse,
                    points,
                    judgement,
                });
            }
        }
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
        runs_read,
        skipped,
        groups,
        regressions,
    })
}

/// Builds the history and writes history.json, history.md, history.html and the charts.
pub fn run(opts: &HistoryOptions) -> Result<History, HistoryError> {
    let h = build(opts)?;
    let write = |path: PathBuf, contents: &[u8]| {
        crate::files::write_atomically(&path, contents)
            .map_err(|source| HistoryError::Write { path, source })
    };
    std::fs::create_dir_all(opts.out.join("charts")).map_err(|source| HistoryError::Write {
        path: opts.out.clone(),
        source,
    })?;
    let charts = render::charts(&h);
    for (name, svg) in &charts {
        let p = opts.out.join("charts").join(format!("{name}.svg"));
        write(p, svg.as_bytes())?;
    }
    let json = serde_json::to_vec_pretty(&h).unwrap_or_default();
    write(opts.out.join("history.json"), &json)?;
    write(opts.out.join("history.md"), render::markdown(&h).as_bytes())?;
    write(
        opts.out.join("history.html"),
        render::html(&h, &charts).as_bytes(),
    )?;
    Ok(h)
}
