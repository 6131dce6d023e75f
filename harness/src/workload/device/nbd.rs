//! A kernel NBD device (`/dev/nbdN`) attached to the server's socket with nbd-client.
//!
//! Needs the kernel's `nbd` driver, which many VMs (this project's CI machine among them)
//! lack; there the loop device over nbdfuse ([`super::loopfuse`]) is the kernel device.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::{self, ProcessError};
use crate::workload::target::TargetError;

/// The kernel NBD device a measurement attached, in its folder while attached: if the
/// harness is killed, the next run detaches it (see [`crate::leftovers`]).
pub const MARKER: &str = "nbd-device";

/// An attached `/dev/nbdN`.
pub struct NbdDevice {
    pub device: PathBuf,
    /// The measurement folder's [`MARKER`], removed once detached.
    marker: PathBuf,
}

/// The first `/dev/nbdN` with no connection (no `pid` file in sysfs).
fn free_device() -> Option<PathBuf> {
    (0..64).find_map(|n| {
        let dev = PathBuf::from(format!("/dev/nbd{n}"));
        (dev.exists() && !connected(&dev)).then_some(dev)
    })
}

/// Whether `/dev/nbdN` is connected to a server (sysfs has its `pid`).
pub fn connected(device: &Path) -> bool {
    device
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| Path::new(&format!("/sys/block/{n}/pid")).exists())
}

/// Attaches a free `/dev/nbdN` to `socket` with nbd-client, its output into `log`.
pub fn attach(socket: &Path, log: &Path) -> Result<NbdDevice, TargetError> {
    let device = free_device().ok_or(TargetError::NoFreeDevice)?;
    let mut cmd = process::command(
        "nbd-client",
        &[
            "-unix".to_string(),
            socket.display().to_string(),
            device.display().to_string(),
            "-block-size".to_string(),
            "512".to_string(),
        ],
    );
    cmd.stdout(process::to_file(log).map_err(|e| ProcessError::Spawn {
        program: "nbd-client".into(),
        source: e,
    })?);
    let mut child = process::spawn("nbd-client", cmd)?;
    let exit = child.wait_interruptibly(Duration::from_secs(30))?;
    if !exit.status.success() {
        return Err(TargetError::Attach {
            device,
            code: exit.code(),
            log: log.to_path_buf(),
        });
    }
    let marker = log.with_file_name(MARKER);
    let _ = std::fs::write(&marker, format!("{}\n", device.display()));
    Ok(NbdDevice { device, marker })
}

/// Disconnects `device` if it is still connected; what went wrong, if anything did.
pub fn detach(device: &Path) -> Result<(), String> {
    if !connected(device) {
        return Ok(());
    }
    let dev = device.display().to_string();
    match process::capture("nbd-client", &["-d", &dev]) {
        Ok((status, _, _)) if status.success() => Ok(()),
        Ok((status, _, err)) => Err(format!(
            "`nbd-client -d {dev}` failed ({status}): {}",
            err.trim()
        )),
        Err(e) => Err(format!("cannot detach {dev}: {e}")),
    }
}

impl NbdDevice {
    /// Disconnects the device and drops the marker; what went wrong, if anything did (the
    /// marker then stays, for the next run to try again).
    pub fn release(&mut self) -> Result<(), String> {
        detach(&self.device)?;
        let _ = std::fs::remove_file(&self.marker);
        Ok(())
    }
}

/// Whether `device` is a `/dev/nbdN` path (a marker's content is checked before it is
/// acted on).
pub fn is_nbd_path(device: &Path) -> bool {
    let name = device
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_prefix("nbd")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && device.parent() == Some(Path::new("/dev"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dev_nbd_paths_are_nbd_devices() {
        assert!(is_nbd_path(Path::new("/dev/nbd0")));
        assert!(is_nbd_path(Path::new("/dev/nbd12")));
        assert!(!is_nbd_path(Path::new("/dev/nbd")));
        assert!(!is_nbd_path(Path::new("/dev/sda")));
        assert!(!is_nbd_path(Path::new("/tmp/nbd0")));
    }
}
