//! A mode's switchback in results.json: what came of it (or why it failed), and its figures
//! beside those of the mode's repeats, so that tables, exports and `history` read them as
//! they read any figure.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::metric::Metric;
use super::run::MeasurementStatus;
use super::spread::Spread;
use crate::record::Recording;
use crate::stats::Interval;
use crate::switchback::SwitchbackSummary;

/// One mode's switchback.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SwitchbackRecord {
    pub recording: Recording,
    pub status: MeasurementStatus,
    #[serde(default)]
    pub error: Option<String>,
    pub started_at: String,
    /// Its folder in the run folder (rounds in `switchback.json`, logs).
    pub folder: PathBuf,
    #[serde(default)]
    pub summary: Option<SwitchbackSummary>,
    /// What to know to read it: an early stop, rounds left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A figure measured once with its interval.
fn figure(i: Interval) -> Option<Spread> {
    Some(Spread::of([i.estimate])?.with_interval(Some(i)))
}

/// The switchback's figures, keyed as the mode's other figures.
pub fn figures(s: &SwitchbackSummary) -> Vec<(Metric, Spread)> {
    let mut out = vec![
        (Metric::OverheadSwitchback, s.total),
        (Metric::OverheadSwitchbackImmediate, s.overhead),
    ];
    out.extend(s.cpu_per_io.map(|i| (Metric::CpuPerIoSwitchback, i)));
    out.extend(
        s.deferred
            .as_ref()
            .map(|d| (Metric::OverheadSwitchbackDeferred, d.overhead)),
    );
    out.extend(
        s.carry_over
            .as_ref()
            .map(|c| (Metric::CarryOver, c.into_on)),
    );
    out.into_iter()
        .filter_map(|(m, i)| Some((m, figure(i)?)))
        .collect()
}

/// The successful switchback of `rec`, if it has one.
pub fn of(records: &[SwitchbackRecord], rec: Recording) -> Option<&SwitchbackRecord> {
    records
        .iter()
        .rev()
        .find(|r| r.recording == rec && r.status == MeasurementStatus::Ok && r.summary.is_some())
}

/// A measured interval wider than this (in points of overhead) is no evidence of agreement
/// or disagreement with a prediction.
const CONCLUSIVE_WIDTH: f64 = 0.10;

/// Where a switchback's immediate overhead goes, by the price list: every sample taken
/// costs the CPU it interrupts the kernel's price, and the recorder spends its own; on a
/// machine whose CPUs are all busy, both come out of the workload's CPU, so their sum over
/// the workload's CPUs in the unsampled rounds is the predicted throughput overhead. What the
/// measurement holds beyond that is the workload's own slowdown (caches, scheduling).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwitchbackModel {
    /// Kernel price per sample taken × samples taken per second, over the workload's CPUs.
    pub interrupts: Interval,
    /// Recorder price per sample kept × samples kept per second, over the workload's CPUs
    /// (None where the price list has no recorder price for the mode).
    #[serde(default)]
    pub recorder_predicted: Option<Interval>,
    /// The recorder's CPUs in the sampled rounds, over the workload's CPUs.
    pub recorder_measured: f64,
    /// interrupts + recorder (the predicted recorder share, else the measured one).
    pub predicted: Interval,
    /// The switchback's immediate overhead.
    pub measured: Interval,
    /// measured - interrupts - recorder_measured: what neither price explains.
    pub residual: Interval,
    /// Whether predicted and measured overlap; None when the measured interval is wider than
    /// ten points (agreement with an interval that wide is not evidence).
    pub agrees: Option<bool>,
    /// Which stack's prices were used: the workload's (from its recordings' stack sizes) or
    /// the shallow stack's (no recording said).
    pub stacks: String,
}

/// The model of `s` from the kernel's and the recorder's price per sample (ns).
pub fn model(
    s: &SwitchbackSummary,
    kernel_ns: Interval,
    recorder_ns: Option<Interval>,
    stacks: &str,
) -> Option<SwitchbackModel> {
    let cpus = s.off.workload_cpus;
    if cpus <= 0.0 {
        return None;
    }
    let taken = s.on.samples_per_s;
    let kept = taken * (1.0 - s.on.lost_share);
    let interrupts = kernel_ns.scaled(taken / 1e9 / cpus);
    let recorder_predicted = recorder_ns.map(|r| r.scaled(kept / 1e9 / cpus));
    let recorder_measured = s.on.recorder_cpus / cpus;
    let add = |a: Interval, b: Interval| Interval {
        estimate: a.estimate + b.estimate,
        low: a.low + b.low,
        high: a.high + b.high,
    };
    let point = |x: f64| Interval {
        estimate: x,
        low: x,
        high: x,
    };
    let predicted = add(
        interrupts,
        recorder_predicted.unwrap_or(point(recorder_measured)),
    );
    let measured = s.overhead;
    let explained = add(interrupts, point(recorder_measured));
    let residual = Interval {
        estimate: measured.estimate - explained.estimate,
        low: measured.low - explained.high,
        high: measured.high - explained.low,
    };
    Some(SwitchbackModel {
        interrupts,
        recorder_predicted,
        recorder_measured,
        predicted,
        measured,
        residual,
        agrees: (measured.high - measured.low <= CONCLUSIVE_WIDTH)
            .then(|| predicted.overlaps(&measured)),
        stacks: stacks.to_string(),
    })
}
