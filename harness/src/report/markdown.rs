//! `report.md`: the header (machine, versions, sampling event, workload, command), the table,
//! and the notes a reader needs to trust the figures; one function per section. Also the
//! sweep's Markdown, which the terminal shows too.

use super::columns::{available, notes as column_notes, shown, Source};
use super::facts::{self, Value};
use super::format::thousands;
use super::markdown_table::{row, table};
use super::table;
use crate::results::{Results, RunStatus};
use crate::sweep::SweepReport;

pub fn render(r: &Results) -> String {
    let mut out = String::new();
    for section in [
        header,
        facts_table,
        results_table,
        switchback,
        prices,
        model,
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
    let runs = available(r, Source::SeparateRuns);
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
        None if runs => out.push_str(
            "Baseline (no perf): no successful run — overheads from separate runs cannot be computed.\n\n",
        ),
        None => out.push_str(
            "No baseline runs: the overheads come from the switchbacks (see below).\n\n",
        ),
    }
    if let Some(s) = facts::engine_baseline_sentence(r) {
        out.push_str(&s);
        out.push_str("\n\n");
    }
    out.push_str(&table::render(r, true));
    let mut legend = Vec::new();
    if available(r, Source::Repeats) {
        legend.push("Sizes and counts: medians over repeats, [min–max] beside them.");
    }
    legend.push(match (runs, available(r, Source::Switchback)) {
        (true, true) => "Overheads: estimate [95% interval], from the paired repeats (separate runs) or from the switchback's blocks.",
        (false, true) => "Overheads: estimate [95% interval] from the switchback's blocks.",
        _ => "Overheads: estimate [95% interval] from the paired repeats.",
    });
    let columns = column_notes(&shown(r, true));
    legend.push(&columns);
    out.push_str(&format!("\n{}\n", legend.join(" ")));
    if !r.explanations.is_empty() {
        out.push_str("\n**Where the overheads rank modes against their prices:**\n\n");
        out.push_str(&table::explanations(r));
    }
}

/// How the switchback measured the overhead on the workload, and what it found per mode.
fn switchback(out: &mut String, r: &Results) {
    let Some(method) = super::switchback::method(r) else {
        return;
    };
    out.push_str(&format!(
        "\n## {}\n\n{method}\n\n",
        super::switchback::TITLE
    ));
    let rows = super::switchback::measured_rows(r);
    if !rows.is_empty() {
        out.push_str(&table(&super::switchback::MEASURED_COLUMNS, &rows));
    }
    let model = super::switchback::model_rows(r);
    if !model.is_empty() {
        out.push_str("\nThe price list's account of the immediate overhead:\n\n");
        out.push_str(&table(&super::switchback::MODEL_COLUMNS, &model));
    }
    if !rows.is_empty() {
        out.push_str(&format!("\n{}\n", super::switchback::LEGEND));
    }
    let notes = super::switchback::notes(r);
    if !notes.is_empty() {
        out.push('\n');
        out.extend(notes.iter().map(|(rec, n)| format!("- `{rec}`: {n}\n")));
    }
}

fn prices(out: &mut String, r: &Results) {
    let Some(list) = &r.prices else { return };
    out.push_str("\n## What a sample costs\n\n");
    out.push_str(&super::prices::method(list));
    out.push_str(" Full list: [prices/prices.md](prices/prices.md).\n\n");
    out.push_str(&super::prices::body(list));
}

fn model(out: &mut String, r: &Results) {
    let rows = facts::model_rows(r);
    if rows.is_empty() {
        return;
    }
    out.push_str("\n## The model beside the measurement\n\nFrom the price list and what each recording sampled: the lost share from the bytes per second the samples asked of the sink against what perf can write (its page-cache rate until the dirty data reaches its plateau, then the disk's pace); perf's CPU from the recorder's price; the workload's extra CPU per I/O from the kernel's price for every workload sample taken, placed between the shallow and the deep stack by the workload's own callchain length or bytes copied. *agrees*: the predicted and measured intervals overlap (the lost share: within 5 points).\n\n");
    if let Some(b) = facts::budget_sentence(r) {
        out.push_str(&b);
        out.push_str("\n\n");
    }
    out.push_str(&table(&facts::MODEL_COLUMNS, &rows));
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
