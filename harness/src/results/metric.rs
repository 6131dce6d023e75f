//! The figures a mode is summarized by, in one table: for each, its name in results.json,
//! how to read it off one repeat, its unit, and, for those `history` watches, which way is
//! worse and the smallest change that means anything. The summary over repeats, the charts
//! and `history` all go through [`METRICS`]; a new figure is a new row.

use serde::{Deserialize, Serialize};

use super::run::RunRecord;
use crate::fold::StackFigures;
use crate::perfdata::stats::RecordStats;
use crate::record::measured::{Measured, PerfCost};
use crate::record::Subject;
use crate::stats::{self, Interval};

/// The comm perf's own threads carry: samples of it are the reference's overhead measure.
pub const PERF_COMM: &str = "perf";

/// The comm whose samples are the recorder's own, for a run of `subject`.
fn recorder_comm(subject: &Subject) -> &'static str {
    match subject {
        Subject::Recording(r) if r.mode.is_online() => crate::online::RECORDER_COMM,
        _ => PERF_COMM,
    }
}

/// One figure of a mode; a key of [`super::ModeSummary::figures`]. Declared in the order
/// of [`METRICS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    PerfDataBytes,
    PerfDataMbPerS,
    Samples,
    LostChunks,
    LostEvents,
    LostShare,
    Iops,
    OverheadThroughput,
    OverheadPerfCpu,
    OverheadSampleShare,
    OverheadCpuPerIo,
    OverheadReaderCpu,
    OverheadThroughputVsNone,
    OverheadCpuPerIoVsNone,
    OverheadSwitchback,
    OverheadSwitchbackImmediate,
    OverheadSwitchbackDeferred,
    CpuPerIoSwitchback,
    CarryOver,
    SamplesTakenPerS,
    CostPerSampleUs,
    PriceKernelUs,
    PriceWholeUs,
    Completeness,
    ClientCompleteness,
    DepthP50,
    DepthP99,
    AnalysisWallS,
    AnalysisPeakRssMib,
}

/// Which way a change is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Worse {
    Higher,
    Lower,
}

/// What a metric's values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    MbPerS,
    /// Records or operations.
    Count,
    /// A fraction (0.015 = 1.5%).
    Share,
    Frames,
    Seconds,
    Mib,
    /// Per second.
    Rate,
    Micros,
}

/// How a figure's 95% confidence interval is made from its repeats (see [`crate::stats`]).
#[derive(Clone, Copy)]
pub enum Ci {
    /// None: the figure is given as median and range only.
    None,
    /// A level (a share of the machine, of the samples): the t-interval of the repeats' mean.
    Mean,
    /// What a mode loses against a reference measured in the same repeat, `1 - mode /
    /// reference` of a pair (mode, reference): the t-interval of the mean log-ratio.
    Loss(fn(&Repeat<'_>) -> Option<(f64, f64)>),
    /// What a mode adds against a reference of the same repeat, `mode / reference - 1`.
    Gain(fn(&Repeat<'_>) -> Option<(f64, f64)>),
}

/// How `history` judges a metric over nights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Watch {
    pub worse: Worse,
    /// The smallest change that means anything (ten lost chunks, a point of completeness).
    pub min_change: f64,
}

/// One successful repeat of a mode, with what its overheads are measured against.
pub struct Repeat<'a> {
    pub run: &'a RunRecord,
    /// The baseline of the same round, when it succeeded: overheads are paired by repeat.
    pub paired_baseline: Option<&'a Measured>,
    /// The baseline's median IOPS and CPU per I/O, for a round whose own baseline failed.
    pub baseline_iops: Option<f64>,
    pub baseline_cpu_per_io_us: Option<f64>,
    /// The `none` recording (sampling without a call graph) of the same round: what a mode
    /// adds to sampling alone is measured against it.
    pub paired_none: Option<&'a Measured>,
    /// Scales perf's (and the reader's) CPU time to the machine.
    pub online_cpus: usize,
}

impl Repeat<'_> {
    fn measured(&self) -> Option<&Measured> {
        self.run.measured.as_ref()
    }

    fn perf(&self) -> Option<&PerfCost> {
        self.measured()?.perf.as_ref()
    }

    fn stats(&self) -> Option<&RecordStats> {
        self.run.stats.as_ref()
    }

    fn server(&self) -> Option<&StackFigures> {
        self.run.analysis.as_ref()?.server.as_ref()
    }

    /// `cpu_s` of the measured window as a share of the machine.
    fn machine_share(&self, cpu_s: f64) -> Option<f64> {
        let window = self.measured()?.window_s;
        (window > 0.0).then(|| cpu_s / (window * self.online_cpus.max(1) as f64))
    }

    /// (IOPS, the baseline's IOPS) of the round (the baseline's median when the round's
    /// own failed).
    fn iops_pair(&self) -> Option<(f64, f64)> {
        let b = self
            .paired_baseline
            .map(Measured::iops)
            .or(self.baseline_iops)?;
        Some((self.measured()?.iops(), b))
    }

    /// (CPU per I/O, the baseline's) of the round.
    fn cpu_per_io_pair(&self) -> Option<(f64, f64)> {
        let b = self
            .paired_baseline
            .and_then(Measured::cpu_per_io_us)
            .or(self.baseline_cpu_per_io_us)?;
        Some((self.measured()?.cpu_per_io_us()?, b))
    }

    /// (IOPS, `none`'s IOPS) of the round.
    fn iops_pair_vs_none(&self) -> Option<(f64, f64)> {
        Some((self.measured()?.iops(), self.paired_none?.iops()))
    }

    /// (CPU per I/O, `none`'s) of the round.
    fn cpu_per_io_pair_vs_none(&self) -> Option<(f64, f64)> {
        Some((
            self.measured()?.cpu_per_io_us()?,
            self.paired_none?.cpu_per_io_us()?,
        ))
    }

    /// Samples the kernel took in the window, kept or lost.
    fn samples_taken(&self) -> Option<f64> {
        let s = self.stats()?;
        Some((s.samples + s.lost_events) as f64)
    }

    /// What one sample cost this workload, measured: the workload's CPU beyond what the
    /// baseline would have spent on as many I/Os, plus perf's (and a pipe reader's) CPU, per
    /// sample taken. Lost samples count: they were taken, so a mode that drops them does not
    /// look cheaper.
    fn cost_per_sample_us(&self) -> Option<f64> {
        let m = self.measured()?;
        let (_, base_cpi) = self.cpu_per_io_pair()?;
        let perf = m.perf.as_ref()?;
        let recorder = perf.window_cpu_s + perf.reader.as_ref().map_or(0.0, |r| r.window_cpu_s);
        let expected = base_cpi * m.fio.total_ios as f64 / 1e6;
        let extra = m.server_cpu_s + m.client_cpu_s - expected + recorder;
        let taken = self.samples_taken()?;
        (taken > 0.0).then(|| extra / taken * 1e6)
    }
}

/// `1 - mode / reference` of a pair.
fn loss(pair: Option<(f64, f64)>) -> Option<f64> {
    let (m, r) = pair?;
    (r > 0.0).then(|| 1.0 - m / r)
}

/// `mode / reference - 1` of a pair.
fn gain(pair: Option<(f64, f64)>) -> Option<f64> {
    let (m, r) = pair?;
    (r > 0.0).then(|| m / r - 1.0)
}

impl Ci {
    /// The 95% interval over `repeats`, whose per-repeat values are `values`.
    pub fn interval(&self, repeats: &[Repeat<'_>], values: &[f64]) -> Option<Interval> {
        let ratio = |pair: fn(&Repeat<'_>) -> Option<(f64, f64)>| {
            let pairs: Vec<(f64, f64)> = repeats.iter().filter_map(pair).collect();
            stats::paired_ratio(&pairs)
        };
        match self {
            Ci::None => None,
            Ci::Mean => stats::mean_interval(values),
            Ci::Loss(pair) => ratio(*pair).map(|r| Interval {
                estimate: 1.0 - r.estimate,
                low: 1.0 - r.high,
                high: 1.0 - r.low,
            }),
            Ci::Gain(pair) => ratio(*pair).map(|r| Interval {
                estimate: r.estimate - 1.0,
                low: r.low - 1.0,
                high: r.high - 1.0,
            }),
        }
    }
}

/// A row of [`METRICS`].
pub struct MetricDef {
    pub metric: Metric,
    /// Its key in results.json and history.json (the serde name of `metric`).
    pub name: &'static str,
    /// As `history` titles it.
    pub label: &'static str,
    pub unit: Unit,
    /// Its value in one repeat; None where that repeat has none.
    pub per_run: fn(&Repeat<'_>) -> Option<f64>,
    /// Watched by `history`, and how; None: reported, not watched.
    pub watch: Option<Watch>,
    /// How its 95% interval is made.
    pub ci: Ci,
}

const fn watch(worse: Worse, min_change: f64) -> Option<Watch> {
    Some(Watch { worse, min_change })
}

/// Every figure of a mode, in [`Metric`] order.
pub const METRICS: &[MetricDef] = &[
    MetricDef {
        metric: Metric::PerfDataBytes,
        name: "perf_data_bytes",
        label: "perf.data size",
        unit: Unit::Bytes,
        per_run: |r| Some(r.perf()?.data_bytes as f64),
        watch: None,
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::PerfDataMbPerS,
        name: "perf_data_mb_per_s",
        label: "perf.data MB/s",
        unit: Unit::MbPerS,
        // A recording stopped early (--max-data) covers only part of the window.
        per_run: |r| {
            let (m, p) = (r.measured()?, r.perf()?);
            Some(p.data_bytes as f64 / 1e6 / p.recorded_s.unwrap_or(m.window_s).max(1e-3))
        },
        watch: watch(Worse::Higher, 1.0),
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::Samples,
        name: "samples",
        label: "samples",
        unit: Unit::Count,
        per_run: |r| Some(r.stats()?.samples as f64),
        watch: None,
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::LostChunks,
        name: "lost_chunks",
        label: "lost chunks",
        unit: Unit::Count,
        per_run: |r| Some(r.stats()?.lost_chunks as f64),
        watch: watch(Worse::Higher, 10.0),
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::LostEvents,
        name: "lost_events",
        label: "lost events",
        unit: Unit::Count,
        per_run: |r| Some(r.stats()?.lost_events as f64),
        watch: None,
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::LostShare,
        name: "lost_share",
        label: "lost events share",
        unit: Unit::Share,
        per_run: |r| Some(r.stats()?.lost_share()),
        watch: watch(Worse::Higher, 0.005),
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::Iops,
        name: "iops",
        label: "IOPS",
        unit: Unit::Count,
        per_run: |r| Some(r.measured()?.iops()),
        watch: None,
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::OverheadThroughput,
        name: "overhead_throughput",
        label: "throughput overhead",
        unit: Unit::Share,
        per_run: |r| loss(r.iops_pair()),
        watch: watch(Worse::Higher, 0.02),
        ci: Ci::Loss(|r| r.iops_pair()),
    },
    MetricDef {
        metric: Metric::OverheadPerfCpu,
        name: "overhead_perf_cpu",
        label: "perf CPU",
        unit: Unit::Share,
        per_run: |r| r.machine_share(r.perf()?.window_cpu_s),
        watch: watch(Worse::Higher, 0.005),
        ci: Ci::Mean,
    },
    MetricDef {
        metric: Metric::OverheadSampleShare,
        name: "overhead_sample_share",
        label: "perf sample share",
        unit: Unit::Share,
        per_run: |r| Some(r.stats()?.sample_share(recorder_comm(&r.run.subject))),
        watch: watch(Worse::Higher, 0.005),
        ci: Ci::Mean,
    },
    MetricDef {
        metric: Metric::OverheadCpuPerIo,
        name: "overhead_cpu_per_io",
        label: "CPU per I/O",
        unit: Unit::Share,
        per_run: |r| gain(r.cpu_per_io_pair()),
        watch: watch(Worse::Higher, 0.02),
        ci: Ci::Gain(|r| r.cpu_per_io_pair()),
    },
    MetricDef {
        metric: Metric::OverheadReaderCpu,
        name: "overhead_reader_cpu",
        label: "pipe reader CPU",
        unit: Unit::Share,
        per_run: |r| r.machine_share(r.perf()?.reader.as_ref()?.window_cpu_s),
        watch: None,
        ci: Ci::Mean,
    },
    MetricDef {
        metric: Metric::OverheadThroughputVsNone,
        name: "overhead_throughput_vs_none",
        label: "throughput overhead over sampling alone",
        unit: Unit::Share,
        per_run: |r| loss(r.iops_pair_vs_none()),
        watch: None,
        ci: Ci::Loss(|r| r.iops_pair_vs_none()),
    },
    MetricDef {
        metric: Metric::OverheadCpuPerIoVsNone,
        name: "overhead_cpu_per_io_vs_none",
        label: "CPU per I/O over sampling alone",
        unit: Unit::Share,
        per_run: |r| gain(r.cpu_per_io_pair_vs_none()),
        watch: None,
        ci: Ci::Gain(|r| r.cpu_per_io_pair_vs_none()),
    },
    // The switchback's, not the repeats': filled in from results.switchbacks (one
    // measurement per mode, its interval from the blocks).
    MetricDef {
        metric: Metric::OverheadSwitchback,
        name: "overhead_switchback",
        label: "overhead (switchback, immediate + deferred)",
        unit: Unit::Share,
        per_run: |_| None,
        watch: watch(Worse::Higher, 0.02),
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::OverheadSwitchbackImmediate,
        name: "overhead_switchback_immediate",
        label: "overhead while sampling (switchback)",
        unit: Unit::Share,
        per_run: |_| None,
        watch: None,
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::OverheadSwitchbackDeferred,
        name: "overhead_switchback_deferred",
        label: "deferred overhead: writeback",
        unit: Unit::Share,
        per_run: |_| None,
        watch: None,
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::CpuPerIoSwitchback,
        name: "cpu_per_io_switchback",
        label: "CPU per I/O (switchback)",
        unit: Unit::Share,
        per_run: |_| None,
        watch: watch(Worse::Higher, 0.02),
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::CarryOver,
        name: "carry_over",
        label: "carry-over to the next round",
        unit: Unit::Share,
        per_run: |_| None,
        watch: None,
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::SamplesTakenPerS,
        name: "samples_taken_per_s",
        label: "samples taken per second",
        unit: Unit::Rate,
        per_run: |r| Some(r.samples_taken()? / r.measured()?.window_s.max(1e-3)),
        watch: None,
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::CostPerSampleUs,
        name: "cost_per_sample_us",
        label: "cost per sample taken (µs)",
        unit: Unit::Micros,
        per_run: |r| r.cost_per_sample_us(),
        watch: None,
        ci: Ci::Mean,
    },
    // The price list's, not the repeats': filled in from results.prices (the deep stack's
    // prices, which depend on the machine and kernel only), and watched by history because
    // they hold far steadier night to night than any throughput.
    MetricDef {
        metric: Metric::PriceKernelUs,
        name: "price_kernel_us",
        label: "kernel price per sample (µs)",
        unit: Unit::Micros,
        per_run: |_| None,
        watch: watch(Worse::Higher, 0.5),
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::PriceWholeUs,
        name: "price_whole_us",
        label: "whole price per sample (µs)",
        unit: Unit::Micros,
        per_run: |_| None,
        watch: watch(Worse::Higher, 0.5),
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::Completeness,
        name: "completeness",
        label: "stack completeness",
        unit: Unit::Share,
        per_run: |r| r.server()?.completeness,
        watch: watch(Worse::Lower, 0.01),
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::ClientCompleteness,
        name: "client_completeness",
        label: "client stack completeness",
        unit: Unit::Share,
        per_run: |r| r.run.analysis.as_ref()?.client.as_ref()?.completeness,
        watch: None,
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::DepthP50,
        name: "depth_p50",
        label: "stack depth p50",
        unit: Unit::Frames,
        per_run: |r| Some(f64::from(r.server()?.depth_p50?)),
        watch: None,
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::DepthP99,
        name: "depth_p99",
        label: "stack depth p99",
        unit: Unit::Frames,
        per_run: |r| Some(f64::from(r.server()?.depth_p99?)),
        watch: None,
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::AnalysisWallS,
        name: "analysis_wall_s",
        label: "analysis time (s)",
        unit: Unit::Seconds,
        per_run: |r| Some(r.run.analysis.as_ref()?.wall_s),
        watch: watch(Worse::Higher, 0.05),
        ci: Ci::None,
    },
    MetricDef {
        metric: Metric::AnalysisPeakRssMib,
        name: "analysis_peak_rss_mib",
        label: "analysis peak memory (MiB)",
        unit: Unit::Mib,
        per_run: |r| Some(r.run.analysis.as_ref()?.peak_rss_mib),
        watch: None,
        ci: Ci::None,
    },
];

impl std::fmt::Display for Metric {
    /// Its name in results.json.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Metric {
    /// Its row of [`METRICS`].
    pub fn def(self) -> &'static MetricDef {
        &METRICS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }
}

/// The metrics `history` watches, in table order.
pub fn watched() -> impl Iterator<Item = (&'static MetricDef, Watch)> {
    METRICS.iter().filter_map(|d| Some((d, d.watch?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_follows_the_enum_and_its_names_are_the_serde_names() {
        for (i, d) in METRICS.iter().enumerate() {
            assert_eq!(d.metric as usize, i, "{} out of order", d.name);
            assert_eq!(
                serde_json::to_string(&d.metric).unwrap(),
                format!("\"{}\"", d.name)
            );
            assert_eq!(
                serde_json::from_str::<Metric>(&format!("\"{}\"", d.name)).unwrap(),
                d.metric
            );
        }
        assert_eq!(
            Metric::AnalysisPeakRssMib.def().name,
            "analysis_peak_rss_mib"
        );
    }

    #[test]
    fn history_watches_the_nine_it_always_did_the_switchback_and_the_prices() {
        let names: Vec<&str> = watched().map(|(d, _)| d.name).collect();
        assert_eq!(
            names,
            [
                "perf_data_mb_per_s",
                "lost_chunks",
                "lost_share",
                "overhead_throughput",
                "overhead_perf_cpu",
                "overhead_sample_share",
                "overhead_cpu_per_io",
                "overhead_switchback",
                "cpu_per_io_switchback",
                "price_kernel_us",
                "price_whole_us",
                "completeness",
                "analysis_wall_s"
            ]
        );
    }
}
