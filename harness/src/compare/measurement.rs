//! One measurement of a comparison: the disk guard, the workload under perf (or not, for the
//! baseline), the analysis of the recording, and what is kept of it.

use std::path::Path;
use std::time::Duration;

use super::steps;
use super::{CompareError, CompareOptions};
use crate::accuracy::GroundTruth;
use crate::machine::Machine;
use crate::process;
use crate::progress::Progress;
use crate::record::measure::{self, MeasureSpec};
use crate::record::measured::MeasurePaths;
use crate::record::perf::{self as perf_rec, PerfOptions};
use crate::record::{Sink, Subject};
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

/// Measures `subject` in repeat `r` (0-based). Returns the record and
/// whether the run was interrupted meanwhile.
pub(super) fn measure_one(
    ctx: &Context<'_>,
    r: usize,
    subject: Subject,
    earlier: &[RunRecord],
    machine: &mut Machine,
    progress: &mut dyn Progress,
) -> Result<(RunRecord, bool), CompareError> {
    let (opts, runtime, ramp, run_dir) = (ctx.opts, ctx.runtime, ctx.ramp, ctx.run_dir);
    let rec = subject.recording();
    let mut interrupted = false;
    let paths = MeasurePaths {
        dir: run_dir.join(subject.folder_name(r + 1)),
    };
    if !ctx.truth.is_empty() {
        let written = std::fs::create_dir_all(&paths.dir).and_then(|_| {
            std::fs::write(
                paths.truth(),
                serde_json::to_vec_pretty(ctx.truth).unwrap_or_default(),
            )
        });
        if let Err(source) = written {
            return Err(CompareError::OutDir {
                path: paths.dir.clone(),
                source,
            });
        }
    }
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
    let guard = rec
        .filter(|r| r.sink == Sink::File)
        .and_then(|r| steps::disk_guard(r, earlier, ctx.freq, machine, runtime, run_dir));
    let outcome = match guard {
        Some(refusal) => Err(refusal),
        None => {
            let spec = MeasureSpec {
                workload: ctx.workload,
                runtime,
                ramp,
                target: ctx.target,
                recording: rec,
                perf: PerfOptions {
                    freq: opts.freq,
                    delay: ramp,
                },
                sock_dir: ctx.sock_dir,
                programs: ctx.programs,
                max_data: opts.max_data,
            };
            measure::measure(&spec, &paths, &mut |phase| progress.phase(phase)).map_err(|e| {
                if e.is_interrupt() {
                    interrupted = true;
                }
                e.to_string()
            })
        }
    };
    match outcome {
        Ok(measured) => {
            record
                .warnings
                .extend(measured.perf.as_ref().and_then(|p| p.truncated.clone()));
            record
                .warnings
                .extend(steps::fio_skew_warning(&measured, ramp + runtime));
            record.measured = Some(measured);
            if let Some(rec) = rec {
                record
                    .warnings
                    .extend(perf_rec::warnings(&paths.perf_log()));
                progress.phase("analyzing");
                let analysis = match record
                    .measured
                    .as_ref()
                    .and_then(|m| m.perf.as_ref()?.reader.clone())
                {
                    // The pipe's reader analyzed the stream as it came.
                    Some(reader) if rec.sink == Sink::Pipe => steps::read_analysis(
                        &paths,
                        ctx.focus,
                        reader.wall_s,
                        reader.total_cpu_s,
                        reader.peak_rss_mib,
                    ),
                    _ => steps::analyze_recording(&paths, ctx.focus),
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
                    interrupted = true;
                    record.status = MeasurementStatus::Interrupted;
                    record.error = Some("interrupted during the analysis".into());
                } else if let Some(e) = &record.stats_error {
                    record.status = MeasurementStatus::Failed;
                    record.error = Some(format!("analyzing perf.data: {e}"));
                }
            }
        }
        Err(message) => {
            record.status = if interrupted {
                MeasurementStatus::Interrupted
            } else {
                MeasurementStatus::Failed
            };
            record.error = Some(message);
        }
    }
    if opts.keep_data && paths.perf_data().exists() && record.status == MeasurementStatus::Ok {
        record.perf_data = paths
            .perf_data()
            .strip_prefix(run_dir)
            .ok()
            .map(Path::to_path_buf);
    } else {
        let _ = std::fs::remove_file(paths.perf_data());
    }
    progress.end(&outcome_phrase(&record));
    Ok((record, interrupted))
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
