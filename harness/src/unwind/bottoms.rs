//! Where stacks end: the address ranges of the functions a complete stack reaches
//! (`_start`, `__libc_start_call_main`, `start_thread`, `clone3`, ... and `main` for a
//! process's main thread), per module, from its symbol tables and, for stripped distro
//! libraries, from its separate debug file (found by build id).
//!
//! The sweep needs this while records stream by, before any frame has a name.

use std::ops::Range;

use object::{Object, ObjectSymbol, SymbolKind};

use crate::binary::{Elf, FileOffset};
use crate::fold::is_bottom_name;

/// A stack-bottom function: its file-offset range, and whether it is `main` (a bottom only
/// on the main thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bottom {
    pub range: Range<FileOffset>,
    pub is_main: bool,
}

/// Bottom functions of `elf`, by file offset.
pub fn find(elf: &Elf) -> Vec<Bottom> {
    let mut found: Vec<Bottom> = Vec::new();
    let mut files = vec![elf.file.clone()];
    files.extend(elf.debug_file());
    for path in files {
        // Mapped, not read: a debug file is megabytes, of which the symbol table is a part.
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        // SAFETY: read-only map of a binary, as in `modules`.
        let Ok(data) = (unsafe { memmap2::Mmap::map(&file) }) else {
            continue;
        };
        let Ok(obj) = object::File::parse(&*data) else {
            continue;
        };
        for sym in obj.symbols().chain(obj.dynamic_symbols()) {
            if sym.kind() != SymbolKind::Text || sym.size() == 0 {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            let is_main = name == "main";
            if !is_main && !is_bottom_name(name, false) {
                continue;
            }
            let Some((start, end)) = elf
                .file_offset_of(sym.address())
                .and_then(|start| Some((start, start.checked_add(sym.size())?)))
            else {
                continue;
            };
            let b = Bottom {
                range: start..end,
                is_main,
            };
            if !found.contains(&b) {
                found.push(b);
            }
        }
    }
    found
}

/// Whether file offset `offset` lies in a bottom function (`main` only when `main_thread`).
pub fn is_bottom(bottoms: &[Bottom], offset: FileOffset, main_thread: bool) -> bool {
    bottoms
        .iter()
        .any(|b| b.range.contains(&offset) && (main_thread || !b.is_main))
}
