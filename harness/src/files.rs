//! Files written whole or not at all, readable by their owner only.
//!
//! The harness runs as root and its outputs name every process of the machine (folded
//! stacks, flame graphs, reports), often in a folder the user chose. So a file is written to
//! a temporary of its own (created exclusively: a name planted there, a symlink included, is
//! never followed or reused), synced, renamed over the target, and the folder synced, so
//! neither a reader nor a crash sees half a file; and it is created for its owner only.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of every file the harness writes: the owner's.
pub const PRIVATE_MODE: u32 = 0o600;

/// Set, this environment variable keeps the user's umask (outputs readable by others).
pub const SHARED_OUTPUTS_VAR: &str = "UNWINDBENCH_SHARED_OUTPUTS";

/// Makes every file and folder this process and its children create (perf.data, logs,
/// folded stacks, flame graphs, run folders) its owner's alone, unless
/// [`SHARED_OUTPUTS_VAR`] asks for the user's umask.
pub fn restrict_umask() {
    if shared_outputs() {
        return;
    }
    // SAFETY: umask only changes this process's file-creation mask.
    unsafe {
        let old = libc::umask(0o077);
        libc::umask(old | 0o077);
    }
}

/// Whether the user asked for outputs others may read.
fn shared_outputs() -> bool {
    std::env::var_os(SHARED_OUTPUTS_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Distinguishes the temporaries of one process.
static NEXT_TMP: AtomicU64 = AtomicU64::new(0);

/// Creates a fresh temporary beside `path` (`.NAME.PID.N.tmp`), never an existing name.
fn create_temporary(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    loop {
        let n = NEXT_TMP.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            // The umask still applies on top.
            .mode(if shared_outputs() {
                0o666
            } else {
                PRIVATE_MODE
            })
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            // Taken (a leftover, or planted): the next name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Writes `contents` to `path` through a temporary file and a rename, so a reader (or a crash)
/// never sees half a file.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let (tmp, mut f) = create_temporary(path)?;
    let written = f.write_all(contents).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename itself survives a crash only once the folder is synced.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_symlink_at_the_old_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        // Where the old code wrote its temporary for report.md (and report.html alike).
        std::os::unix::fs::symlink(&victim, dir.path().join("report.tmp")).unwrap();
        write_atomically(&dir.path().join("report.md"), b"md").unwrap();
        write_atomically(&dir.path().join("report.html"), b"html").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        assert_eq!(std::fs::read(dir.path().join("report.md")).unwrap(), b"md");
        assert_eq!(
            std::fs::read(dir.path().join("report.html")).unwrap(),
            b"html"
        );
    }

    #[test]
    fn outputs_are_for_their_owner_only_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("stacks.folded");
        write_atomically(&out, b"a;b 1\n").unwrap();
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, PRIVATE_MODE, "{mode:o}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
