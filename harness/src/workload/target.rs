//! The raw device fio drives: fio's own `nbd` engine on the server's Unix socket, or a kernel
//! NBD device (`/dev/nbdX` attached with `nbd-client`) through `libaio`.
//!
//! Both bypass any filesystem. The kernel path needs the `nbd` driver, which many VMs (this
//! project's CI machine among them) lack; `auto` then falls back to the nbd engine and the
//! report says why.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::process::{self, ProcessError};
use crate::serde_text::serde_as_text;

/// What the user asked for with `--target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TargetChoice {
    /// The kernel device where the kernel has NBD, else the nbd engine.
    #[default]
    Auto,
    NbdEngine,
    KernelNbd,
}

impl FromStr for TargetChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(TargetChoice::Auto),
            "nbd-engine" => Ok(TargetChoice::NbdEngine),
            "kernel-nbd" => Ok(TargetChoice::KernelNbd),
            _ => Err(format!(
                "bad --target `{s}`: use auto, nbd-engine or kernel-nbd"
            )),
        }
    }
}

/// Which way the device is reached, resolved once per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    NbdEngine,
    KernelNbd,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::NbdEngine => "nbd-engine",
            TargetKind::KernelNbd => "kernel-nbd",
        })
    }
}

impl FromStr for TargetKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nbd-engine" => Ok(TargetKind::NbdEngine),
            "kernel-nbd" => Ok(TargetKind::KernelNbd),
            _ => Err(format!("bad target `{s}`: nbd-engine or kernel-nbd")),
        }
    }
}

serde_as_text!(TargetKind);

/// The resolved kind plus, when the kernel path was not taken, why.
#[derive(Clone, Debug)]
pub struct TargetPlan {
    pub kind: TargetKind,
    pub kernel_nbd_skipped: Option<String>,
}

/// A concrete target for one measurement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    NbdEngine { socket: PathBuf },
    KernelNbd { device: PathBuf },
}

impl Target {
    /// The fio options that point a job at this target.
    pub fn fio_options(&self) -> Vec<(&'static str, String)> {
        match self {
            Target::NbdEngine { socket } => vec![
                ("ioengine", "nbd".into()),
                ("uri", format!("nbd+unix:///?socket={}", socket.display())),
            ],
            Target::KernelNbd { device } => vec![
                ("ioengine", "libaio".into()),
                ("filename", device.display().to_string()),
            ],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("--target kernel-nbd is not possible here: {0}")]
    KernelNbdUnavailable(String),
    #[error("all kernel NBD devices are in use; disconnect one with `nbd-client -d /dev/nbdN`")]
    NoFreeDevice,
    #[error("nbd-client could not attach {device} (exit {code}); see {log}")]
    Attach {
        device: PathBuf,
        code: i32,
        log: PathBuf,
    },
    #[error(transparent)]
    Process(#[from] ProcessError),
}

/// Why the kernel NBD path cannot be used on this machine, or None when it can.
pub fn kernel_nbd_unavailable() -> Option<String> {
    if !Path::new("/dev/nbd0").exists() {
        let driver = if Path::new("/sys/module/nbd").exists() {
            "the nbd driver is loaded but /dev/nbd0 is missing"
        } else {
            "the kernel has no NBD driver loaded (try `modprobe nbd`; many VMs have none)"
        };
        return Some(format!("no /dev/nbd* device: {driver}"));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("attaching a kernel NBD device (nbd-client) needs root".into());
    }
    if process::capture("nbd-client", &["--help"]).is_err() {
        return Some("nbd-client is not installed (apt-get install nbd-client)".into());
    }
    None
}

/// Resolves `--target` for this machine.
pub fn plan(choice: TargetChoice) -> Result<TargetPlan, TargetError> {
    let unavailable = kernel_nbd_unavailable();
    match (choice, unavailable) {
        (TargetChoice::NbdEngine, why) => Ok(TargetPlan {
            kind: TargetKind::NbdEngine,
            kernel_nbd_skipped: Some(
                why.unwrap_or_else(|| "--target nbd-engine was asked for".into()),
            ),
        }),
        (TargetChoice::KernelNbd, Some(why)) => Err(TargetError::KernelNbdUnavailable(why)),
        (TargetChoice::KernelNbd | TargetChoice::Auto, None) => Ok(TargetPlan {
            kind: TargetKind::KernelNbd,
            kernel_nbd_skipped: None,
        }),
        (TargetChoice::Auto, Some(why)) => Ok(TargetPlan {
            kind: TargetKind::NbdEngine,
            kernel_nbd_skipped: Some(why),
        }),
    }
}

/// A kernel NBD device attached to the server's socket; detached on drop.
pub struct KernelDevice {
    pub device: PathBuf,
    /// The measurement folder's note of the attached device, removed once detached.
    marker: PathBuf,
}

/// The first `/dev/nbdN` with no connection (no `pid` file in sysfs).
fn free_device() -> Option<PathBuf> {
    (0..64).find_map(|n| {
        let dev = PathBuf::from(format!("/dev/nbd{n}"));
        let busy = Path::new(&format!("/sys/block/nbd{n}/pid")).exists();
        (dev.exists() && !busy).then_some(dev)
    })
}

/// Attaches a free `/dev/nbdN` to `socket` with nbd-client.
pub fn attach_kernel_device(socket: &Path, log: &Path) -> Result<KernelDevice, TargetError> {
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
    let exit = child.wait_interruptibly(std::time::Duration::from_secs(30))?;
    if !exit.status.success() {
        return Err(TargetError::Attach {
            device,
            code: exit.code(),
            log: log.to_path_buf(),
        });
    }
    // Until it is detached, the measurement folder says which device this run attached: if
    // the harness is killed, the next run detaches it (see crate::leftovers).
    let marker = log.with_file_name(crate::leftovers::DEVICE_MARKER);
    let _ = std::fs::write(&marker, format!("{}\n", device.display()));
    Ok(KernelDevice { device, marker })
}

impl Drop for KernelDevice {
    fn drop(&mut self) {
        let device = self.device.display().to_string();
        let _ = process::capture("nbd-client", &["-d", &device]);
        let _ = std::fs::remove_file(&self.marker);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_kinds_round_trip_through_their_text() {
        for kind in [TargetKind::NbdEngine, TargetKind::KernelNbd] {
            assert_eq!(kind.to_string().parse(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
            assert_eq!(serde_json::from_str::<TargetKind>(&json).unwrap(), kind);
        }
        assert_eq!(TargetKind::NbdEngine.to_string(), "nbd-engine");
        assert!("auto".parse::<TargetKind>().is_err());
    }
}
