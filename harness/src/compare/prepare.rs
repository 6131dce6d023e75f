//! Everything before the first measurement: checking the options, the run folder, building
//! a program workload, the plan of recordings, the doctor, and the results skeleton.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::options::{CompareError, CompareOptions};
use super::plan::{self, Plan};
use crate::accuracy::GroundTruth;
use crate::machine::Machine;
use crate::mode::UnwindMode;
use crate::preflight::{self, Diagnosis, DoctorOptions};
use crate::process::{self, Tools};
use crate::record::{predict_recording_bytes, Sink, SinkChoice};
use crate::results::{
    Results, RunStatus, Settings, SwitchbackSettings, WorkloadInfo, SCHEMA_VERSION,
};
use crate::timestamp;
use crate::workload::program::{self, BuiltProgram};
use crate::workload::target::{self, TargetKind, TargetPlan};
use crate::workload::{ProjectDirs, Workload, WorkloadKind};

/// What the measurements need, prepared.
pub(super) struct Prepared {
    pub run_dir: PathBuf,
    pub workload: Workload,
    /// Where nbdkit and fio come from.
    pub tools: Tools,
    pub runtime: Duration,
    pub ramp: Duration,
    pub programs: Vec<BuiltProgram>,
    pub truth: Vec<GroundTruth>,
    pub machine: Machine,
    pub plan: Plan,
    /// The sampling rate perf will use (for the disk guard's predictions).
    pub freq: u32,
    pub target: TargetKind,
    pub results: Results,
    /// The run folder marked as this run's until it ends (see [`crate::leftovers`]).
    pub claim: crate::leftovers::Claim,
}

/// What can be refused as bad input without measuring (unknown workload, missing tools, a
/// window or target this machine cannot run): checked before the machine's lock is taken,
/// so that a mistyped flag is refused at once rather than after another run's wait.
pub(super) fn check_input(opts: &CompareOptions) -> Result<(), CompareError> {
    let dirs = ProjectDirs::locate();
    dirs.tools(opts.fp_built)?;
    let workload = dirs.load_workload(&opts.workload)?;
    window(opts, &workload)?;
    target::plan(opts.target)?;
    if opts.out.is_some() {
        run_folder(opts, &dirs, SystemTime::now())?;
    }
    Ok(())
}

pub(super) fn prepare(
    opts: &CompareOptions,
    command: Vec<String>,
) -> Result<Prepared, CompareError> {
    let dirs = ProjectDirs::locate();
    let tools = dirs.tools(opts.fp_built)?;
    let workload = dirs.load_workload(&opts.workload)?;
    let (runtime, ramp) = window(opts, &workload)?;
    // Before the run folder: a target this machine cannot run is bad input, not a run.
    let target_plan = target::plan(opts.target)?;
    let started = SystemTime::now();
    let run_dir = run_folder(opts, &dirs, started)?;
    // Before the disk check: what a killed run left may be the space this one needs.
    let cleaned = clean_up_killed_runs(&run_dir);
    let claim = crate::leftovers::claim(&run_dir).map_err(|source| CompareError::OutDir {
        path: run_dir.clone(),
        source,
    })?;
    let programs = match &workload.kind {
        WorkloadKind::Program { spec, source } => {
            program::build(spec, source, &dirs.build().join("programs"))?
        }
        WorkloadKind::Nbd { .. } => Vec::new(),
    };
    let truth = workload.ground_truth();
    let machine = Machine::probe(&tools);
    let perf_build = process::capture("perf", &["version", "--build-options"])
        .map(|(_, out, _)| out)
        .unwrap_or_default();
    let modes = recorded_modes(opts);
    let plan = plan::plan(&modes, &opts.sinks, &opts.knobs, opts.sweep, &perf_build);
    let freq = crate::machine::capped_frequency(opts.freq, machine.perf_event_max_sample_rate);
    let doctor = DoctorOptions {
        workload: Some(&workload),
        tools: &tools,
        programs: programs
            .iter()
            .map(|p| (p.comm.clone(), p.path.clone()))
            .collect(),
        modes: modes.clone(),
        out_dir: Some(run_dir.clone()),
        predicted_bytes: 0,
        predicted_min_bytes: 0,
        audit: true,
    };
    let diagnosis = check_machine(opts, doctor, &plan, &machine, freq, runtime)?;
    let results = Results {
        schema_version: SCHEMA_VERSION,
        tool: format!("unwindbench {}", env!("CARGO_PKG_VERSION")),
        status: RunStatus::Running,
        started_at: timestamp::rfc3339(started),
        finished_at: None,
        command,
        machine: machine.clone(),
        workload: workload_info(&workload, runtime, ramp, &target_plan),
        settings: settings(opts),
        baseline: Default::default(),
        modes: Vec::new(),
        runs: Vec::new(),
        doctor: diagnosis,
        notes: notes(opts, &machine, &target_plan, &tools)
            .into_iter()
            .chain(cleaned)
            .collect(),
        reference: None,
        sweep: None,
        prices: None,
        perf_budget: None,
        explanations: Vec::new(),
        switchbacks: Vec::new(),
    };
    Ok(Prepared {
        run_dir,
        claim,
        workload,
        tools,
        runtime,
        ramp,
        programs,
        truth,
        machine,
        plan,
        freq,
        target: target_plan.kind,
        results,
    })
}

/// The measured window and the ramp before it, and the other numbers that must be sane.
fn window(
    opts: &CompareOptions,
    workload: &Workload,
) -> Result<(Duration, Duration), CompareError> {
    let runtime = opts.runtime.unwrap_or(workload.runtime);
    let ramp = opts.ramp.unwrap_or(workload.ramp);
    let invalid = |why: &str| Err(CompareError::Invalid(why.into()));
    if runtime.is_zero() {
        return invalid("--runtime must be greater than zero (e.g. --runtime 60s)");
    }
    if ramp < Duration::from_secs(1) {
        return invalid("--ramp must be at least 1s: it covers perf's start-up and fio's warm-up");
    }
    if opts.repeat == 0 && !opts.overhead.switchback() {
        return invalid("--repeat 0 records nothing but the switchback: use it with --overhead switchback or both, or give --repeat 1 or more");
    }
    let sb = &opts.switchback;
    if opts.overhead.switchback() && sb.round < Duration::from_millis(20) {
        return invalid(
            "--switchback-round must be at least 20ms: fio's logs count I/Os in 20 ms intervals",
        );
    }
    if opts.overhead.switchback() && sb.duration < sb.block() * 3 {
        return invalid("--switchback-time must hold at least three blocks of two rounds (e.g. --switchback-time 60s)");
    }
    if opts.freq == Some(0) {
        return invalid("--freq must be greater than zero");
    }
    Ok((runtime, ramp))
}

/// Cleans what killed runs left beside (or in) the run folder, saying so on stderr; the
/// lines also go into the run's notes.
fn clean_up_killed_runs(run_dir: &std::path::Path) -> Vec<String> {
    let scope = run_dir.parent().unwrap_or(run_dir);
    crate::leftovers::sweep(scope)
        .iter()
        .map(|found| {
            let line = found.line();
            eprintln!("unwindbench: {line}");
            line
        })
        .collect()
}

/// The run folder, created and known to be writable.
fn run_folder(
    opts: &CompareOptions,
    dirs: &ProjectDirs,
    started: SystemTime,
) -> Result<PathBuf, CompareError> {
    let run_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| dirs.reports().join(timestamp::folder_stamp(started)));
    std::fs::create_dir_all(&run_dir).map_err(|source| CompareError::OutDir {
        path: run_dir.clone(),
        source,
    })?;
    probe_writable(&run_dir)?;
    Ok(run_dir)
}

/// The doctor's checks, with the disk the planned file recordings need: the largest of
/// them at once (all of them with --keep-data), and the smallest, which must fit.
fn check_machine(
    opts: &CompareOptions,
    mut doctor: DoctorOptions<'_>,
    plan: &Plan,
    machine: &Machine,
    freq: u32,
    runtime: Duration,
) -> Result<Diagnosis, CompareError> {
    let sizes: Vec<u64> = plan
        .recorded()
        .iter()
        .filter(|r| r.sink == Sink::File)
        .map(|r| {
            let window = runtime + Duration::from_secs(1);
            predict_recording_bytes(r.mode, freq, machine.online_cpus, window)
        })
        .collect();
    doctor.predicted_bytes = if opts.keep_data {
        sizes.iter().sum::<u64>() * opts.repeat as u64
    } else {
        sizes.iter().copied().max().unwrap_or(0)
    };
    doctor.predicted_min_bytes = sizes.iter().copied().min().unwrap_or(0);
    let diagnosis = preflight::diagnose(&doctor, machine);
    match diagnosis.failure_summary() {
        Some(summary) => Err(CompareError::Doctor(summary)),
        None => Ok(diagnosis),
    }
}

fn workload_info(
    workload: &Workload,
    runtime: Duration,
    ramp: Duration,
    target: &TargetPlan,
) -> WorkloadInfo {
    let (server, fio_job, program) = match &workload.kind {
        WorkloadKind::Nbd { server, job } => (Some(server.clone()), Some(job.path.clone()), None),
        WorkloadKind::Program { spec, .. } => (None, None, Some(spec.clone())),
    };
    WorkloadInfo {
        name: workload.name.clone(),
        description: workload.description.clone(),
        server,
        fio_job,
        program,
        focus: workload.focus(),
        runtime_s: runtime.as_secs_f64(),
        ramp_s: ramp.as_secs_f64(),
        target: target.kind,
        kernel_nbd_skipped: target.kernel_nbd_skipped(),
        targets_passed_over: target.passed_over.clone(),
    }
}

fn settings(opts: &CompareOptions) -> Settings {
    Settings {
        modes: recorded_modes(opts).iter().map(|m| m.to_string()).collect(),
        sinks: opts.sinks.clone(),
        knobs: opts.knobs.iter().map(|k| k.to_string()).collect(),
        sweep: opts.sweep.is_some(),
        fp_built: opts.fp_built,
        repeat: opts.repeat,
        freq: opts.freq,
        sink: SinkChoice::of(&opts.sinks),
        keep_data: opts.keep_data,
        overhead: Some(opts.overhead.to_string()),
        switchback: opts.overhead.switchback().then_some(SwitchbackSettings {
            round_ms: opts.switchback.round.as_secs_f64() * 1e3,
            settle_ms: opts.switchback.settle.as_secs_f64() * 1e3,
            seconds: opts.switchback.duration.as_secs_f64(),
        }),
    }
}

/// What a reader must know to read the figures right.
/// The modes recorded: those asked for, with `none` first unless asked for or turned off (it
/// is what every mode's overhead over sampling alone is measured against).
pub(super) fn recorded_modes(opts: &CompareOptions) -> Vec<UnwindMode> {
    let mut modes = opts.modes.clone();
    if opts.sampling_only && !modes.contains(&UnwindMode::None) {
        modes.insert(0, UnwindMode::None);
    }
    modes
}

fn notes(
    opts: &CompareOptions,
    machine: &Machine,
    target: &TargetPlan,
    tools: &Tools,
) -> Vec<String> {
    let mut notes = Vec::new();
    if opts.sampling_only && !opts.modes.contains(&UnwindMode::None) {
        notes.push("`none` (sampling without a call graph) was recorded besides the modes asked for: what a mode adds over it is the price of unwinding, separated from the price of sampling.".to_string());
    }
    if !machine.hardware_pmu {
        notes.push("This machine has no hardware PMU: perf sampled with the software cpu-clock event. Compare ratios within this run, not absolute figures across machines.".to_string());
    }
    notes.extend(target_note(opts, target));
    if opts.fp_built {
        let rebuilt: Vec<&str> = ["nbdkit", "fio"]
            .into_iter()
            .filter(|t| tools.is_rebuilt(t))
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
    if opts.modes.iter().any(UnwindMode::is_online) {
        notes.push(online_note(machine));
    }
    notes
}

/// Which way fio reached the server, why not a way `auto` prefers, and for the loop device
/// what its path adds.
fn target_note(opts: &CompareOptions, target: &TargetPlan) -> Option<String> {
    let passed_over: Vec<String> = target
        .passed_over
        .iter()
        .map(|p| format!("{} was not used: {}", p.target, p.why))
        .collect();
    let why_not = if passed_over.is_empty() {
        String::new()
    } else {
        format!(" {}.", passed_over.join("; "))
    };
    let text = match target.kind {
        TargetKind::NbdEngine if passed_over.is_empty() => return None,
        TargetKind::NbdEngine => "fio drove the server through its nbd engine, no kernel block device.".to_string(),
        TargetKind::KernelNbd => "fio drove a kernel NBD device (/dev/nbdN) with libaio and direct=1.".to_string(),
        TargetKind::Loop => format!(
            "fio drove a loop device (/dev/loopN) with libaio and direct=1: {}. This path adds two hops a kernel NBD device does not have, the loop driver and FUSE (with nbdfuse, a libnbd client, between FUSE and the socket): its IOPS and CPU per I/O are not a kernel NBD device's, and its flame graphs show the block layer, loop and FUSE on the way to nbdkit; nbdfuse's CPU is counted with the server's.{}",
            TargetKind::Loop.hops(),
            if opts.overhead.runs() {
                " Its baseline IOPS stand beside those of fio's nbd engine, measured in the same rounds."
            } else {
                " With --overhead runs (or both) its baseline IOPS are measured beside those of fio's nbd engine."
            }
        ),
    };
    Some(format!("{text}{why_not}"))
}

/// What the online rows are, and why samply has no row beside them.
fn online_note(machine: &Machine) -> String {
    let samply = match (
        Tools::system().which("samply"),
        machine.perf_event_paranoid,
    ) {
        (None, _) => "samply is not installed (cargo install samply)".to_string(),
        (Some(_), p) => format!(
            "samply needs kernel.perf_event_paranoid <= 1 even as root (here {}), and records a launched command only, not the whole system",
            p.map_or("unknown".into(), |p| p.to_string())
        ),
    };
    format!(
        "online:SIZE rows were recorded by unwindbench's own recorder: it copies SIZE bytes of user stack per sample as perf's DWARF mode does, unwinds each sample as it arrives, and writes only the frames; its perf CPU and sample share are the recorder's (comm `unwindbench`). No samply row beside them: {samply}."
    )
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
