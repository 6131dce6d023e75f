//! The raw device fio drives, and which one a run uses.
//!
//! Three ways reach the server, all without a filesystem between fio and nbdkit's plugin:
//!
//! - `kernel-nbd`: a kernel NBD device (`/dev/nbdX`, attached with `nbd-client`) through
//!   `libaio`: fio → block layer → nbd driver → socket → nbdkit.
//! - `loop`: a loop device with direct I/O over the file nbdfuse serves from the socket,
//!   through `libaio`: fio → block layer → loop → FUSE → nbdfuse (libnbd) → socket → nbdkit.
//!   For kernels without the NBD driver (most cloud and CI VMs) that still have loop and
//!   FUSE; it adds the loop and FUSE hops the kernel NBD device does not have.
//! - `nbd-engine`: fio's own `nbd` engine (libnbd inside fio) on the socket.
//!
//! `auto` takes the first of those the machine can run, in that order, and the plan keeps
//! why each one ahead of it was passed over, for the report. Attaching the two kernel
//! devices is [`super::device`]'s.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::process::{self, ProcessError, Tools};
use crate::serde_text::serde_as_text;

/// What the user asked for with `--target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TargetChoice {
    /// The first the machine has of kernel NBD, loop over nbdfuse, the nbd engine.
    #[default]
    Auto,
    NbdEngine,
    KernelNbd,
    Loop,
}

impl FromStr for TargetChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(TargetChoice::Auto),
            _ => s
                .parse::<TargetKind>()
                .map(TargetChoice::from)
                .map_err(|_| {
                    format!("bad --target `{s}`: use auto, kernel-nbd, loop or nbd-engine")
                }),
        }
    }
}

impl From<TargetKind> for TargetChoice {
    fn from(kind: TargetKind) -> Self {
        match kind {
            TargetKind::NbdEngine => TargetChoice::NbdEngine,
            TargetKind::KernelNbd => TargetChoice::KernelNbd,
            TargetKind::Loop => TargetChoice::Loop,
        }
    }
}

/// Which way the device is reached, resolved once per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    NbdEngine,
    KernelNbd,
    Loop,
}

/// `auto`'s order of preference: the kernel devices first (fio's usual path to a disk, and
/// the one the block layer shows up in), the shortest of them first.
pub const PREFERENCE: [TargetKind; 3] = [
    TargetKind::KernelNbd,
    TargetKind::Loop,
    TargetKind::NbdEngine,
];

impl TargetKind {
    /// Whether fio reaches the server through a kernel block device (`libaio` on `/dev/...`).
    pub fn is_device(self) -> bool {
        matches!(self, TargetKind::KernelNbd | TargetKind::Loop)
    }

    /// The way an I/O travels from fio to nbdkit, for the report.
    pub fn hops(self) -> &'static str {
        match self {
            TargetKind::NbdEngine => "fio's nbd engine (libnbd in fio) → Unix socket → nbdkit",
            TargetKind::KernelNbd => {
                "fio (libaio) → block layer → /dev/nbdN (nbd driver) → Unix socket → nbdkit"
            }
            TargetKind::Loop => {
                "fio (libaio) → block layer → /dev/loopN (loop, direct I/O) → FUSE → nbdfuse (libnbd) → Unix socket → nbdkit"
            }
        }
    }

    /// Why this target cannot run on this machine, or None when it can.
    pub fn unavailable(self) -> Option<String> {
        match self {
            TargetKind::NbdEngine => None,
            TargetKind::KernelNbd => kernel_nbd_unavailable(),
            TargetKind::Loop => loop_unavailable(),
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::NbdEngine => "nbd-engine",
            TargetKind::KernelNbd => "kernel-nbd",
            TargetKind::Loop => "loop",
        })
    }
}

impl FromStr for TargetKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nbd-engine" => Ok(TargetKind::NbdEngine),
            "kernel-nbd" => Ok(TargetKind::KernelNbd),
            "loop" => Ok(TargetKind::Loop),
            _ => Err(format!("bad target `{s}`: kernel-nbd, loop or nbd-engine")),
        }
    }
}

serde_as_text!(TargetKind);

/// A target `auto` prefers that did not run, and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PassedOver {
    pub target: TargetKind,
    pub why: String,
}

/// The resolved kind plus, for every target ahead of it in [`PREFERENCE`], why it was not
/// used.
#[derive(Clone, Debug)]
pub struct TargetPlan {
    pub kind: TargetKind,
    pub passed_over: Vec<PassedOver>,
}

impl TargetPlan {
    /// Why the kernel NBD device was not used (the field results.json has always had).
    pub fn kernel_nbd_skipped(&self) -> Option<String> {
        self.passed_over
            .iter()
            .find(|p| p.target == TargetKind::KernelNbd)
            .map(|p| p.why.clone())
    }
}

/// A concrete target for one measurement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    NbdEngine {
        socket: PathBuf,
    },
    /// A kernel block device (NBD or loop): fio submits to it with libaio.
    Device {
        path: PathBuf,
    },
}

impl Target {
    /// The fio options that point a job at this target.
    pub fn fio_options(&self) -> Vec<(&'static str, String)> {
        match self {
            Target::NbdEngine { socket } => vec![
                ("ioengine", "nbd".into()),
                ("uri", format!("nbd+unix:///?socket={}", socket.display())),
            ],
            Target::Device { path } => vec![
                ("ioengine", "libaio".into()),
                ("filename", path.display().to_string()),
            ],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("--target {target} is not possible here: {why}")]
    Unavailable { target: TargetKind, why: String },
    #[error("all kernel NBD devices are in use; disconnect one with `nbd-client -d /dev/nbdN`")]
    NoFreeDevice,
    #[error("nbd-client could not attach {device} (exit {code}); see {log}")]
    Attach {
        device: PathBuf,
        code: i32,
        log: PathBuf,
    },
    #[error("nbdfuse could not mount {mountpoint}: {why}; see {log}")]
    Mount {
        mountpoint: PathBuf,
        why: String,
        log: PathBuf,
    },
    #[error("losetup could not attach a loop device to {file}: {why}")]
    Loop { file: PathBuf, why: String },
    #[error("{device} does not do direct I/O on {file}: reads would come from the page cache, not nbdkit (the kernel refused LO_FLAGS_DIRECT_IO); use --target nbd-engine")]
    NoDirectIo { device: PathBuf, file: PathBuf },
    #[error("cannot create {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
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

/// Why a loop device over nbdfuse cannot be used on this machine, or None when it can.
pub fn loop_unavailable() -> Option<String> {
    // SAFETY: geteuid only reads the caller's credentials.
    if unsafe { libc::geteuid() } != 0 {
        return Some("attaching a loop device and mounting FUSE need root".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some(
            "no /dev/loop-control: the kernel has no loop driver (try `modprobe loop`)".into(),
        );
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse: the kernel has no FUSE (try `modprobe fuse`)".into());
    }
    let system = Tools::system();
    if system.which("nbdfuse").is_none() {
        return Some("nbdfuse is not installed (apt-get install libnbd-bin)".into());
    }
    if system.which("losetup").is_none() {
        return Some("losetup is not installed (apt-get install mount)".into());
    }
    None
}

/// Resolves `--target` for this machine.
pub fn plan(choice: TargetChoice) -> Result<TargetPlan, TargetError> {
    plan_with(choice, TargetKind::unavailable)
}

/// [`plan`] with the machine's answers given (`unavailable` says why a target cannot run).
fn plan_with(
    choice: TargetChoice,
    unavailable: impl Fn(TargetKind) -> Option<String>,
) -> Result<TargetPlan, TargetError> {
    let asked = match choice {
        TargetChoice::Auto => None,
        TargetChoice::NbdEngine => Some(TargetKind::NbdEngine),
        TargetChoice::KernelNbd => Some(TargetKind::KernelNbd),
        TargetChoice::Loop => Some(TargetKind::Loop),
    };
    let mut passed_over = Vec::new();
    for kind in PREFERENCE {
        let why = unavailable(kind);
        let take = asked.map_or(why.is_none(), |a| a == kind);
        match (take, why) {
            (true, None) => return Ok(TargetPlan { kind, passed_over }),
            (true, Some(why)) => return Err(TargetError::Unavailable { target: kind, why }),
            (false, why) => passed_over.push(PassedOver {
                target: kind,
                why: why
                    .unwrap_or_else(|| format!("--target {} was asked for", asked.unwrap_or(kind))),
            }),
        }
    }
    // The nbd engine, last in the order, needs nothing of the kernel: not reached.
    Ok(TargetPlan {
        kind: TargetKind::NbdEngine,
        passed_over,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_kinds_round_trip_through_their_text() {
        for kind in PREFERENCE {
            assert_eq!(kind.to_string().parse(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
            assert_eq!(serde_json::from_str::<TargetKind>(&json).unwrap(), kind);
            assert_eq!(kind.to_string().parse(), Ok(TargetChoice::from(kind)));
        }
        assert_eq!(TargetKind::NbdEngine.to_string(), "nbd-engine");
        assert!("auto".parse::<TargetKind>().is_err());
        let err = "floppy".parse::<TargetChoice>().unwrap_err();
        assert!(
            err.contains("auto, kernel-nbd, loop or nbd-engine"),
            "{err}"
        );
    }

    #[test]
    fn auto_takes_the_first_target_the_machine_has_and_says_why_not_the_others() {
        let no_nbd = |k: TargetKind| (k == TargetKind::KernelNbd).then(|| "no driver".to_string());
        let plan = plan_with(TargetChoice::Auto, no_nbd).unwrap();
        assert_eq!(plan.kind, TargetKind::Loop);
        assert_eq!(plan.kernel_nbd_skipped().as_deref(), Some("no driver"));

        let neither = |k: TargetKind| (k != TargetKind::NbdEngine).then(|| format!("no {k}"));
        let plan = plan_with(TargetChoice::Auto, neither).unwrap();
        assert_eq!(plan.kind, TargetKind::NbdEngine);
        let skipped: Vec<_> = plan.passed_over.iter().map(|p| p.why.as_str()).collect();
        assert_eq!(skipped, ["no kernel-nbd", "no loop"]);

        let all = |_: TargetKind| None;
        let plan = plan_with(TargetChoice::Auto, all).unwrap();
        assert_eq!(plan.kind, TargetKind::KernelNbd);
        assert!(plan.passed_over.is_empty());
    }

    #[test]
    fn an_explicit_target_runs_or_fails_with_the_reason() {
        let no_nbd = |k: TargetKind| (k == TargetKind::KernelNbd).then(|| "no driver".to_string());
        let plan = plan_with(TargetChoice::NbdEngine, no_nbd).unwrap();
        assert_eq!(plan.kind, TargetKind::NbdEngine);
        let skipped: Vec<_> = plan.passed_over.iter().map(|p| p.why.as_str()).collect();
        assert_eq!(skipped, ["no driver", "--target nbd-engine was asked for"]);

        let err = plan_with(TargetChoice::KernelNbd, no_nbd).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--target kernel-nbd is not possible here: no driver"
        );
        let plan = plan_with(TargetChoice::Loop, no_nbd).unwrap();
        assert_eq!(plan.kind, TargetKind::Loop);
        assert_eq!(plan.passed_over.len(), 1);
    }

    #[test]
    fn devices_are_driven_with_libaio_on_their_node() {
        let dev = Target::Device {
            path: "/dev/loop3".into(),
        };
        assert_eq!(
            dev.fio_options(),
            [
                ("ioengine", "libaio".to_string()),
                ("filename", "/dev/loop3".to_string())
            ]
        );
        assert!(TargetKind::Loop.is_device() && TargetKind::KernelNbd.is_device());
        assert!(!TargetKind::NbdEngine.is_device());
        assert!(TargetKind::Loop.hops().contains("FUSE"));
    }
}
