//! What an analysis may touch once confined (see [`crate::sandbox`]): the `analyze` command
//! applies it to itself before it reads the recording, so compare's analysis children and
//! its pipe readers are confined alike.
//!
//! Read: the recording; the system's binary and library trees (`/usr`, with the debug
//! packages' `/usr/lib/debug`, `/opt`, and the `/bin`, `/lib`... that point into them);
//! perf's build-id cache; the debuginfod cache; `--search` folders; the kallsyms file; and
//! the folders given with `--read`. Not read: home folders, /tmp, /dev/shm, /var/tmp and the
//! rest — the places any local user can plant a file for a root analysis to parse. A module
//! mapped from there is named `[file]`, with the fix (`--read DIR`) among the missing modules.
//! Written: the output folder, and the debuginfod cache when servers are asked. Network: only
//! the debuginfod servers' ports, only when they are asked.

use std::path::{Path, PathBuf};

use super::{AnalyzeError, AnalyzeOptions};
use crate::sandbox::{self, Policy};
use crate::symbolize::debuginfod;

/// Where the system's executables, libraries and debug files live: root-owned on every
/// distribution, so no user can plant a file there.
pub const SYSTEM_TREES: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
];

/// What name lookups read, when debuginfod servers are asked.
const RESOLVER_FILES: &[&str] = &[
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
];

/// The policy for `opts`. Creates the folders it lets the analysis write (a rule needs an
/// existing folder): the output folder, and the debuginfod cache when servers are asked.
pub fn policy(opts: &AnalyzeOptions) -> Result<Policy, AnalyzeError> {
    let create = |dir: &Path| {
        std::fs::create_dir_all(dir).map_err(|source| AnalyzeError::Write {
            path: dir.to_path_buf(),
            source,
        })
    };
    create(&opts.out_dir)?;
    let mut read: Vec<PathBuf> = SYSTEM_TREES.iter().map(PathBuf::from).collect();
    if opts.input != Path::new("-") {
        read.push(opts.input.clone());
    }
    read.extend(opts.buildid_dir.clone());
    read.extend(opts.search.iter().cloned());
    read.push(opts.kallsyms.clone());
    read.extend(opts.allow_read.iter().cloned());
    let cache = crate::binary::debuginfod_cache_dir();
    let mut write = vec![opts.out_dir.clone()];
    let ports = debuginfod::server_ports(opts.offline);
    match (&ports, &cache) {
        (Some(_), Some(cache)) => {
            create(cache)?;
            write.push(cache.clone());
            read.extend(RESOLVER_FILES.iter().map(PathBuf::from));
        }
        // Files fetched before are read where they are.
        _ => read.extend(cache.clone()),
    }
    Ok(Policy {
        read,
        write,
        connect_tcp: ports.filter(|_| cache.is_some()),
    })
}

/// Confines this process to the analysis of `opts` (the `analyze` command, before it reads
/// anything). Returns the one line to print where the kernel lacks a layer.
pub fn apply(opts: &AnalyzeOptions) -> Result<Option<String>, AnalyzeError> {
    let policy = policy(opts)?;
    let confinement = sandbox::confine(&policy).map_err(AnalyzeError::Sandbox)?;
    Ok(confinement.missing())
}
