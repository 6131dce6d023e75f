//! The price list for people: a Markdown table with every interval, what the intervals can
//! and cannot tell apart, the sink's capacity, and a chart with interval whiskers.

use std::path::{Path, PathBuf};

use super::charts::{Grouped, Series, Whisker};
use crate::price::{ModePrice, PriceList, Variant};
use crate::stats::Interval;

/// `12.3 µs [11.8–12.9]` from nanoseconds.
fn micros(i: Option<Interval>) -> String {
    match i {
        Some(i) => format!(
            "{:.2} µs [{:.2}–{:.2}]",
            i.estimate / 1e3,
            i.low / 1e3,
            i.high / 1e3
        ),
        None => "–".into(),
    }
}

fn plain(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".into(), |v| format!("{v:.digits$}"))
}

/// The variants measured, in order.
fn variants(list: &PriceList) -> Vec<Variant> {
    let mut v: Vec<Variant> = list.prices.iter().map(|p| p.variant).collect();
    v.sort();
    v.dedup();
    v
}

/// Which neighbours in price order the intervals tell apart, as sentences.
fn separations(
    prices: &[&ModePrice],
    pick: fn(&ModePrice) -> Option<Interval>,
    what: &str,
) -> Vec<String> {
    let mut ranked: Vec<(&ModePrice, Interval)> =
        prices.iter().filter_map(|p| Some((*p, pick(p)?))).collect();
    ranked.sort_by(|a, b| a.1.estimate.total_cmp(&b.1.estimate));
    ranked
        .windows(2)
        .map(|w| {
            let (a, ia) = w[0];
            let (b, ib) = w[1];
            if ia.overlaps(&ib) {
                format!(
                    "`{}` and `{}`: their {what} intervals overlap, so this measurement does not tell them apart",
                    a.mode, b.mode
                )
            } else {
                format!(
                    "`{}` below `{}`: {what} intervals apart ({:.2} vs {:.2} µs)",
                    a.mode,
                    b.mode,
                    ia.estimate / 1e3,
                    ib.estimate / 1e3
                )
            }
        })
        .collect()
}

/// prices.md.
pub fn render(list: &PriceList) -> String {
    let m = &list.machine;
    let mut out = format!(
        "# unwindbench price list — {}\n\n{} ({} online CPUs), kernel {}, {}. Sampling event: {}.\n\n",
        list.started_at,
        m.cpu_model,
        m.online_cpus,
        m.kernel,
        m.perf_version.as_deref().unwrap_or("perf not found"),
        if m.hardware_pmu {
            m.sampling_event.clone().unwrap_or_else(|| "cycles".into())
        } else {
            "cpu-clock (software timer: this machine has no hardware PMU)".into()
        }
    );
    out.push_str(&format!(
        "Fixed work (`workloads/programs/pricework.c`, {} iterations per round, about {:.0} ms of CPU) on CPU {}, sampled by `perf record -p` running on CPU {}; {} pairs of rounds (sampled, unsampled, random order) per stack, mode and rate at {} Hz, all interleaved (one perf per mode and rate, sampling switched on for one round at a time). Prices are Theil–Sen slopes of extra CPU time against samples taken, with 95% bootstrap intervals over rounds (seed {}).\n\n",
        list.iterations,
        list.round_ms,
        list.work_cpu,
        list.perf_cpu,
        list.pairs,
        list.freqs.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
        list.seed
    ));
    out.push_str("| mode | stack | kernel per sample | recorder per sample | whole sample | recorder per MB | bytes per sample | stack copied | callchain | rounds | samples | lost |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for p in &list.prices {
        out.push_str(&format!(
            "| {} | {} ({} levels) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            p.mode,
            p.variant.name(),
            p.depth,
            micros(p.kernel_ns),
            micros(p.recorder_ns),
            micros(p.total_ns),
            p.recorder_ms_per_mb.map_or("–".into(), |i| format!(
                "{:.2} ms [{:.2}–{:.2}]",
                i.estimate, i.low, i.high
            )),
            plain(p.bytes_per_sample, 0),
            plain(p.copied_per_sample, 0),
            plain(p.chain_per_sample, 1),
            p.rounds,
            p.samples,
            p.lost
        ));
    }
    out.push_str("\n*kernel per sample*: extra CPU time of the sampled thread per sample it took (the interrupt, the walk or the copy, writing the record). *recorder per sample*: perf's extra CPU time per sample it wrote (every CPU's). *whole sample*: the two together. `none` samples without a call graph: the sampling interrupt's own price; what a mode adds over it is the price of unwinding.\n");
    for v in variants(list) {
        let prices: Vec<&ModePrice> = list.prices.iter().filter(|p| p.variant == v).collect();
        out.push_str(&format!(
            "\n**{} stack** ({} levels):\n\n",
            v.name(),
            v.depth()
        ));
        for s in separations(&prices, |p| p.total_ns, "whole-sample") {
            out.push_str(&format!("- {s}\n"));
        }
        for s in separations(&prices, |p| p.kernel_ns, "kernel") {
            out.push_str(&format!("- {s}\n"));
        }
    }
    if let Some(c) = &list.capacity {
        out.push_str(&format!(
            "\n## What perf can write\n\n`{}` at {} Hz on the busy CPU for {:.1} s asked for {:.0} MB/s; perf wrote {:.0} MB/s on average and {:.1}% of the samples were lost.\n\n",
            c.mode,
            c.freq,
            c.duration_s,
            c.asked_mb_per_s,
            c.written_mb_per_s,
            c.lost_share * 100.0
        ));
        out.push_str(&format!(
            "| regime | perf wrote |\n|---|---|\n| into the page cache | {} |\n| throttled to the disk's pace | {} |\n\n",
            c.cache_mb_per_s.map_or("–".into(), |r| format!("{r:.0} MB/s")),
            c.throttled_mb_per_s.map_or("–".into(), |r| format!("{r:.0} MB/s")),
        ));
        out.push_str(&format!(
            "Dirty data levelled off at {} after {}; the kernel's limits: `vm.dirty_ratio` {} ({:.0} MB now), `vm.dirty_background_ratio` {} ({:.0} MB now). A recording asking less than the throttled rate loses nothing; one asking more loses the difference once the dirty data reaches its plateau, sooner when it starts with dirty data left by others ({:.0} MB here).\n",
            c.dirty_plateau_mb.map_or("–".into(), |d| format!("{d:.0} MB")),
            c.plateau_after_s.map_or("–".into(), |t| format!("{t:.1} s")),
            c.limits.ratio,
            c.limits.threshold_mb,
            c.limits.background_ratio,
            c.limits.background_threshold_mb,
            c.dirty_at_start_mb
        ));
        for n in &c.notes {
            out.push_str(&format!("- {n}\n"));
        }
    }
    if !list.notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for n in &list.notes {
            out.push_str(&format!("- {n}\n"));
        }
    }
    out
}

/// prices.svg: what one sample costs per mode, the kernel's part and the whole (kernel and
/// recorder), a bar per stack with its 95% interval as whisker. None when nothing was priced.
pub fn chart(list: &PriceList) -> Option<String> {
    let mut modes: Vec<String> = Vec::new();
    for p in &list.prices {
        if !modes.contains(&p.mode) {
            modes.push(p.mode.clone());
        }
    }
    let whisker = |i: Interval| Whisker {
        value: i.estimate / 1e3,
        low: i.low / 1e3,
        high: i.high / 1e3,
    };
    let mut series = Vec::new();
    for v in variants(list) {
        for (part, pick) in [
            (
                "kernel",
                (|p: &ModePrice| p.kernel_ns) as fn(&ModePrice) -> Option<Interval>,
            ),
            ("whole", |p: &ModePrice| p.total_ns),
        ] {
            series.push(Series {
                name: format!("{part}, {} stack", v.name()),
                bars: modes
                    .iter()
                    .map(|m| list.price(m, v).and_then(pick).map(whisker))
                    .collect(),
            });
        }
    }
    Grouped {
        caption: "what one sample costs (95% intervals)",
        y_desc: "µs per sample",
        labels: modes,
        series,
    }
    .svg()
}

/// Writes prices.json, prices.md and prices.svg of `list` into `out`; returns the files.
pub fn write(list: &PriceList, out: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut json = serde_json::to_vec_pretty(list).map_err(std::io::Error::other)?;
    json.push(b'\n');
    let mut files = vec![
        (out.join("prices.json"), json),
        (out.join("prices.md"), render(list).into_bytes()),
    ];
    if let Some(svg) = chart(list) {
        files.push((out.join("prices.svg"), svg.into_bytes()));
    }
    for (path, bytes) in &files {
        crate::files::write_atomically(path, bytes)?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}
