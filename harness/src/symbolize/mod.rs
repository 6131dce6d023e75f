//! Names for frames. User code: by file offset in the module's file (so ASLR and pre-exec
//! leftovers cannot mislead it), from its symbol tables as perf names it ([`symtab`]), with
//! blazesym's DWARF for inlined functions (`--inline`) and for files without any symbol
//! table. Kernel: kallsyms, as perf names it ([`kallsyms`]).
//!
//! Names are tidied the way `inferno-collapse-perf` tidies perf's: parameters cut off
//! (`foo(int)` -> `foo`), `;` replaced (it separates frames in the folded format). A frame with
//! no symbol is named by the function `.eh_frame` says contains it, `nbdkit+0x1a2b0`
//! ([`boundaries`]); only without unwind tables after its module, `[libc.so.6]`, as perf and
//! inferno do.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub mod boundaries;
pub mod debuginfod;
pub mod demangle;
pub mod kallsyms;
pub mod sources;
pub mod symtab;

use blazesym::symbolize::source::{Elf as BlazeElf, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer as Blaze};

use crate::binary::{BuildId, Elf, FileOffset};
use symtab::FunctionTable;

/// Cuts a demangled name to what `perf script` prints and inferno keeps: no parameter list,
/// no `;`.
pub fn tidy(name: &str) -> String {
    let mut depth = 0i32;
    let mut cut = name.len();
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => depth += 1,
            b'>' => depth -= 1,
            b'(' if depth <= 0 && i > 0 => {
                let rest = &name[i..];
                // `(anonymous namespace)` is part of a C++ name, and Go's `pkg.(*T).m` too.
                if rest.starts_with("(anonymous namespace)") {
                    i += "(anonymous namespace)".len();
                    continue;
                }
                if bytes[i - 1] == b'.' {
                    i += 1;
                    continue;
                }
                cut = i;
                break;
            }
            _ => {}
        }
        i += 1;
    }
    name[..cut].replace(';', ":")
}

/// A kallsyms file and how to shift recorded addresses into it.
struct KernelSymbols {
    kallsyms: PathBuf,
    /// Add to a recorded kernel address to get this file's address (KASLR differs per boot).
    delta: u64,
}

impl KernelSymbols {
    /// `recorded_text`: the kernel's `_text` in the recording; None when the file is
    /// unreadable or its addresses are hidden.
    fn new(kallsyms: &Path, recorded_text: Option<u64>) -> Option<KernelSymbols> {
        let text = kallsyms_text(kallsyms)?;
        Some(KernelSymbols {
            kallsyms: kallsyms.to_path_buf(),
            delta: text.wrapping_sub(recorded_text?),
        })
    }
}

/// Holds no per-module state: each batch (one module, or the kernel) loads what it needs
/// (a symbol table, or a fresh blazesym symbolizer, which is not `Sync`), so batches can run
/// on different threads. Every module is named in one batch, so nothing cached across
/// batches is lost.
pub struct Symbolizer {
    inline: bool,
    /// perf's copy of kallsyms in its build-id cache, taken when the kernel was recorded:
    /// a plain file, where /proc/kallsyms makes the kernel format 10 MB of text on every
    /// read (23 ms here, a tenth of an analysis). Kernel modules loaded after the copy are
    /// missing from it, so what it cannot name is looked up in `kernel` after all.
    recorded_copy: Option<KernelSymbols>,
    /// The running kernel's symbols (--kallsyms), read only when needed.
    kallsyms: PathBuf,
    recorded_text: Option<u64>,
    kernel: OnceLock<Option<KernelSymbols>>,
}

/// `_text` in a kallsyms file, or None when the file is unreadable or its addresses are
/// hidden (zeros: not root, or kptr_restrict).
pub fn kallsyms_text(path: &Path) -> Option<u64> {
    use std::io::BufRead;
    // `_text` is among the first lines; the kernel formats the whole 10 MB file on read, so
    // stop there instead of reading it all.
    let file = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    file.lines()
        .map_while(Result::ok)
        .take(100_000)
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let addr = u64::from_str_radix(f.next()?, 16).ok()?;
            let _kind = f.next()?;
            (f.next()? == "_text" && addr != 0).then_some(addr)
        })
}

/// perf's build-id cache copy of the kernel's symbols for a kernel build id:
/// `~/.debug/[kernel.kallsyms]/<build id>/kallsyms`.
pub fn recorded_kallsyms(debug_dir: &Path, build_id: &BuildId) -> Option<PathBuf> {
    let path = debug_dir
        .join("[kernel.kallsyms]")
        .join(build_id.to_string())
        .join("kallsyms");
    std::fs::metadata(&path)
        .is_ok_and(|m| m.is_file())
        .then_some(path)
}

impl Symbolizer {
    /// `recorded_text`: the kernel's `_text` when the recording was made (perf's kernel
    /// mapping); kernel frames are only named when it is known. `recorded_copy`: perf's
    /// kallsyms copy for the recorded kernel, if there is one.
    pub fn new(
        inline: bool,
        kallsyms: &Path,
        recorded_text: Option<u64>,
        recorded_copy: Option<&Path>,
    ) -> Symbolizer {
        Symbolizer {
            inline,
            recorded_copy: recorded_copy.and_then(|p| KernelSymbols::new(p, recorded_text)),
            kallsyms: kallsyms.to_path_buf(),
            recorded_text,
            kernel: OnceLock::new(),
        }
    }

    fn running_kernel(&self) -> Option<&KernelSymbols> {
        self.kernel
            .get_or_init(|| KernelSymbols::new(&self.kallsyms, self.recorded_text))
            .as_ref()
    }

    pub fn kernel_available(&self) -> bool {
        self.recorded_copy.is_some() || self.running_kernel().is_some()
    }

    fn blaze(&self) -> Blaze {
        Blaze::builder()
            .enable_auto_reload(false)
            .enable_code_info(self.inline)
            .enable_inlined_fns(self.inline)
            .enable_demangling(true)
            .build()
    }

    /// Names for `offsets` (file offsets; plain offsets read from the ELF's own tables
    /// convert) in `elf`: per offset the function and, with inline
    /// frames on, the functions inlined into it (outermost first). None: no symbol.
    ///
    /// The function is the symbol-table name perf gives it. Only inlined functions need
    /// DWARF; a file whose tables have no function of its own (a stripped executable: PLT
    /// stubs at most) falls back to it for everything else.
    pub fn user<O>(&self, elf: &Elf, offsets: &[O]) -> Vec<Option<Vec<String>>>
    where
        O: Copy + Into<FileOffset>,
    {
        let offsets: Vec<FileOffset> = offsets.iter().map(|&o| o.into()).collect();
        let table = FunctionTable::load(elf);
        let functions: Vec<Option<String>> = match &table {
            Some(t) => offsets
                .iter()
                .map(|&o| {
                    let addr = elf.vaddr_of(o)?;
                    t.name(addr).map(|n| tidy(&n))
                })
                .collect(),
            None => vec![None; offsets.len()],
        };
        let complete = table.as_ref().is_some_and(|t| !t.only_stubs);
        if !self.inline && complete {
            return functions.into_iter().map(|f| f.map(|f| vec![f])).collect();
        }
        let mut from_dwarf = self.user_dwarf(&elf.file, &offsets);
        if complete {
            // The outer function as perf names it, the inlined ones from DWARF.
            for (names, function) in from_dwarf.iter_mut().zip(functions) {
                match (names.as_mut(), function) {
                    (Some(n), Some(f)) => n[0] = f,
                    (None, Some(f)) => *names = Some(vec![f]),
                    (_, None) => *names = None,
                }
            }
        } else {
            // Only PLT stubs are known: their names, DWARF's (found through a debug link,
            // say) for the rest.
            for (names, function) in from_dwarf.iter_mut().zip(functions) {
                if let Some(f) = function {
                    *names = Some(vec![f]);
                }
            }
        }
        from_dwarf
    }

    /// blazesym's names for `offsets` in `file`, from DWARF where it has any.
    fn user_dwarf(&self, file: &Path, offsets: &[FileOffset]) -> Vec<Option<Vec<String>>> {
        let offsets: Vec<u64> = offsets.iter().map(|o| o.get()).collect();
        let offsets = offsets.as_slice();
        let mut elf = BlazeElf::new(file);
        // Debug info finds symbols of stripped distro libraries through their debug link.
        elf.debug_syms = true;
        let source = Source::from(elf);
        let blaze = self.blaze();
        let symbolized = match blaze.symbolize(&source, Input::FileOffset(offsets)) {
            Ok(s) => s,
            Err(_) => {
                // A broken debug link must not cost the module its ELF symbols.
                let mut elf = BlazeElf::new(file);
                elf.debug_syms = false;
                match blaze.symbolize(&Source::from(elf), Input::FileOffset(offsets)) {
                    Ok(s) => s,
                    Err(_) => return vec![None; offsets.len()],
                }
            }
        };
        symbolized
            .into_iter()
            .map(|s| match s {
                Symbolized::Sym(sym) => {
                    let mut names = vec![tidy(&sym.name)];
                    if self.inline {
                        names.extend(sym.inlined.iter().map(|f| tidy(&f.name)));
                    }
                    Some(names)
                }
                Symbolized::Unknown(_) => None,
            })
            .collect()
    }

    /// Names for kernel addresses as recorded: from perf's copy of kallsyms where it names
    /// them, from the running kernel's otherwise.
    pub fn kernel(&self, addrs: &[u64]) -> Vec<Option<String>> {
        let mut names = match &self.recorded_copy {
            Some(copy) => self.kernel_from(copy, addrs),
            None => vec![None; addrs.len()],
        };
        let unnamed: Vec<usize> = (0..addrs.len()).filter(|&i| names[i].is_none()).collect();
        if unnamed.is_empty() {
            return names;
        }
        if let Some(running) = self.running_kernel() {
            let rest: Vec<u64> = unnamed.iter().map(|&i| addrs[i]).collect();
            for (i, name) in unnamed.into_iter().zip(self.kernel_from(running, &rest)) {
                names[i] = name;
            }
        }
        names
    }

    fn kernel_from(&self, k: &KernelSymbols, addrs: &[u64]) -> Vec<Option<String>> {
        let Some(table) = kallsyms::Kallsyms::load(&k.kallsyms) else {
            return vec![None; addrs.len()];
        };
        addrs
            .iter()
            .map(|a| table.name(a.wrapping_add(k.delta)).map(tidy))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidies_like_inferno() {
        assert_eq!(tidy("main"), "main");
        assert_eq!(tidy("ns::W<long>::spin(long)"), "ns::W<long>::spin");
        assert_eq!(
            tidy("std::vector<std::pair<int, int> >::push_back(int&&)"),
            "std::vector<std::pair<int, int> >::push_back"
        );
        assert_eq!(
            tidy("(anonymous namespace)::f(int)"),
            "(anonymous namespace)::f"
        );
        assert_eq!(tidy("main.(*T).Method"), "main.(*T).Method");
        assert_eq!(tidy("a;b"), "a:b");
        assert_eq!(tidy("operator()(int)"), "operator");
    }

    #[test]
    fn kernel_names_come_from_perfs_copy_then_from_the_running_kernel() {
        let dir = tempfile::tempdir().unwrap();
        // perf's copy: the core kernel as recorded (this boot's KASLR base).
        let copy = dir.path().join("copy");
        std::fs::write(
            &copy,
            "ffffffff81000000 T _text\nffffffff81000100 T old_name\nffffffff81000200 T other\n",
        )
        .unwrap();
        // The running kernel, booted at another base, with a module loaded since.
        let running = dir.path().join("running");
        std::fs::write(
            &running,
            "ffffffff82000000 T _text\nffffffff82000100 T new_name\nffffffff82000200 T other\nffffffffc1000000 t mod_fn\t[nbd]\n",
        )
        .unwrap();
        let recorded_text = Some(0xffffffff81000000);
        let module_addr = 0xffffffffc1000010u64.wrapping_sub(0x0100_0000);
        let s = Symbolizer::new(false, &running, recorded_text, Some(&copy));
        assert_eq!(
            s.kernel(&[0xffffffff81000108, module_addr]),
            vec![Some("old_name".to_string()), Some("mod_fn".to_string())]
        );
        // Without a copy, the running kernel's symbols, shifted by the KASLR difference.
        let s = Symbolizer::new(false, &running, recorded_text, None);
        assert_eq!(
            s.kernel(&[0xffffffff81000108]),
            vec![Some("new_name".to_string())]
        );
        assert!(s.kernel_available());
        let s = Symbolizer::new(false, &dir.path().join("none"), recorded_text, None);
        assert!(!s.kernel_available());
    }

    #[test]
    fn kallsyms_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kallsyms");
        std::fs::write(&p, "ffffffff81000000 T _stext\nffffffff81000000 T _text\n").unwrap();
        assert_eq!(kallsyms_text(&p), Some(0xffffffff81000000));
        std::fs::write(&p, "0000000000000000 T _text\n").unwrap();
        assert_eq!(kallsyms_text(&p), None);
    }
}
