//! `compare`: the unprofiled baseline plus one recording per unwinding mode, repeated with the
//! modes interleaved, each recording read back for its statistics, results written after every
//! measurement so that a crash or Ctrl-C loses at most the one in flight.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::machine::Machine;
use crate::mode::UnwindMode;
use crate::process;
use crate::progress::Progress;
use crate::record::{Knob, Recording, Sink, Subject};
use crate::report;
use crate::results::{summary, MeasurementStatus, Results, RunStatus};
use crate::timestamp;
use crate::workload::target::{self, TargetChoice};
use crate::workload::{ProjectDirs, Workload};

mod measurement;
mod plan;
mod prepare;
mod steps;

pub use plan::{Plan, SWEEP_COPY};
pub use prepare::{predict_recording_bytes, use_fp_builds};

/// Options of `compare`; defaults are those of the reference experiment.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// Workload name under `workloads/` or a path to a TOML file. Default: `nbd-null`.
    pub workload: String,
    /// Modes to record besides the baseline. Default: fp, dwarf 4K/8K/16K/32K.
    pub modes: Vec<UnwindMode>,
    /// Measured time per recording. Default: the workload's (60 s, as in the reference).
    pub runtime: Option<Duration>,
    /// Warm-up before each measured window. Default: the workload's.
    pub ramp: Option<Duration>,
    /// Rounds of baseline + every mode. Default: 3.
    pub repeat: usize,
    /// Sampling frequency in Hz. Default: perf's own (4000 Hz).
    pub freq: Option<u32>,
    /// Run folder. Default: `reports/<UTC timestamp>/`.
    pub out: Option<PathBuf>,
    /// Keep the perf.data files after analysis. Default: delete them.
    pub keep_data: bool,
    /// Raw-device path. Default: auto (kernel NBD where present).
    pub target: TargetChoice,
    /// Sinks every mode is recorded with. Default: a file (the reference's setup).
    pub sinks: Vec<Sink>,
    /// Knobs tried on every DWARF mode, each as a variant of its own. Default: none.
    pub knobs: Vec<Knob>,
    /// Add the stack-size sweep: a dwarf:65528 recording through this sink. Default: none.
    pub sweep: Option<Sink>,
    /// Run the frame-pointer builds of nbdkit, libnbd and fio from
    /// scripts/build-fp-workloads.sh instead of the system's. Default: no.
    pub fp_built: bool,
    /// Stop any file-sink recording whose perf.data grows past this. Default: no limit.
    pub max_data: Option<u64>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            workload: "nbd-null".into(),
            modes: crate::mode::parse_mode_list(crate::mode::DEFAULT_MODES)
                .expect("default modes parse"),
            runtime: None,
            ramp: None,
            repeat: 3,
            freq: None,
            out: None,
            keep_data: false,
            target: TargetChoice::Auto,
            sinks: vec![Sink::File],
            knobs: Vec::new(),
            sweep: None,
            fp_built: false,
            max_data: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Workload(#[from] crate::workload::WorkloadError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Doctor(String),
    #[error(transparent)]
    Target(#[from] target::TargetError),
    #[error(transparent)]
    Program(#[from] crate::workload::program::ProgramError),
    #[error("cannot use --out {path}: {source}; choose a writable folder")]
    OutDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Results(#[from] crate::results::ResultsError),
}

/// How a finished comparison went.
pub struct Outcome {
    pub run_dir: PathBuf,
    pub results: Results,
}

/// A private folder for the NBD socket: short, so the socket path fits in 108 bytes.
struct SocketDir(PathBuf);

impl SocketDir {
    /// Removes socket folders of earlier runs that were killed (SIGKILL leaves no chance to
    /// clean up): `unwindbench-PID-*` whose PID is gone.
    fn sweep_stale() {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix("unwindbench-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            // SAFETY: signal 0 only checks whether the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            if !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    fn create() -> std::io::Result<SocketDir> {
        SocketDir::sweep_stale();
        use std::os::unix::fs::DirBuilderExt;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("unwindbench-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(SocketDir(dir))
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The measurement order of repeat `r` (0-based): baseline then recordings, rotated by `r`,
/// so each takes every position over the repeats and drift hits all alike.
pub fn round_order(recordings: &[Recording], r: usize) -> Vec<Subject> {
    let mut order: Vec<Subject> = std::iter::once(Subject::Baseline)
        .chain(recordings.iter().copied().map(Subject::Recording))
        .collect();
    let len = order.len();
    order.rotate_left(r % len);
    order
}

/// Runs the comparison. `command` is recorded in the results as the command line.
pub fn compare(
    opts: &CompareOptions,
    command: Vec<String>,
    make_progress: &dyn Fn(Duration) -> Box<dyn Progress>,
) -> Result<Outcome, CompareError> {
    let prepare::Prepared {
        run_dir,
        workload,
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
    let recorded = plan.recorded();
    let refresh = |results: &mut Results, machine: &Machine| {
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
        results.reference = crate::results::reference::compare(&results.modes);
    };
    refresh(&mut results, &machine);
    save(&results, &run_dir)?;

    let sock_dir = SocketDir::create().map_err(|source| CompareError::OutDir {
        path: std::env::temp_dir(),
        source,
    })?;
    let per_measurement = ramp + runtime + Duration::from_secs(3);
    let total = opts.repeat * (recorded.len() + 1);
    let mut progress = make_progress(per_measurement * total as u32);
    let mut index = 0;
    let mut interrupted = false;
    let focus = results.workload.focus.clone();
    let ctx = measurement::Context {
        opts,
        workload: &workload,
        runtime,
        ramp,
        target,
        programs: &programs,
        truth: &truth,
        freq,
        run_dir: &run_dir,
        sock_dir: &sock_dir.0,
        focus: &focus,
    };
    'rounds: for r in 0..opts.repeat {
        for subject in round_order(&recorded, r) {
            index += 1;
            progress.start(
                index,
                total,
                &format!("repeat {}/{} · {subject}", r + 1, opts.repeat),
                per_measurement,
            );
            let (record, stopped) = measurement::measure_one(
                &ctx,
                r,
                subject,
                &results.runs,
                &mut machine,
                progress.as_mut(),
            )?;
            interrupted |= stopped;
            results.runs.push(record);
            refresh(&mut results, &machine);
            save(&results, &run_dir)?;
            if interrupted || process::interrupted().is_some() {
                interrupted = true;
                break 'rounds;
            }
        }
    }
    progress.finish();
    drop(progress);

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
    crate::report::flamegraph::redraw(&results, run_dir);
    crate::report::flamegraph::link_flamegraphs(&mut results, run_dir);
    save(&results, run_dir)?;
    Ok(results)
}

/// The workload, loaded the way `compare` loads it (for `doctor`).
pub fn load_workload(name: &str) -> Result<Workload, CompareError> {
    Ok(ProjectDirs::locate().load_workload(name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(round_order(&modes, 0), vec![baseline, fp, dwarf]);
        assert_eq!(round_order(&modes, 1), vec![fp, dwarf, baseline]);
        assert_eq!(round_order(&modes, 3), round_order(&modes, 0));
    }

    #[test]
    fn predictions_grow_with_the_stack_copy() {
        let w = Duration::from_secs(60);
        let fp = predict_recording_bytes(UnwindMode::Fp, 4000, 2, w);
        let d4 = predict_recording_bytes(UnwindMode::Dwarf { stack_bytes: 4096 }, 4000, 2, w);
        let d32 = predict_recording_bytes(UnwindMode::Dwarf { stack_bytes: 32768 }, 4000, 2, w);
        assert!(fp < d4 && d4 < d32);
        // Upper bound for 60 s of DWARF 32K on 2 CPUs: above the ~12 GB measured here.
        assert!(d32 > 12_000_000_000 && d32 < 20_000_000_000, "{d32}");
    }
}
