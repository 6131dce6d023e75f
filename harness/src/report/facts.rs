//! What report.md and report.html both show, as rows of plain text: the run's facts
//! (machine, versions, workload, settings), the comparison with the reference post, the
//! scores against known stacks, the sweep, and a mode's flame graph links. Built once here;
//! each format only lays the rows out and escapes them its own way.

use std::path::Path;

use super::format::{interval, micros_from_ns, percent, thousands};
use crate::price::PriceList;
use crate::results::model::Limit;
use crate::results::{Metric, ModeSummary, ReferenceComparison, Results};
use crate::sweep::{size_text, SweepReport};
use crate::workload::target::TargetKind;

/// A fact's value: text, or a command (shown as code).
pub enum Value {
    Text(String),
    Code(String),
}

/// The run's facts, as `key: value` rows.
pub fn run_facts(r: &Results) -> Vec<(&'static str, Value)> {
    let m = &r.machine;
    let w = &r.workload;
    let text = |s: String| Value::Text(s);
    let version = |v: &Option<String>| text(v.clone().unwrap_or_else(|| "not found".into()));
    vec![
        (
            "machine",
            text(format!(
                "{} — {} ({} online CPUs, {} GiB)",
                m.hostname, m.cpu_model, m.online_cpus, m.memory_gib
            )),
        ),
        ("system", text(format!("{}, kernel {}", m.os, m.kernel))),
        ("sampling event", text(sampling_event(r))),
        ("perf", version(&m.perf_version)),
        ("nbdkit", version(&m.nbdkit_version)),
        ("fio", version(&m.fio_version)),
        ("workload", text(format!("{} — {}", w.name, w.description))),
        ("target", text(target_text(r))),
        (
            "window",
            text(format!(
                "{} s measured after a {} s ramp, {} repeat(s), modes interleaved",
                w.runtime_s, w.ramp_s, r.settings.repeat
            )),
        ),
        (
            "sampling frequency",
            text(
                r.settings
                    .freq
                    .map(|f| format!("{f} Hz"))
                    .unwrap_or_else(|| "perf's default".into()),
            ),
        ),
        ("command", Value::Code(r.command.join(" "))),
    ]
}

/// Which way fio reached nbdkit, the hops on the way, and why not a way `--target auto`
/// prefers.
pub fn target_text(r: &Results) -> String {
    let w = &r.workload;
    let mut text = format!("{}: {}", w.target, w.target.hops());
    if w.target == TargetKind::Loop {
        text.push_str(" — it adds the loop and FUSE hops a kernel NBD device does not have");
    }
    let mut why_not: Vec<String> = w
        .targets_passed_over
        .iter()
        .map(|p| format!("{} not used: {}", p.target, p.why))
        .collect();
    // Runs from before the loop target kept only the kernel device's reason.
    if why_not.is_empty() && w.target != TargetKind::KernelNbd {
        why_not.extend(
            w.kernel_nbd_skipped
                .as_ref()
                .map(|why| format!("kernel-nbd not used: {why}")),
        );
    }
    if !why_not.is_empty() {
        text.push_str(&format!(" ({})", why_not.join("; ")));
    }
    text
}

/// A kernel block device's baseline IOPS beside the nbd engine's of the same rounds.
pub fn engine_baseline_sentence(r: &Results) -> Option<String> {
    let (device, engine) = (r.baseline.iops?, r.baseline.nbd_engine_iops?);
    let cpu = match (
        r.baseline.cpu_per_io_us,
        r.baseline.nbd_engine_cpu_per_io_us,
    ) {
        (Some(d), Some(e)) => format!(
            "; workload CPU per I/O {:.1} µs against {:.1} µs",
            d.median, e.median
        ),
        _ => String::new(),
    };
    Some(format!(
        "Baseline IOPS by target, same rounds: {} {} (median of {} [{}–{}]) against fio's nbd engine {} (median of {} [{}–{}]), {} of it{cpu}.",
        r.workload.target,
        thousands(device.median),
        device.n,
        thousands(device.min),
        thousands(device.max),
        thousands(engine.median),
        engine.n,
        thousands(engine.min),
        thousands(engine.max),
        percent(device.median / engine.median),
    ))
}

/// The event perf sampled with, and whether a hardware PMU drove it.
fn sampling_event(r: &Results) -> String {
    let event = r.machine.sampling_event.clone();
    match (event, r.machine.hardware_pmu) {
        (Some(e), true) => format!("{e} (hardware PMU)"),
        (Some(e), false) => format!("{e} — software timer: this machine has no hardware PMU"),
        (None, true) => "hardware PMU (no recording read yet)".into(),
        (None, false) => "cpu-clock — software timer: this machine has no hardware PMU".into(),
    }
}

pub const REFERENCE_COLUMNS: [&str; 9] = [
    "type",
    "reference perf.data",
    "×fp",
    "this run perf.data",
    "×fp",
    "reference lost chunks",
    "this run lost chunks",
    "reference overhead",
    "this run sample share",
];

/// The reference post's figures beside this run's, a row per mode of the post.
pub fn reference_rows(c: &ReferenceComparison) -> Vec<Vec<String>> {
    let dash = || "–".to_string();
    c.rows
        .iter()
        .map(|r| {
            vec![
                r.mode.clone(),
                format!("{} MB", thousands(r.reference_perf_data_mb)),
                format!("{:.1}×", r.reference_size_vs_fp),
                r.perf_data_mb
                    .map(|m| format!("{} MB", thousands(m)))
                    .unwrap_or_else(dash),
                r.size_vs_fp
                    .map(|x| format!("{x:.1}×"))
                    .unwrap_or_else(dash),
                thousands(r.reference_lost_chunks as f64),
                r.lost_chunks.map(thousands).unwrap_or_else(dash),
                percent(r.reference_overhead),
                r.sample_share.map(percent).unwrap_or_else(dash),
            ]
        })
        .collect()
}

pub const ACCURACY_COLUMNS: [&str; 6] =
    ["type", "process", "exact", "truncated", "wrong", "samples"];

/// Scores against the workload's known stacks (program workloads), a row per mode and
/// process; empty for other workloads.
pub fn accuracy_rows(r: &Results) -> Vec<Vec<String>> {
    let share = |x: f64| format!("{:.1}%", x * 100.0);
    r.modes
        .iter()
        .flat_map(|m| {
            m.accuracy.iter().map(move |a| {
                vec![
                    m.title.clone(),
                    a.comm.clone(),
                    share(a.exact_share),
                    share(a.truncated_share),
                    share(a.wrong_share),
                    thousands(a.samples as f64),
                ]
            })
        })
        .collect()
}

pub const SWEEP_COLUMNS: [&str; 8] = [
    "process",
    "user stacks",
    "needed p50",
    "p90",
    "p99",
    "90% complete at",
    "99% at",
    "100% at",
];

/// The sweep's smallest copy sizes, a row per process, the busiest first.
pub fn sweep_rows(s: &SweepReport) -> Vec<Vec<String>> {
    let bytes = |b: Option<u32>| match b {
        Some(b) => format!("{b} B"),
        None => format!("> {}", s.copy_bytes),
    };
    let mut processes: Vec<_> = s.processes.iter().collect();
    processes.sort_by_key(|(_, p)| std::cmp::Reverse(p.user_samples));
    processes
        .into_iter()
        .map(|(comm, p)| {
            vec![
                comm.clone(),
                p.user_samples.to_string(),
                bytes(p.needed_p50),
                bytes(p.needed_p90),
                bytes(p.needed_p99),
                size_text(p.smallest_90, s.copy_bytes),
                size_text(p.smallest_99, s.copy_bytes),
                size_text(p.smallest_100, s.copy_bytes),
            ]
        })
        .collect()
}

/// The sweep's prediction against each real recording: recording, process, predicted and
/// measured completeness, and their difference.
pub fn sweep_check_rows(s: &SweepReport) -> Vec<Vec<String>> {
    let pct = |x: Option<f64>| {
        x.map(|v| format!("{:.1}%", v * 100.0))
            .unwrap_or_else(|| "–".into())
    };
    s.check
        .iter()
        .map(|c| {
            vec![
                c.mode.clone(),
                c.process.clone(),
                pct(c.predicted),
                pct(c.measured),
                c.difference_points
                    .map(|d| format!("{d:+.1} points"))
                    .unwrap_or_else(|| "–".into()),
            ]
        })
        .collect()
}

pub const PRICE_COLUMNS: [&str; 12] = [
    "mode",
    "stack",
    "kernel per sample",
    "recorder per sample",
    "whole sample",
    "recorder per MB",
    "bytes per sample",
    "stack copied",
    "callchain",
    "rounds",
    "samples",
    "lost",
];

/// The price list, a row per mode and stack.
pub fn price_rows(list: &PriceList) -> Vec<Vec<String>> {
    let us = |i: Option<crate::stats::Interval>| {
        i.map_or("–".into(), |i| {
            interval(&i, |ns| format!("{:.2}", ns / 1e3)) + " µs"
        })
    };
    let plain = |x: Option<f64>, digits: usize| x.map_or("–".into(), |v| format!("{v:.digits$}"));
    list.prices
        .iter()
        .map(|p| {
            vec![
                p.mode.clone(),
                format!("{} ({} levels)", p.variant.name(), p.depth),
                us(p.kernel_ns),
                us(p.recorder_ns),
                us(p.total_ns),
                p.recorder_ms_per_mb.map_or("–".into(), |i| {
                    interval(&i, |v| format!("{v:.2}")) + " ms"
                }),
                plain(p.bytes_per_sample, 0),
                plain(p.copied_per_sample, 0),
                plain(p.chain_per_sample, 1),
                p.rounds.to_string(),
                thousands(p.samples as f64),
                thousands(p.lost as f64),
            ]
        })
        .collect()
}

/// One sentence on what perf can write (the capacity of the price list), or None.
pub fn capacity_line(list: &PriceList) -> Option<String> {
    let c = list.capacity.as_ref()?;
    let rate = |r: Option<f64>| r.map_or("–".into(), |r| format!("{r:.0} MB/s"));
    Some(format!(
        "perf wrote {} into the page cache and {} once the kernel throttled it to the disk's pace (dirty data levelled off at {} after {}); `{}` at {} Hz asked {:.0} MB/s.",
        rate(c.cache_mb_per_s),
        rate(c.throttled_mb_per_s),
        c.dirty_plateau_mb.map_or("–".into(), |d| format!("{d:.0} MB")),
        c.plateau_after_s.map_or("–".into(), |t| format!("{t:.1} s")),
        c.mode,
        c.freq,
        c.asked_mb_per_s
    ))
}

pub const MODEL_COLUMNS: [&str; 9] = [
    "type",
    "samples taken/s",
    "MB/s asked / written",
    "what held perf back",
    "lost share: predicted / measured",
    "perf CPU: predicted / measured",
    "CPU per I/O: predicted / measured",
    "per sample: price / measured",
    "agrees",
];

/// The model beside the measurement, a row per mode that has one.
pub fn model_rows(r: &Results) -> Vec<Vec<String>> {
    r.modes
        .iter()
        .filter_map(|m| {
            let model = m.model.as_ref()?;
            let pair = |metric: Metric, fmt: fn(f64) -> String| {
                model
                    .checks
                    .iter()
                    .find(|c| c.metric == metric)
                    .map_or("–".into(), |c| {
                        format!(
                            "{} / {}",
                            interval(&c.predicted, fmt),
                            interval(&c.measured, fmt)
                        )
                    })
            };
            let disagree: Vec<&str> = model
                .checks
                .iter()
                .filter(|c| !c.agrees)
                .map(|c| c.metric.def().label)
                .collect();
            Some(vec![
                m.title.clone(),
                thousands(model.samples_taken_per_s),
                {
                    let mb = |x: f64| {
                        if x < 10.0 {
                            format!("{x:.1}")
                        } else {
                            format!("{x:.0}")
                        }
                    };
                    format!(
                        "{} / {}",
                        mb(model.asked_mb_per_s),
                        mb(model.written_mb_per_s)
                    )
                },
                match model.limit {
                    None => "nothing (no loss)".into(),
                    Some(Limit::Sink) => "the sink (page cache, disk)".into(),
                    Some(Limit::Cpu) => match model
                        .prediction
                        .lost
                        .as_ref()
                        .and_then(|l| l.perf_cpu.as_ref())
                    {
                        Some(c) => format!(
                            "its CPU ({:.2} CPUs used; its samples asked {:.2} of the {:.2} it gets under this workload: load {:.2})",
                            model.perf_cpus, c.asked_cpus, c.budget_cpus, c.load
                        ),
                        None => format!(
                            "its CPU ({:.2} CPUs used; the sink takes more)",
                            model.perf_cpus
                        ),
                    },
                },
                model
                    .checks
                    .iter()
                    .find(|c| c.metric == Metric::LostShare)
                    .map_or("–".into(), |c| {
                        format!(
                            "{} / {}",
                            percent(c.predicted.estimate),
                            percent(c.measured.estimate)
                        )
                    }),
                pair(Metric::OverheadPerfCpu, percent),
                pair(Metric::OverheadCpuPerIo, percent),
                pair(Metric::CostPerSampleUs, |v| format!("{v:.1}")),
                if disagree.is_empty() {
                    "yes".into()
                } else {
                    format!("no: {}", disagree.join(", "))
                },
            ])
        })
        .collect()
}

/// Which price [`price_separations`] compares, and how it names it.
pub type PricePick = (
    &'static str,
    fn(&crate::price::ModePrice) -> Option<crate::stats::Interval>,
);

/// The whole price of a sample and the kernel's part of it.
pub const PRICE_PICKS: [PricePick; 2] = [("whole", |p| p.total_ns), ("kernel", |p| p.kernel_ns)];

/// Where the price list ranks neighbouring modes apart, by `pick`, and where it cannot.
pub fn price_separations(list: &PriceList, (what, pick): PricePick) -> Vec<String> {
    let mut out = Vec::new();
    for v in list.variants() {
        let mut ranked: Vec<_> = list
            .prices
            .iter()
            .filter(|p| p.variant == v)
            .filter_map(|p| Some((p, pick(p)?)))
            .collect();
        ranked.sort_by(|a, b| a.1.estimate.total_cmp(&b.1.estimate));
        for w in ranked.windows(2) {
            let ((a, ia), (b, ib)) = (w[0], w[1]);
            out.push(if ia.overlaps(&ib) {
                format!(
                    "{} stack, {what}: `{}` and `{}` overlap ({} and {} per sample): not told apart",
                    v.name(),
                    a.mode,
                    b.mode,
                    micros_from_ns(ia.estimate),
                    micros_from_ns(ib.estimate)
                )
            } else {
                format!(
                    "{} stack, {what}: `{}` costs less than `{}` ({} against {} per sample, intervals apart)",
                    v.name(),
                    a.mode,
                    b.mode,
                    micros_from_ns(ia.estimate),
                    micros_from_ns(ib.estimate)
                )
            });
        }
    }
    out
}

/// A mode's flame graphs as (link text, file in the run folder), those that exist.
pub fn flamegraph_links(m: &ModeSummary) -> Vec<(&'static str, &Path)> {
    let f = &m.flamegraphs;
    [
        ("all", &f.all),
        ("nbdkit", &f.server),
        ("vs fp", &f.diff_vs_fp),
        ("all vs fp", &f.diff_vs_fp_all),
        ("profile", &f.profile),
    ]
    .into_iter()
    .filter_map(|(label, p)| Some((label, p.as_deref()?)))
    .collect()
}

/// The sentence that says where perf's CPU budget under the workload came from and how the
/// model uses it, when the run measured one.
pub fn budget_sentence(r: &Results) -> Option<String> {
    let b = r.perf_budget.as_ref()?;
    let waits = match (&b.wake_delays, &b.wake_delays_busy) {
        (Some(alone), Some(busy)) => format!(
            " (measured here: p99 {:.2} ms under the workload alone, {:.2} ms beside the busy perf)",
            alone.p99_ms, busy.p99_ms
        ),
        (Some(alone), None) => format!(" (measured here: p99 {:.2} ms)", alone.p99_ms),
        _ => " (not measured in this run: no such loss predicted)".into(),
    };
    Some(format!(
        "Lost samples have a second cause, perf's CPU: a {} recording of the workload at {} Hz for {:.0} s, asking more than perf can write, got {:.2} CPUs of perf time (it wrote {:.0} MB/s): perf's budget under this workload. A mode's load is what its samples ask of perf's CPU (samples taken per second × perf's CPU per sample it wrote) over that budget; above 1 the share 1 − 1/load cannot be written. Below it, samples are lost when perf, woken as a CPU's ring buffer is half full, waits for a CPU longer than the other half takes to fill: the ring holds perf's mmap size ÷ bytes per sample, and the wait's distribution is measured by a thread sleeping to 1 ms deadlines during the budget recording{}. The largest of the predicted losses is shown.",
        b.mode, b.freq, b.window_s, b.cpus, b.written_mb_per_s, waits
    ))
}
