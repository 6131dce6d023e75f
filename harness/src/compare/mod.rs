//! `compare`: the unprofiled baseline plus one recording per unwinding mode, repeated with the
//! modes interleaved, each recording read back for its statistics, results written after every
//! measurement so that a crash or Ctrl-C loses at most the one in flight.
//!
//! [`options`] is what it is asked, [`prepare`] everything before the first measurement,
//! [`plan`] the recordings, [`measurement`] one measurement, [`steps`] what comes around
//! each (the disk guard, the analysis, the sweep check).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exclusive;
use crate::leftovers::ScratchDir;
use crate::machine::Machine;
use crate::process;
use crate::progress::Progress;
use crate::record::{Recording, Subject};
use crate::report;
use crate::results::{summary, MeasurementStatus, Results, RunStatus};
use crate::timestamp;

mod budget;
mod calibrate;
mod measurement;
mod options;
mod plan;
mod prepare;
mod prices;
mod steps;
mod switchback;

pub use self::calibrate::{calibrate, check_switchback, render as render_switchback_check};
pub use self::options::{AutoRepeat, CompareError, CompareOptions, OverheadMethod, PriceSource};
pub use self::plan::{Plan, SWEEP_COPY};

/// How a finished comparison went.
pub struct Outcome {
    pub run_dir: PathBuf,
    pub results: Results,
}

/// The measurement order of repeat `r` (0-based): the unprofiled `baselines` (when the
/// overheads are measured by separate runs) then recordings, rotated by `r`, so each takes
/// every position over the repeats and drift hits all alike.
pub fn round_order(recordings: &[Recording], r: usize, baselines: &[Subject]) -> Vec<Subject> {
    let mut order: Vec<Subject> = baselines
        .iter()
        .copied()
        .chain(recordings.iter().copied().map(Subject::Recording))
        .collect();
    let len = order.len();
    order.rotate_left(r % len);
    order
}

/// Runs the comparison. `command` is recorded in the results as the command line. The
/// machine is held from before the doctor's checks to the end (see [`crate::exclusive`]).
pub fn compare(
    opts: &CompareOptions,
    command: Vec<String>,
    make_progress: &dyn Fn(Duration) -> Box<dyn Progress>,
) -> Result<Outcome, CompareError> {
    prepare::check_input(opts)?;
    let machine_lock = exclusive::hold(&command.join(" "), opts.wait_for_machine)?;
    let prepare::Prepared {
        run_dir,
        claim: _claim,
        workload,
        tools,
        runtime,
        ramp,
        programs,
        truth,
        mut machine,
        plan,
        freq,
        target,
        mut results,
    } = prepare::prepare(opts, command)?;
    results.notes.extend(machine_lock.stale.clone());
    refresh(&mut results, &plan, &machine);
    save(&results, &run_dir)?;
    let stopped_early = prices::price_step(opts, &plan, &run_dir, &mut results, make_progress)?;
    save(&results, &run_dir)?;

    let sock_dir = ScratchDir::create().map_err(|source| CompareError::OutDir {
        path: std::env::temp_dir(),
        source,
    })?;
    let focus = results.workload.focus.clone();
    let ctx = measurement::Context {
        opts,
        workload: &workload,
        tools: &tools,
        runtime,
        ramp,
        target,
        programs: &programs,
        truth: &truth,
        freq,
        run_dir: &run_dir,
        sock_dir: sock_dir.path(),
        focus: &focus,
    };
    let save_now = |r: &mut Results| {
        refresh(r, &plan, &machine);
        save(r, &run_dir)
    };
    let interrupted = stopped_early
        || perf_budget(&ctx, &plan, &mut results, &machine, make_progress)?
        || (opts.overhead.switchback()
            && switchback::run(
                &ctx,
                &plan,
                &mut results,
                &machine,
                make_progress,
                &save_now,
            )?)
        || (opts.repeat > 0 && run_rounds(&ctx, &plan, &mut results, &mut machine, make_progress)?);
    refresh(&mut results, &plan, &machine);
    results.status = if interrupted {
        RunStatus::Interrupted
    } else if results
        .runs
        .iter()
        .any(|r| r.status != MeasurementStatus::Ok)
    {
        RunStatus::Partial
    } else {
        RunStatus::Complete
    };
    results.finished_at = Some(timestamp::now_rfc3339());
    crate::report::flamegraph::link_flamegraphs(&mut results, &run_dir);
    results.sweep = steps::sweep_report(&results);
    save(&results, &run_dir)?;
    Ok(Outcome { run_dir, results })
}

/// The summaries of the runs so far: the baseline, every planned recording, the reference,
/// and with a price list, the model beside each mode and the rankings it explains.
fn refresh(results: &mut Results, plan: &Plan, machine: &Machine) {
    results.machine = machine.clone();
    results.baseline = summary::baseline(&results.runs);
    results.modes = plan
        .entries
        .iter()
        .map(|(rec, skip)| {
            summary::mode_summary(
                *rec,
                &results.runs,
                &results.baseline,
                machine.online_cpus,
                skip.as_deref(),
            )
        })
        .collect();
    for m in results.modes.iter_mut() {
        let Some(sb) = crate::results::switchback::of(&results.switchbacks, m.mode) else {
            continue;
        };
        if let Some(summary) = &sb.summary {
            m.figures
                .extend(crate::results::switchback::figures(summary));
        }
        // A mode measured by its switchback alone (--repeat 0) is measured all the same.
        if m.status == crate::results::ModeStatus::Pending {
            m.status = crate::results::ModeStatus::Ok;
        }
    }
    results.reference = crate::results::reference::compare(&results.modes);
    if let Some(prices) = &results.prices {
        for m in results.modes.iter_mut().filter(|m| m.measured()) {
            m.figures
                .extend(crate::results::model::price_figures(m.mode.mode, prices));
            m.model = crate::results::model::check(
                m.mode,
                &m.figures,
                &results.runs,
                prices,
                &results.workload.focus,
                machine.online_cpus,
                results.perf_budget.as_ref(),
            );
        }
        for m in results.modes.iter_mut() {
            let summary = crate::results::switchback::of(&results.switchbacks, m.mode)
                .and_then(|r| r.summary.as_ref());
            m.switchback_model = summary.and_then(|s| switchback_model(m, s, prices));
        }
        results.explanations = crate::results::ranking::explain(&results.modes);
    }
}

/// The price list's account of a mode's switchback: at the workload's stacks where its
/// recordings told them (the model of the repeats), else at the shallow stack's prices.
fn switchback_model(
    m: &crate::results::ModeSummary,
    s: &crate::switchback::SwitchbackSummary,
    prices: &crate::price::PriceList,
) -> Option<crate::results::switchback::SwitchbackModel> {
    let at_stacks = m.model.as_ref().map(|c| &c.prediction);
    let shallow = prices.price(&m.mode.mode.to_string(), crate::price::Variant::Shallow);
    let (kernel, recorder, stacks) =
        match at_stacks.and_then(|p| Some((p.kernel_ns?, p.recorder_ns))) {
            Some((k, r)) => (k, r, "the workload's, from its recordings"),
            None => (
                shallow?.kernel_ns?,
                shallow.and_then(|p| p.recorder_ns),
                "the shallow stack's: no recording gave the workload's",
            ),
        };
    crate::results::switchback::model(s, kernel, recorder, stacks)
}

/// With a price list, perf's CPU budget under the workload, before the first measurement (see
/// [`budget`]). Returns whether the run was interrupted.
fn perf_budget(
    ctx: &measurement::Context<'_>,
    plan: &Plan,
    results: &mut Results,
    machine: &Machine,
    make_progress: &dyn Fn(Duration) -> Box<dyn Progress>,
) -> Result<bool, CompareError> {
    if results.prices.is_none() || plan.recorded().is_empty() {
        return Ok(false);
    }
    let expected = ctx.ramp + ctx.runtime + Duration::from_secs(3);
    let mut progress = make_progress(expected);
    let title = format!(
        "perf's CPU under this workload ({}, more than perf can write)",
        budget::SATURATING
    );
    progress.start(1, 1, &title, expected);
    let interrupted = match budget::measure_budget(ctx, machine, progress.as_mut()) {
        budget::Outcome::Measured(b) => {
            results.perf_budget = Some(b);
            false
        }
        budget::Outcome::Skipped(note) => {
            progress.end("skipped");
            results.notes.push(note);
            false
        }
        budget::Outcome::Interrupted => true,
    };
    progress.finish();
    refresh(results, plan, machine);
    save(results, ctx.run_dir)?;
    Ok(interrupted || process::interrupted().is_some())
}

/// Every repeat of the baseline and the recordings, interleaved, the results written after
/// each measurement. Returns whether the run was interrupted.
fn run_rounds(
    ctx: &measurement::Context<'_>,
    plan: &Plan,
    results: &mut Results,
    machine: &mut Machine,
    make_progress: &dyn Fn(Duration) -> Box<dyn Progress>,
) -> Result<bool, CompareError> {
    let recorded = plan.recorded();
    let auto = ctx.opts.auto_repeat;
    let repeat = auto.map_or(ctx.opts.repeat, |a| a.max.max(ctx.opts.repeat));
    let per_measurement = ctx.ramp + ctx.runtime + Duration::from_secs(3);
    let baselines = baselines(ctx);
    let total = repeat * (recorded.len() + baselines.len());
    let mut progress = make_progress(per_measurement * total as u32);
    let mut index = 0;
    for r in 0..repeat {
        if auto.is_some() && r >= ctx.opts.repeat && precise(results, auto).is_some() {
            break;
        }
        for subject in round_order(&recorded, r, &baselines) {
            index += 1;
            progress.start(
                index,
                total,
                &format!("repeat {}/{repeat} · {subject}", r + 1),
                per_measurement,
            );
            let (record, stopped) = measurement::measure_one(
                ctx,
                r,
                subject,
                &results.runs,
                machine,
                progress.as_mut(),
            )?;
            results.runs.push(record);
            refresh(results, plan, machine);
            save(results, ctx.run_dir)?;
            if stopped || process::interrupted().is_some() {
                progress.finish();
                return Ok(true);
            }
        }
    }
    if let Some(a) = auto {
        let note = precise(results, auto).unwrap_or_else(|| {
            format!(
                "--repeat auto stopped at --max-repeat {repeat}: some throughput overheads are still less precise than ±{:.1} points (see their intervals)",
                a.precision * 100.0
            )
        });
        results.notes.push(note);
    }
    results.settings.repeat = results.runs.iter().map(|r| r.repeat).max().unwrap_or(0);
    progress.finish();
    Ok(false)
}

/// The unprofiled measurements of every round: none when the overheads come from the
/// switchback alone; the baseline, and on a kernel block device the same through fio's nbd
/// engine, so the device's baseline IOPS stand beside the engine's (the hops' cost).
fn baselines(ctx: &measurement::Context<'_>) -> Vec<Subject> {
    let nbd = matches!(ctx.workload.kind, crate::workload::WorkloadKind::Nbd { .. });
    match (ctx.opts.overhead.runs(), nbd && ctx.target.is_device()) {
        (false, _) => Vec::new(),
        (true, false) => vec![Subject::Baseline],
        (true, true) => vec![Subject::Baseline, Subject::EngineBaseline],
    }
}

/// With `--repeat auto`: whether every measured mode's throughput overhead has an interval
/// no wider than asked; the note that says so, or None to go on.
fn precise(results: &Results, auto: Option<AutoRepeat>) -> Option<String> {
    let auto = auto?;
    let widths: Vec<f64> = results
        .modes
        .iter()
        .filter(|m| m.measured())
        .map(|m| {
            m.figure(crate::results::Metric::OverheadThroughput)
                .and_then(|s| s.interval)
                .map_or(f64::INFINITY, |i| i.half_width())
        })
        .collect();
    let widest = widths.iter().copied().fold(0.0, f64::max);
    (!widths.is_empty() && widest <= auto.precision).then(|| {
        format!(
            "--repeat auto stopped after {} rounds: every throughput overhead is known within ±{:.1} points (asked: ±{:.1})",
            results.runs.iter().map(|r| r.repeat).max().unwrap_or(0),
            widest * 100.0,
            auto.precision * 100.0
        )
    })
}

/// Writes results.json and every other export.
pub fn save(results: &Results, dir: &Path) -> Result<(), CompareError> {
    for exporter in report::exporters() {
        exporter.export(results, dir)?;
    }
    Ok(())
}

/// `unwindbench report RUN_DIR`: everything a run folder shows, rendered again from its
/// results.json and folded stacks, without recording anything.
pub fn rerender(run_dir: &Path) -> Result<Results, CompareError> {
    let mut results = Results::load(&run_dir.join("results.json"))?;
    // The reasons given for rankings follow from the stored figures: give them as this
    // version words them.
    if results.prices.is_some() {
        results.explanations = crate::results::ranking::explain(&results.modes);
    }
    crate::report::flamegraph::redraw(&results, run_dir);
    crate::report::flamegraph::link_flamegraphs(&mut results, run_dir);
    save(&results, run_dir)?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mode::UnwindMode;

    #[test]
    fn rounds_rotate_so_every_mode_takes_every_slot() {
        let modes = [
            Recording::plain(UnwindMode::Fp),
            Recording::plain(UnwindMode::Dwarf { stack_bytes: 4096 }),
        ];
        let (baseline, fp, dwarf) = (
            Subject::Baseline,
            Subject::Recording(modes[0]),
            Subject::Recording(modes[1]),
        );
        let b = [baseline];
        assert_eq!(round_order(&modes, 0, &b), vec![baseline, fp, dwarf]);
        assert_eq!(round_order(&modes, 1, &b), vec![fp, dwarf, baseline]);
        assert_eq!(round_order(&modes, 3, &b), round_order(&modes, 0, &b));
        // Overheads by switchback: no baseline runs.
        assert_eq!(round_order(&modes, 1, &[]), vec![dwarf, fp]);
        // On a device, the nbd engine's baseline takes its turn too.
        let both = [baseline, Subject::EngineBaseline];
        assert_eq!(
            round_order(&modes, 1, &both),
            vec![Subject::EngineBaseline, fp, dwarf, baseline]
        );
    }
}
