//! `compare`: the unprofiled baseline plus one recording per unwinding mode, repeated with the
//! modes interleaved, each recording read back for its statistics, results written after every
//! measurement so that a crash or Ctrl-C loses at most the one in flight.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::machine::Machine;
use crate::mode::UnwindMode;
use crate::preflight::{self, DoctorOptions};
use crate::process;
use crate::progress::Progress;
use crate::record::measure::{self, MeasurePaths, MeasureSpec};
use crate::record::perf::{self as perf_rec, PerfOptions};
use crate::record::{Knob, Recording, Sink};
use crate::report::results::{
    MeasurementStatus, Results, RunRecord, RunStatus, Settings, WorkloadInfo, SCHEMA_VERSION,
};
use crate::report::{self, summary};
use crate::timestamp;
use crate::units::human_bytes;
use crate::workload::program;
use crate::workload::target::{self, TargetChoice, TargetKind};
use crate::workload::{ProjectDirs, Workload, WorkloadKind};

mod plan;
mod steps;

pub use plan::{Plan, SWEEP_COPY};

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
    Results(#[from] report::results::ResultsError),
}

/// How a finished comparison went.
pub struct Outcome {
    pub run_dir: PathBuf,
    pub results: Results,
}

/// Bytes a recording of `mode` may write in `window`: an upper bound from the sampling rate
/// (every CPU sampled at the full frequency) and the record size the mode implies.
pub fn predict_recording_bytes(mode: UnwindMode, freq: u32, cpus: usize, window: Duration) -> u64 {
    // header + ip/tid/time/addr/id/cpu/period
    let base = 72u64;
    let per_sample = base
        + match mode {
            UnwindMode::None => 0,
            // kernel + user return addresses, ~32 frames
            UnwindMode::Fp => 8 * 34,
            // kernel callchain, 20 user registers, stack size + copy + dynamic size
            UnwindMode::Dwarf { stack_bytes } => 8 * 18 + 8 + 20 * 8 + 16 + u64::from(stack_bytes),
            // callchain plus 32 branch entries of 24 bytes
            UnwindMode::Lbr => 8 * 34 + 8 + 32 * 24,
        };
    let samples = u64::from(freq) * cpus as u64 * window.as_secs().max(1);
    // Non-sample records (mmap, comm, ...) and perf's header: 10% on top.
    samples * per_sample * 11 / 10
}

/// perf's default frequency, as capped by the kernel.
fn effective_freq(asked: Option<u32>, machine: &Machine) -> u32 {
    let f = asked.unwrap_or(4000);
    machine
        .perf_event_max_sample_rate
        .map_or(f, |cap| f.min(cap))
}

/// A private folder for the NBD socket: short, so the socket path fits in 108 bytes.
struct SocketDir(PathBuf);

impl SocketDir {
    fn create() -> std::io::Result<SocketDir> {
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
pub fn round_order(recordings: &[Recording], r: usize) -> Vec<Option<Recording>> {
    let mut order: Vec<Option<Recording>> = std::iter::once(None)
        .chain(recordings.iter().copied().map(Some))
        .collect();
    let len = order.len();
    order.rotate_left(r % len);
    order
}

fn label(rec: Option<Recording>) -> String {
    rec.map(|r| r.label()).unwrap_or_else(|| "baseline".into())
}

/// Runs the comparison. `command` is recorded in the results as the command line.
pub fn compare(
    opts: &CompareOptions,
    command: Vec<String>,
    make_progress: &dyn Fn(Duration) -> Box<dyn Progress>,
) -> Result<Outcome, CompareError> {
    let dirs = ProjectDirs::locate();
    if opts.fp_built {
        use_fp_builds(&dirs)?;
    }
    let workload = dirs.load_workload(&opts.workload)?;
    let runtime = opts.runtime.unwrap_or(workload.runtime);
    let ramp = opts.ramp.unwrap_or(workload.ramp);
    if runtime.is_zero() {
        return Err(CompareError::Invalid(
            "--runtime must be greater than zero (e.g. --runtime 60s)".into(),
        ));
    }
    if ramp < Duration::from_secs(1) {
        return Err(CompareError::Invalid(
            "--ramp must be at least 1s: it covers perf's start-up and fio's warm-up".into(),
        ));
    }
    if opts.repeat == 0 {
        return Err(CompareError::Invalid("--repeat must be at least 1".into()));
    }
    if opts.freq == Some(0) {
        return Err(CompareError::Invalid(
            "--freq must be greater than zero".into(),
        ));
    }

    let started = SystemTime::now();
    let run_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| dirs.reports().join(timestamp::folder_stamp(started)));
    std::fs::create_dir_all(&run_dir).map_err(|source| CompareError::OutDir {
        path: run_dir.clone(),
        source,
    })?;
    probe_writable(&run_dir)?;

    let programs = match &workload.kind {
        WorkloadKind::Program { spec, source } => {
            program::build(spec, source, &dirs.build().join("programs"))?
        }
        WorkloadKind::Nbd { .. } => Vec::new(),
    };
    let truth = workload.ground_truth();
    let mut machine = Machine::probe();
    let perf_build = process::capture("perf", &["version", "--build-options"])
        .map(|(_, out, _)| out)
        .unwrap_or_default();
    let plan = plan::plan(
        &opts.modes,
        &opts.sinks,
        &opts.knobs,
        opts.sweep,
        &perf_build,
    );
    let recorded = plan.recorded();
    let freq = effective_freq(opts.freq, &machine);
    let sizes: Vec<u64> = recorded
        .iter()
        .filter(|r| r.sink == Sink::File)
        .map(|r| {
            predict_recording_bytes(
                r.mode,
                freq,
                machine.online_cpus,
                runtime + Duration::from_secs(1),
            )
        })
        .collect();
    let predicted = if opts.keep_data {
        sizes.iter().sum::<u64>() * opts.repeat as u64
    } else {
        sizes.iter().copied().max().unwrap_or(0)
    };
    let diagnosis = preflight::diagnose(
        &DoctorOptions {
            workload: Some(&workload),
            programs: programs
                .iter()
                .map(|p| (p.comm.clone(), p.path.clone()))
                .collect(),
            modes: opts.modes.clone(),
            out_dir: Some(run_dir.clone()),
            predicted_bytes: predicted,
            audit: true,
        },
        &machine,
    );
    if let Some(summary) = diagnosis.failure_summary() {
        return Err(CompareError::Doctor(summary));
    }
    let target_plan = target::plan(opts.target)?;

    let mut notes = Vec::new();
    if !machine.hardware_pmu {
        notes.push("This machine has no hardware PMU: perf sampled with the software cpu-clock event. Compare ratios within this run, not absolute figures across machines.".to_string());
    }
    if let Some(why) = &target_plan.kernel_nbd_skipped {
        if target_plan.kind == TargetKind::NbdEngine {
            notes.push(format!("fio drove the server through its nbd engine; the kernel NBD device was not used: {why}."));
        }
    }
    if opts.fp_built {
        let rebuilt: Vec<&str> = ["nbdkit", "fio"]
            .into_iter()
            .filter(|t| process::resolve(t).is_absolute())
            .collect();
        notes.push(format!(
            "--fp-built: {} rebuilt with frame pointers by scripts/build-fp-workloads.sh (with libnbd); {}libc is the system's, without frame pointers.",
            rebuilt.join(" and "),
            if rebuilt.contains(&"nbdkit") { "" } else { "nbdkit is the system's (its source package could not be fetched); " }
        ));
    }
    if !opts.keep_data {
        notes.push(
            "perf.data files were deleted after analysis; pass --keep-data to keep them.".into(),
        );
    }
    notes.push("lost events = max(sum of LOST records, perf's end-of-run LOST_SAMPLES counters) + kernel LOST_SAMPLES: perf 6.x reports the same drops both ways, so they are not added.".into());

    let mut results = Results {
        schema_version: SCHEMA_VERSION,
        tool: format!("unwindbench {}", env!("CARGO_PKG_VERSION")),
        status: RunStatus::Running,
        started_at: timestamp::rfc3339(started),
        finished_at: None,
        command,
        machine: machine.clone(),
        workload: WorkloadInfo {
            name: workload.name.clone(),
            description: workload.description.clone(),
            server: match &workload.kind {
                WorkloadKind::Nbd { server, .. } => Some(server.clone()),
                WorkloadKind::Program { .. } => None,
            },
            fio_job: match &workload.kind {
                WorkloadKind::Nbd { job, .. } => Some(job.path.clone()),
                WorkloadKind::Program { .. } => None,
            },
            program: match &workload.kind {
                WorkloadKind::Program { spec, .. } => Some(spec.clone()),
                WorkloadKind::Nbd { .. } => None,
            },
            focus: workload.focus(),
            runtime_s: runtime.as_secs_f64(),
            ramp_s: ramp.as_secs_f64(),
            target: match target_plan.kind {
                TargetKind::NbdEngine => "nbd-engine".into(),
                TargetKind::KernelNbd => "kernel-nbd".into(),
            },
            kernel_nbd_skipped: target_plan.kernel_nbd_skipped.clone(),
        },
        settings: Settings {
            modes: opts.modes.iter().map(|m| m.to_string()).collect(),
            sinks: opts.sinks.clone(),
            knobs: opts.knobs.iter().map(|k| k.to_string()).collect(),
            sweep: opts.sweep.is_some(),
            fp_built: opts.fp_built,
            repeat: opts.repeat,
            freq: opts.freq,
            sink: if opts.sinks.contains(&Sink::Pipe) && opts.sinks.contains(&Sink::File) {
                "file+pipe".into()
            } else if opts.sinks.contains(&Sink::Pipe) {
                "pipe".into()
            } else {
                "file".into()
            },
            keep_data: opts.keep_data,
        },
        baseline: Default::default(),
        modes: Vec::new(),
        runs: Vec::new(),
        doctor: diagnosis,
        notes,
        reference: None,
        sweep: None,
    };
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
        results.reference = crate::report::reference::compare(&results.modes);
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
    'rounds: for r in 0..opts.repeat {
        for rec in round_order(&recorded, r) {
            index += 1;
            let label = label(rec);
            progress.start(
                index,
                total,
                &format!("repeat {}/{} · {label}", r + 1, opts.repeat),
                per_measurement,
            );
            let paths = MeasurePaths {
                dir: run_dir.join(format!("r{}-{}", r + 1, label.replace(':', "-"))),
                // (the same name as RunRecord::folder_name)
            };
            if !truth.is_empty() {
                let written = std::fs::create_dir_all(&paths.dir).and_then(|_| {
                    std::fs::write(
                        paths.truth(),
                        serde_json::to_vec_pretty(&truth).unwrap_or_default(),
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
                label: label.clone(),
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
            let guard = rec.filter(|r| r.sink == Sink::File).and_then(|r| {
                steps::disk_guard(r, &results.runs, freq, &machine, runtime, &run_dir)
            });
            let outcome = match guard {
                Some(refusal) => Err(refusal),
                None => {
                    let spec = MeasureSpec {
                        workload: &workload,
                        runtime,
                        ramp,
                        target: target_plan.kind,
                        recording: rec,
                        perf: PerfOptions {
                            freq: opts.freq,
                            delay: ramp,
                        },
                        sock_dir: &sock_dir.0,
                        programs: &programs,
                    };
                    measure::measure(&spec, &paths, &mut |phase| progress.phase(phase)).map_err(
                        |e| {
                            if e.is_interrupt() {
                                interrupted = true;
                            }
                            e.to_string()
                        },
                    )
                }
            };
            match outcome {
                Ok(measured) => {
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
                                &results.workload.focus,
                                reader.wall_s,
                                reader.total_cpu_s,
                                reader.peak_rss_mib,
                            ),
                            _ => steps::analyze_recording(&paths, &results.workload.focus),
                        };
                        match analysis {
                            Ok((stats, analysis)) => {
                                record.stats = Some(stats);
                                record.analysis = Some(analysis);
                            }
                            Err(e) => record.stats_error = Some(e),
                        }
                        if let Some(event) =
                            record.stats.as_ref().and_then(|s| s.sampling_event.clone())
                        {
                            machine.sampling_event.get_or_insert(event.name);
                        }
                        if let Some(e) = &record.stats_error {
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
            if opts.keep_data
                && paths.perf_data().exists()
                && record.status == MeasurementStatus::Ok
            {
                record.perf_data = paths
                    .perf_data()
                    .strip_prefix(&run_dir)
                    .ok()
                    .map(Path::to_path_buf);
            } else {
                let _ = std::fs::remove_file(paths.perf_data());
            }
            progress.end(&outcome_phrase(&record));
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

fn probe_writable(dir: &Path) -> Result<(), CompareError> {
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").map_err(|source| CompareError::OutDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Writes results.json and every other export.
pub fn save(results: &Results, dir: &Path) -> Result<(), CompareError> {
    for exporter in report::exporters() {
        exporter.export(results, dir)?;
    }
    Ok(())
}

/// Points the harness at the frame-pointer builds of scripts/build-fp-workloads.sh.
pub fn use_fp_builds(dirs: &ProjectDirs) -> Result<(), CompareError> {
    let bin = dirs.build().join("fp/prefix/bin");
    // fio (with the rebuilt libnbd) is what the script can always build; nbdkit's source is
    // not fetchable from every mirror, and the system's nbdkit then stays in use.
    if !bin.join("fio").is_file() {
        return Err(CompareError::Invalid(format!(
            "--fp-built: {} not found; build it first with scripts/build-fp-workloads.sh",
            bin.join("fio").display()
        )));
    }
    // A second call (tests running several comparisons) keeps the first folder: the same.
    let _ = process::set_tool_dir(bin);
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
        assert_eq!(
            round_order(&modes, 0),
            vec![None, Some(modes[0]), Some(modes[1])]
        );
        assert_eq!(
            round_order(&modes, 1),
            vec![Some(modes[0]), Some(modes[1]), None]
        );
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
