//! One measurement of a comparison: the disk guard, the workload under perf (or not, for the
//! baseline), the analysis of the recording, and what is kept of it.

use std::path::Path;
use std::time::Duration;

use super::options::{CompareError, CompareOptions};
use super::steps;
use crate::accuracy::GroundTruth;
use crate::exclusive::sessions;
use crate::machine::Machine;
use crate::process::{self, Tools};
use crate::progress::Progress;
use crate::record::measure::{self, MeasureSpec};
use crate::record::measured::{MeasurePaths, Measured};
use crate::record::perf::{self as perf_rec, PerfOptions};
use crate::record::{Recording, Sink, Subject};
use crate::results::{MeasurementStatus, RunRecord};
use crate::timestamp;
use crate::units::human_bytes;
use crate::workload::program::BuiltProgram;
use crate::workload::target::TargetKind;
use crate::workload::Workload;

/// What every measurement of a run shares.
pub(super) struct Context<'a> {
    pub opts: &'a CompareOptions,
    pub workload: &'a Workload,
    pub tools: &'a Tools,
    pub runtime: Duration,
    pub ramp: Duration,
    pub target: TargetKind,
    pub programs: &'a [BuiltProgram],
    pub truth: &'a [GroundTruth],
    pub freq: u32,
    pub run_dir: &'a Path,
    pub sock_dir: &'a Path,
    pub focus: &'a [String],
}

impl Context<'_> {
    /// What the disk guard needs of the plan: the window's length and the --max-data bound.
    pub(super) fn disk_window(&self) -> (Duration, Option<u64>) {
        (self.runtime, self.opts.max_data)
    }

    /// The workload for ramp + runtime, under perf with `recording` (none: the baseline).
    pub(super) fn spec(&self, recording: Option<Recording>) -> MeasureSpec<'_> {
        MeasureSpec {
            workload: self.workload,
            tools: self.tools,
            runtime: self.runtime,
            ramp: self.ramp,
            target: self.target,
            recording,
            perf: PerfOptions {
                freq: self.opts.freq,
                delay: self.ramp,
            },
            sock_dir: self.sock_dir,
            programs: self.programs,
            max_data: self.opts.max_data,
        }
    }
}

/// Measures `subject` in repeat `r` (0-based). Returns the record and whether the run was
/// interrupted meanwhile.
pub(super) fn measure_one(
    ctx: &Context<'_>,
    r: usize,
    subject: Subject,
    earlier: &[RunRecord],
    machine: &mut Machine,
    progress: &mut dyn Progress,
) -> Result<(RunRecord, bool), CompareError> {
    let paths = MeasurePaths {
        dir: ctx.run_dir.join(subject.folder_name(r + 1)),
    };
    write_truth(ctx, &paths)?;
    let mut record = RunRecord {
        repeat: r + 1,
        subject,
        status: MeasurementStatus::Ok,
        error: None,
        started_at: timestamp::now_rfc3339(),
        measured: None,
        stats: None,
        stats_error: None,
        warnings: Vec::new(),
        perf_data: None,
        analysis: None,
    };
    let mut interrupted = false;
    // Other profilers before and after the workload (a session that both starts and ends
    // within it goes unseen; scanning during it would perturb what is measured).
    let beside = sessions::others();
    match run_workload(ctx, subject, &paths, earlier, machine, progress) {
        Ok(measured) => {
            record
                .warnings
                .extend(beside.merge(sessions::others()).warning());
            interrupted |= take_in(ctx, &mut record, measured, &paths, machine, progress);
        }
        Err((message, stopped)) => {
            interrupted |= stopped;
            record.status = if stopped {
                MeasurementStatus::Interrupted
            } else {
                MeasurementStatus::Failed
            };
            record.error = Some(message);
        }
    }
    keep_or_delete(ctx.opts, &mut record, &paths, ctx.run_dir);
    progress.end(&outcome_phrase(&record));
    Ok((record, interrupted))
}

/// The workload's known stacks, for the analysis to score against (program workloads).
fn write_truth(ctx: &Context<'_>, paths: &MeasurePaths) -> Result<(), CompareError> {
    if ctx.truth.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(&paths.dir)
        .and_then(|_| {
            std::fs::write(
                paths.truth(),
                serde_json::to_vec_pretty(ctx.truth).unwrap_or_default(),
            )
        })
        .map_err(|source| CompareError::OutDir {
            path: paths.dir.clone(),
            source,
        })
}

/// The workload for ramp + runtime, under perf for a recording, unless the disk guard
/// refuses it. Err: why not, and whether it was an interruption.
fn run_workload(
    ctx: &Context<'_>,
    subject: Subject,
    paths: &MeasurePaths,
    earlier: &[RunRecord],
    machine: &Machine,
    progress: &mut dyn Progress,
) -> Result<Measured, (String, bool)> {
    let rec = subject.recording();
    let guard = rec.filter(|r| r.sink == Sink::File).and_then(|r| {
        steps::disk_guard(
            r,
            earlier,
            ctx.freq,
            machine,
            ctx.disk_window(),
            ctx.run_dir,
        )
    });
    if let Some(refusal) = guard {
        return Err((refusal, false));
    }
    let mut spec = ctx.spec(rec);
    if subject == Subject::EngineBaseline {
        spec.target = TargetKind::NbdEngine;
    }
    measure::measure(&spec, paths, &mut |phase| progress.phase(phase))
        .map_err(|e| (e.to_string(), e.is_interrupt()))
}

/// Takes a measurement into `record`: its warnings and, for a recording, the analysis of
/// what perf wrote. Returns whether the run was interrupted during the analysis.
fn take_in(
    ctx: &Context<'_>,
    record: &mut RunRecord,
    measured: Measured,
    paths: &MeasurePaths,
    machine: &mut Machine,
    progress: &mut dyn Progress,
) -> bool {
    record
        .warnings
        .extend(measured.perf.as_ref().and_then(|p| p.truncated.clone()));
    record
        .warnings
        .extend(steps::fio_skew_warning(&measured, ctx.ramp + ctx.runtime));
    let reader = measured.perf.as_ref().and_then(|p| p.reader.clone());
    record.measured = Some(measured);
    let Some(rec) = record.subject.recording() else {
        return false;
    };
    record
        .warnings
        .extend(perf_rec::warnings(&paths.perf_log()));
    progress.phase("analyzing");
    let analysis = match reader {
        // The pipe's reader analyzed the stream as it came.
        Some(reader) if rec.sink == Sink::Pipe => steps::read_analysis(
            paths,
            ctx.focus,
            reader.wall_s,
            reader.total_cpu_s,
            reader.peak_rss_mib,
        ),
        _ => steps::analyze_recording(paths, ctx.focus),
    };
    match analysis {
        Ok((stats, analysis)) => {
            record.stats = Some(stats);
            record.analysis = Some(analysis);
        }
        Err(e) => record.stats_error = Some(e),
    }
    if let Some(event) = record.stats.as_ref().and_then(|s| s.sampling_event.clone()) {
        machine.sampling_event.get_or_insert(event.name);
    }
    // Ctrl-C while the recording was analyzed: the analysis was stopped.
    if process::interrupted().is_some() {
        record.status = MeasurementStatus::Interrupted;
        record.error = Some("interrupted during the analysis".into());
        return true;
    }
    if let Some(e) = &record.stats_error {
        record.status = MeasurementStatus::Failed;
        record.error = Some(format!("analyzing perf.data: {e}"));
    }
    false
}

/// Keeps the perf.data of a successful measurement with --keep-data; deletes it otherwise.
fn keep_or_delete(
    opts: &CompareOptions,
    record: &mut RunRecord,
    paths: &MeasurePaths,
    run_dir: &Path,
) {
    if opts.keep_data && paths.perf_data().exists() && record.status == MeasurementStatus::Ok {
        record.perf_data = paths
            .perf_data()
            .strip_prefix(run_dir)
            .ok()
            .map(Path::to_path_buf);
    } else {
        let _ = std::fs::remove_file(paths.perf_data());
    }
}

fn outcome_phrase(r: &RunRecord) -> String {
    match (&r.status, &r.measured) {
        (MeasurementStatus::Ok, Some(m)) => {
            let mut s = format!("{:.0} IOPS", m.iops());
            if let Some(p) = &m.perf {
                s.push_str(&format!(", perf.data {}", human_bytes(p.data_bytes)));
            }
            if let Some(st) = &r.stats {
                s.push_str(&format!(
                    ", {} samples, {} lost chunks",
                    st.samples, st.lost_chunks
                ));
            }
            s
        }
        (MeasurementStatus::Interrupted, _) => "interrupted".into(),
        _ => format!("FAILED: {}", r.error.as_deref().unwrap_or("unknown error")),
    }
}
