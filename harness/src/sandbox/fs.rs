//! The Landlock layer: which files may be read, which folders written, which TCP ports
//! connected to; no exec anywhere, no device ioctls, no signals or abstract UNIX sockets
//! beyond the sandbox.

use std::path::Path;

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, LandlockStatus, NetPort, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use super::policy::{Layer, Policy, SandboxError};

/// The newest ABI this code was written and tested against (Linux 6.15); the crate falls
/// back to what an older kernel has, and says so.
const ABI_USED: ABI = ABI::V7;

/// Reading: files, and listing folders. Not `Execute`: nothing is run.
fn read_access() -> BitFlags<AccessFs> {
    AccessFs::ReadFile | AccessFs::ReadDir
}

/// Writing the outputs: files and folders created, written, truncated, renamed within a
/// folder (atomic writes) and removed; no devices, FIFOs, sockets or symlinks.
fn write_access() -> BitFlags<AccessFs> {
    read_access()
        | AccessFs::WriteFile
        | AccessFs::Truncate
        | AccessFs::MakeReg
        | AccessFs::MakeDir
        | AccessFs::RemoveFile
        | AccessFs::RemoveDir
        // Renames into another folder beneath it (the debuginfod cache moves a finished
        // download from its top into the build id's folder): without it, EXDEV.
        | AccessFs::Refer
}

/// The rule for `path`: `access` on a folder and what beneath it, the file part of it on a
/// file. None when the path does not exist.
fn rule(
    path: &Path,
    access: BitFlags<AccessFs>,
) -> Result<Option<PathBeneath<PathFd>>, SandboxError> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    let access = if meta.is_dir() {
        access
    } else {
        access & AccessFs::from_file(ABI_USED)
    };
    let fd = PathFd::new(path).map_err(|e| SandboxError::Path {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    Ok(Some(PathBeneath::new(fd, access)))
}

fn handled() -> Result<RulesetCreated, SandboxError> {
    Ok(Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_USED))?
        .handle_access(AccessNet::from_all(ABI_USED))?
        .scope(Scope::from_all(ABI_USED))?
        .create()?)
}

/// Applies the policy's filesystem and network rules to the calling thread.
pub(super) fn restrict(policy: &Policy) -> Result<Layer, SandboxError> {
    let mut ruleset = handled()?;
    for path in &policy.read {
        if let Some(rule) = rule(path, read_access())? {
            ruleset = ruleset.add_rule(rule)?;
        }
    }
    for path in &policy.write {
        let rule = rule(path, write_access())?.ok_or_else(|| SandboxError::Path {
            path: path.clone(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        })?;
        ruleset = ruleset.add_rule(rule)?;
    }
    for &port in policy.connect_tcp.iter().flatten() {
        ruleset = ruleset.add_rule(NetPort::new(port, AccessNet::ConnectTcp))?;
    }
    let status = ruleset.restrict_self()?;
    Ok(layer(status.ruleset, status.landlock))
}

fn layer(ruleset: RulesetStatus, status: LandlockStatus) -> Layer {
    let abi = match status {
        LandlockStatus::Available { effective_abi, .. } => effective_abi as i32,
        LandlockStatus::NotEnabled => {
            return Layer::Missing("Landlock is built in but not enabled at boot (add landlock to the lsm= kernel parameter)".into())
        }
        LandlockStatus::NotImplemented => {
            return Layer::Missing("this kernel is built without Landlock (Linux 5.13 or later with CONFIG_SECURITY_LANDLOCK)".into())
        }
    };
    match ruleset {
        RulesetStatus::FullyEnforced => Layer::Enforced(format!("Landlock ABI {abi}")),
        RulesetStatus::PartiallyEnforced => Layer::Missing(format!(
            "Landlock ABI {abi} enforces only part of the rules (network rules need ABI 4, scopes ABI 6)"
        )),
        RulesetStatus::NotEnforced => Layer::Missing(format!("Landlock ABI {abi} enforced nothing")),
    }
}

/// Whether this kernel enforces the rules. Run on a thread of its own that ends right
/// after: a ruleset stays on the thread that applied it.
pub(super) fn probe() -> Layer {
    let apply = || -> Result<Layer, SandboxError> {
        let status = handled()?.restrict_self()?;
        Ok(layer(status.ruleset, status.landlock))
    };
    apply().unwrap_or_else(|e| Layer::Missing(e.to_string()))
}
