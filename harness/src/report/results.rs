//! `results.json`: everything a run measured, schema-versioned. Reports render from it and
//! never compute figures of their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::figures::{Spread, Verdict};
use crate::fold::StackFigures;
use crate::machine::Machine;
use crate::perfdata::stats::RecordStats;
use crate::preflight::Diagnosis;
use crate::record::measured::Measured;

/// Bumped whenever a field changes meaning or is removed; readers accept every version up to
/// this one.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Measurements are still being taken.
    Running,
    Complete,
    /// Every planned measurement ran, but some failed.
    Partial,
    /// Stopped by a signal; what finished is kept.
    Interrupted,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Results {
    pub schema_version: u32,
    pub tool: String,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The command line that made this run.
    pub command: Vec<String>,
    pub machine: Machine,
    pub workload: WorkloadInfo,
    pub settings: Settings,
    pub baseline: Baseline,
    pub modes: Vec<ModeSummary>,
    /// Every measurement, in the order taken.
    pub runs: Vec<RunRecord>,
    pub doctor: Diagnosis,
    /// Things the reader must know to read the figures right.
    pub notes: Vec<String>,
    /// The reference post's figures beside this run's (ratios to fp).
    #[serde(default)]
    pub reference: Option<super::reference::ReferenceComparison>,
    /// How large the DWARF copy must be, from the dwarf:65528 recording, checked against the
    /// real recordings at smaller sizes.
    #[serde(default)]
    pub sweep: Option<crate::sweep::SweepReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WorkloadInfo {
    pub name: String,
    pub description: String,
    /// NBD workloads: the server and the fio job.
    #[serde(default)]
    pub server: Option<crate::workload::ServerSpec>,
    #[serde(default)]
    pub fio_job: Option<PathBuf>,
    /// Program workloads: the program's parameters.
    #[serde(default)]
    pub program: Option<crate::workload::program::ProgramSpec>,
    /// The processes the report looks at first (the server and the client, or the
    /// program's builds).
    #[serde(default = "nbd_focus")]
    pub focus: Vec<String>,
    pub runtime_s: f64,
    pub ramp_s: f64,
    /// `nbd-engine` or `kernel-nbd`.
    pub target: String,
    /// Why the kernel NBD device was not used, when it was not.
    pub kernel_nbd_skipped: Option<String>,
}

fn nbd_focus() -> Vec<String> {
    vec!["nbdkit".into(), "fio".into()]
}

impl WorkloadInfo {
    /// The first focus process (the server): whose stacks the table and flame graphs show.
    pub fn primary(&self) -> &str {
        self.focus.first().map(String::as_str).unwrap_or("nbdkit")
    }

    /// The second focus process (the client), if any.
    pub fn secondary(&self) -> Option<&str> {
        self.focus.get(1).map(String::as_str)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    pub modes: Vec<String>,
    /// Sinks every mode was recorded with, knobs tried on the DWARF modes, and whether the
    /// stack-size sweep recording (dwarf:65528) was added.
    #[serde(default)]
    pub sinks: Vec<crate::record::Sink>,
    #[serde(default)]
    pub knobs: Vec<String>,
    #[serde(default)]
    pub sweep: bool,
    /// Whether the frame-pointer builds of nbdkit, libnbd and fio ran.
    #[serde(default)]
    pub fp_built: bool,
    pub repeat: usize,
    /// Sampling frequency asked for; None: perf's default.
    pub freq: Option<u32>,
    pub sink: String,
    pub keep_data: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Baseline {
    /// Median IOPS of the unprofiled runs.
    pub iops: Option<f64>,
    pub mb_per_s: Option<f64>,
    pub cpu_per_io_us: Option<f64>,
    pub repeats: usize,
    /// Spread of the baseline figures: the noise overheads are judged against.
    pub iops_spread: Option<Spread>,
    pub cpu_per_io_spread: Option<Spread>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ModeStatus {
    Ok,
    /// Some repeats failed; figures are from the others.
    Partial,
    Failed,
    Skipped,
    /// Not measured yet (run still going or interrupted before it).
    Pending,
}

/// Overheads of a mode against the same run's baseline (fractions: 0.015 = 1.5%).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Overheads {
    /// 1 - IOPS(mode) / IOPS(baseline), paired by repeat.
    pub throughput: Option<f64>,
    /// perf's CPU seconds in the window / (window seconds x online CPUs).
    pub perf_cpu: Option<f64>,
    /// Share of samples whose comm is `perf`.
    pub sample_share: Option<f64>,
    /// CPU per I/O of the workload (server + fio) / the baseline's, minus 1.
    pub cpu_per_io: Option<f64>,
    /// Pipe sink: the live reader's CPU in the window / (window seconds x online CPUs).
    #[serde(default)]
    pub reader_cpu: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct OverheadSpreads {
    pub throughput: Option<Spread>,
    pub perf_cpu: Option<Spread>,
    pub sample_share: Option<Spread>,
    pub cpu_per_io: Option<Spread>,
    #[serde(default)]
    pub reader_cpu: Option<Spread>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OverheadVerdicts {
    pub throughput: Option<Verdict>,
    pub cpu_per_io: Option<Verdict>,
}

/// A mode's figures: medians over its successful repeats, spreads beside them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModeSummary {
    /// The recording's label: the mode in canonical spelling (`fp`, `dwarf:8k`), with
    /// `+pipe` / `+KNOB` for variants (`dwarf:8k+pipe`, `dwarf:8k+zstd`).
    pub mode: String,
    /// The unwinding mode alone, the sink and the knob.
    #[serde(default)]
    pub unwind: String,
    #[serde(default)]
    pub sink: crate::record::Sink,
    #[serde(default)]
    pub knob: Option<String>,
    /// As the reference table names it (`DWARF (8K)`).
    pub title: String,
    pub status: ModeStatus,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// Successful repeats behind the medians.
    pub repeats: usize,
    /// Repeats whose recording was stopped early by --max-data (their figures cover part
    /// of the window).
    #[serde(default)]
    pub truncated_runs: usize,
    pub perf_data_bytes: Option<f64>,
    pub perf_data_mb_per_s: Option<f64>,
    pub samples: Option<f64>,
    pub lost_chunks: Option<f64>,
    pub lost_events: Option<f64>,
    /// lost / (samples + lost).
    pub lost_share: Option<f64>,
    pub iops: Option<f64>,
    pub overhead: Overheads,
    pub spread: ModeSpreads,
    pub verdict: OverheadVerdicts,
    /// Share of the server's samples whose user stack reaches a real bottom.
    #[serde(default)]
    pub completeness: Option<f64>,
    /// The same for the client (fio).
    #[serde(default)]
    pub client_completeness: Option<f64>,
    /// Frames per sample of the server, median and 99th percentile.
    #[serde(default)]
    pub depth_p50: Option<f64>,
    #[serde(default)]
    pub depth_p99: Option<f64>,
    /// What analyzing one recording cost: wall seconds and peak memory.
    #[serde(default)]
    pub analysis_wall_s: Option<f64>,
    #[serde(default)]
    pub analysis_peak_rss_mib: Option<f64>,
    /// Flame graphs of the first successful repeat, relative to the run folder.
    #[serde(default)]
    pub flamegraphs: FlameGraphs,
    /// Server samples by stack depth (frames), over all repeats.
    #[serde(default)]
    pub depth_histogram: BTreeMap<u32, u64>,
    /// Against the workload's known stacks (program workloads): medians over the repeats,
    /// per focus process.
    #[serde(default)]
    pub accuracy: Vec<crate::accuracy::Accuracy>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FlameGraphs {
    /// All processes.
    pub all: Option<PathBuf>,
    /// Zoomed to the server process.
    pub server: Option<PathBuf>,
    /// The server's stacks against the frame-pointer recording of the same repeat.
    pub diff_vs_fp: Option<PathBuf>,
    /// All processes' stacks against that recording: where perf's own work grew.
    #[serde(default)]
    pub diff_vs_fp_all: Option<PathBuf>,
}

/// What the analysis of one recording found and cost.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunAnalysis {
    pub wall_s: f64,
    pub cpu_s: f64,
    pub peak_rss_mib: f64,
    pub mb_per_s: f64,
    /// Stack figures of the server process, of the client (fio) and of all processes.
    pub server: Option<StackFigures>,
    #[serde(default)]
    pub client: Option<StackFigures>,
    pub all: Option<StackFigures>,
    pub distinct_stacks: usize,
    pub missing_modules: usize,
    pub kernel_symbols: bool,
    /// The sweep of the largest-copy recording (dwarf:65528).
    #[serde(default)]
    pub sweep: Option<crate::sweep::SweepResult>,
    /// Against the workload's known stacks, per focus process.
    #[serde(default)]
    pub accuracy: Vec<crate::accuracy::Accuracy>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ModeSpreads {
    #[serde(default)]
    pub completeness: Option<Spread>,
    pub perf_data_bytes: Option<Spread>,
    pub samples: Option<Spread>,
    pub lost_chunks: Option<Spread>,
    pub lost_events: Option<Spread>,
    pub iops: Option<Spread>,
    pub overhead: OverheadSpreads,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MeasurementStatus {
    Ok,
    Failed,
    Interrupted,
}

/// One measurement: the baseline or one mode, in one repeat.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// 1-based repeat number.
    pub repeat: usize,
    /// `baseline` or the mode.
    pub label: String,
    pub status: MeasurementStatus,
    pub error: Option<String>,
    pub started_at: String,
    pub measured: Option<Measured>,
    /// Statistics of the recording, read from the perf.data.
    pub stats: Option<RecordStats>,
    /// Why the perf.data could not be (fully) read.
    pub stats_error: Option<String>,
    /// perf's own warnings ("Check IO/CPU overload!") and the harness's doubts about the
    /// measurement (fio jobs that did not run together, for instance).
    pub warnings: Vec<String>,
    /// The perf.data, when kept (--keep-data), relative to the run folder.
    pub perf_data: Option<PathBuf>,
    /// The analysis of the recording (stacks, completeness, cost).
    #[serde(default)]
    pub analysis: Option<RunAnalysis>,
}

impl RunRecord {
    pub fn is_baseline(&self) -> bool {
        self.label == "baseline"
    }

    /// The measurement's folder inside the run folder: `r2-dwarf-8k`.
    pub fn folder_name(&self) -> String {
        format!("r{}-{}", self.repeat, self.label.replace(':', "-"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a results.json this version understands: {message}")]
    Format { path: PathBuf, message: String },
}

/// Writes `contents` to `path` through a temporary file and a rename, so a reader (or a crash)
/// never sees half a file.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), ResultsError> {
    let err = |source| ResultsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(contents).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}

impl Results {
    pub fn load(path: &Path) -> Result<Results, ResultsError> {
        let text = std::fs::read_to_string(path).map_err(|source| ResultsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ResultsError::Format {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        match value.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v as u32 <= SCHEMA_VERSION => {}
            other => {
                return Err(ResultsError::Format {
                    path: path.to_path_buf(),
                    message: format!(
                        "schema_version {other:?}; this build reads up to {SCHEMA_VERSION}"
                    ),
                })
            }
        }
        serde_json::from_value(value).map_err(|e| ResultsError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}
