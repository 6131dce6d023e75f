//! The price list's model beside a mode's measured figures: what the samples this mode took
//! should have cost the workload and perf, and how many the sink should have dropped, each
//! checked against what was measured.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::metric::Metric;
use super::run::{MeasurementStatus, RunRecord};
use super::spread::Spread;
use crate::price::model::{predict, PerfBudget, Prediction, Sampling};
use crate::price::PriceList;
use crate::record::{Recording, Subject};
use crate::stats::{self, Interval};

/// How far a predicted lost share may be from the measured one and still agree (5 points).
pub const LOST_SHARE_TOLERANCE: f64 = 0.05;

/// One figure, predicted and measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Check {
    /// The figure's metric in results.json (`lost_share`, `overhead_cpu_per_io`, ...).
    pub metric: Metric,
    pub predicted: Interval,
    /// The measured figure with its interval (min–max of the repeats where it has none).
    pub measured: Interval,
    /// Whether the two agree: their intervals overlap (the lost share: within 5 points).
    pub agrees: bool,
}

/// The model's view of one mode.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelCheck {
    /// What the samples asked of the sink: samples taken per second and MB per second.
    pub samples_taken_per_s: f64,
    pub asked_mb_per_s: f64,
    /// What perf wrote per second, and the CPUs' worth of time it used doing so.
    #[serde(default)]
    pub written_mb_per_s: f64,
    #[serde(default)]
    pub perf_cpus: f64,
    /// What held perf back when it lost samples: the sink (it wrote about as fast as the
    /// price list says the page cache or the disk take data) or its own CPU (it wrote less
    /// than that while busy); None when it lost nothing worth naming.
    #[serde(default)]
    pub limit: Option<Limit>,
    pub prediction: Prediction,
    pub checks: Vec<Check>,
}

/// What held perf back.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// It wrote about as fast as the sink takes data.
    Sink,
    /// It wrote well below the sink's rate: it did not get (or have) the CPU to keep up.
    Cpu,
}

/// A lost share this small is noise, not a limit.
const LOSS_WORTH_NAMING: f64 = 0.01;

/// What held perf back, from what it wrote against the sink's slowest regime.
fn limit(lost_share: f64, written: f64, prices: &PriceList) -> Option<Limit> {
    if lost_share < LOSS_WORTH_NAMING {
        return None;
    }
    let c = prices.capacity.as_ref()?;
    let sink = c.throttled_mb_per_s.or(c.cache_mb_per_s)?;
    Some(if written >= 0.8 * sink {
        Limit::Sink
    } else {
        Limit::Cpu
    })
}

/// The median of `f` over the runs that have it.
fn median_of(runs: &[&RunRecord], f: impl Fn(&RunRecord) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = runs.iter().filter_map(|r| f(r)).collect();
    stats::median(&v)
}

/// What the mode's recordings did, as the model needs it: medians over the repeats.
fn sampling(
    runs: &[&RunRecord],
    focus: &[String],
    cpus: usize,
    budget: Option<&PerfBudget>,
    ring_bytes: f64,
) -> Option<Sampling> {
    // Kept samples of the workload's processes in one run.
    let workload_samples = |s: &crate::perfdata::stats::RecordStats| -> u64 {
        focus
            .iter()
            .map(|c| s.samples_per_comm.get(c).copied().unwrap_or(0))
            .sum()
    };
    let per_workload_sample = |pick: fn(&crate::perfdata::stats::StackWork) -> u64| {
        median_of(runs, |r| {
            let s = r.stats.as_ref()?;
            let samples = workload_samples(s);
            let work: u64 = focus
                .iter()
                .filter_map(|c| s.stacks_per_comm.get(c))
                .map(pick)
                .sum();
            (samples > 0).then(|| work as f64 / samples as f64)
        })
    };
    Some(Sampling {
        window_s: median_of(runs, |r| Some(r.measured.as_ref()?.window_s))?,
        cpus,
        kept: median_of(runs, |r| Some(r.stats.as_ref()?.samples as f64))?,
        lost: median_of(runs, |r| Some(r.stats.as_ref()?.lost_events as f64)).unwrap_or(0.0),
        data_bytes: median_of(runs, |r| {
            Some(r.measured.as_ref()?.perf.as_ref()?.data_bytes as f64)
        })?,
        workload_samples: median_of(runs, |r| Some(workload_samples(r.stats.as_ref()?) as f64))
            .unwrap_or(0.0),
        workload_cpu_s: median_of(runs, |r| {
            let m = r.measured.as_ref()?;
            Some(m.server_cpu_s + m.client_cpu_s)
        })?,
        chain_per_sample: per_workload_sample(|w| w.callchain_entries),
        copied_per_sample: per_workload_sample(|w| w.stack_bytes_copied),
        dirty_at_start_mb: median_of(runs, |r| {
            r.measured.as_ref()?.perf.as_ref()?.dirty_at_start_mb
        }),
        perf_cpu_s: median_of(runs, |r| {
            Some(r.measured.as_ref()?.perf.as_ref()?.window_cpu_s)
        }),
        perf_budget_cpus: budget.map(|b| b.cpus),
        ring_bytes,
        wake_delays: budget.and_then(|b| b.wake_delays.clone()),
    })
}

/// A measured figure as an interval: its 95% interval, else the repeats' min–max.
fn measured(figures: &BTreeMap<Metric, Spread>, metric: Metric) -> Option<Interval> {
    let s = figures.get(&metric)?;
    Some(s.interval.unwrap_or(Interval {
        estimate: s.median,
        low: s.min,
        high: s.max,
    }))
}

/// The model's prediction for the recordings of `rec` and its checks against the figures
/// they measured. None without the runs or the figures it needs.
pub fn check(
    rec: Recording,
    figures: &BTreeMap<Metric, Spread>,
    runs: &[RunRecord],
    prices: &PriceList,
    focus: &[String],
    cpus: usize,
    budget: Option<&PerfBudget>,
) -> Option<ModelCheck> {
    let subject = Subject::Recording(rec);
    let ok: Vec<&RunRecord> = runs
        .iter()
        .filter(|r| r.subject == subject && r.status == MeasurementStatus::Ok)
        .collect();
    let sampling = sampling(&ok, focus, cpus, budget, ring_bytes(rec))?;
    let prediction = predict(prices, rec.mode, &sampling);
    let mut checks = Vec::new();
    let mut add =
        |metric: Metric, predicted: Option<Interval>, agree: fn(&Interval, &Interval) -> bool| {
            if let (Some(p), Some(m)) = (predicted, measured(figures, metric)) {
                checks.push(Check {
                    metric,
                    predicted: p,
                    measured: m,
                    agrees: agree(&p, &m),
                });
            }
        };
    let lost = prediction.lost.as_ref().map(|l| Interval {
        estimate: l.lost_share,
        low: l.lost_share,
        high: l.lost_share,
    });
    add(Metric::LostShare, lost, |p, m| {
        (p.estimate - m.estimate).abs() <= LOST_SHARE_TOLERANCE || p.overlaps(m)
    });
    add(
        Metric::OverheadPerfCpu,
        prediction.perf_cpu,
        Interval::overlaps,
    );
    add(
        Metric::OverheadCpuPerIo,
        prediction.cpu_per_io,
        Interval::overlaps,
    );
    let whole = prediction
        .kernel_ns
        .zip(prediction.recorder_ns)
        .map(|(k, r)| Interval {
            estimate: (k.estimate + r.estimate) / 1e3,
            low: (k.low + r.low) / 1e3,
            high: (k.high + r.high) / 1e3,
        });
    add(Metric::CostPerSampleUs, whole, Interval::overlaps);
    let taken = sampling.kept + sampling.lost;
    let window = sampling.window_s.max(1e-3);
    let written = sampling.data_bytes / 1e6 / window;
    let perf_cpus = sampling.perf_cpu_s.map_or(0.0, |s| s / window);
    let lost_share = if taken > 0.0 {
        sampling.lost / taken
    } else {
        0.0
    };
    Some(ModelCheck {
        samples_taken_per_s: taken / window,
        asked_mb_per_s: prediction.lost.as_ref().map_or(0.0, |l| l.asked_mb_per_s),
        written_mb_per_s: written,
        perf_cpus,
        limit: limit(lost_share, written, prices),
        prediction,
        checks,
    })
}

/// The price list's figures of `mode` as results.json keeps them beside the measured ones:
/// the deep stack's kernel and whole price per sample, in µs, with their intervals.
pub fn price_figures(mode: crate::mode::UnwindMode, prices: &PriceList) -> Vec<(Metric, Spread)> {
    let Some(p) = prices.price(&mode.to_string(), crate::price::Variant::Deep) else {
        return Vec::new();
    };
    [
        (Metric::PriceKernelUs, p.kernel_ns),
        (Metric::PriceWholeUs, p.total_ns),
    ]
    .into_iter()
    .filter_map(|(metric, price)| {
        let us = price?.scaled(1e-3);
        Some((metric, Spread::of([us.estimate])?.with_interval(Some(us))))
    })
    .collect()
}

/// The ring buffer per CPU a recording read: `--mmap-pages N` pages, the online recorder's
/// own, or perf's default.
fn ring_bytes(rec: Recording) -> f64 {
    match (rec.knob, rec.mode.is_online()) {
        (_, true) => crate::online::ring::RING_BYTES as f64,
        (Some(crate::record::Knob::MmapPages(n)), _) => f64::from(n) * 4096.0,
        _ => crate::price::model::default_ring_bytes(),
    }
}
