//! The price list for people: a Markdown table with every interval, what the intervals can
//! and cannot tell apart, the sink's capacity, and a chart with interval whiskers.

use std::path::{Path, PathBuf};

use super::facts;
use super::markdown_table::table;
use crate::price::PriceList;

/// How the list was measured, in one paragraph.
pub fn method(list: &PriceList) -> String {
    format!(
        "Fixed work (`workloads/programs/pricework.c`, {} iterations per round, about {:.0} ms of CPU) on CPU {}, sampled by `perf record -p` running on CPU {}; {} pairs of rounds (sampled, unsampled, random order) per stack, mode and rate at {} Hz, all interleaved (one perf per mode and rate, sampling switched on for one round at a time). Prices are Theil–Sen slopes of extra CPU time against samples taken, with 95% bootstrap intervals over rounds (seed {}).",
        list.iterations,
        list.round_ms,
        list.work_cpu,
        list.perf_cpu,
        list.pairs,
        list.freqs.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
        list.seed
    )
}

/// What the price table's columns are.
pub const LEGEND: &str = "*kernel per sample*: extra CPU time of the sampled thread per sample it took (the interrupt, the walk or the copy, writing the record). *recorder per sample*: perf's extra CPU time per sample it wrote. *whole sample*: the two together. `none` samples without a call graph: the sampling interrupt's own price; what a mode adds over it is the price of unwinding.";

/// The price list's table, legend, separations and capacity as Markdown (prices.md and the
/// price section of report.md).
pub fn body(list: &PriceList) -> String {
    let mut out = table(&facts::PRICE_COLUMNS, &facts::price_rows(list));
    out.push_str(&format!("\n{LEGEND}\n\n"));
    for pick in facts::PRICE_PICKS {
        for s in facts::price_separations(list, pick) {
            out.push_str(&format!("- {s}\n"));
        }
    }
    if let Some(line) = facts::capacity_line(list) {
        out.push_str(&format!("\nWhat perf can write: {line}\n"));
    }
    out
}

/// prices.md.
pub fn render(list: &PriceList) -> String {
    let m = &list.machine;
    let mut out = format!(
        "# unwindbench price list — {}\n\n{} ({} online CPUs), kernel {}, {}. Sampling event: {}.\n\n{}\n\n",
        list.started_at,
        m.cpu_model,
        m.online_cpus,
        m.kernel,
        m.perf_version.as_deref().unwrap_or("perf not found"),
        if m.hardware_pmu {
            m.sampling_event.clone().unwrap_or_else(|| "cycles".into())
        } else {
            "cpu-clock (software timer: this machine has no hardware PMU)".into()
        },
        method(list)
    );
    out.push_str(&body(list));
    if let Some(c) = &list.capacity {
        out.push_str(&format!(
            "\nThe capacity recording: {:.1} s, {:.0} MB/s written on average, {:.1}% of the samples lost; the kernel's limits `vm.dirty_ratio` {} ({:.0} MB now) and `vm.dirty_background_ratio` {} ({:.0} MB now); {:.0} MB dirty at its start. A recording asking less than the throttled rate loses nothing; one asking more loses the difference once the dirty data reaches its plateau.\n",
            c.duration_s,
            c.written_mb_per_s,
            c.lost_share * 100.0,
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

/// Writes prices.json, prices.md and prices.svg of `list` into `out`; returns the files.
pub fn write(list: &PriceList, out: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut json = serde_json::to_vec_pretty(list).map_err(std::io::Error::other)?;
    json.push(b'\n');
    let mut files = vec![
        (out.join("prices.json"), json),
        (out.join("prices.md"), render(list).into_bytes()),
    ];
    if let Some(svg) = super::charts::prices(list) {
        files.push((out.join("prices.svg"), svg.into_bytes()));
    }
    for (path, bytes) in &files {
        crate::files::write_atomically(path, bytes)?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}
