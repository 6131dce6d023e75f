//! The switchback section of report.md and report.html, and its lines in the terminal: how
//! the overhead on the running workload was measured, what each mode's switchback found
//! (immediate, carry-over, deferred, total), and the price list's account of it. Rows of
//! plain text, built once here; each format lays them out and escapes them its own way.

use super::format::{interval, noise_interval, percent, signed_percent, thousands};
use crate::results::switchback::{self as sb, SwitchbackModel};
use crate::results::{MeasurementStatus, ModeSummary, Results};
use crate::stats::Interval;
use crate::switchback::SwitchbackSummary;

pub const TITLE: &str = "The overhead on the workload (switchback)";

/// Every measured mode with its switchback summary, in the table's order.
fn measured(r: &Results) -> impl Iterator<Item = (&ModeSummary, &SwitchbackSummary)> {
    r.modes.iter().filter_map(|m| {
        let s = sb::of(&r.switchbacks, m.mode)?.summary.as_ref()?;
        Some((m, s))
    })
}

/// (round, settle) in ms: as the run was told, else as its first switchback ran.
fn rounds(r: &Results) -> Option<(f64, f64)> {
    match &r.settings.switchback {
        Some(s) => Some((s.round_ms, s.settle_ms)),
        None => measured(r).next().map(|(_, s)| (s.round_ms, s.settle_ms)),
    }
}

/// The method in two sentences; None when the run has no switchback.
pub fn method(r: &Results) -> Option<String> {
    if r.switchbacks.is_empty() {
        return None;
    }
    let (round, settle) = rounds(r)?;
    Some(format!(
        "Each mode's overhead comes from one run of the workload in which its recorder ran throughout while sampling was switched on and off in rounds of {round:.0} ms (the first {settle:.0} ms after each switch left out of both), a sampled and an unsampled round per block in random order, so that whatever the host does reaches both alike. The immediate overhead pairs the two rounds of every block (1 − sampled / unsampled I/Os per second, averaged as log-ratios), its 95% interval comes from the spread of the blocks (Student's t on a Newey–West variance, as neighbouring blocks share the host's drift), and the total adds the deferred cost of writing back what was recorded."
    ))
}

/// What the columns of the two tables mean, beyond the method.
pub const LEGEND: &str = "*carry-over*: how much faster a round runs after a sampled round than after an unsampled one, fitted within blocks (into sampled / into unsampled rounds, and the chance of carry-overs this large where there are none); below p = 0.05 the switch's effect outlasted the settle time, and the total is built on the steady overhead (sampled after sampled against unsampled after unsampled) instead of the paired one. *deferred*: the writeback threads' CPU per MB beyond their background, times the MB per second the mode writes while sampling, as a share of the workload's CPUs. *model*: the kernel's price per sample times the samples taken per second, plus the recorder's CPU, over the workload's CPUs, against the immediate overhead; *residual* is what neither explains, and agreement is not judged on a measured interval wider than 10 points.";

pub const MEASURED_COLUMNS: [&str; 9] = [
    "type",
    "immediate",
    "carry-over: into on / into off (p)",
    "deferred: writeback ms/MB × MB/s while on",
    "total",
    "CPU per I/O",
    "blocks",
    "while on: samples/s, lost",
    "recorder CPUs while on",
];

fn carry_over(s: &SwitchbackSummary) -> String {
    let Some(c) = &s.carry_over else {
        return "– (too few blocks to fit)".into();
    };
    let text = format!(
        "{} / {} (p = {:.3})",
        signed_percent(c.into_on.estimate),
        signed_percent(c.into_off.estimate),
        c.p_value
    );
    if c.significant {
        format!(
            "{text}: significant, steady {}",
            interval(&c.steady, percent)
        )
    } else {
        text
    }
}

/// Points of overhead (a share ×100) with two decimals: the deferred part is often small.
fn points(i: &Interval) -> String {
    format!(
        "{:.2} points [{:.2}–{:.2}]",
        i.estimate * 100.0,
        i.low * 100.0,
        i.high * 100.0
    )
}

fn deferred(s: &SwitchbackSummary) -> String {
    match &s.deferred {
        Some(d) => format!(
            "{:.2} ms/MB × {:.1} MB/s = {}",
            d.ms_per_mb.estimate,
            d.written_mb_per_s,
            points(&d.overhead)
        ),
        None => format!(
            "– ({:.1} MB/s while on: too little written to price)",
            s.on.written_mb_per_s
        ),
    }
}

fn total(s: &SwitchbackSummary) -> String {
    let steady = s.carry_over.as_ref().is_some_and(|c| c.significant);
    let text = noise_interval(&s.total, percent);
    if steady {
        format!("{text} (steady)")
    } else {
        text
    }
}

/// A row per mode with a switchback: what it measured.
pub fn measured_rows(r: &Results) -> Vec<Vec<String>> {
    measured(r)
        .map(|(m, s)| {
            vec![
                m.title.clone(),
                noise_interval(&s.overhead, percent),
                carry_over(s),
                deferred(s),
                total(s),
                s.cpu_per_io
                    .map_or("–".into(), |i| noise_interval(&i, signed_percent)),
                format!("{} in {:.0} s", s.blocks, s.seconds),
                format!(
                    "{}/s, {} lost",
                    thousands(s.on.samples_per_s),
                    percent(s.on.lost_share)
                ),
                format!("{:.3}", s.on.recorder_cpus),
            ]
        })
        .collect()
}

pub const MODEL_COLUMNS: [&str; 8] = [
    "type",
    "interrupts",
    "recorder: predicted / measured",
    "predicted",
    "measured",
    "residual",
    "agrees",
    "prices at",
];

/// Whether a model agrees, in words: not judged on a measured interval too wide to be
/// evidence.
pub fn agreement(model: &SwitchbackModel) -> String {
    match model.agrees {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => format!(
            "cannot tell: interval {:.1} points wide",
            (model.measured.high - model.measured.low) * 100.0
        ),
    }
}

/// A row per mode with a switchback model: the price list's account against the measured
/// immediate overhead.
pub fn model_rows(r: &Results) -> Vec<Vec<String>> {
    r.modes
        .iter()
        .filter_map(|m| {
            let model = m.switchback_model.as_ref()?;
            Some(vec![
                m.title.clone(),
                interval(&model.interrupts, percent),
                format!(
                    "{} / {}",
                    model
                        .recorder_predicted
                        .map_or("–".into(), |i| interval(&i, percent)),
                    percent(model.recorder_measured)
                ),
                interval(&model.predicted, percent),
                interval(&model.measured, percent),
                interval(&model.residual, signed_percent),
                agreement(model),
                model.stacks.clone(),
            ])
        })
        .collect()
}

/// The switchbacks' notes and failures, as (recording, what to know), in the order they ran.
pub fn notes(r: &Results) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for rec in &r.switchbacks {
        let name = rec.recording.to_string();
        let status = match rec.status {
            MeasurementStatus::Ok => None,
            MeasurementStatus::Failed => Some("failed"),
            MeasurementStatus::Interrupted => Some("interrupted"),
        };
        if let Some(status) = status {
            let why = rec.error.as_deref().unwrap_or("no reason recorded");
            out.push((name.clone(), format!("{status}: {why}")));
        } else if rec.summary.is_none() {
            out.push((
                name.clone(),
                "too few complete blocks to estimate anything".into(),
            ));
        }
        out.extend(rec.notes.iter().map(|n| (name.clone(), n.clone())));
    }
    out
}

/// The terminal's lines: a line per mode with its switchback overhead, its interval, the
/// carry-over flag and the deferred part; empty without switchbacks.
pub fn terminal(r: &Results) -> String {
    let lines: Vec<String> = measured(r)
        .map(|(m, s)| {
            let carry = match &s.carry_over {
                Some(c) if c.significant => format!(
                    "carry-over significant (p = {:.3}): steady figure",
                    c.p_value
                ),
                Some(_) => "no carry-over".into(),
                None => "carry-over not fitted".into(),
            };
            let deferred = s.deferred.as_ref().map_or("deferred: –".into(), |d| {
                format!("deferred {:.2} points", d.overhead.estimate * 100.0)
            });
            format!(
                "- {}: {}; {carry}; {deferred}\n",
                m.title,
                noise_interval(&s.total, percent)
            )
        })
        .collect();
    if lines.is_empty() && r.switchbacks.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "Overhead by switchback (sampling switched on and off inside one run; estimate [95% interval] over the blocks):\n",
    );
    out.extend(lines);
    out.extend(
        notes(r)
            .into_iter()
            .map(|(rec, n)| format!("- note on {rec}: {n}\n")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Results {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results/switchback/results.json");
        Results::read(&path).unwrap()
    }

    fn model_of(r: &Results, mode: &str) -> SwitchbackModel {
        let m = r.modes.iter().find(|m| m.mode.to_string() == mode).unwrap();
        m.switchback_model.clone().unwrap()
    }

    #[test]
    fn agreement_is_judged_only_on_a_narrow_interval() {
        let r = fixture();
        let mut model = model_of(&r, "fp");
        // The fixture's fp: 4.1%–14% measured, too wide to be evidence either way.
        assert_eq!(agreement(&model), "cannot tell: interval 10.2 points wide");
        model.agrees = Some(true);
        assert_eq!(agreement(&model), "yes");
        model.agrees = Some(false);
        assert_eq!(agreement(&model), "no");
    }

    #[test]
    fn rows_say_what_each_switchback_found() {
        let r = fixture();
        let rows = measured_rows(&r);
        assert_eq!(rows.len(), 3);
        for row in &rows {
            assert_eq!(row.len(), MEASURED_COLUMNS.len());
        }
        let dwarf = rows.iter().find(|row| row[0] == "DWARF (8K)").unwrap();
        // Its carry-over is significant: the total is the steady figure, and says so.
        assert!(dwarf[2].contains("significant, steady"), "{dwarf:?}");
        assert!(dwarf[4].ends_with("(steady)"), "{dwarf:?}");
        assert!(
            dwarf[3].starts_with("0.22 ms/MB × 63.1 MB/s = 1.55 points"),
            "{dwarf:?}"
        );
        let fp = rows.iter().find(|row| row[0] == "frame pointers").unwrap();
        assert!(fp[3].contains("too little written"), "{fp:?}");
        assert!(!fp[4].contains("steady"), "{fp:?}");
        assert_eq!(fp[6], "31 in 20 s");
        for row in model_rows(&r) {
            assert_eq!(row.len(), MODEL_COLUMNS.len());
        }
    }

    #[test]
    fn no_switchback_no_section() {
        let mut r = fixture();
        r.switchbacks.clear();
        assert!(method(&r).is_none());
        assert!(terminal(&r).is_empty());
        assert!(notes(&r).is_empty());
    }
}
