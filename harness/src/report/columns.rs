//! The table's columns: their titles, the indices the renderers and the footnotes use, and
//! which of them a run can have at all.

use crate::results::Results;

/// What a column's figures come from, and so which runs can have them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The mode's name: every run.
    Always,
    /// The recordings of the repeats (sizes, counts, stacks): none with `--repeat 0`.
    Repeats,
    /// Repeats set against the unprofiled baseline's runs: none when the overhead was
    /// measured by switchback only (no baseline runs).
    SeparateRuns,
    /// The switchbacks: none in runs without them (`--overhead runs`, older files).
    Switchback,
}

/// A column: its title, where its figures come from, and what it means (report.md's notes
/// below the table, said only for the columns shown).
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub title: &'static str,
    pub source: Source,
    pub note: &'static str,
}

const fn col(title: &'static str, source: Source, note: &'static str) -> Column {
    Column {
        title,
        source,
        note,
    }
}

/// The reference post's table first (type, size, lost chunks, overhead, flame graph), the
/// switchback's overhead beside the separate runs' one, then the figures the post could not
/// give.
pub const COLUMNS: [Column; 17] = [
    col("type", Source::Always, ""),
    col(
        "perf.data",
        Source::Repeats,
        "*perf.data*: bytes perf wrote for the window (MB = 10^6 bytes), *MB/s* per second of window.",
    ),
    col(
        "lost chunks",
        Source::Repeats,
        "*lost chunks*: PERF_RECORD_LOST records; *lost events*: records the kernel dropped (share of all samples taken).",
    ),
    col(
        "overhead (switchback)",
        Source::Switchback,
        "*overhead (switchback)*: the throughput lost while sampling, measured inside one run of the workload by switching sampling on and off in short random rounds, plus the deferred cost of writing back what was recorded (see the switchback section); \"within noise\" means its interval holds 0. *CPU per I/O (switchback)*: the workload's CPU per I/O in the sampled rounds against the unsampled ones of the same blocks.",
    ),
    col(
        "overhead (separate runs)",
        Source::SeparateRuns,
        "*overhead (separate runs)*: 1 − IOPS / baseline IOPS, paired by repeat, where IOPS are the I/Os fio completed in the measured window over the window's wall time (fio's own figure adds per-job rates, which over-counts when its jobs do not run at the same time); its interval is Student's t on the repeats' log-ratios, and \"within noise\" means exactly that it holds 0.",
    ),
    col(
        "flame graph",
        Source::Repeats,
        "*flame graph*: also *profile*, the recording in the Firefox Profiler's format (open it at profiler.firefox.com or with `samply load`: timeline, call tree, search; incomplete stacks in their own category).",
    ),
    col("MB/s", Source::Repeats, ""),
    col("samples", Source::Repeats, ""),
    col("lost events", Source::Repeats, ""),
    col(
        "perf CPU",
        Source::Repeats,
        "*perf CPU*: perf's CPU time / (window × online CPUs).",
    ),
    col(
        "sample share",
        Source::Repeats,
        "*sample share*: samples whose comm is `perf` (the reference post's measure).",
    ),
    col("CPU per I/O (switchback)", Source::Switchback, ""),
    col(
        "CPU per I/O (separate runs)",
        Source::SeparateRuns,
        "*CPU per I/O (separate runs)*: the workload's (nbdkit + fio) CPU per completed I/O against the baseline's — the cost that shows even when IOPS do not move.",
    ),
    // Against `none` of the same repeat, not against the baseline: a run without baseline
    // runs has it as long as it records `none`.
    col(
        "overhead over none",
        Source::Repeats,
        "*overhead over none*: the throughput lost against `none` (sampling without a call graph) of the same repeat: what unwinding adds to sampling.",
    ),
    // The workload's CPU beyond the baseline's for as many I/Os: needs the baseline.
    col(
        "cost per sample",
        Source::SeparateRuns,
        "*cost per sample*: the workload's CPU beyond the baseline's for as many I/Os, plus perf's, per sample taken (kept or lost, so a mode that drops samples does not look cheaper).",
    ),
    col(
        "nbdkit stacks complete",
        Source::Repeats,
        "*nbdkit stacks complete*: share of the server's samples whose user stack reaches a real bottom (`_start`, `__libc_start_call_main`, `start_thread`, `clone3`, `main` of the main thread) instead of ending in unattached frames.",
    ),
    col(
        "depth p50 / p99",
        Source::Repeats,
        "*depth*: frames per server sample.",
    ),
];

pub const PERF_DATA_COLUMN: usize = 1;
pub const SWITCHBACK_COLUMN: usize = 3;
pub const OVERHEAD_RUNS_COLUMN: usize = 4;
/// The column of flame graph links (report.md and report.html only).
pub const FLAMEGRAPH_COLUMN: usize = 5;
pub const CPU_PER_IO_SWITCHBACK_COLUMN: usize = 11;
pub const OVER_NONE_COLUMN: usize = 13;
pub const COST_COLUMN: usize = 14;
pub const COMPLETENESS_COLUMN: usize = 15;

/// Whether `results` can have figures from `source`. Columns it cannot have are left out
/// rather than filled with dashes: a column of dashes reads as something that failed.
pub fn available(results: &Results, source: Source) -> bool {
    match source {
        Source::Always => true,
        Source::Repeats => repeats(results),
        Source::SeparateRuns => {
            repeats(results) && results.settings.overhead.as_deref() != Some("switchback")
        }
        Source::Switchback => !results.switchbacks.is_empty(),
    }
}

/// Whether the run recorded repeats (`--repeat 0` records only the switchbacks).
fn repeats(results: &Results) -> bool {
    results.settings.repeat > 0 || !results.runs.is_empty()
}

/// The indices of the columns `results` shows, in order; `links` keeps the flame graph
/// column (report.md, report.html; the terminal has no use for links).
pub fn shown(results: &Results, links: bool) -> Vec<usize> {
    COLUMNS
        .iter()
        .enumerate()
        .filter(|(i, c)| available(results, c.source) && (links || *i != FLAMEGRAPH_COLUMN))
        .map(|(i, _)| i)
        .collect()
}

/// What the `shown` columns mean, in one paragraph.
pub fn notes(shown: &[usize]) -> String {
    let notes: Vec<&str> = shown
        .iter()
        .map(|&i| COLUMNS[i].note)
        .filter(|n| !n.is_empty())
        .collect();
    notes.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Results {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results")
            .join(name);
        Results::read(&path).unwrap()
    }

    fn titles(r: &Results, links: bool) -> Vec<&'static str> {
        shown(r, links)
            .into_iter()
            .map(|i| COLUMNS[i].title)
            .collect()
    }

    #[test]
    fn the_indices_name_their_columns() {
        for (i, title) in [
            (PERF_DATA_COLUMN, "perf.data"),
            (SWITCHBACK_COLUMN, "overhead (switchback)"),
            (OVERHEAD_RUNS_COLUMN, "overhead (separate runs)"),
            (FLAMEGRAPH_COLUMN, "flame graph"),
            (CPU_PER_IO_SWITCHBACK_COLUMN, "CPU per I/O (switchback)"),
            (OVER_NONE_COLUMN, "overhead over none"),
            (COST_COLUMN, "cost per sample"),
            (COMPLETENESS_COLUMN, "nbdkit stacks complete"),
        ] {
            assert_eq!(COLUMNS[i].title, title);
        }
    }

    #[test]
    fn a_run_shows_the_columns_its_method_can_fill() {
        // A file from before the switchback (no `overhead` setting: runs).
        let runs = fixture("results.json");
        assert!(available(&runs, Source::SeparateRuns));
        assert!(!available(&runs, Source::Switchback));
        assert!(titles(&runs, true).contains(&"cost per sample"));
        assert!(!titles(&runs, false).contains(&"flame graph"));
        let mut sb = fixture("switchback/results.json");
        assert!(!available(&sb, Source::SeparateRuns));
        assert!(available(&sb, Source::Switchback));
        assert!(!titles(&sb, true).contains(&"cost per sample"));
        sb.settings.overhead = Some("both".into());
        assert!(available(&sb, Source::SeparateRuns));
        sb.settings.overhead = Some("switchback".into());
        sb.settings.repeat = 0;
        sb.runs.clear();
        assert_eq!(
            titles(&sb, true),
            ["type", "overhead (switchback)", "CPU per I/O (switchback)"]
        );
    }

    #[test]
    fn notes_follow_the_shown_columns() {
        let text = notes(&[0, SWITCHBACK_COLUMN, COST_COLUMN]);
        assert!(text.starts_with("*overhead (switchback)*"), "{text}");
        assert!(text.contains("*cost per sample*"), "{text}");
        assert!(!text.contains("*perf.data*"), "{text}");
    }
}
