//! Free space where recordings go: read before a recording (the guard) and during it (the
//! watch), and the margin both keep.

use std::path::Path;

/// Free and total bytes of the filesystem holding `path` (or its nearest existing parent).
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((st.f_bavail as u64 * frsize, st.f_blocks as u64 * frsize))
}

/// Space kept free beside a recording: 5% of the filesystem, at least 64 MiB and at most
/// 2 GiB, so a big disk keeps room for the system and a small one can still be used.
pub fn disk_margin(total: u64) -> u64 {
    (total / 20).clamp(64 << 20, 2 << 30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_margin_fits_small_and_large_disks() {
        assert_eq!(disk_margin(400 << 20), 64 << 20);
        assert_eq!(disk_margin(20 << 30), 1 << 30);
        assert_eq!(disk_margin(250 << 30), 2 << 30);
    }
}
