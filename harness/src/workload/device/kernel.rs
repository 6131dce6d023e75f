//! What the kernel says about block devices and mounts, and the few calls that change them:
//! shared by attaching and detaching ([`super::loopfuse`], [`super::nbd`]) and by the
//! clean-up of what a killed run left ([`crate::leftovers`]).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::process;

/// A loop device in use and the file behind it, as sysfs gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopDevice {
    /// `/dev/loopN`.
    pub device: PathBuf,
    /// The backing file's path as the kernel printed it when it was attached (it stays
    /// when the file's filesystem dies, which is how a killed run's device is recognized).
    pub backing_file: PathBuf,
}

/// The backing file of `/dev/loopN`, None when the device is detached (or is no loop).
pub fn loop_backing_file(device: &Path) -> Option<PathBuf> {
    let name = device.file_name()?.to_str()?;
    let text = std::fs::read_to_string(format!("/sys/block/{name}/loop/backing_file")).ok()?;
    let text = text.trim_end_matches('\n');
    // The kernel appends " (deleted)" to a path whose file was unlinked.
    let text = text.strip_suffix(" (deleted)").unwrap_or(text);
    (!text.is_empty()).then(|| PathBuf::from(text))
}

/// Whether `/dev/loopN` reads its backing file with direct I/O.
pub fn loop_direct_io(device: &Path) -> Option<bool> {
    let name = device.file_name()?.to_str()?;
    let text = std::fs::read_to_string(format!("/sys/block/{name}/loop/dio")).ok()?;
    Some(text.trim() == "1")
}

/// Every attached loop device.
pub fn loop_devices() -> Vec<LoopDevice> {
    let Ok(entries) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut found: Vec<LoopDevice> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("loop")
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))?;
            let device = Path::new("/dev").join(&name);
            let backing_file = loop_backing_file(&device)?;
            Some(LoopDevice {
                device,
                backing_file,
            })
        })
        .collect();
    found.sort_by(|a, b| a.device.cmp(&b.device));
    found
}

/// `losetup -d`: the kernel detaches at once, or (when something still holds the device
/// open) at its last close; [`wait_until`] the backing file is gone to know which.
pub fn detach_loop(device: &Path) -> Result<(), String> {
    let dev = device.display().to_string();
    match process::capture("losetup", &["-d", &dev]) {
        Ok((status, _, _)) if status.success() => Ok(()),
        Ok((status, _, err)) => Err(format!(
            "`losetup -d {dev}` failed ({status}): {}",
            err.trim()
        )),
        Err(e) => Err(format!("cannot detach {dev}: {e}")),
    }
}

/// Mount points of FUSE filesystems (`/proc/self/mountinfo`), with octal escapes undone.
pub fn fuse_mounts() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
            let (left, right) = line.split_once(" - ")?;
            let fstype = right.split(' ').next()?;
            let is_fuse = fstype == "fuse" || fstype.starts_with("fuse.");
            let mountpoint = left.split(' ').nth(4)?;
            is_fuse.then(|| PathBuf::from(unescape_mountinfo(mountpoint)))
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash in a path as `\040`-style octal.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a FUSE filesystem is mounted at `path`.
pub fn is_fuse_mount(path: &Path) -> bool {
    fuse_mounts().iter().any(|m| m == path)
}

/// Unmounts `path` (umount(2), as root). A busy mount (the loop device has not let go of
/// its file yet) is retried for `patience`, then detached lazily: it leaves the namespace
/// at once and the kernel drops it when its last user goes. Err says what went wrong, a
/// lazy detach included.
pub fn unmount(path: &Path, patience: Duration) -> Result<(), String> {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return Err(format!("{} has a NUL byte", path.display()));
    };
    let deadline = Instant::now() + patience;
    loop {
        // SAFETY: c_path is a valid NUL-terminated string for the call's duration.
        if unsafe { libc::umount2(c_path.as_ptr(), 0) } == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EBUSY) {
            return Err(format!("cannot unmount {}: {err}", path.display()));
        }
        if Instant::now() >= deadline {
            // SAFETY: as above.
            let lazy = unsafe { libc::umount2(c_path.as_ptr(), libc::MNT_DETACH) };
            return Err(if lazy == 0 {
                format!(
                    "{} was still busy after {:.0} s; detached it lazily",
                    path.display(),
                    patience.as_secs_f64()
                )
            } else {
                format!(
                    "cannot unmount {}: {}",
                    path.display(),
                    std::io::Error::last_os_error()
                )
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `done` every 20 ms for up to `timeout`; whether it came true. Not interruptible on
/// purpose: it runs while tearing down, after a Ctrl-C too.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(r"/tmp/a\040b/fuse"), "/tmp/a b/fuse");
        assert_eq!(unescape_mountinfo(r"/x\134y"), r"/x\y");
        assert_eq!(unescape_mountinfo(r"/plain\09"), r"/plain\09");
    }

    #[test]
    fn a_path_that_is_no_device_has_no_backing_file() {
        assert_eq!(loop_backing_file(Path::new("/dev/no-such-loop")), None);
        assert_eq!(loop_direct_io(Path::new("/dev/no-such-loop")), None);
    }
}
