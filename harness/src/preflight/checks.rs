//! The doctor's checks, one function each: what it looks at, what it finds, and the
//! command that fixes a problem. [`CHECKS`] lists them in the order they are reported.

use std::path::{Path, PathBuf};

use super::findings::{finding, Finding, Status};
use super::online;
use super::privileges;
use crate::audit::{self, BinaryAudit};
use crate::disk::{disk_margin, disk_space};
use crate::machine::{has_hardware_pmu, version_of, Machine};
use crate::mode::UnwindMode;
use crate::process::Tools;
use crate::units::human_bytes;
use crate::workload::target::{
    self, kernel_nbd_unavailable, loop_unavailable, TargetChoice, TargetKind,
};
use crate::workload::{Workload, WorkloadKind};

/// What the doctor checks against.
#[derive(Clone, Debug)]
pub struct DoctorOptions<'a> {
    /// The workload about to run (its plugin is checked); None: the default checks only.
    pub workload: Option<&'a Workload>,
    /// Where nbdkit and fio come from (the system's, or the frame-pointer builds).
    pub tools: &'a Tools,
    /// Built programs of a program workload, audited like the NBD binaries (role, path).
    pub programs: Vec<(String, PathBuf)>,
    /// Modes about to be recorded (for LBR support and the disk prediction).
    pub modes: Vec<UnwindMode>,
    /// Where the run folder will be (free disk is checked there).
    pub out_dir: Option<PathBuf>,
    /// Bytes the recordings are predicted to need at once: the largest one (or all of
    /// them with --keep-data), and the smallest. The run stops only when even the smallest
    /// cannot fit; larger ones are refused one by one when their turn comes.
    pub predicted_bytes: u64,
    pub predicted_min_bytes: u64,
    /// Audit the workload's binaries for frame pointers (reads a few MB of ELF).
    pub audit: bool,
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

/// What every check looks at.
pub(super) struct Context<'a> {
    pub opts: &'a DoctorOptions<'a>,
    pub machine: &'a Machine,
}

type Check = fn(&Context) -> Vec<Finding>;

/// Every check, in the order they are reported.
pub(super) const CHECKS: &[Check] = &[
    perf,
    |c| privileges::permissions(c.machine.perf_event_paranoid, c.opts.tools, &c.opts.modes),
    |_| privileges::sandbox(),
    |_| privileges::other_sessions(),
    sampling_event,
    sample_rate,
    nbdkit,
    fio,
    targets,
    lbr,
    |c| online::online_recorder(&c.opts.modes),
    |_| online::deferred_callchains(),
    |c| online::samply(&c.opts.modes, c.machine.perf_event_paranoid),
    workload_trust,
    disk,
    compiler,
];

fn perf(c: &Context) -> Vec<Finding> {
    vec![match &c.machine.perf_version {
        Some(v) => finding("perf", Status::Pass, v.clone(), ""),
        None => finding(
            "perf",
            Status::Fail,
            "perf is not installed",
            "apt-get install linux-perf (Debian) or linux-tools-$(uname -r) (Ubuntu); or run scripts/setup.sh",
        ),
    }]
}

fn sampling_event(c: &Context) -> Vec<Finding> {
    vec![if c.machine.hardware_pmu {
        finding(
            "sampling event",
            Status::Pass,
            "hardware PMU present: perf samples CPU cycles",
            "",
        )
    } else {
        finding(
            "sampling event",
            Status::Warn,
            "no hardware PMU (typical of VMs): perf samples with the software cpu-clock event; figures are valid but say so when shared",
            "",
        )
    }]
}

fn sample_rate(c: &Context) -> Vec<Finding> {
    c.machine
        .perf_event_max_sample_rate
        .filter(|&rate| rate < 4000)
        .map(|rate| {
            finding(
                "sample rate",
                Status::Warn,
                format!(
                    "kernel.perf_event_max_sample_rate = {rate}: perf's default 4000 Hz is capped"
                ),
                "sudo sysctl kernel.perf_event_max_sample_rate=100000",
            )
        })
        .into_iter()
        .collect()
}

/// nbdkit, and the plugin an NBD workload needs.
fn nbdkit(c: &Context) -> Vec<Finding> {
    let Some(v) = &c.machine.nbdkit_version else {
        return vec![finding(
            "nbdkit",
            Status::Fail,
            "nbdkit is not installed",
            SETUP,
        )];
    };
    let mut found = vec![finding("nbdkit", Status::Pass, v.clone(), "")];
    let Some((w, WorkloadKind::Nbd { server, .. })) = c.opts.workload.map(|w| (w, &w.kind)) else {
        return found;
    };
    let plugin = &server.plugin;
    let ok = c
        .opts
        .tools
        .capture("nbdkit", &[plugin, "--dump-plugin"])
        .is_ok_and(|(s, _, _)| s.success());
    found.push(if ok {
        finding(
            "nbdkit plugin",
            Status::Pass,
            format!("`{plugin}` plugin available"),
            "",
        )
    } else {
        finding(
            "nbdkit plugin",
            Status::Fail,
            format!(
                "nbdkit has no `{plugin}` plugin (needed by workload {})",
                w.name
            ),
            "install the plugin's package (Debian: nbdkit, nbdkit-plugin-*)",
        )
    });
    found
}

/// fio, and its nbd engine.
fn fio(c: &Context) -> Vec<Finding> {
    let Some(v) = &c.machine.fio_version else {
        return vec![finding("fio", Status::Fail, "fio is not installed", SETUP)];
    };
    let engine = c
        .opts
        .tools
        .capture("fio", &["--enghelp=nbd"])
        .map(|(_, out, err)| format!("{out}{err}"))
        .unwrap_or_default();
    vec![
        finding("fio", Status::Pass, v.clone(), ""),
        nbd_engine_finding(&engine),
    ]
}

/// The kernel block devices fio can drive, and the one `--target auto` takes.
fn targets(_: &Context) -> Vec<Finding> {
    let auto = target::plan(TargetChoice::Auto)
        .map(|p| p.kind)
        .unwrap_or(TargetKind::NbdEngine);
    let nbd = match kernel_nbd_unavailable() {
        None => finding(
            "kernel NBD",
            Status::Pass,
            "/dev/nbd0 and nbd-client present: --target auto uses the kernel device",
            "",
        ),
        Some(why) => finding(
            "kernel NBD",
            Status::Info,
            format!("kernel-nbd target unavailable ({why})"),
            "",
        ),
    };
    let looped = match loop_unavailable() {
        None => finding(
            "loop device",
            Status::Pass,
            format!(
                "loop devices, FUSE and nbdfuse present: --target loop runs ({})",
                TargetKind::Loop.hops()
            ),
            "",
        ),
        Some(why) => finding(
            "loop device",
            Status::Info,
            format!("loop target unavailable ({why})"),
            "",
        ),
    };
    let chosen = finding(
        "target",
        Status::Info,
        format!("--target auto uses {auto}: {}", auto.hops()),
        "",
    );
    vec![nbd, looped, chosen]
}

fn lbr(c: &Context) -> Vec<Finding> {
    if !c.opts.modes.contains(&UnwindMode::Lbr) {
        return Vec::new();
    }
    lbr_supported()
        .map(|why| {
            finding(
                "lbr",
                Status::Warn,
                format!("lbr will be skipped: {why}"),
                "",
            )
        })
        .into_iter()
        .collect()
}

/// Workload files are code: say so, and name a plugin known to run commands.
fn workload_trust(c: &Context) -> Vec<Finding> {
    let mut out = vec![finding(
        "workload files",
        Status::Info,
        "a workload file is trusted like a script run as root: its nbdkit plugin and filters and its fio job run as written (a plugin such as sh or eval runs shell commands, fio keys such as exec_prerun or write_*_log run commands and write files); run only workload files you would run as root",
        "",
    )];
    if let Some(Workload {
        kind: WorkloadKind::Nbd { server, .. },
        ..
    }) = c.opts.workload
    {
        if CODE_RUNNING_PLUGINS.contains(&server.plugin.as_str()) {
            out.push(finding(
                "workload files",
                Status::Warn,
                format!(
                    "this workload's nbdkit plugin `{}` runs code given in the workload file",
                    server.plugin
                ),
                "",
            ));
        }
    }
    out
}

/// nbdkit plugins that run code their parameters give (scripts, source, commands).
const CODE_RUNNING_PLUGINS: &[&str] = &[
    "sh", "eval", "cc", "python", "perl", "lua", "ruby", "tcl", "ocaml", "golang", "tmpdisk",
];

/// Free disk where the run folder will be, against the recordings' predicted sizes.
fn disk(c: &Context) -> Vec<Finding> {
    let opts = c.opts;
    let Some(out) = &opts.out_dir else {
        return Vec::new();
    };
    let Some((free, total)) = disk_space(out) else {
        return vec![finding(
            "disk",
            Status::Warn,
            format!("cannot tell free space at {}", out.display()),
            "",
        )];
    };
    let margin = disk_margin(total);
    let detail = format!(
        "{} free at {}; recordings predicted to need up to {} at once (keeping {} spare)",
        human_bytes(free),
        out.display(),
        human_bytes(opts.predicted_bytes),
        human_bytes(margin)
    );
    let fix = "free space, pass --out on a larger disk, shorten --runtime, or drop the largest dwarf modes (and --keep-data)";
    vec![
        if opts.predicted_min_bytes > 0 && opts.predicted_min_bytes + margin > free {
            finding("disk", Status::Fail, detail, fix)
        } else if opts.predicted_bytes + margin > free {
            finding(
                "disk",
                Status::Warn,
                format!("{detail}: the largest recordings will be refused when their turn comes"),
                fix,
            )
        } else {
            finding("disk", Status::Pass, detail, "")
        },
    ]
}

/// A program workload is built from source.
fn compiler(c: &Context) -> Vec<Finding> {
    if !c
        .opts
        .workload
        .is_some_and(|w| matches!(w.kind, WorkloadKind::Program { .. }))
    {
        return Vec::new();
    }
    vec![match version_of(&Tools::system(), "gcc", &["--version"]) {
        Some(v) => finding("compiler", Status::Pass, v, ""),
        None => finding(
            "compiler",
            Status::Fail,
            "gcc is not installed: the program workload is built from source",
            "apt-get install gcc (or run scripts/setup.sh)",
        ),
    }]
}

/// The frame-pointer audit of the workload's binaries and the built programs.
pub(super) fn audits(opts: &DoctorOptions<'_>) -> Vec<BinaryAudit> {
    let mut audits = audit_workload_binaries(opts.tools, opts.workload);
    audits.extend(
        opts.programs
            .iter()
            .filter_map(|(role, path)| audit::audit_binary(role, path).ok()),
    );
    audits
}

/// What an audit says about unwinding through the binary.
pub(super) fn audit_finding(a: &BinaryAudit) -> Finding {
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
    if a.has_frame_pointers() {
        finding("frame pointers", Status::Pass, detail, "")
    } else {
        let detail = format!("{detail}; fp stacks through {} will be truncated", a.role);
        finding("frame pointers", Status::Info, detail, "")
    }
}

/// Where the frames of an audited binary will get their names.
pub(super) fn names_finding(a: &BinaryAudit) -> Option<Finding> {
    use crate::symbolize::sources::{name_source, NameSource};
    let source = name_source(&a.path)?;
    let status = match source {
        NameSource::FunctionBoundaries | NameSource::ModuleOnly => Status::Info,
        _ => Status::Pass,
    };
    let fix = match source {
        NameSource::FunctionBoundaries | NameSource::ModuleOnly => {
            "install its debug package (Debian: the -dbgsym from the debian-debug archive), or set DEBUGINFOD_URLS"
        }
        _ => "",
    };
    Some(finding(
        "names",
        status,
        format!("{} ({}): {source}", a.role, a.path.display()),
        fix,
    ))
}

/// The binaries the workload runs and the libraries that matter for its stacks.
fn audit_workload_binaries(tools: &Tools, workload: Option<&Workload>) -> Vec<BinaryAudit> {
    let mut targets: Vec<(String, PathBuf)> = Vec::new();
    for program in ["nbdkit", "fio"] {
        if let Some(path) = tools.which(program) {
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
        WorkloadKind::Nbd { server, .. } => Some(server.plugin.as_str()),
        WorkloadKind::Program { .. } => None,
    });
    if let Some((name, path)) = plugin.and_then(|p| Some((p, plugin_path(tools, p)?))) {
        targets.insert(1, (format!("nbdkit {name} plugin"), path));
    }
    targets
        .into_iter()
        .filter_map(|(role, path)| audit::audit_binary(&role, &path).ok())
        .collect()
}

/// Where nbdkit keeps a plugin's shared object.
fn plugin_path(tools: &Tools, plugin: &str) -> Option<PathBuf> {
    let (_, out, _) = tools.capture("nbdkit", &["--dump-config"]).ok()?;
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
}
