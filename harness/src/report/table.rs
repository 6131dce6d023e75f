//! The comparison table, in the reference post's shape plus the extra columns, as aligned
//! Markdown (readable in a terminal and rendered on a CI page alike).

pub use super::columns::{
    shown, COLUMNS, COMPLETENESS_COLUMN, COST_COLUMN, FLAMEGRAPH_COLUMN, OVER_NONE_COLUMN,
    PERF_DATA_COLUMN,
};
use super::facts;
use super::footnotes::Footnotes;
use super::format::{
    megabytes, megabytes_number, noise_interval, percent, signed_percent, thousands,
};
use crate::results::{Metric, ModeStatus, ModeSummary, Results, Spread, Verdict};

/// ` [min–max]` when repeats differ, else nothing.
fn range(spread: Option<&Spread>, fmt: impl Fn(f64) -> String) -> String {
    match spread {
        Some(s) if s.n >= 2 && s.min != s.max => format!(" [{}–{}]", fmt(s.min), fmt(s.max)),
        _ => String::new(),
    }
}

/// An overhead with its 95% interval, "within noise" exactly when the interval holds zero.
/// Files written before intervals existed show their min–max range and stored verdict.
fn overhead(spread: Option<&Spread>, verdict: Option<Verdict>, signed: bool) -> String {
    let Some(s) = spread else {
        return "–".into();
    };
    let fmt = |x: f64| {
        if signed {
            signed_percent(x)
        } else {
            percent(x)
        }
    };
    if let Some(i) = s.interval {
        return noise_interval(&i, fmt);
    }
    let text = format!("{}{}", fmt(s.median), range(Some(s), fmt));
    match verdict {
        Some(Verdict::WithinNoise) => format!("within noise ({text})"),
        Some(Verdict::NoiseUnknown) if s.n < 2 => format!("{text} (1 repeat: no interval)"),
        Some(Verdict::NoiseUnknown) => format!("{text} (1 baseline: noise unknown)"),
        _ => text,
    }
}

/// A cost in microseconds with its interval.
fn micros(spread: Option<Spread>) -> String {
    match spread {
        Some(s) => match s.interval {
            Some(i) => format!("{:.1} µs [{:.1}–{:.1}]", i.estimate, i.low, i.high),
            None => format!("{:.1} µs", s.median),
        },
        None => "–".into(),
    }
}

/// Links to a mode's flame graphs, for report.md.
fn flamegraph_links(m: &ModeSummary) -> String {
    let links: Vec<String> = facts::flamegraph_links(m)
        .into_iter()
        .map(|(label, p)| format!("[{label}]({})", p.display()))
        .collect();
    if links.is_empty() {
        "–".into()
    } else {
        links.join(" · ")
    }
}

/// The cells of a mode's row, in [`COLUMNS`] order.
pub fn cells(m: &ModeSummary) -> Vec<String> {
    if !m.measured() {
        let what = match m.status {
            ModeStatus::Skipped => "skipped",
            ModeStatus::Failed => "failed",
            _ => "not measured",
        };
        let mut cells = vec![
            m.title.clone(),
            format!("{what}: {}", m.reason.as_deref().unwrap_or("")),
        ];
        cells.resize(COLUMNS.len(), String::new());
        return cells;
    }
    let dash = || "–".to_string();
    // A figure's median as `fmt` prints it, its range beside it as `range_fmt` does.
    let ranged = |metric: Metric, fmt: fn(f64) -> String, range_fmt: fn(f64) -> String| {
        m.figure(metric)
            .map(|s| format!("{}{}", fmt(s.median), range(Some(&s), range_fmt)))
    };
    let overhead_of = |metric: Metric, verdict: Option<Verdict>, signed: bool| {
        overhead(m.figure(metric).as_ref(), verdict, signed)
    };
    let truncated = match m.truncated_runs {
        0 => String::new(),
        n => format!(" ({n} truncated by --max-data)"),
    };
    let perf_cpu = overhead_of(Metric::OverheadPerfCpu, None, false);
    vec![
        m.title.clone(),
        ranged(Metric::PerfDataBytes, megabytes, megabytes_number)
            .map(|size| size + &truncated)
            .unwrap_or_else(dash),
        ranged(Metric::LostChunks, thousands, thousands).unwrap_or_else(dash),
        overhead_of(Metric::OverheadSwitchback, None, false),
        overhead_of(Metric::OverheadThroughput, m.verdict.throughput, false),
        flamegraph_links(m),
        m.median(Metric::PerfDataMbPerS)
            .map(|r| format!("{r:.1}"))
            .unwrap_or_else(dash),
        ranged(Metric::Samples, thousands, thousands).unwrap_or_else(dash),
        match (m.median(Metric::LostEvents), m.median(Metric::LostShare)) {
            (Some(e), Some(share)) => format!("{} ({})", thousands(e), percent(share)),
            _ => dash(),
        },
        match m.median(Metric::OverheadReaderCpu) {
            // The pipe's live reader competes for the same CPUs: shown beside perf.
            Some(reader) => format!("{perf_cpu} + reader {}", percent(reader)),
            None => perf_cpu,
        },
        overhead_of(Metric::OverheadSampleShare, None, false),
        overhead_of(Metric::CpuPerIoSwitchback, None, true),
        overhead_of(Metric::OverheadCpuPerIo, m.verdict.cpu_per_io, true),
        overhead_of(Metric::OverheadThroughputVsNone, None, false),
        micros(m.figure(Metric::CostPerSampleUs)),
        ranged(Metric::Completeness, percent, percent).unwrap_or_else(dash),
        match (m.median(Metric::DepthP50), m.median(Metric::DepthP99)) {
            (Some(a), Some(b)) => format!("{a:.0} / {b:.0}"),
            _ => dash(),
        },
    ]
}

/// The titles of the `shown` columns, the completeness column named after the workload's
/// first process.
pub fn column_titles(results: &Results, shown: &[usize]) -> Vec<String> {
    shown
        .iter()
        .map(|&i| match i {
            COMPLETENESS_COLUMN => format!("{} stacks complete", results.workload.primary()),
            _ => COLUMNS[i].title.to_string(),
        })
        .collect()
}

/// Why the overheads rank modes against their prices, as a Markdown list (empty when they
/// never do).
pub fn explanations(results: &Results) -> String {
    results
        .explanations
        .iter()
        .map(|e| format!("- {e}\n"))
        .collect()
}

/// The table as aligned Markdown; `links` keeps the flame graph column (report.md), the
/// terminal gets the table without it. Columns the run cannot have are left out (see
/// [`shown`]).
pub fn render(results: &Results, links: bool) -> String {
    let shown = shown(results, links);
    let notes = Footnotes::of(results);
    let mut rows: Vec<Vec<String>> = vec![column_titles(results, &shown)];
    rows.extend(
        results
            .modes
            .iter()
            .enumerate()
            .map(|(i, m)| row(m, i, &notes, &shown)),
    );
    let ncol = rows[0].len();
    let widths: Vec<usize> = (0..ncol)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&rows[0]);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("|-{}-|\n", rule.join("-|-")));
    for r in &rows[1..] {
        out.push_str(&line(r));
    }
    out.push_str(&notes.markdown());
    out
}

/// The `shown` cells of the mode in row `row` of `results.modes`, with their footnote marks
/// (see [`Footnotes`]).
pub fn row(m: &ModeSummary, row: usize, notes: &Footnotes, shown: &[usize]) -> Vec<String> {
    let mut cells = cells(m);
    if !m.measured() {
        // Why it was not measured goes in the first column after its name that the run
        // shows, whichever that is.
        let mut out = vec![String::new(); shown.len()];
        for (slot, cell) in out.iter_mut().zip(cells.into_iter().take(2)) {
            *slot = cell;
        }
        return out;
    }
    shown
        .iter()
        .map(|&column| notes.apply(row, column, std::mem::take(&mut cells[column])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_every_column() {
        // The fixture is a version 1 file: read through the loader, which upgrades it.
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results/results.json");
        let results = crate::results::Results::load(&fixture).unwrap();
        let text = render(&results, true);
        assert!(text.contains("[nbdkit]("), "{text}");
        assert!(!render(&results, false).contains("flame graph"));
        let header_cells = text.lines().next().unwrap().matches('|').count();
        let (table, notes): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with('|'));
        for line in table {
            assert_eq!(line.matches('|').count(), header_cells, "{line}");
        }
        // fp's 0% nbdkit stacks carry their reason below the table.
        assert!(notes.iter().any(|l| l.starts_with("[1] ")), "{text}");
    }

    #[test]
    fn overhead_cells_say_when_it_is_noise() {
        let interval = |estimate: f64, low: f64, high: f64| {
            Spread::of([0.01, 0.02, 0.03])
                .unwrap()
                .with_interval(Some(crate::stats::Interval {
                    estimate,
                    low,
                    high,
                }))
        };
        // Within noise exactly when the 95% interval holds zero.
        let cell = overhead(Some(&interval(0.02, -0.01, 0.05)), None, false);
        assert_eq!(cell, "within noise (2.0% [-1.0%–5.0%])");
        let cell = overhead(Some(&interval(0.14, 0.12, 0.29)), None, false);
        assert_eq!(cell, "14% [12%–29%]");
        let cell = overhead(Some(&interval(0.2, 0.1, 0.3)), None, true);
        assert_eq!(cell, "+20% [+10%–+30%]");
        // One repeat: no interval, and the cell says so.
        let one = Spread::of([0.2]).unwrap();
        let cell = overhead(Some(&one), Some(Verdict::NoiseUnknown), true);
        assert_eq!(cell, "+20% (1 repeat: no interval)");
        // A file from before intervals: its range and its stored verdict.
        let old = Spread::of([0.01, 0.02, 0.03]).unwrap();
        let cell = overhead(Some(&old), Some(Verdict::WithinNoise), false);
        assert_eq!(cell, "within noise (2.0% [1.0%–3.0%])");
        assert_eq!(overhead(None, None, false), "–");
    }
}
