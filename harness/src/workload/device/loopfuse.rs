//! A loop device over nbdfuse: the kernel block device of machines whose kernel has no NBD
//! driver but has loop devices and FUSE.
//!
//! nbdfuse connects to the server's socket and shows its disk as one file on a FUSE mount
//! in the run's private scratch folder; `losetup --direct-io=on` attaches a loop device to
//! that file. With direct I/O the loop driver hands every request to FUSE as it comes,
//! instead of through the page cache of the file (where reads would be served without
//! reaching nbdkit). fio then drives `/dev/loopN` with libaio and `direct=1`.
//!
//! Torn down in the reverse order: the loop device is detached (and its file let go), the
//! FUSE filesystem unmounted, which ends nbdfuse; then the caller stops the server. nbdfuse
//! is never killed first: a FUSE mount whose server died stays behind, stale, with the loop
//! device still holding its file. A harness killed outright leaves exactly that, which
//! [`crate::leftovers`] recognizes by the scratch folder's dead owner.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::kernel;
use crate::process::{self, Child, ProcessError};
use crate::workload::target::TargetError;

/// The FUSE mount point inside the scratch folder, and the file nbdfuse shows in it.
pub const MOUNT_DIR: &str = "fuse";
pub const DISK_FILE: &str = "disk";

/// How long nbdfuse may take to connect and mount.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the kernel may take to let go of a detached loop device, and nbdfuse to exit
/// once unmounted.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// The chain nbdfuse → FUSE file → loop device, as far as it got; [`LoopOverFuse::release`]
/// (or dropping it) takes down whatever exists.
pub struct LoopOverFuse {
    /// `/dev/loopN`, once attached.
    device: Option<PathBuf>,
    mountpoint: PathBuf,
    file: PathBuf,
    nbdfuse: Option<Child>,
}

impl LoopOverFuse {
    /// nbdfuse's pid: it serves the device as much as nbdkit does, and its CPU is the
    /// server side's.
    pub fn nbdfuse_pid(&self) -> Option<i32> {
        self.nbdfuse.as_ref().map(Child::pid)
    }

    /// Detaches the loop device, unmounts the FUSE file, waits for nbdfuse to exit; what went
    /// wrong, one line each. Safe to call again: what is gone is skipped.
    pub fn release(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(device) = self.device.take() {
            if let Err(e) = kernel::detach_loop(&device) {
                problems.push(e);
            }
            // Something may still hold the device open (the kernel then detaches it at the
            // last close); until it lets go, its file keeps the mount busy.
            let file = &self.file;
            let gone = kernel::wait_until(RELEASE_TIMEOUT, || {
                kernel::loop_backing_file(&device).as_deref() != Some(file.as_path())
            });
            if !gone {
                problems.push(format!(
                    "{} still held {} after {:.0} s",
                    device.display(),
                    file.display(),
                    RELEASE_TIMEOUT.as_secs_f64()
                ));
            }
        }
        if kernel::is_fuse_mount(&self.mountpoint) {
            if let Err(e) = kernel::unmount(&self.mountpoint, RELEASE_TIMEOUT) {
                problems.push(e);
            }
        }
        if let Some(mut nbdfuse) = self.nbdfuse.take() {
            // Unmounted, nbdfuse finishes on its own; a signal is the fallback (its mount is
            // gone by now, so nothing stale stays).
            let exited = kernel::wait_until(RELEASE_TIMEOUT, || {
                matches!(nbdfuse.try_wait(), Ok(Some(_)) | Err(_))
            });
            if !exited {
                problems.push(format!(
                    "nbdfuse did not exit within {:.0} s of the unmount; stopped it",
                    RELEASE_TIMEOUT.as_secs_f64()
                ));
                let _ = nbdfuse.stop(libc::SIGTERM, Duration::from_secs(2));
            }
        }
        let _ = std::fs::remove_dir(&self.mountpoint);
        problems
    }
}

impl Drop for LoopOverFuse {
    fn drop(&mut self) {
        for problem in self.release() {
            eprintln!("unwindbench: {problem}");
        }
    }
}

/// Mounts the server on `socket` as a file with nbdfuse in `scratch` (its log in `log`),
/// and attaches a loop device with direct I/O to it: the device, and the chain to release.
pub fn attach(
    socket: &Path,
    scratch: &Path,
    log: &Path,
) -> Result<(PathBuf, LoopOverFuse), TargetError> {
    let mountpoint = scratch.join(MOUNT_DIR);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TargetError::Io { path, source }
    };
    std::fs::create_dir_all(&mountpoint).map_err(io(&mountpoint))?;
    let pidfile = scratch.join("nbdfuse.pid");
    let _ = std::fs::remove_file(&pidfile);
    let mut chain = LoopOverFuse {
        device: None,
        file: mountpoint.join(DISK_FILE),
        mountpoint,
        nbdfuse: None,
    };
    let mut cmd = process::command(
        "nbdfuse",
        &[
            "-P".to_string(),
            pidfile.display().to_string(),
            chain.file.display().to_string(),
            "--unix".to_string(),
            socket.display().to_string(),
        ],
    );
    cmd.stdout(process::to_file(log).map_err(io(log))?);
    cmd.stderr(
        std::fs::OpenOptions::new()
            .append(true)
            .open(log)
            .map_err(io(log))?,
    );
    chain.nbdfuse = Some(process::spawn("nbdfuse", cmd)?);
    wait_mounted(&mut chain, &pidfile, log)?;
    let device = losetup(&chain.file)?;
    chain.device = Some(device.clone());
    if kernel::loop_direct_io(&device) != Some(true) {
        return Err(TargetError::NoDirectIo {
            device,
            file: chain.file.clone(),
        });
    }
    Ok((device, chain))
}

/// Waits until nbdfuse has written its pid file: it does once the file is served.
fn wait_mounted(chain: &mut LoopOverFuse, pidfile: &Path, log: &Path) -> Result<(), TargetError> {
    let failed = |why: String| TargetError::Mount {
        mountpoint: chain.mountpoint.clone(),
        why,
        log: log.to_path_buf(),
    };
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    loop {
        if pidfile.exists() {
            return Ok(());
        }
        if let Some(nbdfuse) = chain.nbdfuse.as_mut() {
            if let Some(exit) = nbdfuse.try_wait()? {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let last = text.lines().rfind(|l| !l.trim().is_empty());
                return Err(failed(format!(
                    "it exited with {}: {}",
                    exit.code(),
                    last.unwrap_or("no output")
                )));
            }
        }
        process::check_interrupt().map_err(TargetError::Process)?;
        if std::time::Instant::now() >= deadline {
            return Err(failed(format!(
                "not mounted after {:.0} s",
                READY_TIMEOUT.as_secs_f64()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `losetup --direct-io=on -f --show FILE`: the device it attached.
fn losetup(file: &Path) -> Result<PathBuf, TargetError> {
    let file_arg = file.display().to_string();
    let failed = |why: String| TargetError::Loop {
        file: file.to_path_buf(),
        why,
    };
    let (status, out, err) =
        process::capture("losetup", &["--direct-io=on", "-f", "--show", &file_arg]).map_err(
            |e| match e {
                ProcessError::NotFound { .. } => {
                    failed("losetup is not installed (apt-get install mount)".into())
                }
                e => failed(e.to_string()),
            },
        )?;
    let device = PathBuf::from(out.trim());
    if !status.success() || !device.starts_with("/dev/") {
        return Err(failed(format!("{status}: {}", err.trim())));
    }
    Ok(device)
}
