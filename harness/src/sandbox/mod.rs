//! Confinement of a process that reads untrusted bytes: perf.data files, the ELF files and
//! DWARF of every process a system-wide recording sampled (other users' included), separate
//! debug files, and what debuginfod servers send back.
//!
//! `compare` runs as root, and a parser bug in any of those readers would otherwise run as
//! root. So the process that parses confines itself first, before it reads a byte, the way
//! OpenSSH and Chromium confine their parsers: [`confine`] sets `no_new_privs`, drops every
//! capability but the two that only widen what may be *read* ([`KEPT`]), applies a Landlock
//! ruleset ([`fs`]: read the given paths, write the given folders, connect only to the given
//! TCP ports, no signals or abstract sockets outside) and a seccomp filter ([`syscalls`]: the
//! system calls the analysis makes; no exec, no fork, no sockets unless asked).
//!
//! Everything is best effort against the running kernel: where it lacks Landlock or seccomp,
//! the process runs without that layer and [`Confinement::missing`] says so in one line.
//! Confinement applies to the calling thread and what it starts afterwards, so it must be
//! the first thing a process does, before it starts threads.

mod fs;
mod policy;
mod syscalls;

pub use self::policy::{Confinement, Layer, Policy, SandboxError};

use caps::{CapSet, Capability};

/// Capabilities a confined process keeps (when it has them: as root). Both only widen what
/// it may read, never what it may write or do, and Landlock still bounds where it reads:
/// - `CAP_DAC_READ_SEARCH`: root analyzing a recording, `--search` folder or debug file that
///   belongs to another user and is not readable by others;
/// - `CAP_SYSLOG`: the kernel's addresses in /proc/kallsyms (shown as zeros without it at
///   `kernel.perf_event_paranoid` > 1 or `kernel.kptr_restrict` >= 1), to name kernel frames.
///
/// Everything else goes, from the bounding set too, so even an exec could not regain it.
pub const KEPT: [Capability; 2] = [Capability::CAP_DAC_READ_SEARCH, Capability::CAP_SYSLOG];

/// Confines the calling thread (and every thread and process it starts later) to `policy`:
/// no_new_privs, capabilities, Landlock, seccomp, in that order (each step needs the ones
/// the next takes away). Irreversible.
pub fn confine(policy: &Policy) -> Result<Confinement, SandboxError> {
    // First and on its own: it holds even where the kernel has neither Landlock nor seccomp,
    // and both need it to be installed without CAP_SYS_ADMIN.
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(SandboxError::NoNewPrivs(std::io::Error::last_os_error()));
    }
    let capabilities = drop_capabilities()?;
    // Asked of /proc before Landlock closes it.
    let seccomp_support = syscalls::probe();
    let landlock = fs::restrict(policy)?;
    let seccomp = match seccomp_support {
        Layer::Enforced(_) => syscalls::install(policy.connect_tcp.is_some())?,
        missing => missing,
    };
    Ok(Confinement {
        no_new_privs: true,
        capabilities,
        landlock,
        seccomp,
    })
}

/// Keeps [`KEPT`] where the thread has them and drops everything else, the bounding set
/// included (it needs CAP_SETPCAP, so it goes first). Returns the names of what is left.
fn drop_capabilities() -> Result<Vec<String>, SandboxError> {
    let permitted = caps::read(None, CapSet::Permitted)?;
    if permitted.is_empty() {
        return Ok(Vec::new());
    }
    let keep: caps::CapsHashSet = KEPT
        .iter()
        .copied()
        .filter(|c| permitted.contains(c))
        .collect();
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP)? {
        for cap in caps::runtime::thread_all_supported() {
            if !keep.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap)?;
            }
        }
    }
    // A kernel without ambient capabilities has none to clear.
    let _ = caps::clear(None, CapSet::Ambient);
    caps::clear(None, CapSet::Inheritable)?;
    caps::set(None, CapSet::Effective, &keep)?;
    caps::set(None, CapSet::Permitted, &keep)?;
    let mut names: Vec<String> = keep.iter().map(|c| c.to_string()).collect();
    names.sort();
    Ok(names)
}

/// What this kernel offers, for the doctor: Landlock (with its ABI) and seccomp filters.
/// Landlock is probed on a short-lived thread (a ruleset that restricts nothing: it
/// applies to that thread alone).
pub fn support() -> (Layer, Layer) {
    let landlock = std::thread::spawn(fs::probe)
        .join()
        .unwrap_or_else(|_| Layer::Missing("the probe failed".into()));
    (landlock, syscalls::probe())
}
