//! The seccomp layer: the system calls an analysis makes, and nothing else. Everything not
//! listed fails with EPERM (not a kill: a library probing for an optional call gets an
//! error it handles, and the refusal shows in the analysis's own message).
//!
//! The list was taken from `strace -f` of analyses of every fixture (file, pipe, DWARF,
//! lossy, AUX trace), with `--threads`, `--profile`, `--inline` and debuginfod, and a short
//! `compare`'s analysis children. Left out on purpose: exec, fork (threads only), ptrace,
//! sockets without debuginfod, mount and namespaces, BPF and perf events, kernel keyrings,
//! module loading, reboot, changing ids or capabilities.

use std::collections::BTreeMap;

use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

use super::policy::{Layer, SandboxError};

/// Calls allowed whatever their arguments.
const ALWAYS: &[libc::c_long] = &[
    // Files: the recording, binaries, debug files, outputs.
    libc::SYS_read,
    libc::SYS_readv,
    libc::SYS_pread64,
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_lseek,
    libc::SYS_openat,
    libc::SYS_close,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_statfs,
    libc::SYS_fstatfs,
    libc::SYS_getdents64,
    libc::SYS_readlinkat,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_getcwd,
    libc::SYS_fcntl,
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_ftruncate,
    libc::SYS_fadvise64,
    // Memory.
    libc::SYS_brk,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_madvise,
    // Threads, signals, time.
    libc::SYS_futex,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_yield,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_sigaltstack,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_getrandom,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_uname,
    libc::SYS_sysinfo,
    libc::SYS_getrusage,
    libc::SYS_prlimit64,
    libc::SYS_umask,
    libc::SYS_poll,
    libc::SYS_ppoll,
    // Installing the second filter below; a filter only ever takes more away.
    libc::SYS_seccomp,
];

/// The older x86-64 names glibc still uses for some of the above.
#[cfg(target_arch = "x86_64")]
const ALWAYS_X86_64: &[libc::c_long] = &[
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_access,
    libc::SYS_readlink,
    libc::SYS_mkdir,
    libc::SYS_unlink,
    libc::SYS_rename,
    libc::SYS_getdents,
];
#[cfg(not(target_arch = "x86_64"))]
const ALWAYS_X86_64: &[libc::c_long] = &[];

/// With debuginfod: name lookups (UDP to the resolver) and HTTP(S) to the servers.
const NETWORK: &[libc::c_long] = &[
    libc::SYS_connect,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendmmsg,
    libc::SYS_setsockopt,
    libc::SYS_getsockopt,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_shutdown,
    libc::SYS_bind,
];

fn condition(
    arg: u8,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompCondition, seccompiler::BackendError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value)
}

fn one(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, seccompiler::BackendError> {
    SeccompRule::new(conditions)
}

/// The allowed calls, some with conditions on their arguments.
fn rules(network: bool) -> Result<BTreeMap<i64, Vec<SeccompRule>>, seccompiler::BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = ALWAYS
        .iter()
        .chain(ALWAYS_X86_64)
        .map(|&nr| (nr, Vec::new()))
        .collect();
    let prot_exec = libc::PROT_EXEC as u64;
    // Threads, never processes: clone must share the address space as a thread.
    let thread = libc::CLONE_THREAD as u64;
    rules.insert(
        libc::SYS_clone,
        vec![one(vec![condition(
            0,
            SeccompCmpOp::MaskedEq(thread),
            thread,
        )?])?],
    );
    // Thread names (std names its threads), and no_new_privs, which only takes away (the
    // second filter's installation sets it again).
    rules.insert(
        libc::SYS_prctl,
        [libc::PR_SET_NAME, libc::PR_SET_NO_NEW_PRIVS]
            .iter()
            .map(|&op| one(vec![condition(0, SeccompCmpOp::Eq, op as u64)?]))
            .collect::<Result<_, _>>()?,
    );
    // A terminal's questions (isatty), nothing else a device may be asked.
    rules.insert(
        libc::SYS_ioctl,
        vec![
            one(vec![condition(1, SeccompCmpOp::Eq, libc::TCGETS)?])?,
            one(vec![condition(1, SeccompCmpOp::Eq, libc::TIOCGWINSZ)?])?,
        ],
    );
    // Signals to itself only (abort on a bug).
    rules.insert(
        libc::SYS_tgkill,
        vec![one(vec![condition(
            0,
            SeccompCmpOp::Eq,
            std::process::id() as u64,
        )?])?],
    );
    if network {
        // Name service modules are loaded as code where nsswitch.conf asks for them.
        rules.insert(libc::SYS_mmap, Vec::new());
        rules.insert(libc::SYS_mprotect, Vec::new());
        rules.extend(NETWORK.iter().map(|&nr| (nr, Vec::new())));
        // std's connect with a timeout (ureq's) makes the socket non-blocking with FIONBIO.
        if let Some(ioctl) = rules.get_mut(&libc::SYS_ioctl) {
            ioctl.push(one(vec![condition(1, SeccompCmpOp::Eq, libc::FIONBIO)?])?);
        }
        let domains = [
            libc::AF_INET,
            libc::AF_INET6,
            libc::AF_UNIX,
            libc::AF_NETLINK,
        ];
        rules.insert(
            libc::SYS_socket,
            domains
                .iter()
                .map(|&d| one(vec![condition(0, SeccompCmpOp::Eq, d as u64)?]))
                .collect::<Result<_, _>>()?,
        );
    } else {
        // No new code: data and stacks only, never executable memory.
        let no_exec = || condition(2, SeccompCmpOp::MaskedEq(prot_exec), 0);
        rules.insert(libc::SYS_mmap, vec![one(vec![no_exec()?])?]);
        rules.insert(libc::SYS_mprotect, vec![one(vec![no_exec()?])?]);
    }
    Ok(rules)
}

fn arch() -> Result<TargetArch, seccompiler::BackendError> {
    std::env::consts::ARCH.try_into()
}

/// Installs the filter on the calling thread. A second, later filter answers clone3 with
/// ENOSYS, so that glibc falls back to clone, whose flags the first filter can check (clone3
/// passes them in memory, where seccomp cannot look).
pub(super) fn install(network: bool) -> Result<Layer, SandboxError> {
    let allow = SeccompFilter::new(
        rules(network)?,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        arch()?,
    )?;
    let clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch()?,
    )?;
    for filter in [allow, clone3] {
        let program: seccompiler::BpfProgram = filter.try_into()?;
        seccompiler::apply_filter(&program)?;
    }
    Ok(Layer::Enforced(format!(
        "seccomp filter ({} system calls{})",
        rules(network)?.len(),
        if network {
            ", network for debuginfod"
        } else {
            ", no network"
        }
    )))
}

/// Whether this kernel filters system calls: /proc/self/status has `Seccomp_filters` where
/// it was built with CONFIG_SECCOMP_FILTER.
pub(super) fn probe() -> Layer {
    match std::fs::read_to_string("/proc/self/status") {
        Ok(s) if s.lines().any(|l| l.starts_with("Seccomp_filters:")) => {
            Layer::Enforced("seccomp filters".into())
        }
        Ok(_) => Layer::Missing(
            "this kernel is built without seccomp filters (CONFIG_SECCOMP_FILTER)".into(),
        ),
        Err(e) => Layer::Missing(format!("cannot read /proc/self/status: {e}")),
    }
}
