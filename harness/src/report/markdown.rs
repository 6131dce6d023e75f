//! `report.md`: the header (machine, versions, sampling event, workload, command), the table,
//! and the notes a reader needs to trust the figures; one function per section. Also the
//! sweep's Markdown, which the terminal shows too.

use super::facts::{self, Value};
use super::format::thousands;
use super::table;
use crate::results::{Results, RunStatus};
use crate::sweep::SweepReport;

pub fn render(r: &Results) -> String {
    let mut out = String::new();
    for section in [
        header,
        facts_table,
        results_table,
        accuracy,
        reference,
        sweep,
        charts,
        notes,
        warnings,
        failures,
    ] {
        section(&mut out, r);
    }
    out
}

/// A Markdown table row; `|` in a cell is escaped so that it cannot end the cell.
fn row(cells: &[String]) -> String {
    let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
    format!("| {} |\n", cells.join(" | "))
}

/// A Markdown table.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        headers.join(" | "),
        "---|".repeat(headers.len())
    );
    out.extend(rows.iter().map(|r| row(r)));
    out
}

fn header(out: &mut String, r: &Results) {
    out.push_str(&format!(
        "# unwindbench: {} — {}\n\n",
        r.workload.name, r.started_at
    ));
    if r.status != RunStatus::Complete {
        out.push_str(&format!(
            "**Status: {}** — figures below are from the measurements that finished.\n\n",
            match r.status {
                RunStatus::Running => "still running",
                RunStatus::Partial => "some measurements failed",
                RunStatus::Interrupted => "interrupted",
                RunStatus::Complete => "complete",
            }
        ));
    }
}

fn facts_table(out: &mut String, r: &Results) {
    out.push_str("| | |\n|---|---|\n");
    for (key, value) in facts::run_facts(r) {
        let value = match value {
            Value::Text(t) => t,
            Value::Code(c) => format!("`{c}`"),
        };
        out.push_str(&row(&[key.to_string(), value]));
    }
    out.push('\n');
}

fn results_table(out: &mut String, r: &Results) {
    match r.baseline.iops {
        Some(s) => out.push_str(&format!(
            "Baseline (no perf): {} IOPS, median of {} run(s) [{}–{}]; run-to-run range {}.\n\n",
            thousands(s.median),
            s.n,
            thousands(s.min),
            thousands(s.max),
            s.relative_range()
                .map(super::format::percent)
                .unwrap_or_else(|| "unknown with one run".into())
        )),
        None => out
            .push_str("Baseline (no perf): no successful run — overheads cannot be computed.\n\n"),
    }
    out.push_str(&table::render(r, true));
    out.push_str("\nMedians over repeats, [min–max] beside them. ");
    out.push_str(COLUMN_NOTES);
}

fn accuracy(out: &mut String, r: &Results) {
    let rows = facts::accuracy_rows(r);
    if rows.is_empty() {
        return;
    }
    out.push_str("\n## Against the known stacks\n\nEvery sample of the program compared with the chain it runs: *exact* is the whole chain from the thread's start to the leaf, *truncated* its leaf end with frames missing at the bottom, *wrong* anything with a frame not on the chain.\n\n");
    out.push_str(&table(&facts::ACCURACY_COLUMNS, &rows));
}

fn reference(out: &mut String, r: &Results) {
    let Some(c) = &r.reference else { return };
    out.push_str("\n## Against the reference post\n\n");
    out.push_str(&format!("{}. Absolute figures do not compare across machines; the ratios to frame pointers of the same run might.\n\n", c.source));
    out.push_str(&table(&facts::REFERENCE_COLUMNS, &facts::reference_rows(c)));
}

fn sweep(out: &mut String, r: &Results) {
    let Some(s) = &r.sweep else { return };
    out.push_str("\n## How large must the DWARF copy be?\n\n");
    out.push_str(&sweep_text(s));
}

fn charts(out: &mut String, r: &Results) {
    let charts = super::charts::render_all(r);
    if charts.is_empty() {
        return;
    }
    out.push_str("\n## Charts\n\n");
    for c in &charts {
        out.push_str(&format!("![{}](charts/{}.svg)\n", c.title, c.name));
    }
}

fn notes(out: &mut String, r: &Results) {
    if r.notes.is_empty() {
        return;
    }
    out.push_str("\n## Notes\n\n");
    for n in &r.notes {
        out.push_str(&format!("- {n}\n"));
    }
}

fn warnings(out: &mut String, r: &Results) {
    let warned: Vec<_> = r.runs.iter().filter(|x| !x.warnings.is_empty()).collect();
    if warned.is_empty() {
        return;
    }
    out.push_str("\n## Warnings\n\n");
    for x in warned {
        for w in &x.warnings {
            out.push_str(&format!("- repeat {} `{}`: {w}\n", x.repeat, x.subject));
        }
    }
}

fn failures(out: &mut String, r: &Results) {
    let failed: Vec<_> = r.runs.iter().filter(|x| x.error.is_some()).collect();
    if failed.is_empty() {
        return;
    }
    out.push_str("\n## Failed measurements\n\n");
    for x in failed {
        out.push_str(&format!(
            "- repeat {} `{}`: {}\n",
            x.repeat,
            x.subject,
            x.error.as_deref().unwrap_or("")
        ));
    }
}

/// The sweep as Markdown: the smallest copy sizes per process, then the check against real
/// recordings.
pub fn sweep_text(s: &SweepReport) -> String {
    let mut out = format!(
        "Stack-size sweep from `{}` ({}-byte copies): the smallest DWARF copy giving complete stacks\n\n",
        s.recording, s.copy_bytes
    );
    out.push_str(&table(&facts::SWEEP_COLUMNS, &facts::sweep_rows(s)));
    if !s.check.is_empty() {
        out.push_str("\nThe prediction against real recordings at those sizes (they differ only by the perturbation a larger copy causes and the data it loses):\n\n");
        out.push_str(&table(
            &[
                "recording",
                "process",
                "predicted complete",
                "measured complete",
                "measured - predicted",
            ],
            &facts::sweep_check_rows(s),
        ));
    }
    out
}

const COLUMN_NOTES: &str = "\
*perf.data*: bytes perf wrote for the window (MB = 10^6 bytes), *MB/s* per second of window. \
*lost chunks*: PERF_RECORD_LOST records; *lost events*: records the kernel dropped (share of \
all samples taken). *overhead*: 1 − IOPS / baseline IOPS, paired by repeat, where IOPS are \
the I/Os fio completed in the measured window over the window's wall time (fio's own figure \
adds per-job rates, which over-counts when its jobs do not run at the same time); \"within noise\" \
when it is inside the baseline's own run-to-run range or repeats disagree on its sign. \
*perf CPU*: perf's CPU time / (window × online CPUs). *sample share*: samples whose comm is \
`perf` (the reference post's measure). *CPU per I/O*: the workload's (nbdkit + fio) CPU per \
completed I/O against the baseline's — the cost that shows even when IOPS do not move. \
*nbdkit stacks complete*: share of the server's samples whose user stack reaches a real \
bottom (`_start`, `__libc_start_call_main`, `start_thread`, `clone3`, `main` of the main \
thread) instead of ending in unattached frames. *depth*: frames per server sample.\n";
