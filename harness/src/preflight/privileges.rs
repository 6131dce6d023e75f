//! The doctor's checks of what the harness may do on this machine, and who else uses it:
//! whether system-wide sampling is allowed to this user, whether the analysis can be
//! confined, and which other profiling sessions would share the measurements.

use std::path::Path;

use super::findings::{finding, Finding, Status};
use crate::exclusive::sessions;
use crate::mode::UnwindMode;
use crate::process::Tools;
use crate::sandbox::{self, Layer};

/// CAP_PERFMON's number (Linux 5.8): perf events beyond perf_event_paranoid.
const CAP_PERFMON: u32 = 38;
/// CAP_SYS_ADMIN's, which implied it before 5.8.
const CAP_SYS_ADMIN: u32 = 21;

const CAP_FIX: &str = "sudo setcap cap_perfmon,cap_sys_ptrace,cap_syslog=ep";

/// System-wide sampling: root; or, for an ordinary user, perf_event_paranoid = -1 (at 0 a
/// user may open CPU-wide events, but the kernel still caps the memory perf locks for its
/// rings at perf_event_mlock_kb, too little for DWARF copies, and withholds raw samples),
/// or a perf binary given CAP_PERFMON (and the harness too, for its own recorder).
pub(super) fn permissions(
    paranoid: Option<i32>,
    tools: &Tools,
    modes: &[UnwindMode],
) -> Vec<Finding> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return vec![finding(
            "permissions",
            Status::Pass,
            "running as root: system-wide sampling allowed",
            "",
        )];
    }
    let paranoid_text = paranoid.map_or("unknown".to_string(), |p| p.to_string());
    if paranoid.is_some_and(|p| p <= -1) {
        return vec![finding(
            "permissions",
            Status::Pass,
            format!("not root; perf_event_paranoid = {paranoid_text}: system-wide sampling allowed to every user"),
            "",
        )];
    }
    let perf = tools
        .which("perf")
        .and_then(|p| std::fs::canonicalize(p).ok());
    let perf_capable = perf
        .as_deref()
        .is_some_and(|p| file_has_cap(p, CAP_PERFMON) || file_has_cap(p, CAP_SYS_ADMIN));
    let perf_name = perf
        .as_ref()
        .map_or("perf".to_string(), |p| p.display().to_string());
    let mut found = vec![if perf_capable {
        finding(
            "permissions",
            Status::Pass,
            format!("not root; {perf_name} has CAP_PERFMON: perf may sample system-wide (perf_event_paranoid = {paranoid_text})"),
            "",
        )
    } else {
        finding(
            "permissions",
            Status::Fail,
            format!(
                "not root, perf_event_paranoid = {paranoid_text} (an ordinary user needs -1 to sample system-wide) and {perf_name} has no CAP_PERFMON: `perf record -a` is not permitted"
            ),
            &format!(
                "run as root, or `sudo sysctl kernel.perf_event_paranoid=-1`, or give perf the capability: `{CAP_FIX} {perf_name}`"
            ),
        )
    }];
    let own = caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_PERFMON)
        .unwrap_or(false);
    if modes.iter().any(UnwindMode::is_online) && !own {
        found.push(finding(
            "permissions",
            Status::Fail,
            format!("online modes record with unwindbench itself, which has no CAP_PERFMON here (perf_event_paranoid = {paranoid_text})"),
            &format!("run as root, or `sudo sysctl kernel.perf_event_paranoid=-1`, or `{CAP_FIX} $(command -v unwindbench)`"),
        ));
    }
    found
}

/// Whether the file capabilities of `path` (its `security.capability` attribute) give the
/// program it runs capability `cap`, effective from the start.
fn file_has_cap(path: &Path, cap: u32) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 24];
    // SAFETY: both strings are NUL-terminated and the buffer's length is passed.
    let n = unsafe {
        libc::getxattr(
            c_path.as_ptr(),
            c"security.capability".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    // vfs_cap_data (v2 and v3): magic, then {permitted, inheritable} for caps 0-31, 32-63.
    if n < 20 {
        return false;
    }
    let word = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    let permitted = if cap < 32 { word(4) } else { word(12) };
    // Raised into the effective set at exec (`=ep`): perf itself does not raise it.
    let effective = word(0) & 1 != 0;
    effective && permitted & (1 << (cap % 32)) != 0
}

/// Whether an analysis can be confined here (see [`crate::sandbox`]).
pub(super) fn sandbox() -> Vec<Finding> {
    let (landlock, seccomp) = sandbox::support();
    let both = landlock.is_enforced() && seccomp.is_enforced();
    let detail = format!(
        "analyses of recordings run confined: no_new_privs, capabilities dropped but CAP_DAC_READ_SEARCH and CAP_SYSLOG; files: {landlock}; system calls: {seccomp}"
    );
    let gap = |l: &Layer| matches!(l, Layer::Missing(_));
    vec![if both {
        finding("sandbox", Status::Pass, detail, "")
    } else {
        finding(
            "sandbox",
            Status::Warn,
            format!(
                "{detail} — the analysis of untrusted binaries runs partly unconfined{}",
                if gap(&landlock) && gap(&seccomp) {
                    " (neither layer)"
                } else {
                    ""
                }
            ),
            "a kernel with Landlock (5.13+, `lsm=...,landlock`) and CONFIG_SECCOMP_FILTER",
        )
    }]
}

/// Other processes holding perf events now: they would run beside every measurement.
pub(super) fn other_sessions() -> Vec<Finding> {
    let scan = sessions::others();
    let hidden = match scan.hidden {
        0 => String::new(),
        n => format!(" ({n} processes of other users could not be looked into: not root)"),
    };
    vec![if scan.sessions.is_empty() {
        finding(
            "other profilers",
            Status::Pass,
            format!("no other process holds perf events{hidden}"),
            "",
        )
    } else {
        let names: Vec<String> = scan.sessions.iter().map(|s| s.to_string()).collect();
        finding(
            "other profilers",
            Status::Warn,
            format!(
                "other profiling sessions on this machine: {}; a comparison now would measure beside them (each measurement names them){hidden}",
                names.join("; ")
            ),
            "stop them before measuring",
        )
    }]
}
