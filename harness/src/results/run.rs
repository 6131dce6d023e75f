//! One measurement as results.json keeps it: the baseline or one mode in one repeat, its raw
//! figures, the statistics of its recording and what analyzing it found and cost.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::fold::StackFigures;
use crate::perfdata::stats::RecordStats;
use crate::record::measured::Measured;
use crate::record::Subject;

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
    /// The baseline or the recording (`label` in results.json: `baseline`, `dwarf:8k`).
    #[serde(rename = "label")]
    pub subject: Subject,
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
    /// Whether the measurement ran without perf (either baseline).
    pub fn is_baseline(&self) -> bool {
        self.subject.recording().is_none()
    }

    /// The measurement's folder inside the run folder: `r2-dwarf-8k`.
    pub fn folder_name(&self) -> String {
        self.subject.folder_name(self.repeat)
    }
}
