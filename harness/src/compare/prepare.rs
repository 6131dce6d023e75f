//! Everything before the first measurement: checking the options, the run folder, building
//! a program workload, the plan of recordings, the doctor, and the results skeleton.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::plan::{self, Plan};
use super::{CompareError, CompareOptions};
use crate::accuracy::GroundTruth;
use crate::machine::Machine;
use crate::mode::UnwindMode;
use crate::preflight::{self, DoctorOptions};
use crate::process;
use crate::record::{Sink, SinkChoice};
use crate::results::{Results, RunStatus, Settings, WorkloadInfo, SCHEMA_VERSION};
use crate::timestamp;
use crate::workload::program::{self, BuiltProgram};
use crate::workload::target::{self, TargetKind};
use crate::workload::{ProjectDirs, Workload, WorkloadKind};

/// What the measurements need, prepared.
pub(super) struct Prepared {
    pub run_dir: PathBuf,
    pub workload: Workload,
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
}

pub(super) fn prepare(
    opts: &CompareOptions,
    command: Vec<String>,
) -> Result<Prepared, CompareError> {
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
    let machine = Machine::probe();
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
            predicted_min_bytes: sizes.iter().copied().min().unwrap_or(0),
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

    let results = Results {
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
            target: target_plan.kind,
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
            sink: SinkChoice::of(&opts.sinks),
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
    Ok(Prepared {
        run_dir,
        workload,
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

fn probe_writable(dir: &Path) -> Result<(), CompareError> {
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").map_err(|source| CompareError::OutDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let _ = std::fs::remove_file(probe);
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
