//! Footnotes for the table's zeros and blanks whose reason the run knows.
//!
//! A 0% or an empty cell reads as a failure of the tool, or of the mode, unless it says
//! why: Debian's nbdkit and libc keep no frame pointers, so every frame-pointer stack of
//! nbdkit stops in its first frame (the doctor's audit knows, the table did not say); a run
//! without a price list has no cost per sample; a pipe recording writes no perf.data. Each
//! such cell carries a mark (` [1]`) and the reasons follow the table, numbered, in the
//! terminal, report.md and report.html alike.

use std::collections::BTreeMap;

use super::columns::{
    shown, COMPLETENESS_COLUMN, COST_COLUMN, OVER_NONE_COLUMN, PERF_DATA_COLUMN, SWITCHBACK_COLUMN,
};
use super::format::{interval, percent, signed_percent};
use crate::mode::UnwindMode;
use crate::record::Sink;
use crate::results::{switchback, MeasurementStatus, Metric, ModeSummary, Results};

/// Below this share a completeness figure counts as zero (it prints as 0.0%).
const ZERO: f64 = 0.0005;
/// Binaries with frame pointers in fewer of their functions than this break the walks.
const FEW_FRAME_POINTERS: f64 = 0.5;

/// The marks of one table and the notes they point to.
#[derive(Debug, Default)]
pub struct Footnotes {
    /// The notes, numbered from 1 in this order.
    pub notes: Vec<String>,
    /// (row of `results.modes`, column) -> note number.
    marks: BTreeMap<(usize, usize), usize>,
}

impl Footnotes {
    pub fn of(results: &Results) -> Footnotes {
        let mut f = Footnotes::default();
        // A note on a column the run does not show would point at nothing.
        let shown = shown(results, true);
        for (row, m) in results.modes.iter().enumerate() {
            if !m.measured() {
                continue; // the row says itself why it was skipped or failed
            }
            for (column, note) in reasons(results, m) {
                if shown.contains(&column) {
                    f.mark(row, column, note);
                }
            }
        }
        f
    }

    fn mark(&mut self, row: usize, column: usize, note: String) {
        let number = match self.notes.iter().position(|n| *n == note) {
            Some(i) => i + 1,
            None => {
                self.notes.push(note);
                self.notes.len()
            }
        };
        self.marks.insert((row, column), number);
    }

    /// `cell` with its mark, if it has one.
    pub fn apply(&self, row: usize, column: usize, cell: String) -> String {
        match self.marks.get(&(row, column)) {
            Some(n) => format!("{cell} [{n}]"),
            None => cell,
        }
    }

    /// The notes as lines below a Markdown table (empty when there are none).
    pub fn markdown(&self) -> String {
        self.notes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("\n[{}] {n}", i + 1))
            .collect::<String>()
            + if self.notes.is_empty() { "" } else { "\n" }
    }
}

/// The reasons this run knows for a measured mode's zero or empty cells.
fn reasons(results: &Results, m: &ModeSummary) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let unwind = m.mode.mode;
    let completeness = m.median(Metric::Completeness);
    if completeness.is_some_and(|c| c < ZERO) && matches!(unwind, UnwindMode::Fp | UnwindMode::Lbr)
    {
        if let Some(why) = missing_frame_pointers(results) {
            out.push((COMPLETENESS_COLUMN, why));
        }
    }
    if unwind == UnwindMode::None && completeness.is_none() {
        out.push((
            COMPLETENESS_COLUMN,
            "no call graph recorded (`none` samples without stacks): nothing to be complete".into(),
        ));
    }
    if m.figure(Metric::CostPerSampleUs).is_none() {
        let why = if results.prices.is_none() {
            "no price list in this run (--prices none, or a run from before price lists): the cost per sample comes from it".into()
        } else if matches!(unwind, UnwindMode::Online { .. }) {
            "online modes are not priced: the price list prices perf's recordings".into()
        } else {
            "the price list has no price for this mode".to_string()
        };
        out.push((COST_COLUMN, why));
    }
    let none_recorded = results
        .modes
        .iter()
        .any(|n| n.mode.mode == UnwindMode::None && n.measured());
    if m.figure(Metric::OverheadThroughputVsNone).is_none() && unwind != UnwindMode::None {
        out.push((
            OVER_NONE_COLUMN,
            if none_recorded {
                "no paired repeat of `none` to set it against".into()
            } else {
                "`none` (sampling without a call graph) was not recorded in this run (--without-none): nothing to set this mode against".into()
            },
        ));
    }
    if m.mode.sink == Sink::Pipe && m.figure(Metric::PerfDataBytes).is_none() {
        out.push((
            PERF_DATA_COLUMN,
            "pipe sink: perf streams into the analyzer, nothing is written to disk".into(),
        ));
    }
    out.extend(switchback_reason(results, m).map(|why| (SWITCHBACK_COLUMN, why)));
    out
}

/// What the switchback cell of `m` needs said: that the figure is the steady one where the
/// switch's effect outlasted the settle time, or why the cell is empty.
fn switchback_reason(results: &Results, m: &ModeSummary) -> Option<String> {
    if let Some(s) = switchback::of(&results.switchbacks, m.mode).and_then(|r| r.summary.as_ref()) {
        let c = s.carry_over.as_ref().filter(|c| c.significant)?;
        return Some(format!(
            "the effect of a switch outlasted the {:.0} ms settle time: carry-over into sampled rounds {}, into unsampled rounds {} (p = {:.3}). The figure is therefore built on the steady overhead, sampled after sampled against unsampled after unsampled, {}, not on the paired one, {}.",
            s.settle_ms,
            interval(&c.into_on, signed_percent),
            interval(&c.into_off, signed_percent),
            c.p_value,
            interval(&c.steady, percent),
            interval(&s.overhead, percent),
        ));
    }
    let tried: Vec<_> = results
        .switchbacks
        .iter()
        .filter(|r| r.recording == m.mode)
        .collect();
    if let Some(last) = tried.last() {
        let what = match last.status {
            MeasurementStatus::Failed => "failed",
            MeasurementStatus::Interrupted => "was interrupted",
            MeasurementStatus::Ok => "gave no figure",
        };
        let why = last
            .error
            .clone()
            .or_else(|| (!last.notes.is_empty()).then(|| last.notes.join("; ")))
            .unwrap_or_else(|| "too few complete blocks to estimate anything".into());
        return Some(format!("the switchback of `{}` {what}: {why}", m.mode));
    }
    match (m.mode.sink, m.mode.mode) {
        (Sink::Pipe, _) => Some("the switchback measures each mode once, with the file sink; a pipe recording's overhead is its file twin's plus the pipe reader's (see perf CPU)".into()),
        (_, UnwindMode::Lbr) => Some("LBR recordings are not measured by switchback".into()),
        _ => None,
    }
}

/// Why frame-pointer walks of the workload's main process cannot reach a root, from the
/// doctor's audit: the binaries of its stacks (the process itself and libc) that keep few
/// frame pointers. None when the audit has no such binary.
fn missing_frame_pointers(results: &Results) -> Option<String> {
    let primary = results.workload.primary();
    let few: Vec<String> = results
        .doctor
        .audits
        .iter()
        .filter(|a| a.role == primary || a.role == "libc")
        .filter(|a| a.functions > 0 && a.frame_pointer_share() < FEW_FRAME_POINTERS)
        .map(|a| {
            format!(
                "{} ({} of {} functions)",
                a.path.display(),
                a.with_frame_pointer,
                a.functions
            )
        })
        .collect();
    (!few.is_empty()).then(|| {
        format!(
            "0% is expected here, not a failure: the doctor's audit finds frame pointers in few functions of {} (distribution builds omit them), so a frame-pointer walk breaks in their first frame and no {primary} stack reaches its root. scripts/build-fp-workloads.sh and --fp-built rebuild them with frame pointers.",
            few.join(" and ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_runs_zeros_carry_their_reasons() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results/results.json");
        let results = Results::read(&path).unwrap();
        let notes = Footnotes::of(&results);
        let fp = results
            .modes
            .iter()
            .position(|m| m.mode.mode == UnwindMode::Fp)
            .unwrap();
        let cell = notes.apply(fp, COMPLETENESS_COLUMN, "0.0%".into());
        assert!(cell.starts_with("0.0% ["), "{cell}");
        let text = notes.markdown();
        assert!(
            text.contains("/usr/bin/nbdkit (0 of 50 functions)"),
            "{text}"
        );
        assert!(text.contains("--prices none"), "{text}");
        // DWARF's complete stacks need no note.
        let dwarf = results
            .modes
            .iter()
            .position(|m| matches!(m.mode.mode, UnwindMode::Dwarf { .. }))
            .unwrap();
        assert_eq!(notes.apply(dwarf, COMPLETENESS_COLUMN, "x".into()), "x");
    }
}
