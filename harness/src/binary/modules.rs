//! The files that address spaces map, each found, checked and parsed once.
//!
//! A module is identified by its recorded path and, where perf recorded one, its build id.
//! The file actually read must carry that build id: the recorded path first, then perf's
//! build-id cache (`~/.debug/.build-id/`, where perf also keeps the vDSO), then the folders
//! given with `--search` (matched by file name). A file that cannot be found or does not match
//! leaves the module unloaded; its frames are then named `[file name]`, never attributed to a
//! wrong binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::build_id::BuildId;
use super::elf::{self, Elf};

/// Index of a module (file) in a [`ModuleTable`]; address spaces name modules by it.
pub type ModuleId = u32;

/// What kind of thing a mapping's path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleKind {
    File,
    /// `[kernel.kallsyms]` and kernel modules.
    Kernel,
    /// `[vdso]`: no file on disk, but perf keeps a copy by build id.
    Vdso,
    /// `//anon`, `[heap]`, `[stack]`, JIT code, memfd: nothing to load.
    Pseudo,
}

pub struct Module {
    /// The path as recorded.
    pub path: String,
    /// The name frames get when their symbol is unknown: `[libc.so.6]`.
    pub unknown_name: String,
    pub kind: ModuleKind,
    pub build_id: Option<BuildId>,
    elf: OnceLock<Result<Arc<Elf>, String>>,
}

impl Module {
    /// The file's name as frames show it: `libc.so.6` (the unknown name without brackets).
    pub fn file_name(&self) -> &str {
        self.unknown_name
            .trim_start_matches('[')
            .trim_end_matches(']')
    }

    /// The parsed ELF, loading it on first use; Err says why it is not available.
    pub fn elf(&self, finder: &FileFinder) -> Result<&Arc<Elf>, &str> {
        self.elf
            .get_or_init(|| finder.load_once(self))
            .as_ref()
            .map_err(String::as_str)
    }

    /// Whether loading was attempted and failed (for the stats' list of missing modules).
    pub fn load_error(&self) -> Option<&str> {
        self.elf.get()?.as_ref().err().map(String::as_str)
    }
}

/// Where module files are looked for.
#[derive(Clone, Default)]
pub struct FileFinder {
    /// perf's build-id cache, `~/.debug` of the user that recorded (root, here).
    pub debug_dir: Option<PathBuf>,
    /// Extra folders searched by file name (`analyze --search`).
    pub search_dirs: Vec<PathBuf>,
    /// Files already loaded, by recorded path and build id: the passes of one analysis (one
    /// per thread, each with its own module table) load and parse each file once.
    loaded: Arc<Mutex<Loaded>>,
}

type LoadResult = Result<Arc<Elf>, String>;
/// Loaded files by recorded path and build id.
type Loaded = HashMap<(String, Option<BuildId>), LoadResult>;

impl std::fmt::Debug for FileFinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileFinder")
            .field("debug_dir", &self.debug_dir)
            .field("search_dirs", &self.search_dirs)
            .finish_non_exhaustive()
    }
}

/// perf's default build-id cache: `~/.debug` of the user running (perf's `--buildid-dir`
/// changes it, as `analyze --buildid-dir` does ours).
pub fn default_buildid_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".debug"))
}

impl FileFinder {
    /// Looks in perf's build-id cache `debug_dir` (see [`default_buildid_dir`]) and then in
    /// `search_dirs`.
    pub fn new(debug_dir: Option<PathBuf>, search_dirs: Vec<PathBuf>) -> FileFinder {
        FileFinder {
            debug_dir,
            search_dirs,
            loaded: Arc::default(),
        }
    }

    /// [`FileFinder::load`], once per (path, build id) for everyone sharing this finder.
    fn load_once(&self, module: &Module) -> LoadResult {
        let key = (module.path.clone(), module.build_id.clone());
        // Held while loading: the other passes need the same file and would wait anyway.
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded
            .entry(key)
            .or_insert_with(|| self.load(module).map(Arc::new))
            .clone()
    }

    fn candidates(&self, module: &Module) -> Vec<PathBuf> {
        let mut c = Vec::new();
        if module.kind == ModuleKind::File {
            c.push(PathBuf::from(&module.path));
        }
        if let Some(base) = module
            .build_id
            .as_ref()
            .zip(self.debug_dir.as_ref())
            .and_then(|(id, dir)| id.path_in(dir))
        {
            c.push(base.join("elf"));
            c.push(base.join("vdso"));
        }
        let file_name = Path::new(&module.path).file_name();
        if let Some(name) = file_name {
            c.extend(self.search_dirs.iter().map(|d| d.join(name)));
        }
        c
    }

    fn load(&self, module: &Module) -> Result<Elf, String> {
        if matches!(module.kind, ModuleKind::Pseudo | ModuleKind::Kernel) {
            return Err("no file to read".into());
        }
        let (mut mismatched, mut denied) = (None, None);
        for path in self.candidates(module) {
            // Paths come from the recording, which may be damaged or hostile: only regular
            // files are read (opening a FIFO would block, a device could be endless).
            if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) => {
                    // The sandbox's read rules (or the file's mode) keep it out.
                    denied.get_or_insert((path, e));
                    continue;
                }
            };
            // SAFETY: read-only mapping of a binary; a concurrent truncation would fault,
            // the accepted risk of mapping executables.
            let Ok(map) = (unsafe { memmap2::Mmap::map(&file) }) else {
                continue;
            };
            if let Some(want) = &module.build_id {
                if BuildId::of_elf(&map).as_ref() != Some(want) {
                    mismatched = Some(path);
                    continue;
                }
            }
            return elf::parse(path, Arc::new(map));
        }
        if let (None, Some((p, e))) = (&mismatched, denied) {
            return Err(format!(
                "{} cannot be read ({e}): the analysis reads only the system's folders and those named (pass --read DIR, or --search DIR with a copy)",
                p.display()
            ));
        }
        Err(match mismatched {
            Some(p) => format!(
                "{} has another build id than the recorded {} (rebuilt or upgraded since recording; pass --search DIR with the original)",
                p.display(),
                module
                    .build_id
                    .as_ref()
                    .map(BuildId::to_string)
                    .unwrap_or_default()
            ),
            None => format!("{} not found (pass --search DIR)", module.path),
        })
    }
}

/// Every module seen in a recording.
#[derive(Default)]
pub struct ModuleTable {
    modules: Vec<Module>,
    by_path: HashMap<Box<[u8]>, ModuleId>,
    /// Build ids perf recorded, by path.
    recorded_build_ids: HashMap<Vec<u8>, BuildId>,
}

impl ModuleTable {
    pub fn new(recorded_build_ids: HashMap<Vec<u8>, BuildId>) -> ModuleTable {
        ModuleTable {
            recorded_build_ids,
            ..ModuleTable::default()
        }
    }

    /// The module for a mapping's path (and build id, when the MMAP2 carried one).
    pub fn intern(&mut self, path: &[u8], build_id: Option<&[u8]>, kernel: bool) -> ModuleId {
        if let Some(&id) = self.by_path.get(path) {
            return id;
        }
        let text = String::from_utf8_lossy(path).into_owned();
        let kind = if kernel {
            ModuleKind::Kernel
        } else if text == "[vdso]" {
            ModuleKind::Vdso
        } else if text.starts_with('/')
            && !text.starts_with("//")
            && !text.starts_with("/memfd:")
            && !text.ends_with(" (deleted)")
        {
            ModuleKind::File
        } else {
            ModuleKind::Pseudo
        };
        let base = text.rsplit('/').next().unwrap_or(&text);
        let unknown_name = if base.starts_with('[') {
            base.to_string()
        } else if base.is_empty() {
            "[unknown]".to_string()
        } else {
            format!("[{base}]")
        };
        let build_id = build_id
            .map(BuildId::new)
            .or_else(|| self.recorded_build_ids.get(path).cloned());
        let id = self.modules.len() as ModuleId;
        self.modules.push(Module {
            path: text,
            unknown_name,
            kind,
            build_id,
            elf: OnceLock::new(),
        });
        self.by_path.insert(path.into(), id);
        id
    }

    /// Takes in the modules of another table of the same recording: each gets its id here
    /// (returned, indexed by its id there), and files loaded there need not load again here.
    pub fn absorb(&mut self, other: ModuleTable) -> Vec<ModuleId> {
        let mut ids = Vec::with_capacity(other.modules.len());
        for (index, theirs) in other.modules.into_iter().enumerate() {
            let same = |id: ModuleId| {
                let m = &self.modules[id as usize];
                m.path == theirs.path && m.build_id == theirs.build_id
            };
            let at_index = Some(index as ModuleId).filter(|&i| (i as usize) < self.modules.len());
            let found = at_index.filter(|&i| same(i)).or_else(|| {
                self.by_path
                    .get(theirs.path.as_bytes())
                    .copied()
                    .filter(|&i| same(i))
            });
            let id = match found {
                Some(id) => id,
                None => {
                    // Not seen here (cannot happen for two passes over the same records, but
                    // a wrong id would silently misname frames): a module of its own.
                    let id = self.modules.len() as ModuleId;
                    self.modules.push(Module {
                        elf: OnceLock::new(),
                        ..theirs
                    });
                    ids.push(id);
                    continue;
                }
            };
            if let Some(loaded) = theirs.elf.into_inner() {
                let _ = self.modules[id as usize].elf.set(loaded);
            }
            ids.push(id);
        }
        ids
    }

    pub fn get(&self, id: ModuleId) -> &Module {
        &self.modules[id as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (ModuleId, &Module)> {
        self.modules
            .iter()
            .enumerate()
            .map(|(i, m)| (i as ModuleId, m))
    }

    pub fn len(&self) -> usize {
        self.modules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_unknown_names() {
        let mut t = ModuleTable::default();
        let libc = t.intern(b"/usr/lib/x86_64-linux-gnu/libc.so.6", None, false);
        let anon = t.intern(b"//anon", None, false);
        let vdso = t.intern(b"[vdso]", None, false);
        let kernel = t.intern(b"[kernel.kallsyms]_text", None, true);
        assert_eq!(t.get(libc).kind, ModuleKind::File);
        assert_eq!(t.get(libc).unknown_name, "[libc.so.6]");
        assert_eq!(t.get(anon).kind, ModuleKind::Pseudo);
        assert_eq!(t.get(vdso).kind, ModuleKind::Vdso);
        assert_eq!(t.get(vdso).unknown_name, "[vdso]");
        assert_eq!(t.get(kernel).kind, ModuleKind::Kernel);
        // interned once
        assert_eq!(t.intern(b"//anon", None, false), anon);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn loads_this_test_binary_and_refuses_a_wrong_build_id() {
        let exe = std::env::current_exe().unwrap();
        let mut t = ModuleTable::default();
        let id = t.intern(exe.as_os_str().as_encoded_bytes(), None, false);
        let finder = FileFinder::default();
        let elf = t.get(id).elf(&finder).unwrap();
        assert!(elf.eh_frame.is_some());
        assert!(!elf.exec_segments.is_empty());
        let wrong = t.intern(b"/proc/self/exe", Some(&[1, 2, 3, 4]), false);
        let err = t.get(wrong).elf(&finder).err().unwrap();
        assert!(err.contains("another build id"), "{err}");
        let missing = t.intern(b"/nonexistent/lib.so", None, false);
        assert!(t
            .get(missing)
            .elf(&finder)
            .err()
            .unwrap()
            .contains("not found"));
    }

    /// A damaged recording can name a FIFO or a device as a module: it is skipped, not opened
    /// (opening a FIFO blocks until a writer appears, which would hang the analysis).
    #[test]
    fn special_files_named_by_a_recording_are_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("lib.so");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut t = ModuleTable::default();
            let fifo_id = t.intern(fifo.as_os_str().as_encoded_bytes(), None, false);
            let zero_id = t.intern(b"/dev/zero", None, false);
            let finder = FileFinder::default();
            let errors =
                [fifo_id, zero_id].map(|id| t.get(id).elf(&finder).err().map(String::from));
            let _ = tx.send(errors);
        });
        // A hang detector, not a speed check: any answer at all is the point.
        let errors = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("loading a module named after a FIFO hung");
        for e in errors {
            assert!(e.is_some_and(|e| e.contains("not found")));
        }
    }
}
