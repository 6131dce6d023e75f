//! Build ids: the GNU note that names one build of a binary. perf records them for every
//! file a recording mapped, its build-id cache keeps files by them, and distro debug
//! packages install separate debug files by them; all three spell one in lowercase hex.

use std::fmt;
use std::path::{Path, PathBuf};

use object::Object;

/// A build id, as perf recorded it or an ELF file carries it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuildId(Box<[u8]>);

/// Where Debian's `-dbg`/`-dbgsym` packages install separate debug files.
const DEBUG_ROOT: &str = "/usr/lib/debug";

impl BuildId {
    pub fn new(bytes: &[u8]) -> BuildId {
        BuildId(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The build id in an ELF file's bytes, if it has one.
    pub fn of_elf(data: &[u8]) -> Option<BuildId> {
        object::File::parse(data)
            .ok()?
            .build_id()
            .ok()?
            .map(BuildId::new)
    }

    /// `DIR/.build-id/ab/cdef...`: where perf's build-id cache and debug packages keep a
    /// file of this build. None for an id too short to split that way.
    pub fn path_in(&self, dir: &Path) -> Option<PathBuf> {
        let hex = self.to_string();
        (hex.len() > 2).then(|| dir.join(".build-id").join(&hex[..2]).join(&hex[2..]))
    }

    /// The debug file a debuginfod client fetched for this build, in the cache elfutils, perf
    /// and gdb share.
    pub fn debuginfod_file(&self) -> Option<PathBuf> {
        Some(
            debuginfod_cache_dir()?
                .join(self.to_string())
                .join("debuginfo"),
        )
        .filter(|p| p.is_file())
    }

    /// The separate debug file of a stripped binary of this build: installed by a debug
    /// package, or fetched by a debuginfod client.
    pub fn debug_file(&self) -> Option<PathBuf> {
        let mut path = self.path_in(Path::new(DEBUG_ROOT))?.into_os_string();
        path.push(".debug");
        Some(PathBuf::from(path))
            .filter(|p| p.is_file())
            .or_else(|| self.debuginfod_file())
    }
}

/// The debuginfod client cache, as elfutils finds it: `$DEBUGINFOD_CACHE_PATH`, else
/// `$XDG_CACHE_HOME/debuginfod_client`, else `$HOME/.cache/debuginfod_client`.
pub fn debuginfod_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("DEBUGINFOD_CACHE_PATH")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("debuginfod_client")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("debuginfod_client")))
}

impl fmt::Display for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for BuildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BuildId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_hex_and_cache_paths() {
        let id = BuildId::new(&[0xc0, 0x0c, 0x1c, 0xc9, 0x64]);
        assert_eq!(id.to_string(), "c00c1cc964");
        assert_eq!(
            id.path_in(Path::new("/root/.debug")),
            Some(PathBuf::from("/root/.debug/.build-id/c0/0c1cc964"))
        );
        assert_eq!(BuildId::new(&[0xab]).path_in(Path::new("/d")), None);
        assert_eq!(BuildId::new(&[1, 2, 3]).debug_file(), None);
    }

    #[test]
    fn read_from_this_test_binary() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let id = BuildId::of_elf(&exe).expect("rustc links with a build id");
        assert_eq!(id.to_string().len(), id.as_bytes().len() * 2);
        assert_eq!(BuildId::of_elf(b"not an ELF file"), None);
    }
}
