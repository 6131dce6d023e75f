//! From raw measurements to the medians, spreads and verdicts of `results.json`.
//!
//! Overheads are paired by repeat: repeat r of a mode is compared with repeat r of the
//! baseline (taken minutes apart, in the same interleaved round), which cancels slow drift
//! better than comparing medians of separate sets. A repeat whose baseline failed falls back to
//! the baseline median.

use super::mode::{
    Baseline, FlameGraphs, ModeSpreads, ModeStatus, ModeSummary, OverheadSpreads, OverheadVerdicts,
    Overheads,
};
use super::run::{MeasurementStatus, RunRecord};
use super::spread::{verdict, Spread};
use crate::record::{Recording, Subject};

/// The comm perf's own threads carry: samples of it are the reference's overhead measure.
pub const PERF_COMM: &str = "perf";

fn ok_runs(runs: &[RunRecord], subject: Subject) -> impl Iterator<Item = &RunRecord> {
    runs.iter().filter(move |r| {
        r.subject == subject && r.status == MeasurementStatus::Ok && r.measured.is_some()
    })
}

pub fn baseline(runs: &[RunRecord]) -> Baseline {
    let iops = Spread::of(
        ok_runs(runs, Subject::Baseline).filter_map(|r| Some(r.measured.as_ref()?.iops())),
    );
    let mbps = Spread::of(
        ok_runs(runs, Subject::Baseline).filter_map(|r| Some(r.measured.as_ref()?.fio.mb_per_s)),
    );
    let cpi = Spread::of(
        ok_runs(runs, Subject::Baseline).filter_map(|r| r.measured.as_ref()?.cpu_per_io_us()),
    );
    Baseline {
        iops: iops.map(|s| s.median),
        mb_per_s: mbps.map(|s| s.median),
        cpu_per_io_us: cpi.map(|s| s.median),
        repeats: iops.map(|s| s.n).unwrap_or(0),
        iops_spread: iops,
        cpu_per_io_spread: cpi,
    }
}

/// Summarizes recording `rec` over its runs. `online_cpus` scales perf's CPU time to the
/// machine.
pub fn mode_summary(
    rec: Recording,
    runs: &[RunRecord],
    base: &Baseline,
    online_cpus: usize,
    skipped: Option<&str>,
) -> ModeSummary {
    let subject = Subject::Recording(rec);
    let attempted: Vec<&RunRecord> = runs.iter().filter(|r| r.subject == subject).collect();
    let ok: Vec<&RunRecord> = ok_runs(runs, subject).collect();
    let mut summary = ModeSummary {
        mode: rec,
        unwind: rec.mode.to_string(),
        sink: rec.sink,
        knob: rec.knob.map(|k| k.to_string()),
        title: rec.title(),
        status: ModeStatus::Pending,
        reason: None,
        repeats: ok.len(),
        perf_data_bytes: None,
        perf_data_mb_per_s: None,
        samples: None,
        lost_chunks: None,
        lost_events: None,
        lost_share: None,
        iops: None,
        overhead: Overheads::default(),
        spread: ModeSpreads::default(),
        verdict: OverheadVerdicts {
            throughput: None,
            cpu_per_io: None,
        },
        truncated_runs: 0,
        completeness: None,
        client_completeness: None,
        depth_p50: None,
        depth_p99: None,
        analysis_wall_s: None,
        analysis_peak_rss_mib: None,
        flamegraphs: FlameGraphs::default(),
        depth_histogram: Default::default(),
        accuracy: Vec::new(),
    };
    if let Some(why) = skipped {
        summary.status = ModeStatus::Skipped;
        summary.reason = Some(why.to_string());
        return summary;
    }
    let failed: Vec<&&RunRecord> = attempted
        .iter()
        .filter(|r| r.status == MeasurementStatus::Failed)
        .collect();
    summary.status = match (ok.is_empty(), failed.is_empty()) {
        (true, true) => ModeStatus::Pending,
        (true, false) => ModeStatus::Failed,
        (false, true) => ModeStatus::Ok,
        (false, false) => ModeStatus::Partial,
    };
    summary.reason = failed.first().and_then(|r| r.error.clone());
    if ok.is_empty() {
        return summary;
    }

    let baseline_of = |repeat: usize| {
        ok_runs(runs, Subject::Baseline)
            .find(|b| b.repeat == repeat)
            .and_then(|b| b.measured.as_ref())
    };
    let perf = |r: &&RunRecord| r.measured.as_ref().and_then(|m| m.perf.clone());
    let stats = |r: &&RunRecord| r.stats.clone();

    let bytes = Spread::of(ok.iter().filter_map(|r| Some(perf(r)?.data_bytes as f64)));
    let rate = Spread::of(ok.iter().filter_map(|r| {
        let m = r.measured.as_ref()?;
        let p = m.perf.as_ref()?;
        // A recording stopped early (--max-data) covers only part of the window.
        Some(p.data_bytes as f64 / 1e6 / p.recorded_s.unwrap_or(m.window_s).max(1e-3))
    }));
    let samples = Spread::of(ok.iter().filter_map(|r| Some(stats(r)?.samples as f64)));
    let chunks = Spread::of(ok.iter().filter_map(|r| Some(stats(r)?.lost_chunks as f64)));
    let lost = Spread::of(ok.iter().filter_map(|r| Some(stats(r)?.lost_events as f64)));
    let lost_share = Spread::of(ok.iter().filter_map(|r| Some(stats(r)?.lost_share())));
    let iops = Spread::of(ok.iter().filter_map(|r| Some(r.measured.as_ref()?.iops())));

    let throughput = Spread::of(ok.iter().filter_map(|r| {
        let m = r.measured.as_ref()?;
        let b = baseline_of(r.repeat).map(|b| b.iops()).or(base.iops)?;
        (b > 0.0).then(|| 1.0 - m.iops() / b)
    }));
    let perf_cpu = Spread::of(ok.iter().filter_map(|r| {
        let m = r.measured.as_ref()?;
        let p = m.perf.as_ref()?;
        (m.window_s > 0.0).then(|| p.window_cpu_s / (m.window_s * online_cpus.max(1) as f64))
    }));
    let sample_share = Spread::of(
        ok.iter()
            .filter_map(|r| Some(stats(r)?.sample_share(PERF_COMM))),
    );
    let reader_cpu = Spread::of(ok.iter().filter_map(|r| {
        let m = r.measured.as_ref()?;
        let reader = m.perf.as_ref()?.reader.as_ref()?;
        (m.window_s > 0.0).then(|| reader.window_cpu_s / (m.window_s * online_cpus.max(1) as f64))
    }));
    let cpu_per_io = Spread::of(ok.iter().filter_map(|r| {
        let m = r.measured.as_ref()?.cpu_per_io_us()?;
        let b = baseline_of(r.repeat)
            .and_then(|b| b.cpu_per_io_us())
            .or(base.cpu_per_io_us)?;
        (b > 0.0).then(|| m / b - 1.0)
    }));

    let analysis = |r: &&RunRecord| r.analysis.clone();
    let server = |r: &&RunRecord| analysis(r).and_then(|a| a.server);
    let completeness = Spread::of(ok.iter().filter_map(|r| server(r)?.completeness));
    let depth_p50 = Spread::of(
        ok.iter()
            .filter_map(|r| Some(f64::from(server(r)?.depth_p50?))),
    );
    let depth_p99 = Spread::of(
        ok.iter()
            .filter_map(|r| Some(f64::from(server(r)?.depth_p99?))),
    );
    let analysis_wall = Spread::of(ok.iter().filter_map(|r| Some(analysis(r)?.wall_s)));
    let analysis_rss = Spread::of(ok.iter().filter_map(|r| Some(analysis(r)?.peak_rss_mib)));

    let median = |s: &Option<Spread>| s.map(|s| s.median);
    summary.truncated_runs = ok
        .iter()
        .filter(|r| {
            r.measured
                .as_ref()
                .and_then(|m| m.perf.as_ref())
                .is_some_and(|p| p.truncated.is_some())
        })
        .count();
    summary.completeness = median(&completeness);
    summary.client_completeness = median(&Spread::of(
        ok.iter().filter_map(|r| analysis(r)?.client?.completeness),
    ));
    summary.depth_p50 = median(&depth_p50);
    summary.depth_p99 = median(&depth_p99);
    summary.analysis_wall_s = median(&analysis_wall);
    summary.analysis_peak_rss_mib = median(&analysis_rss);
    summary.accuracy = accuracy_medians(&ok);
    for r in &ok {
        if let Some(s) = server(r) {
            for (depth, n) in s.depth_histogram {
                *summary.depth_histogram.entry(depth).or_insert(0) += n;
            }
        }
    }
    summary.perf_data_bytes = median(&bytes);
    summary.perf_data_mb_per_s = median(&rate);
    summary.samples = median(&samples);
    summary.lost_chunks = median(&chunks);
    summary.lost_events = median(&lost);
    summary.lost_share = median(&lost_share);
    summary.iops = median(&iops);
    summary.overhead = Overheads {
        throughput: median(&throughput),
        perf_cpu: median(&perf_cpu),
        sample_share: median(&sample_share),
        cpu_per_io: median(&cpu_per_io),
        reader_cpu: median(&reader_cpu),
    };
    summary.verdict = OverheadVerdicts {
        throughput: throughput
            .as_ref()
            .zip(base.iops_spread.as_ref())
            .map(|(o, b)| verdict(o, b)),
        cpu_per_io: cpu_per_io
            .as_ref()
            .zip(base.cpu_per_io_spread.as_ref())
            .map(|(o, b)| verdict(o, b)),
    };
    summary.spread = ModeSpreads {
        completeness,
        perf_data_bytes: bytes,
        samples,
        lost_chunks: chunks,
        lost_events: lost,
        iops,
        overhead: OverheadSpreads {
            throughput,
            perf_cpu,
            sample_share,
            cpu_per_io,
            reader_cpu,
        },
    };
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
        assert_eq!(base.iops, Some(101.0));
        assert_eq!(base.repeats, 3);
        let s = mode_summary(Recording::plain(fp), &runs, &base, 2, None);
        assert_eq!(s.status, ModeStatus::Ok);
        assert_eq!(s.perf_data_bytes, Some(2000.0));
        let t = s.overhead.throughput.unwrap();
        assert!((t - (1.0 - 91.0 / 101.0)).abs() < 1e-12, "{t}");
        // 2 CPU s over a 10 s window on 2 CPUs
        assert!((s.overhead.perf_cpu.unwrap() - 0.1).abs() < 1e-12);
        assert!((s.overhead.sample_share.unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(s.verdict.throughput, Some(Verdict::Measured));
        // CPU per I/O: same CPU, fewer I/Os
        assert!(s.overhead.cpu_per_io.unwrap() > 0.0);
        assert!((s.lost_share.unwrap() - 10.0 / 1010.0).abs() < 1e-12);
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
        assert_eq!(s.perf_data_bytes, None);
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
}
