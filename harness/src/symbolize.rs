//! Names for frames: blazesym for user code (by file offset in the module's file, so ASLR and
//! pre-exec leftovers cannot mislead it), kallsyms for the kernel.
//!
//! Names are tidied the way `inferno-collapse-perf` tidies perf's: parameters cut off
//! (`foo(int)` -> `foo`), `;` replaced (it separates frames in the folded format). A frame with
//! no symbol is named after its module, `[libc.so.6]`, as perf and inferno do.

use std::path::{Path, PathBuf};

use blazesym::symbolize::source::{Elf, Kernel, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer as Blaze};
use blazesym::MaybeDefault;

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

/// The kernel's symbols as of this boot, shifted to the recording's addresses.
struct KernelSymbols {
    kallsyms: PathBuf,
    /// Add to a recorded kernel address to get this boot's address (KASLR differs per boot).
    delta: u64,
}

/// Holds no blazesym state of its own: each batch (one module, or the kernel) gets a fresh
/// blazesym symbolizer, which is not `Sync`, so batches can run on different threads. Every
/// module is named in one batch, so nothing cached across batches is lost.
pub struct Symbolizer {
    inline: bool,
    kernel: Option<KernelSymbols>,
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

impl Symbolizer {
    /// `recorded_text`: the kernel's `_text` when the recording was made (perf's kernel
    /// mapping); kernel frames are only named when it and this boot's kallsyms are known.
    pub fn new(inline: bool, kallsyms: &Path, recorded_text: Option<u64>) -> Symbolizer {
        let kernel = match (kallsyms_text(kallsyms), recorded_text) {
            (Some(now), Some(then)) => Some(KernelSymbols {
                kallsyms: kallsyms.to_path_buf(),
                delta: now.wrapping_sub(then),
            }),
            _ => None,
        };
        Symbolizer { inline, kernel }
    }

    fn blaze(&self) -> Blaze {
        Blaze::builder()
            .enable_auto_reload(false)
            .enable_code_info(self.inline)
            .enable_inlined_fns(self.inline)
            .enable_demangling(true)
            .build()
    }

    pub fn kernel_available(&self) -> bool {
        self.kernel.is_some()
    }

    /// Names for `offsets` (file offsets) in `file`: per offset the function and, with inline
    /// frames on, the functions inlined into it (outermost first). None: no symbol.
    pub fn user(&self, file: &Path, offsets: &[u64]) -> Vec<Option<Vec<String>>> {
        let mut elf = Elf::new(file);
        // Debug info finds symbols of stripped distro libraries through their debug link.
        elf.debug_syms = true;
        let source = Source::from(elf);
        let blaze = self.blaze();
        let symbolized = match blaze.symbolize(&source, Input::FileOffset(offsets)) {
            Ok(s) => s,
            Err(_) => {
                // A broken debug link must not cost the module its ELF symbols.
                let mut elf = Elf::new(file);
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

    /// Names for kernel addresses as recorded.
    pub fn kernel(&self, addrs: &[u64]) -> Vec<Option<String>> {
        let Some(k) = &self.kernel else {
            return vec![None; addrs.len()];
        };
        let shifted: Vec<u64> = addrs.iter().map(|a| a.wrapping_add(k.delta)).collect();
        let source = Source::Kernel(Kernel {
            kallsyms: MaybeDefault::Some(k.kallsyms.clone()),
            vmlinux: MaybeDefault::None,
            kaslr_offset: Some(0),
            debug_syms: false,
            ..Default::default()
        });
        match self.blaze().symbolize(&source, Input::AbsAddr(&shifted)) {
            Ok(v) => v
                .into_iter()
                .map(|s| match s {
                    // An address far past its symbol is past the last one: not a real match.
                    Symbolized::Sym(sym) if sym.offset < (1 << 20) => Some(tidy(&sym.name)),
                    _ => None,
                })
                .collect(),
            Err(_) => vec![None; addrs.len()],
        }
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
    fn kallsyms_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kallsyms");
        std::fs::write(&p, "ffffffff81000000 T _stext\nffffffff81000000 T _text\n").unwrap();
        assert_eq!(kallsyms_text(&p), Some(0xffffffff81000000));
        std::fs::write(&p, "0000000000000000 T _text\n").unwrap();
        assert_eq!(kallsyms_text(&p), None);
    }
}
