//! `results.json`, the model of a run: everything it measured, schema-versioned. Reports
//! render from it and never compute figures of their own.
//!
//! - this file: the root ([`Results`]: machine, workload, settings, notes), and reading a
//!   file of any schema version up to this one ([`Results::read`]; older ones through [`v1`]);
//! - [`run`]: one measurement (the baseline or a recording, in one repeat), raw;
//! - [`metric`]: the table of figures a mode is summarized by ([`METRICS`]);
//! - [`summary`]: a mode's figures over its repeats ([`mode`]), and the baseline's;
//! - [`spread`]: median, min and max, the 95% interval, and the noise verdict on an overhead;
//! - [`switchback`](mod@switchback): a mode's overhead measured inside one run, and its
//!   figures beside the repeats';
//! - [`model`]: the price list's predictions beside a mode's measured figures, and
//!   [`ranking`]: why the overheads rank two modes against their prices, where they do;
//! - [`reference`](mod@reference): the reference post's figures beside this run's;
//! - [`export`]: the figures for benchmark trackers (Bencher, github-action-benchmark).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::preflight::Diagnosis;
use crate::record::SinkChoice;
use crate::workload::target::{PassedOver, TargetKind};

pub mod export;
pub mod metric;
pub mod mode;
pub mod model;
pub mod ranking;
pub mod reference;
pub mod run;
pub mod spread;
pub mod summary;
pub mod switchback;
mod v1;

pub use self::metric::{Metric, METRICS};
pub use self::mode::{Baseline, FlameGraphs, ModeStatus, ModeSummary, OverheadVerdicts};
pub use self::reference::ReferenceComparison;
pub use self::run::{MeasurementStatus, RunAnalysis, RunRecord};
pub use self::spread::{Spread, Verdict};
pub use self::switchback::SwitchbackRecord;

/// Bumped whenever a field changes meaning or is removed; readers accept every version up to
/// this one.
pub const SCHEMA_VERSION: u32 = 2;

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
    pub reference: Option<ReferenceComparison>,
    /// How large the DWARF copy must be, from the dwarf:65528 recording, checked against the
    /// real recordings at smaller sizes.
    #[serde(default)]
    pub sweep: Option<crate::sweep::SweepReport>,
    /// What a sample costs on this machine: the price list measured before the run's first
    /// measurement, or read from `--prices FILE` (its raw rounds are in prices/prices.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<crate::price::PriceList>,
    /// The CPU perf gets under this workload when it wants all it can (a saturating
    /// recording beside the measurements), for the model's lost share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perf_budget: Option<crate::price::model::PerfBudget>,
    /// Why the measured overheads rank two modes against their prices, wherever they do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explanations: Vec<String>,
    /// Every mode's switchback: its overhead measured inside one run, sampling switched on
    /// and off in short random rounds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub switchbacks: Vec<SwitchbackRecord>,
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
    /// How fio reached the server: `kernel-nbd`, `loop` or `nbd-engine`.
    pub target: TargetKind,
    /// Why the kernel NBD device was not used, when it was not.
    pub kernel_nbd_skipped: Option<String>,
    /// Every target `--target auto` prefers to the one that ran, and why it did not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets_passed_over: Vec<PassedOver>,
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
    /// The sinks above in one word: `file`, `pipe` or `file+pipe`.
    pub sink: SinkChoice,
    pub keep_data: bool,
    /// How the overheads were measured: `switchback`, `runs` or `both` (absent: runs, the
    /// only way before the switchback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhead: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchback: Option<SwitchbackSettings>,
}

/// How the switchbacks ran.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SwitchbackSettings {
    pub round_ms: f64,
    pub settle_ms: f64,
    /// Time spent switching per mode.
    pub seconds: f64,
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

/// Why a results.json cannot be used; the texts are what `history` lists beside a file it
/// skips.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("unreadable: {0}")]
    Unreadable(std::io::Error),
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("no schema_version: not a results.json of unwindbench")]
    NoVersion,
    #[error(
        "schema_version {0} was written by a newer unwindbench (this one reads up to {SCHEMA_VERSION})"
    )]
    Newer(u64),
    #[error("schema_version {version} but unreadable: {source}")]
    Schema {
        version: u64,
        source: serde_json::Error,
    },
}

impl Results {
    /// Reads a results.json of this schema version or an older one; older ones are
    /// brought up to this version on the way (see [`v1`]).
    pub fn read(path: &Path) -> Result<Results, LoadError> {
        let text = std::fs::read_to_string(path).map_err(LoadError::Unreadable)?;
        let mut value: serde_json::Value =
            serde_json::from_str(&text).map_err(LoadError::NotJson)?;
        let version = value
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .ok_or(LoadError::NoVersion)?;
        if version > u64::from(SCHEMA_VERSION) {
            return Err(LoadError::Newer(version));
        }
        if version < 2 {
            v1::upgrade(&mut value);
        }
        serde_json::from_value(value).map_err(|source| LoadError::Schema { version, source })
    }

    /// [`Results::read`], failing with the file's name (`report`, `compare`).
    pub fn load(path: &Path) -> Result<Results, ResultsError> {
        Results::read(path).map_err(|e| match e {
            LoadError::Unreadable(source) => ResultsError::Read {
                path: path.to_path_buf(),
                source,
            },
            other => ResultsError::Format {
                path: path.to_path_buf(),
                message: other.to_string(),
            },
        })
    }
}
