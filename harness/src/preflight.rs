//! `unwindbench doctor`: everything a comparison needs, checked before anything runs, each
//! problem with the command that fixes it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audit::{self, BinaryAudit};
use crate::machine::{has_hardware_pmu, Machine};
use crate::mode::UnwindMode;
use crate::units::human_bytes;
use crate::workload::target::kernel_nbd_unavailable;
use crate::workload::Workload;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Info,
    Warn,
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pass => "pass",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        })
    }
}

/// One check's outcome.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// The command or step that fixes it (empty when nothing needs fixing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

fn finding(check: &str, status: Status, detail: impl Into<String>, fix: &str) -> Finding {
    Finding {
        check: check.into(),
        status,
        detail: detail.into(),
        fix: fix.into(),
    }
}

/// What the doctor checks against.
#[derive(Clone, Debug, Default)]
pub struct DoctorOptions<'a> {
    /// The workload about to run (its plugin is checked); None: the default checks only.
    pub workload: Option<&'a Workload>,
    /// Built programs of a program workload, audited like the NBD binaries (role, path).
    pub programs: Vec<(String, PathBuf)>,
    /// Modes about to be recorded (for LBR support and the disk prediction).
    pub modes: Vec<UnwindMode>,
    /// Where the run folder will be (free disk is checked there).
    pub out_dir: Option<PathBuf>,
    /// Bytes the recordings are predicted to need at once (the largest one, or all of them
    /// Bytes the recordings are predicted to need at once: the largest one (or all of
    /// them with --keep-data), and the smallest. The run stops only when even the smallest
    /// cannot fit; larger ones are refused one by one when their turn comes.
    pub predicted_bytes: u64,
    pub predicted_min_bytes: u64,
    /// Audit the workload's binaries for frame pointers (reads a few MB of ELF).
    pub audit: bool,
}

/// The doctor's report: findings plus the binary audits.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
    pub audits: Vec<BinaryAudit>,
}

impl Diagnosis {
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status == Status::Fail)
    }

    /// A one-line summary of the failures with their fixes, for `compare` to stop on.
    pub fn failure_summary(&self) -> Option<String> {
        let parts: Vec<String> = self
            .failures()
            .map(|f| format!("{}: {} (fix: {})", f.check, f.detail, f.fix))
            .collect();
        (!parts.is_empty()).then(|| format!("doctor found problems: {}", parts.join("; ")))
    }
}

const SETUP: &str = "run scripts/setup.sh";

/// Whether the CPU records last-branch call stacks (Intel LBR).
pub fn lbr_supported() -> Option<String> {
    let caps = Path::new("/sys/bus/event_source/devices/cpu/caps/branches");
    match std::fs::read_to_string(caps) {
        Ok(n) if n.trim().parse::<u32>().unwrap_or(0) > 0 => None,
        Ok(_) => Some("the CPU PMU reports no branch records".into()),
        Err(_) if !has_hardware_pmu() => {
            Some("no hardware PMU (software cpu-clock only), so no LBR".into())
        }
        Err(_) => Some("the CPU has no LBR (no caps/branches in sysfs)".into()),
    }
}

/// Free and total bytes of the filesystem holding `path` (or its nearest existing parent).
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((st.f_bavail as u64 * frsize, st.f_blocks as u64 * frsize))
}

/// Space kept free beside a recording: 5% of the filesystem, at least 64 MiB and at most
/// 2 GiB, so a big disk keeps room for the system and a small one can still be used.
pub fn disk_margin(total: u64) -> u64 {
    (total / 20).clamp(64 << 20, 2 << 30)
}

pub fn diagnose(opts: &DoctorOptions<'_>, machine: &Machine) -> Diagnosis {
    let mut d = Diagnosis::default();
    let f = &mut d.findings;

    match &machine.perf_version {
        Some(v) => f.push(finding("perf", Status::Pass, v.clone(), "")),
        None => f.push(finding(
            "perf",
            Status::Fail,
            "perf is not installed",
            "apt-get install linux-perf (Debian) or linux-tools-$(uname -r) (Ubuntu); or run scripts/setup.sh",
        )),
    }

    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let paranoid = machine.perf_event_paranoid;
    if root {
        f.push(finding(
            "permissions",
            Status::Pass,
            "running as root: system-wide sampling allowed",
            "",
        ));
    } else if paranoid.is_some_and(|p| p <= 0) {
        f.push(finding(
            "permissions",
            Status::Pass,
            format!(
                "perf_event_paranoid = {}: system-wide sampling allowed",
                paranoid.unwrap_or(0)
            ),
            "",
        ));
    } else {
        f.push(finding(
            "permissions",
            Status::Fail,
            format!(
                "not root and perf_event_paranoid = {}: `perf record -a` is not permitted",
                paranoid
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "unknown".into())
            ),
            "run as root, or: sudo sysctl kernel.perf_event_paranoid=-1",
        ));
    }

    if machine.hardware_pmu {
        f.push(finding(
            "sampling event",
            Status::Pass,
            "hardware PMU present: perf samples CPU cycles",
            "",
        ));
    } else {
        f.push(finding(
            "sampling event",
            Status::Warn,
            "no hardware PMU (typical of VMs): perf samples with the software cpu-clock event; figures are valid but say so when shared",
            "",
        ));
    }
    if let Some(rate) = machine.perf_event_max_sample_rate {
        if rate < 4000 {
            f.push(finding(
                "sample rate",
                Status::Warn,
                format!(
                    "kernel.perf_event_max_sample_rate = {rate}: perf's default 4000 Hz is capped"
                ),
                "sudo sysctl kernel.perf_event_max_sample_rate=100000",
            ));
        }
    }

    match &machine.nbdkit_version {
        Some(v) => {
            f.push(finding("nbdkit", Status::Pass, v.clone(), ""));
            if let Some((w, crate::workload::WorkloadKind::Nbd { server, .. })) =
                opts.workload.map(|w| (w, &w.kind))
            {
                let plugin = &server.plugin;
                let ok = crate::process::capture("nbdkit", &[plugin, "--dump-plugin"])
                    .is_ok_and(|(s, _, _)| s.success());
                if ok {
                    f.push(finding(
                        "nbdkit plugin",
                        Status::Pass,
                        format!("`{plugin}` plugin available"),
                        "",
                    ));
                } else {
                    f.push(finding(
                        "nbdkit plugin",
                        Status::Fail,
                        format!(
                            "nbdkit has no `{plugin}` plugin (needed by workload {})",
                            w.name
                        ),
                        "install the plugin's package (Debian: nbdkit, nbdkit-plugin-*)",
                    ));
                }
            }
        }
        None => f.push(finding(
            "nbdkit",
            Status::Fail,
            "nbdkit is not installed",
            SETUP,
        )),
    }

    match &machine.fio_version {
        Some(v) => {
            f.push(finding("fio", Status::Pass, v.clone(), ""));
            let engine = crate::process::capture("fio", &["--enghelp=nbd"])
                .map(|(_, out, err)| format!("{out}{err}"))
                .unwrap_or_default();
            f.push(nbd_engine_finding(&engine));
        }
        None => f.push(finding("fio", Status::Fail, "fio is not installed", SETUP)),
    }

    match kernel_nbd_unavailable() {
        None => f.push(finding(
            "kernel NBD",
            Status::Pass,
            "/dev/nbd0 and nbd-client present: --target auto uses the kernel device",
            "",
        )),
        Some(why) => f.push(finding(
            "kernel NBD",
            Status::Info,
            format!(
                "kernel-nbd target unavailable ({why}); fio's nbd engine is the raw-device path"
            ),
            "",
        )),
    }

    if opts.modes.contains(&UnwindMode::Lbr) {
        if let Some(why) = lbr_supported() {
            f.push(finding(
                "lbr",
                Status::Warn,
                format!("lbr will be skipped: {why}"),
                "",
            ));
        }
    }

    if let Some(out) = &opts.out_dir {
        match disk_space(out) {
            Some((free, total)) => {
                let margin = disk_margin(total);
                let detail = format!(
                    "{} free at {}; recordings predicted to need up to {} at once (keeping {} spare)",
                    human_bytes(free),
                    out.display(),
                    human_bytes(opts.predicted_bytes),
                    human_bytes(margin)
                );
                let fix = "free space, pass --out on a larger disk, shorten --runtime, or drop the largest dwarf modes (and --keep-data)";
                if opts.predicted_min_bytes > 0 && opts.predicted_min_bytes + margin > free {
                    f.push(finding("disk", Status::Fail, detail, fix));
                } else if opts.predicted_bytes + margin > free {
                    f.push(finding(
                        "disk",
                        Status::Warn,
                        format!("{detail}: the largest recordings will be refused when their turn comes"),
                        fix,
                    ));
                } else {
                    f.push(finding("disk", Status::Pass, detail, ""));
                }
            }
            None => f.push(finding(
                "disk",
                Status::Warn,
                format!("cannot tell free space at {}", out.display()),
                "",
            )),
        }
    }

    if opts
        .workload
        .is_some_and(|w| matches!(w.kind, crate::workload::WorkloadKind::Program { .. }))
    {
        match crate::machine::version_of("gcc", &["--version"]) {
            Some(v) => d.findings.push(finding("compiler", Status::Pass, v, "")),
            None => d.findings.push(finding(
                "compiler",
                Status::Fail,
                "gcc is not installed: the program workload is built from source",
                "apt-get install gcc (or run scripts/setup.sh)",
            )),
        }
    }
    if opts.audit {
        d.audits = audit_workload_binaries(opts.workload);
        d.audits.extend(
            opts.programs
                .iter()
                .filter_map(|(role, path)| audit::audit_binary(role, path).ok()),
        );
        for a in &d.audits {
            let share = a.frame_pointer_share() * 100.0;
            let tables = match (a.eh_frame, a.debug_frame) {
                (true, true) => ".eh_frame + .debug_frame",
                (true, false) => ".eh_frame",
                (false, true) => ".debug_frame",
                (false, false) => "no unwind tables",
            };
            let detail = format!(
                "{} ({}): {:.0}% of {} functions ({}) keep frame pointers; {tables}; {}",
                a.role,
                a.path.display(),
                share,
                a.functions,
                a.symbols,
                if a.debug_info {
                    "debug info"
                } else {
                    "no debug info"
                }
            );
            let status = if a.has_frame_pointers() {
                Status::Pass
            } else {
                Status::Info
            };
            let detail = if a.has_frame_pointers() {
                detail
            } else {
                format!("{detail}; fp stacks through {} will be truncated", a.role)
            };
            d.findings
                .push(finding("frame pointers", status, detail, ""));
        }
    }
    d
}

/// The binaries the workload runs and the libraries that matter for its stacks.
fn audit_workload_binaries(workload: Option<&Workload>) -> Vec<BinaryAudit> {
    let mut targets: Vec<(String, PathBuf)> = Vec::new();
    for program in ["nbdkit", "fio"] {
        if let Some(path) = audit::which(program) {
            targets.push((program.to_string(), path.clone()));
            for (soname, lib) in audit::linked_libraries(&path) {
                let role = if soname.starts_with("libnbd") {
                    "libnbd"
                } else if soname.starts_with("libc.") {
                    "libc"
                } else {
                    continue;
                };
                if !targets.iter().any(|(r, _)| r == role) {
                    targets.push((role.to_string(), lib));
                }
            }
        }
    }
    let plugin = workload.and_then(|w| match &w.kind {
        crate::workload::WorkloadKind::Nbd { server, .. } => Some(server.plugin.as_str()),
        crate::workload::WorkloadKind::Program { .. } => None,
    });
    if let Some((name, path)) = plugin.and_then(|p| Some((p, plugin_path(p)?))) {
        targets.insert(1, (format!("nbdkit {name} plugin"), path));
    }
    targets
        .into_iter()
        .filter_map(|(role, path)| audit::audit_binary(&role, &path).ok())
        .collect()
}

/// Where nbdkit keeps a plugin's shared object.
fn plugin_path(plugin: &str) -> Option<PathBuf> {
    let (_, out, _) = crate::process::capture("nbdkit", &["--dump-config"]).ok()?;
    let dir = out.lines().find_map(|l| l.strip_prefix("plugindir="))?;
    let path = Path::new(dir).join(format!("nbdkit-{plugin}-plugin.so"));
    path.exists().then_some(path)
}

/// What `fio --enghelp=nbd` says about the nbd engine: its option list (with `uri`) when
/// fio was built with libnbd, an error otherwise.
pub fn nbd_engine_finding(enghelp: &str) -> Finding {
    if enghelp.lines().any(|l| l.trim_start().starts_with("uri")) {
        finding(
            "fio nbd engine",
            Status::Pass,
            "fio has its nbd engine (libnbd)",
            "",
        )
    } else {
        finding(
            "fio nbd engine",
            Status::Fail,
            format!(
                "this fio has no nbd engine ({})",
                enghelp.lines().next().unwrap_or("no output").trim()
            ),
            "install Debian's fio (built with libnbd), or build fio with --enable-libnbd",
        )
    }
}

/// The doctor's findings as aligned text lines.
pub fn render(d: &Diagnosis) -> String {
    let width = d.findings.iter().map(|f| f.check.len()).max().unwrap_or(0);
    let mut out = String::new();
    for f in &d.findings {
        out.push_str(&format!(
            "[{:>4}] {:width$}  {}\n",
            f.status.to_string(),
            f.check,
            f.detail
        ));
        if !f.fix.is_empty() {
            out.push_str(&format!("       {:width$}  fix: {}\n", "", f.fix));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nbd_engine_from_real_fio_output() {
        // Debian's fio 3.33.
        let with = "uri                     : Name of NBD URI\n";
        assert_eq!(nbd_engine_finding(with).status, Status::Pass);
        // fio 3.33 configured without --enable-libnbd (built here while writing the
        // frame-pointer build script).
        let without = "fio: engine nbd not loadable\n";
        let f = nbd_engine_finding(without);
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains("engine nbd not loadable"), "{}", f.detail);
        assert!(f.fix.contains("--enable-libnbd"));
    }

    #[test]
    fn disk_margin_fits_small_and_large_disks() {
        assert_eq!(disk_margin(400 << 20), 64 << 20);
        assert_eq!(disk_margin(20 << 30), 1 << 30);
        assert_eq!(disk_margin(250 << 30), 2 << 30);
    }
}
