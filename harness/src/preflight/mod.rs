//! `unwindbench doctor`: everything a comparison needs, checked before anything runs, each
//! problem with the command that fixes it.
//!
//! - [`checks`]: one function per check (perf, permissions and the sandbox and other
//!   profilers, in `privileges`, sampling event, sample rate,
//!   nbdkit and its plugin, fio and its nbd engine, kernel NBD, LBR, disk, compiler), and
//!   the frame-pointer audit of the binaries the workload runs.
//! - [`findings`]: what they report, and its text form.
//!
//! [`doctor`] is the `doctor` command: it sets up what a comparison would (the workload,
//! its tools, its built programs, the disk a default comparison would need) and checks it.

pub mod checks;
pub mod findings;
mod online;
mod privileges;

use crate::machine::Machine;
use crate::mode::UnwindMode;
use crate::record::predict_recording_bytes;
use crate::workload::program::{self, ProgramError};
use crate::workload::{ProjectDirs, WorkloadError, WorkloadKind};

pub use self::checks::{lbr_supported, nbd_engine_finding, DoctorOptions};
pub use self::findings::{render, Diagnosis, Finding, Status};
pub use crate::disk::{disk_margin, disk_space};

/// Runs every check against `machine`, then (with `opts.audit`) audits the binaries.
pub fn diagnose(opts: &DoctorOptions<'_>, machine: &Machine) -> Diagnosis {
    let ctx = checks::Context { opts, machine };
    let mut d = Diagnosis {
        findings: checks::CHECKS
            .iter()
            .flat_map(|check| check(&ctx))
            .collect(),
        audits: Vec::new(),
    };
    if opts.audit {
        d.audits = checks::audits(opts);
        d.findings
            .extend(d.audits.iter().map(checks::audit_finding));
        d.findings
            .extend(d.audits.iter().filter_map(checks::names_finding));
    }
    d
}

/// What `doctor` is asked to check.
#[derive(Clone, Debug)]
pub struct DoctorRequest {
    /// Workload name under `workloads/` or a path. Default: `nbd-null`.
    pub workload: String,
    /// Modes a comparison would record (LBR support, the disk they need). Default: the
    /// reference's.
    pub modes: Vec<UnwindMode>,
    /// Check the frame-pointer builds of scripts/build-fp-workloads.sh. Default: no.
    pub fp_built: bool,
    /// Where runs go (their disk, and the leftovers of killed runs there). Default:
    /// reports/.
    pub out: Option<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error(transparent)]
    Interrupted(#[from] crate::process::ProcessError),
}

/// The `doctor` command: the checks of a comparison of `req` on this machine, before it
/// runs. A program workload is built (into build/) so that its binaries are audited.
pub fn doctor(req: &DoctorRequest) -> Result<Diagnosis, DoctorError> {
    let dirs = ProjectDirs::locate();
    let out = req.out.clone().unwrap_or_else(|| dirs.reports());
    // First, so the disk finding counts the space it frees.
    let leftovers = leftovers_findings(&out);
    let tools = dirs.tools(req.fp_built)?;
    let workload = dirs.load_workload(&req.workload)?;
    let machine = Machine::probe(&tools);
    // Each stage can take seconds (perf probes, a build, the audit): Ctrl-C between them.
    crate::process::check_interrupt()?;
    // The disk check is against the largest recording of a default comparison.
    let rate = machine.perf_event_max_sample_rate.unwrap_or(4000).min(4000);
    let predicted = req
        .modes
        .iter()
        .map(|&m| predict_recording_bytes(m, rate, machine.online_cpus, workload.runtime))
        .max()
        .unwrap_or(0);
    let programs = match &workload.kind {
        WorkloadKind::Program { spec, source } => {
            program::build(spec, source, &dirs.build().join("programs"))?
                .into_iter()
                .map(|p| (p.comm, p.path))
                .collect()
        }
        WorkloadKind::Nbd { .. } => Vec::new(),
    };
    crate::process::check_interrupt()?;
    let opts = DoctorOptions {
        workload: Some(&workload),
        tools: &tools,
        programs,
        modes: req.modes.clone(),
        out_dir: Some(out.clone()),
        predicted_bytes: predicted,
        predicted_min_bytes: 0,
        audit: true,
    };
    let mut diagnosis = diagnose(&opts, &machine);
    diagnosis.findings.extend(leftovers);
    Ok(diagnosis)
}

/// What runs killed outright left under `out`, cleaned now (see [`crate::leftovers`]).
fn leftovers_findings(out: &std::path::Path) -> Vec<Finding> {
    let found = crate::leftovers::sweep(out);
    if found.is_empty() {
        return vec![findings::finding(
            "leftovers",
            Status::Pass,
            format!(
                "no run under {} was left behind by a killed harness",
                out.display()
            ),
            "",
        )];
    }
    found
        .iter()
        .map(|f| {
            let status = if f.problems.is_empty() {
                Status::Warn
            } else {
                Status::Fail
            };
            findings::finding("leftovers", status, f.line(), "")
        })
        .collect()
}
