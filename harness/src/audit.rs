//! Frame-pointer audit of a binary: would frame-pointer unwinding get through its code?
//!
//! For every function symbol the audit looks at the first instructions for the frame-pointer
//! prologue `push %rbp; mov %rsp,%rbp` (after an optional `endbr64`). Distro binaries are
//! stripped, so only exported (`.dynsym`) functions can be checked there; the audit says how
//! many it saw. It also reports whether the file carries unwind tables (`.eh_frame`,
//! `.debug_frame`) and debug info, and its build id.

use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BinaryAudit {
    /// What the binary is in the workload (e.g. `nbdkit`, `libc`).
    pub role: String,
    pub path: PathBuf,
    /// Functions examined, and how many start with the frame-pointer prologue.
    pub functions: usize,
    pub with_frame_pointer: usize,
    /// Whether the symbols came from the full symbol table or only the exported ones.
    pub symbols: String,
    pub eh_frame: bool,
    pub debug_frame: bool,
    pub debug_info: bool,
    pub build_id: Option<String>,
}

impl BinaryAudit {
    /// Share of examined functions with a frame-pointer prologue.
    pub fn frame_pointer_share(&self) -> f64 {
        if self.functions == 0 {
            0.0
        } else {
            self.with_frame_pointer as f64 / self.functions as f64
        }
    }

    /// Built with frame pointers: most functions keep them (leaf and tiny functions may not,
    /// even under -fno-omit-frame-pointer, when built without -mno-omit-leaf-frame-pointer).
    pub fn has_frame_pointers(&self) -> bool {
        self.functions > 0 && self.frame_pointer_share() >= 0.5
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot audit {path}: {message}")]
pub struct AuditError {
    pub path: PathBuf,
    pub message: String,
}

const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];

/// Whether code starting at `bytes` sets up a frame pointer in its first instructions.
pub fn starts_with_frame_pointer_prologue(bytes: &[u8]) -> bool {
    let code = bytes.strip_prefix(&ENDBR64[..]).unwrap_or(bytes);
    // push %rbp ; mov %rsp,%rbp  (either encoding of the mov)
    matches!(
        code,
        [0x55, 0x48, 0x89, 0xe5, ..] | [0x55, 0x48, 0x8b, 0xec, ..]
    )
}

pub fn audit_binary(role: &str, path: &Path) -> Result<BinaryAudit, AuditError> {
    let err = |message: String| AuditError {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    // SAFETY: the file is mapped read-only; a concurrent truncation could fault, which is the
    // usual, accepted risk of mapping system libraries.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| err(e.to_string()))?;
    let obj = object::File::parse(&*map).map_err(|e| err(e.to_string()))?;
    let full_symtab = obj.symbols().next().is_some();
    let symbols: Vec<_> = if full_symtab {
        obj.symbols().collect()
    } else {
        obj.dynamic_symbols().collect()
    };
    let mut functions = 0;
    let mut with_fp = 0;
    for sym in symbols {
        if sym.kind() != SymbolKind::Text || sym.size() < 4 || !sym.is_definition() {
            continue;
        }
        let Some(section) = sym
            .section_index()
            .and_then(|i| obj.section_by_index(i).ok())
        else {
            continue;
        };
        let Ok(data) = section.data() else { continue };
        let Some(start) = sym.address().checked_sub(section.address()) else {
            continue;
        };
        let Some(code) = data.get(start as usize..) else {
            continue;
        };
        functions += 1;
        if starts_with_frame_pointer_prologue(&code[..code.len().min(16)]) {
            with_fp += 1;
        }
    }
    let has = |name: &str| obj.section_by_name(name).is_some();
    let build_id = obj
        .build_id()
        .ok()
        .flatten()
        .map(|id| id.iter().map(|b| format!("{b:02x}")).collect::<String>());
    // Debian ships debug info separately, found by build id.
    let separate_debug = build_id.as_ref().is_some_and(|id| {
        id.len() > 2
            && Path::new(&format!(
                "/usr/lib/debug/.build-id/{}/{}.debug",
                &id[..2],
                &id[2..]
            ))
            .exists()
    });
    Ok(BinaryAudit {
        role: role.to_string(),
        path: path.to_path_buf(),
        functions,
        with_frame_pointer: with_fp,
        symbols: if full_symtab {
            "full symbol table".into()
        } else {
            "exported symbols only (stripped)".into()
        },
        eh_frame: has(".eh_frame"),
        debug_frame: has(".debug_frame"),
        debug_info: has(".debug_info") || separate_debug,
        build_id,
    })
}

/// Libraries a binary links against, by soname, as the dynamic loader resolves them.
pub fn linked_libraries(binary: &Path) -> Vec<(String, PathBuf)> {
    let Ok((_, out, _)) = crate::process::capture("ldd", &[&binary.display().to_string()]) else {
        return Vec::new();
    };
    out.lines()
        .filter_map(|l| {
            let (name, rest) = l.trim().split_once(" => ")?;
            let path = rest.split_whitespace().next()?;
            path.starts_with('/')
                .then(|| (name.to_string(), PathBuf::from(path)))
        })
        .collect()
}

/// Full path of a program on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_the_prologue() {
        assert!(starts_with_frame_pointer_prologue(&[
            0x55, 0x48, 0x89, 0xe5, 0x90
        ]));
        assert!(starts_with_frame_pointer_prologue(&[
            0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5
        ]));
        // sub $0x18,%rsp: no frame pointer
        assert!(!starts_with_frame_pointer_prologue(&[
            0x48, 0x83, 0xec, 0x18
        ]));
        assert!(!starts_with_frame_pointer_prologue(&[0x55]));
    }

    #[test]
    fn audits_the_test_binary_itself() {
        let exe = std::env::current_exe().unwrap();
        let audit = audit_binary("self", &exe).unwrap();
        assert!(audit.functions > 100, "{audit:?}");
        assert!(audit.eh_frame);
        assert!(audit.build_id.is_some() || audit.functions > 0);
    }
}
