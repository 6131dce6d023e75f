//! `report.md`: the header (machine, versions, sampling event, workload, command), the table,
//! and the notes a reader needs to trust the figures.

use super::format::{percent, thousands};
use super::table;
use crate::results::{ReferenceComparison, Results, RunStatus};
use crate::workload::target::TargetKind;

pub fn render(r: &Results) -> String {
    let m = &r.machine;
    let w = &r.workload;
    let mut out = String::new();
    out.push_str(&format!("# unwindbench: {} — {}\n\n", w.name, r.started_at));
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
    out.push_str("| | |\n|---|---|\n");
    let na = || "not found".to_string();
    for (k, v) in [
        (
            "machine",
            format!(
                "{} — {} ({} online CPUs, {} GiB)",
                m.hostname, m.cpu_model, m.online_cpus, m.memory_gib
            ),
        ),
        ("system", format!("{}, kernel {}", m.os, m.kernel)),
        ("sampling event", sampling(r)),
        ("perf", m.perf_version.clone().unwrap_or_else(na)),
        ("nbdkit", m.nbdkit_version.clone().unwrap_or_else(na)),
        ("fio", m.fio_version.clone().unwrap_or_else(na)),
        ("workload", format!("{} — {}", w.name, w.description)),
        (
            "target",
            match &w.kernel_nbd_skipped {
                Some(why) if w.target == TargetKind::NbdEngine => {
                    format!("{} (kernel NBD not used: {why})", w.target)
                }
                _ => w.target.to_string(),
            },
        ),
        (
            "window",
            format!(
                "{} s measured after a {} s ramp, {} repeat(s), modes interleaved",
                w.runtime_s, w.ramp_s, r.settings.repeat
            ),
        ),
        (
            "sampling frequency",
            r.settings
                .freq
                .map(|f| format!("{f} Hz"))
                .unwrap_or_else(|| "perf's default".into()),
        ),
        ("command", format!("`{}`", r.command.join(" "))),
    ] {
        out.push_str(&format!("| {k} | {} |\n", v.replace('|', "\\|")));
    }
    out.push('\n');
    let b = &r.baseline;
    match b.iops {
        Some(s) => out.push_str(&format!(
            "Baseline (no perf): {} IOPS, median of {} run(s) [{}–{}]; run-to-run range {}.\n\n",
            thousands(s.median),
            s.n,
            thousands(s.min),
            thousands(s.max),
            s.relative_range()
                .map(percent)
                .unwrap_or_else(|| "unknown with one run".into())
        )),
        _ => out
            .push_str("Baseline (no perf): no successful run — overheads cannot be computed.\n\n"),
    }
    out.push_str(&table::render(r, true));
    out.push_str("\nMedians over repeats, [min–max] beside them. ");
    out.push_str(COLUMN_NOTES);
    if let Some(t) = table::accuracy(r) {
        out.push_str("\n## Against the known stacks\n\nEvery sample of the program compared with the chain it runs: *exact* is the whole chain from the thread's start to the leaf, *truncated* its leaf end with frames missing at the bottom, *wrong* anything with a frame not on the chain.\n\n");
        out.push_str(&t);
    }
    if let Some(c) = &r.reference {
        out.push_str("\n## Against the reference post\n\n");
        out.push_str(&format!("{}. Absolute figures do not compare across machines; the ratios to frame pointers of the same run might.\n\n", c.source));
        out.push_str(&reference_table(c));
    }
    if let Some(s) = &r.sweep {
        out.push_str("\n## How large must the DWARF copy be?\n\n");
        out.push_str(&super::sweep::sweep_text(s));
    }
    let charts = super::charts::render_all(r);
    if !charts.is_empty() {
        out.push_str("\n## Charts\n\n");
        for c in &charts {
            out.push_str(&format!("![{}](charts/{}.svg)\n", c.title, c.name));
        }
    }
    if !r.notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for n in &r.notes {
            out.push_str(&format!("- {n}\n"));
        }
    }
    let warned: Vec<_> = r.runs.iter().filter(|x| !x.warnings.is_empty()).collect();
    if !warned.is_empty() {
        out.push_str("\n## Warnings\n\n");
        for x in warned {
            for w in &x.warnings {
                out.push_str(&format!("- repeat {} `{}`: {w}\n", x.repeat, x.subject));
            }
        }
    }
    let failed: Vec<_> = r.runs.iter().filter(|x| x.error.is_some()).collect();
    if !failed.is_empty() {
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
    out
}

fn sampling(r: &Results) -> String {
    let event = r.machine.sampling_event.clone();
    match (event, r.machine.hardware_pmu) {
        (Some(e), true) => format!("{e} (hardware PMU)"),
        (Some(e), false) => format!("{e} — software timer: this machine has no hardware PMU"),
        (None, true) => "hardware PMU (no recording read yet)".into(),
        (None, false) => "cpu-clock — software timer: this machine has no hardware PMU".into(),
    }
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

/// The reference comparison as a Markdown table.
fn reference_table(c: &ReferenceComparison) -> String {
    let dash = || "–".to_string();
    let mut out = String::from(
        "| type | reference perf.data | ×fp | this run perf.data | ×fp | reference lost chunks | this run lost chunks | reference overhead | this run sample share |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &c.rows {
        out.push_str(&format!(
            "| {} | {} MB | {:.1}× | {} | {} | {} | {} | {} | {} |\n",
            r.mode,
            thousands(r.reference_perf_data_mb),
            r.reference_size_vs_fp,
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
        ));
    }
    out
}
