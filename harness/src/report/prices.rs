//! The price list for people: a Markdown table with every interval, what the intervals can
//! and cannot tell apart, the sink's capacity, and a chart with interval whiskers.

use plotters::prelude::*;

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

const COLORS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];

/// prices.svg: the whole price per sample of every mode, one bar per stack, the kernel's part
/// darker, the 95% interval of the whole as a whisker. None when nothing was priced.
pub fn chart(list: &PriceList) -> Option<String> {
    let modes: Vec<String> = {
        let mut m: Vec<String> = Vec::new();
        for p in &list.prices {
            if !m.contains(&p.mode) {
                m.push(p.mode.clone());
            }
        }
        m
    };
    let vars = variants(list);
    let top = list
        .prices
        .iter()
        .filter_map(|p| p.total_ns.map(|i| i.high.max(i.estimate)))
        .fold(0.0f64, f64::max)
        / 1e3;
    if top <= 0.0 || modes.is_empty() {
        return None;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 420)).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error>> {
            root.fill(&WHITE)?;
            let n = modes.len();
            let mut chart = ChartBuilder::on(&root)
                .caption("what one sample costs (95% intervals)", ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(60)
                .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top * 1.15)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(n)
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() < 1e-6 && i >= 0.0 {
                        modes.get(i as usize).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_desc("µs per sample (kernel dark, recorder light)")
                .draw()?;
            let width = 0.8 / vars.len().max(1) as f64;
            for (k, v) in vars.iter().enumerate() {
                let color = COLORS[k % COLORS.len()];
                let offset = -0.4 + width * (k as f64 + 0.5);
                let bars: Vec<(f64, f64, f64, Interval)> = modes
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| {
                        let p = list.price(m, *v)?;
                        let kernel = p.kernel_ns?.estimate / 1e3;
                        let total = p.total_ns?;
                        Some((
                            i as f64 + offset,
                            kernel,
                            total.estimate / 1e3,
                            total.scaled(1e-3),
                        ))
                    })
                    .collect();
                chart
                    .draw_series(bars.iter().map(|&(x, _, total, _)| {
                        Rectangle::new(
                            [(x - width * 0.45, 0.0), (x + width * 0.45, total)],
                            color.mix(0.35).filled(),
                        )
                    }))?
                    .label(format!("{} stack", v.name()))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                    });
                chart.draw_series(bars.iter().map(|&(x, kernel, _, _)| {
                    Rectangle::new(
                        [(x - width * 0.45, 0.0), (x + width * 0.45, kernel.max(0.0))],
                        color.mix(0.9).filled(),
                    )
                }))?;
                chart.draw_series(bars.iter().map(|&(x, _, _, i)| {
                    PathElement::new(
                        vec![(x, i.low.max(0.0)), (x, i.high)],
                        BLACK.stroke_width(2),
                    )
                }))?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
            root.present()?;
            Ok(())
        };
        draw().ok()?;
    }
    Some(svg)
}
