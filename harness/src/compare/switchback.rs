//! The switchback step of a comparison: every recorded mode switched on and off inside one
//! run of the workload ([`crate::switchback`]), one mode after another, the results written
//! after each. A mode that fails keeps its error and the others go on.

use std::time::Duration;

use super::measurement::Context;
use super::options::CompareError;
use super::plan::Plan;
use super::steps;
use crate::machine::Machine;
use crate::process;
use crate::progress::Progress;
use crate::record::{Recording, Sink};
use crate::results::{MeasurementStatus, Results, SwitchbackRecord};
use crate::switchback::{self, SwitchbackSpec};
use crate::timestamp;

/// The recordings a switchback measures: the plan's file recordings, each once (a pipe
/// variant's overhead is its file twin's plus the reader, which the runs measure).
pub(super) fn switched(plan: &Plan) -> Vec<Recording> {
    plan.recorded()
        .into_iter()
        .filter(|r| r.sink == Sink::File && switchback::switchable(r.mode))
        .collect()
}

/// Runs every switchback. Returns whether the run was interrupted.
pub(super) fn run(
    ctx: &Context<'_>,
    plan: &Plan,
    results: &mut Results,
    machine: &Machine,
    make_progress: &dyn Fn(Duration) -> Box<dyn Progress>,
    save: &dyn Fn(&mut Results) -> Result<(), CompareError>,
) -> Result<bool, CompareError> {
    let recordings = switched(plan);
    let per = ctx.ramp + ctx.opts.switchback.duration + Duration::from_secs(15);
    let mut progress = make_progress(per * recordings.len() as u32);
    for (i, rec) in recordings.iter().enumerate() {
        progress.start(
            i + 1,
            recordings.len(),
            &format!("switchback · {rec} (sampling on and off in random rounds)"),
            per,
        );
        let beside = crate::exclusive::sessions::others();
        let mut record = one(ctx, *rec, machine, progress.as_mut());
        let beside = beside.merge(crate::exclusive::sessions::others());
        record.notes.extend(beside.warning());
        let interrupted = record.status == MeasurementStatus::Interrupted;
        progress.end(&outcome(&record));
        results.switchbacks.push(record);
        save(results)?;
        if interrupted || process::interrupted().is_some() {
            progress.finish();
            return Ok(true);
        }
    }
    progress.finish();
    Ok(false)
}

/// One mode's switchback, its failure kept as its error.
fn one(
    ctx: &Context<'_>,
    rec: Recording,
    machine: &Machine,
    progress: &mut dyn Progress,
) -> SwitchbackRecord {
    let folder = format!("switchback-{}", rec.to_string().replace(':', "-"));
    let dir = ctx.run_dir.join(&folder);
    let mut record = SwitchbackRecord {
        recording: rec,
        status: MeasurementStatus::Ok,
        error: None,
        started_at: timestamp::now_rfc3339(),
        folder: folder.into(),
        summary: None,
        notes: Vec::new(),
    };
    // Sampling is on about half the time, plus the switches' delays: the disk guard sees
    // half the switching time and ten seconds more.
    let window = ctx.opts.switchback.duration / 2 + Duration::from_secs(10);
    if let Some(refusal) =
        steps::disk_guard(rec, &[], ctx.freq, machine, (window, None), ctx.run_dir)
    {
        record.status = MeasurementStatus::Failed;
        record.error = Some(refusal);
        return record;
    }
    let spec = SwitchbackSpec {
        workload: ctx.workload,
        tools: ctx.tools,
        ramp: ctx.ramp,
        target: ctx.target,
        recording: rec,
        freq: ctx.opts.freq,
        sock_dir: ctx.sock_dir,
        options: &ctx.opts.switchback,
        keep_data: ctx.opts.keep_data,
    };
    match switchback::measure(&spec, &dir, progress) {
        Ok(run) => {
            record.summary = Some(run.summary);
            record.notes = run.notes;
        }
        Err(e) => {
            record.status = if e.is_interrupt() {
                MeasurementStatus::Interrupted
            } else {
                MeasurementStatus::Failed
            };
            record.error = Some(e.to_string());
        }
    }
    record
}

fn outcome(r: &SwitchbackRecord) -> String {
    match (&r.status, &r.summary) {
        (MeasurementStatus::Ok, Some(s)) => format!(
            "overhead {:.1}% [{:.1}–{:.1}] over {} blocks (immediate {:.1}%{})",
            s.total.estimate * 100.0,
            s.total.low * 100.0,
            s.total.high * 100.0,
            s.blocks,
            s.overhead.estimate * 100.0,
            s.deferred
                .as_ref()
                .map(|d| format!(", deferred {:.1}%", d.overhead.estimate * 100.0))
                .unwrap_or_default()
        ),
        (MeasurementStatus::Interrupted, _) => "interrupted".into(),
        _ => format!("FAILED: {}", r.error.as_deref().unwrap_or("unknown error")),
    }
}
