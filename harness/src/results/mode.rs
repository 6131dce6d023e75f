//! A mode's figures over its repeats, and the unprofiled baseline's they are judged
//! against: what the table, the charts and `history` read.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::spread::{Spread, Verdict};
use crate::record::Recording;

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
    pub mode: Recording,
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
