//! A mode's figures over its repeats, and the unprofiled baseline's they are judged
//! against: what the table, the charts and `history` read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::metric::Metric;
use super::spread::{Spread, Verdict};
use crate::record::Recording;

/// The unprofiled runs: the throughput and CPU the overheads are measured against, and
/// their spread, the noise the overheads are judged against.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Baseline {
    /// Successful baseline runs.
    pub repeats: usize,
    /// I/Os per second of the measured window.
    pub iops: Option<Spread>,
    /// fio's bandwidth, MB/s.
    pub mb_per_s: Option<Spread>,
    /// The workload's CPU per completed I/O, microseconds.
    pub cpu_per_io_us: Option<Spread>,
    /// On a kernel block device: the same unprofiled workload through fio's nbd engine in
    /// the same rounds, IOPS and CPU per I/O (what the device's hops cost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbd_engine_iops: Option<Spread>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbd_engine_cpu_per_io_us: Option<Spread>,
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

/// Whether the overheads stand out from the baseline's noise.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct OverheadVerdicts {
    pub throughput: Option<Verdict>,
    pub cpu_per_io: Option<Verdict>,
}

/// A mode's figures over its successful repeats.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModeSummary {
    /// The recording's label: the mode in canonical spelling (`fp`, `dwarf:8k`), with
    /// `+pipe` / `+KNOB` for variants (`dwarf:8k+pipe`, `dwarf:8k+zstd`).
    pub mode: Recording,
    /// The parts of `mode`, for readers of the JSON: the unwinding mode alone, the sink and
    /// the knob.
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
    /// Every figure over the successful repeats, once each: median, min, max and how many
    /// repeats had one (see [`Metric`] for what each is).
    #[serde(default)]
    pub figures: BTreeMap<Metric, Spread>,
    /// Whether the throughput and CPU-per-I/O overheads stand out from the noise.
    #[serde(default)]
    pub verdict: OverheadVerdicts,
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
    /// The price list's predictions for this mode's recordings, checked against what they
    /// measured (when the run has a price list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<super::model::ModelCheck>,
    /// The price list's account of the switchback's overhead (when the run has both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switchback_model: Option<super::switchback::SwitchbackModel>,
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
    /// The recording as a Firefox Profiler profile (`analyze --profile`): timeline, call
    /// tree and search, at profiler.firefox.com or with `samply load`.
    #[serde(default)]
    pub profile: Option<PathBuf>,
}

impl ModeSummary {
    /// A mode not measured (yet).
    pub fn pending(rec: Recording) -> ModeSummary {
        ModeSummary {
            mode: rec,
            unwind: rec.mode.to_string(),
            sink: rec.sink,
            knob: rec.knob.map(|k| k.to_string()),
            title: rec.title(),
            status: ModeStatus::Pending,
            reason: None,
            repeats: 0,
            truncated_runs: 0,
            figures: BTreeMap::new(),
            verdict: OverheadVerdicts::default(),
            flamegraphs: FlameGraphs::default(),
            depth_histogram: BTreeMap::new(),
            accuracy: Vec::new(),
            model: None,
            switchback_model: None,
        }
    }

    /// A figure over the repeats.
    pub fn figure(&self, metric: Metric) -> Option<Spread> {
        self.figures.get(&metric).copied()
    }

    /// A figure's median over the repeats.
    pub fn median(&self, metric: Metric) -> Option<f64> {
        self.figure(metric).map(|s| s.median)
    }

    /// Measured, in full or in part: has figures.
    pub fn measured(&self) -> bool {
        matches!(self.status, ModeStatus::Ok | ModeStatus::Partial)
    }
}
