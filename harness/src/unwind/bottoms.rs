//! Where stacks end: the functions a complete stack reaches (`_start`,
//! `__libc_start_call_main`, `start_thread`, `clone3`, ... and `main` for a process's main
//! thread), by name for folding, and as file-offset ranges per module for the sweep, which
//! needs them while records stream by, before any frame has a name. The ranges come from a
//! module's symbol tables and, for stripped distro libraries, from its separate debug file
//! (found by build id).

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use object::{Object, ObjectSymbol, SymbolKind};

use crate::binary::{Elf, FileFinder, FileOffset, ModuleId, ModuleTable};
use crate::fasthash::FxHashMap;

/// Function names that mark the bottom of a thread's stack: the process entry, libc's start,
/// and thread starts. `main` counts for a process's main thread.
pub const STACK_BOTTOMS: &[&str] = &[
    "_start",
    "__libc_start_main",
    "__libc_start_call_main",
    "clone",
    "__clone",
    "clone3",
    "start_thread",
];

/// Whether a function named `name` ends a stack: one of [`STACK_BOTTOMS`], or `main` on a
/// process's main thread. A symbol version suffix (`__libc_start_main@@GLIBC_2.34`, as perf
/// names it) is ignored.
pub fn is_bottom_name(name: &str, main_thread: bool) -> bool {
    if name.ends_with("@plt") {
        // A call stub, never where a thread starts.
        return false;
    }
    let name = name.split_once('@').map_or(name, |(base, _)| base);
    STACK_BOTTOMS.contains(&name) || (main_thread && name == "main")
}

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
        // SAFETY: read-only map of a binary, as in `binary::modules`.
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

/// The bottoms of every file an analysis meets, found once per file for all its passes (as
/// the files themselves are loaded once, see [`FileFinder`]).
#[derive(Default)]
pub struct BottomIndex {
    by_file: Mutex<HashMap<PathBuf, Arc<[Bottom]>>>,
}

impl BottomIndex {
    fn of(&self, elf: &Elf) -> Arc<[Bottom]> {
        // Held while searching: another pass asking for the same file would search too.
        let mut by_file = self.by_file.lock().unwrap_or_else(|e| e.into_inner());
        by_file
            .entry(elf.file.clone())
            .or_insert_with(|| find(elf).into())
            .clone()
    }
}

/// One pass's bottoms by module, in front of the shared [`BottomIndex`], so that the lookup
/// for every frame of every sample takes no lock.
#[derive(Default)]
pub struct ModuleBottoms {
    by_module: FxHashMap<ModuleId, Option<Arc<[Bottom]>>>,
}

impl ModuleBottoms {
    /// Whether `offset` in `module` lies in a bottom function; false when the module's
    /// file cannot be read.
    pub fn is_bottom(
        &mut self,
        module: ModuleId,
        offset: FileOffset,
        main_thread: bool,
        (modules, finder, index): (&ModuleTable, &FileFinder, &BottomIndex),
    ) -> bool {
        let bottoms = self.by_module.entry(module).or_insert_with(|| {
            let elf = modules.get(module).elf(finder).ok()?;
            Some(index.of(elf))
        });
        bottoms
            .as_deref()
            .is_some_and(|b| is_bottom(b, offset, main_thread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bottom_names_ignore_symbol_versions() {
        assert!(is_bottom_name("__libc_start_main@@GLIBC_2.34", false));
        assert!(is_bottom_name("__clone", false));
        assert!(is_bottom_name("main", true));
        assert!(!is_bottom_name("main", false));
        assert!(!is_bottom_name("main@plt", true));
        assert!(!is_bottom_name("clone@plt", false));
        assert!(!is_bottom_name("start_thread_helper", false));
    }

    #[test]
    fn main_is_a_bottom_only_on_the_main_thread() {
        let at = FileOffset::new;
        let bottoms = [
            Bottom {
                range: at(0x100)..at(0x180),
                is_main: true,
            },
            Bottom {
                range: at(0x400)..at(0x420),
                is_main: false,
            },
        ];
        assert!(is_bottom(&bottoms, at(0x120), true));
        assert!(!is_bottom(&bottoms, at(0x120), false));
        assert!(is_bottom(&bottoms, at(0x41f), false));
        assert!(!is_bottom(&bottoms, at(0x420), true));
    }
}
