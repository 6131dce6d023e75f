//! The doctor's checks about the online recorder: who records the online modes, whether
//! this kernel has deferred user callchains, and whether samply can stand beside them.

use super::findings::{finding, Finding, Status};
use crate::mode::UnwindMode;

/// The online recorder opens its own events: the same permission as perf's.
pub(super) fn online_recorder(modes: &[UnwindMode]) -> Vec<Finding> {
    if !modes.iter().any(UnwindMode::is_online) {
        return Vec::new();
    }
    let cpus = crate::online::ring::online_cpus().len();
    vec![finding(
        "online recorder",
        Status::Info,
        format!(
            "online modes sample {cpus} CPUs with unwindbench's own recorder (not perf): its CPU and samples are in the perf CPU and sample share columns"
        ),
        "",
    )]
}

/// Whether this kernel writes deferred user callchains (Linux 6.19 and later).
pub(super) fn deferred_callchains() -> Vec<Finding> {
    use crate::online::deferred::{probe, Deferred};
    vec![match probe() {
        Deferred::Supported => finding(
            "deferred callchains",
            Status::Info,
            "this kernel has deferred user callchains (defer_callchain); unwindbench does not record them yet",
            "",
        ),
        Deferred::Unsupported { kernel } => finding(
            "deferred callchains",
            Status::Info,
            format!("not supported: kernel {kernel} refuses defer_callchain (Linux 6.19 and later have it)"),
            "",
        ),
        Deferred::Unknown(why) => finding(
            "deferred callchains",
            Status::Info,
            format!("cannot tell: {why}"),
            "",
        ),
    }]
}

/// samply, the anchor a user would compare the online recorder with.
pub(super) fn samply(modes: &[UnwindMode], paranoid: Option<i32>) -> Vec<Finding> {
    if !modes.iter().any(UnwindMode::is_online) {
        return Vec::new();
    }
    vec![match crate::process::Tools::system().which("samply") {
        None => finding(
            "samply",
            Status::Info,
            "samply is not installed: no samply row beside the online mode",
            "cargo install samply --locked",
        ),
        Some(_) if paranoid.is_none_or(|p| p > 1) => finding(
            "samply",
            Status::Info,
            format!(
                "samply needs kernel.perf_event_paranoid <= 1 even as root (here {}): no samply row; unwindbench does not change the setting",
                paranoid.map_or("unknown".into(), |p| p.to_string())
            ),
            "sysctl kernel.perf_event_paranoid=1",
        ),
        Some(path) => finding("samply", Status::Pass, path.display().to_string(), ""),
    }]
}
