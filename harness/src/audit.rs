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

use crate::binary::BuildId;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BinaryAudit {
    /// What the binary is in the workload (e.g. `nbdkit`, `libc`).
    pub role: String,
    pub path: PathBuf,
    /// Functions that build a stack frame, and how many of them link it with a frame
    /// pointer (functions without a frame, like tail-call stubs, do not break chains and are
    /// not counted).
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

/// How far into a function its frame set-up may sit: at -O2, gcc's shrink-wrapping moves it
/// past the checks of early-return paths.
const PROLOGUE_WINDOW: usize = 64;

/// What a function's first instructions say about its frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `push %rbp; mov %rsp,%rbp`: the frame is linked, frame-pointer unwinding gets through.
    Linked,
    /// A frame (callee-saved pushes, `sub $n,%rsp`) without that: the chain breaks here.
    Unlinked,
    /// No frame at all (tail-call stubs, tiny leaves): neutral for unwinding.
    None,
}

/// Reads the frame set-up from a function's first bytes (x86-64).
pub fn frame_of(bytes: &[u8]) -> Frame {
    let code = bytes.strip_prefix(&ENDBR64[..]).unwrap_or(bytes);
    let window = &code[..code.len().min(PROLOGUE_WINDOW)];
    if window
        .windows(4)
        .any(|w| matches!(w, [0x55, 0x48, 0x89, 0xe5] | [0x55, 0x48, 0x8b, 0xec]))
    {
        return Frame::Linked;
    }
    // A frame is built when the first instructions push a callee-saved register (rbx, rbp,
    // r12-r15) or subtract from rsp. Only the start is read: pushes after a jump are unknown.
    let starts_frame = matches!(
        window,
        [0x53, ..]
            | [0x55, ..]
            | [0x41, 0x54..=0x57, ..]
            | [0x48, 0x83, 0xec, ..]
            | [0x48, 0x81, 0xec, ..]
    );
    if starts_frame {
        Frame::Unlinked
    } else {
        Frame::None
    }
}

/// Whether code starting at `bytes` sets up a frame pointer in its first instructions.
pub fn starts_with_frame_pointer_prologue(bytes: &[u8]) -> bool {
    frame_of(bytes) == Frame::Linked
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
        match frame_of(&code[..code.len().min(sym.size() as usize)]) {
            Frame::Linked => {
                functions += 1;
                with_fp += 1;
            }
            Frame::Unlinked => functions += 1,
            Frame::None => {}
        }
    }
    let has = |name: &str| obj.section_by_name(name).is_some();
    let build_id = obj.build_id().ok().flatten().map(BuildId::new);
    // Debian ships debug info separately, found by build id.
    let separate_debug = build_id
        .as_ref()
        .is_some_and(|id| id.debug_file().is_some());
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
        build_id: build_id.as_ref().map(BuildId::to_string),
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
        assert_eq!(
            frame_of(&[0x55]),
            Frame::Unlinked,
            "rbp pushed as a callee-saved register"
        );
        assert_eq!(frame_of(&[0x41, 0x57, 0x41, 0x56]), Frame::Unlinked);
        assert_eq!(frame_of(&[0xe9, 0, 0, 0, 0]), Frame::None, "tail-call stub");
        assert_eq!(frame_of(&[0xc3]), Frame::None);
        // shrink-wrapped: an early-exit test first, then the frame
        assert!(starts_with_frame_pointer_prologue(&[
            0x48, 0x85, 0xff, 0x74, 0x20, 0x55, 0x48, 0x89, 0xe5
        ]));
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
