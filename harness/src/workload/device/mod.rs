//! The kernel block devices fio can drive (`--target kernel-nbd` and `--target loop`):
//! attached to the server's socket before fio starts, released before the server stops,
//! on every way out (dropping a [`BlockDevice`] releases it too).
//!
//! Both are the same to everything above: a `/dev/...` node that fio drives with libaio
//! ([`Target::Device`]), the processes that serve it besides nbdkit, and a release that
//! says what it could not undo. [`nbd`] attaches `/dev/nbdN` with nbd-client; [`loopfuse`]
//! a loop device over the file nbdfuse serves; [`kernel`] is what both (and the clean-up
//! of killed runs) read from sysfs and mountinfo, and the calls that detach and unmount.

pub mod kernel;
pub mod loopfuse;
pub mod nbd;

use std::path::{Path, PathBuf};

use super::target::{Target, TargetError, TargetKind};

/// Where a device's helpers write their output.
pub struct DeviceLogs {
    pub nbd_client: PathBuf,
    pub nbdfuse: PathBuf,
}

/// An attached kernel block device.
pub struct BlockDevice {
    /// `/dev/nbdN` or `/dev/loopN`.
    pub path: PathBuf,
    attached: Attached,
}

enum Attached {
    Nbd(nbd::NbdDevice),
    Loop(loopfuse::LoopOverFuse),
}

/// Attaches the device `kind` needs to the server on `socket` (None for the nbd engine,
/// which needs none). `scratch` is the run's private folder (the FUSE mount goes there).
pub fn attach(
    kind: TargetKind,
    socket: &Path,
    scratch: &Path,
    logs: &DeviceLogs,
) -> Result<Option<BlockDevice>, TargetError> {
    Ok(match kind {
        TargetKind::NbdEngine => None,
        TargetKind::KernelNbd => {
            let dev = nbd::attach(socket, &logs.nbd_client)?;
            Some(BlockDevice {
                path: dev.device.clone(),
                attached: Attached::Nbd(dev),
            })
        }
        TargetKind::Loop => {
            let (path, chain) = loopfuse::attach(socket, scratch, &logs.nbdfuse)?;
            Some(BlockDevice {
                path,
                attached: Attached::Loop(chain),
            })
        }
    })
}

impl BlockDevice {
    /// What fio is pointed at.
    pub fn target(&self) -> Target {
        Target::Device {
            path: self.path.clone(),
        }
    }

    /// Processes besides nbdkit that serve the device (nbdfuse), whose CPU is the server's.
    pub fn helper_pids(&self) -> Vec<i32> {
        match &self.attached {
            Attached::Nbd(_) => Vec::new(),
            Attached::Loop(chain) => chain.nbdfuse_pid().into_iter().collect(),
        }
    }

    /// Detaches the device (and for a loop device, unmounts its file and ends nbdfuse);
    /// what could not be undone, one line each. Safe to call again.
    pub fn release(&mut self) -> Vec<String> {
        match &mut self.attached {
            Attached::Nbd(dev) => dev.release().err().into_iter().collect(),
            Attached::Loop(chain) => chain.release(),
        }
    }
}

impl Drop for BlockDevice {
    fn drop(&mut self) {
        for problem in self.release() {
            eprintln!("unwindbench: {problem}");
        }
    }
}
