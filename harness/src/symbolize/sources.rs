//! Where a binary's frame names will come from, in the order naming tries them: its own
//! symbol table, a separate debug file (a debug package's build-id folder, a `.gnu_debuglink`
//! beside it, a debuginfod client's cache), debuginfod servers asked at analysis time, and
//! last the function boundaries of `.eh_frame`. `doctor` says it for every workload binary.

use std::path::{Path, PathBuf};

use object::Object;

use crate::binary::BuildId;

/// The first source of names a file has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameSource {
    SymbolTable,
    BuildIdFolder(PathBuf),
    DebugLink(PathBuf),
    DebuginfodCache(PathBuf),
    /// Stripped, nothing local: asked of these servers when a recording is analyzed.
    Debuginfod(String),
    /// Only `.eh_frame`'s function starts: `file+0xOFFSET` names.
    FunctionBoundaries,
    /// Not even unwind tables: every frame is `[file]`.
    ModuleOnly,
}

impl std::fmt::Display for NameSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NameSource::SymbolTable => f.write_str("its own symbol table"),
            NameSource::BuildIdFolder(p) => write!(f, "a debug package's file, {}", p.display()),
            NameSource::DebugLink(p) => write!(f, "its debug link, {}", p.display()),
            NameSource::DebuginfodCache(p) => {
                write!(f, "a debug file debuginfod fetched before, {}", p.display())
            }
            NameSource::Debuginfod(urls) => {
                write!(f, "debuginfod ({urls}), asked when a recording is analyzed")
            }
            NameSource::FunctionBoundaries => {
                f.write_str("function boundaries only (file+0xOFFSET from .eh_frame)")
            }
            NameSource::ModuleOnly => f.write_str("nothing: no symbols and no unwind tables"),
        }
    }
}

/// The file `.gnu_debuglink` names, where gdb looks for it: beside the binary, in its
/// `.debug/` folder, or under /usr/lib/debug with the binary's folder.
fn debug_link(file: &Path, obj: &object::File) -> Option<PathBuf> {
    let (name, _crc) = obj.gnu_debuglink().ok()??;
    let name = Path::new(std::str::from_utf8(name).ok()?);
    let dir = file.parent()?;
    let mut candidates = vec![dir.join(name), dir.join(".debug").join(name)];
    if let Ok(rel) = dir.strip_prefix("/") {
        candidates.push(Path::new("/usr/lib/debug").join(rel).join(name));
    }
    candidates.into_iter().find(|p| p.is_file() && p != file)
}

/// Where `file`'s names will come from.
pub fn name_source(file: &Path) -> Option<NameSource> {
    let f = std::fs::File::open(file).ok()?;
    // SAFETY: read-only map of a binary, as elsewhere.
    let map = unsafe { memmap2::Mmap::map(&f) }.ok()?;
    let obj = object::File::parse(&*map).ok()?;
    if obj.symbol_table().is_some() {
        return Some(NameSource::SymbolTable);
    }
    let id = obj.build_id().ok().flatten().map(BuildId::new);
    if let Some(p) = id.as_ref().and_then(|id| {
        let mut p = id.path_in(Path::new("/usr/lib/debug"))?.into_os_string();
        p.push(".debug");
        Some(PathBuf::from(p)).filter(|p| p.is_file())
    }) {
        return Some(NameSource::BuildIdFolder(p));
    }
    if let Some(p) = debug_link(file, &obj) {
        return Some(NameSource::DebugLink(p));
    }
    if let Some(p) = id.as_ref().and_then(BuildId::debuginfod_file) {
        return Some(NameSource::DebuginfodCache(p));
    }
    if let Some(urls) = std::env::var("DEBUGINFOD_URLS")
        .ok()
        .filter(|u| !u.trim().is_empty() && id.is_some())
    {
        return Some(NameSource::Debuginfod(urls.trim().to_string()));
    }
    Some(if obj.section_by_name(".eh_frame").is_some() {
        NameSource::FunctionBoundaries
    } else {
        NameSource::ModuleOnly
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test binary has its symbol table (cargo does not strip test builds).
    #[test]
    fn a_binary_with_symbols_names_itself() {
        let me = std::env::current_exe().unwrap();
        assert_eq!(name_source(&me), Some(NameSource::SymbolTable));
        assert_eq!(name_source(Path::new("/nonexistent")), None);
    }
}
