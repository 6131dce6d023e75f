//! From raw measurements to the spreads and verdicts of `results.json`: every figure of
//! [`super::metric::METRICS`] over a mode's successful repeats, and the baseline's.
//!
//! Overheads are paired by repeat: repeat r of a mode is compared with repeat r of the
//! baseline (taken minutes apart, in the same interleaved round), which cancels slow drift
//! better than comparing medians of separate sets. A repeat whose baseline failed falls back to
//! the baseline median.

use super::metric::{Metric, Repeat, METRICS};
use super::mode::{Baseline, ModeStatus, ModeSummary, OverheadVerdicts};
use super::run::{MeasurementStatus, RunRecord};
use super::spread::{verdict, Spread};
use crate::mode::UnwindMode;
use crate::record::measured::Measured;
use crate::record::{Recording, Subject};

fn ok_runs(runs: &[RunRecord], subject: Subject) -> impl Iterator<Item = &RunRecord> {
    runs.iter().filter(move |r| {
        r.subject == subject && r.status == MeasurementStatus::Ok && r.measured.is_some()
    })
}

/// The unprofiled runs' figures.
pub fn baseline(runs: &[RunRecord]) -> Baseline {
    let of = |subject: Subject, f: fn(&Measured) -> Option<f64>| {
        Spread::of(ok_runs(runs, subject).filter_map(|r| f(r.measured.as_ref()?)))
    };
    let iops = of(Subject::Baseline, |m| Some(m.iops()));
    Baseline {
        repeats: iops.map_or(0, |s| s.n),
        iops,
        mb_per_s: of(Subject::Baseline, |m| Some(m.fio.mb_per_s)),
        cpu_per_io_us: of(Subject::Baseline, Measured::cpu_per_io_us),
        nbd_engine_iops: of(Subject::EngineBaseline, |m| Some(m.iops())),
        nbd_engine_cpu_per_io_us: of(Subject::EngineBaseline, Measured::cpu_per_io_us),
    }
}

/// Summarizes recording `rec` over its runs: every figure of [`METRICS`] over the
/// successful repeats, the overheads' verdicts against the baseline's noise. `online_cpus`
/// scales perf's CPU time to the machine.
pub fn mode_summary(
    rec: Recording,
    runs: &[RunRecord],
    base: &Baseline,
    online_cpus: usize,
    skipped: Option<&str>,
) -> ModeSummary {
    let subject = Subject::Recording(rec);
    let mut summary = ModeSummary::pending(rec);
    if let Some(why) = skipped {
        summary.status = ModeStatus::Skipped;
        summary.reason = Some(why.to_string());
        return summary;
    }
    let ok: Vec<&RunRecord> = ok_runs(runs, subject).collect();
    let failed = runs
        .iter()
        .filter(|r| r.subject == subject && r.status == MeasurementStatus::Failed);
    let first_failure = failed.clone().next();
    summary.status = match (ok.is_empty(), first_failure.is_none()) {
        (true, true) => ModeStatus::Pending,
        (true, false) => ModeStatus::Failed,
        (false, true) => ModeStatus::Ok,
        (false, false) => ModeStatus::Partial,
    };
    summary.reason = first_failure.and_then(|r| r.error.clone());
    summary.repeats = ok.len();
    if ok.is_empty() {
        return summary;
    }

    let none = Subject::Recording(Recording::plain(UnwindMode::None));
    let paired = |subject: Subject, repeat: usize| {
        ok_runs(runs, subject)
            .find(|b| b.repeat == repeat)
            .and_then(|b| b.measured.as_ref())
    };
    let repeats: Vec<Repeat> = ok
        .iter()
        .map(|run| Repeat {
            run,
            paired_baseline: paired(Subject::Baseline, run.repeat),
            baseline_iops: base.iops.map(|s| s.median),
            baseline_cpu_per_io_us: base.cpu_per_io_us.map(|s| s.median),
            // `none` against itself would be zero by construction: no figure.
            paired_none: (subject != none)
                .then(|| paired(none, run.repeat))
                .flatten(),
            online_cpus,
        })
        .collect();
    summary.figures = METRICS
        .iter()
        .filter_map(|d| {
            let values: Vec<f64> = repeats.iter().filter_map(d.per_run).collect();
            let spread = Spread::of(values.iter().copied())?;
            Some((
                d.metric,
                spread.with_interval(d.ci.interval(&repeats, &values)),
            ))
        })
        .collect();
    let judged = |overhead: Metric| Some(verdict(&summary.figure(overhead)?));
    summary.verdict = OverheadVerdicts {
        throughput: judged(Metric::OverheadThroughput),
        cpu_per_io: judged(Metric::OverheadCpuPerIo),
    };
    summary.truncated_runs = ok
        .iter()
        .filter(|r| {
            r.measured
                .as_ref()
                .and_then(|m| m.perf.as_ref())
                .is_some_and(|p| p.truncated.is_some())
        })
        .count();
    summary.accuracy = accuracy_medians(&ok);
    for server in ok
        .iter()
        .filter_map(|r| r.analysis.as_ref()?.server.as_ref())
    {
        for (depth, n) in &server.depth_histogram {
            *summary.depth_histogram.entry(*depth).or_insert(0) += n;
        }
    }
    summary
}

/// Per focus process, the repeats' median shares (counts summed).
fn accuracy_medians(ok: &[&RunRecord]) -> Vec<crate::accuracy::Accuracy> {
    let mut comms: Vec<String> = Vec::new();
    for r in ok {
        for a in r.analysis.iter().flat_map(|a| &a.accuracy) {
            if !comms.contains(&a.comm) {
                comms.push(a.comm.clone());
            }
        }
    }
    comms
        .into_iter()
        .map(|comm| {
            let of: Vec<&crate::accuracy::Accuracy> = ok
                .iter()
                .filter_map(|r| {
                    r.analysis
                        .as_ref()?
                        .accuracy
                        .iter()
                        .find(|a| a.comm == comm)
                })
                .collect();
            let med = |f: fn(&crate::accuracy::Accuracy) -> f64| {
                Spread::of(of.iter().map(|a| f(a))).map_or(0.0, |s| s.median)
            };
            crate::accuracy::Accuracy {
                samples: of.iter().map(|a| a.samples).sum(),
                exact: of.iter().map(|a| a.exact).sum(),
                truncated: of.iter().map(|a| a.truncated).sum(),
                wrong: of.iter().map(|a| a.wrong).sum(),
                exact_share: med(|a| a.exact_share),
                truncated_share: med(|a| a.truncated_share),
                wrong_share: med(|a| a.wrong_share),
                comm,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::UnwindMode;
    use crate::perfdata::stats::RecordStats;
    use crate::record::measured::{Measured, PerfCost};
    use crate::results::spread::Verdict;
    use crate::workload::fio::FioResult;

    fn run(label: &str, repeat: usize, iops: f64, perf_bytes: Option<u64>) -> RunRecord {
        let ios = (iops * 10.0) as u64;
        RunRecord {
            repeat,
            subject: label.parse().unwrap(),
            status: MeasurementStatus::Ok,
            error: None,
            started_at: String::new(),
            measured: Some(Measured {
                fio: FioResult {
                    iops,
                    total_ios: ios,
                    ..FioResult::default()
                },
                window_s: 10.0,
                server_cpu_s: 5.0,
                client_cpu_s: 5.0,
                perf: perf_bytes.map(|b| PerfCost {
                    data_bytes: b,
                    window_cpu_s: 2.0,
                    total_cpu_s: 3.0,
                    max_rss_kib: 0,
                    wall_s: 12.0,
                    sink: Default::default(),
                    reader: None,
                    truncated: None,
                    recorded_s: None,
                    dirty_at_start_mb: None,
                    sched: None,
                }),
            }),
            stats: perf_bytes.map(|_| RecordStats {
                samples: 1000,
                lost_chunks: 2,
                lost_events: 10,
                samples_per_comm: [("perf".to_string(), 50), ("nbdkit".to_string(), 950)]
                    .into_iter()
                    .collect(),
                ..RecordStats::default()
            }),
            stats_error: None,
            warnings: vec![],
            perf_data: None,
            analysis: None,
        }
    }

    #[test]
    fn overheads_are_paired_by_repeat() {
        let fp = UnwindMode::Fp;
        let runs = vec![
            run("baseline", 1, 100.0, None),
            run("fp", 1, 90.0, Some(1000)),
            run("baseline", 2, 101.0, None),
            run("fp", 2, 91.0, Some(2000)),
            run("baseline", 3, 102.0, None),
            run("fp", 3, 92.0, Some(3000)),
        ];
        let base = baseline(&runs);
        assert_eq!(base.iops.map(|s| s.median), Some(101.0));
        assert_eq!(base.repeats, 3);
        let s = mode_summary(Recording::plain(fp), &runs, &base, 2, None);
        assert_eq!(s.status, ModeStatus::Ok);
        assert_eq!(s.median(Metric::PerfDataBytes), Some(2000.0));
        let t = s.median(Metric::OverheadThroughput).unwrap();
        assert!((t - (1.0 - 91.0 / 101.0)).abs() < 1e-12, "{t}");
        // 2 CPU s over a 10 s window on 2 CPUs
        assert!((s.median(Metric::OverheadPerfCpu).unwrap() - 0.1).abs() < 1e-12);
        assert!((s.median(Metric::OverheadSampleShare).unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(s.verdict.throughput, Some(Verdict::Measured));
        // CPU per I/O: same CPU, fewer I/Os
        assert!(s.median(Metric::OverheadCpuPerIo).unwrap() > 0.0);
        assert!((s.median(Metric::LostShare).unwrap() - 10.0 / 1010.0).abs() < 1e-12);
    }

    #[test]
    fn failed_and_skipped_modes_keep_their_reason() {
        let mut failed = run("dwarf:8k", 1, 0.0, None);
        failed.status = MeasurementStatus::Failed;
        failed.error = Some("perf: disk full".into());
        failed.measured = None;
        let runs = vec![run("baseline", 1, 100.0, None), failed];
        let base = baseline(&runs);
        let s = mode_summary(
            Recording::plain(UnwindMode::Dwarf { stack_bytes: 8192 }),
            &runs,
            &base,
            2,
            None,
        );
        assert_eq!(s.status, ModeStatus::Failed);
        assert_eq!(s.reason.as_deref(), Some("perf: disk full"));
        assert_eq!(s.median(Metric::PerfDataBytes), None);
        let s = mode_summary(
            Recording::plain(UnwindMode::Lbr),
            &runs,
            &base,
            2,
            Some("no LBR"),
        );
        assert_eq!(s.status, ModeStatus::Skipped);
    }

    #[test]
    fn one_baseline_means_noise_unknown() {
        let runs = vec![
            run("baseline", 1, 100.0, None),
            run("fp", 1, 50.0, Some(10)),
        ];
        let base = baseline(&runs);
        let s = mode_summary(Recording::plain(UnwindMode::Fp), &runs, &base, 2, None);
        assert_eq!(s.verdict.throughput, Some(Verdict::NoiseUnknown));
    }

    #[test]
    fn overheads_carry_t_intervals_of_the_paired_log_ratios() {
        // Ratios 0.9, 0.8 and 0.85 of the paired baselines: the interval is the t-interval
        // of their mean log, mapped back, and excludes 0, so the overhead is measured.
        let runs = vec![
            run("baseline", 1, 100.0, None),
            run("none", 1, 95.0, Some(10)),
            run("fp", 1, 90.0, Some(10)),
            run("baseline", 2, 200.0, None),
            run("none", 2, 190.0, Some(10)),
            run("fp", 2, 160.0, Some(10)),
            run("baseline", 3, 100.0, None),
            run("none", 3, 100.0, Some(10)),
            run("fp", 3, 85.0, Some(10)),
        ];
        let base = baseline(&runs);
        let s = mode_summary(Recording::plain(UnwindMode::Fp), &runs, &base, 2, None);
        let t = s
            .figure(Metric::OverheadThroughput)
            .unwrap()
            .interval
            .unwrap();
        let logs = [0.9f64.ln(), 0.8f64.ln(), 0.85f64.ln()];
        let expected = crate::stats::mean_interval(&logs).unwrap();
        assert!(
            (t.estimate - (1.0 - expected.estimate.exp())).abs() < 1e-12,
            "{t:?}"
        );
        assert!((t.low - (1.0 - expected.high.exp())).abs() < 1e-12, "{t:?}");
        assert!((t.high - (1.0 - expected.low.exp())).abs() < 1e-12, "{t:?}");
        assert_eq!(s.verdict.throughput, Some(Verdict::Measured));
        // Over sampling alone: paired with the none of each repeat (90/95, 160/190, 85/100).
        let v = s.figure(Metric::OverheadThroughputVsNone).unwrap();
        assert_eq!(v.n, 3);
        assert!((v.median - (1.0 - 85.0 / 100.0)).abs() < 1e-12, "{v:?}");
        // none has no overhead over itself.
        let n = mode_summary(Recording::plain(UnwindMode::None), &runs, &base, 2, None);
        assert!(n.figure(Metric::OverheadThroughputVsNone).is_none());
        // The cost per sample counts lost samples as taken: 1,010 here.
        let c = s.figure(Metric::CostPerSampleUs).unwrap();
        assert!(c.interval.is_some() && c.n == 3, "{c:?}");
    }
}
