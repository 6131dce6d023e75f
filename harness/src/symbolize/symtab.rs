//! User-code names from ELF symbol tables, chosen the way `perf` chooses them.
//!
//! `perf script` names a user frame from the module's symbol table, or from its separate
//! debug file's when the module is a stripped distro library; never from DWARF. Where several
//! symbols start at one address (glibc's `read` has six: `read`, `__read`, `__libc_read`,
//! `__GI___libc_read`, ...) it keeps one by a fixed preference ([`prefers`]), and calls
//! through the PLT get `name@plt` symbols of their own. Naming frames the same way keeps our
//! folded stacks comparable with perf's: with DWARF names, only 44% of the weight of a
//! frame-pointer nbd recording matched `perf script` (`__libc_send` where perf says `__send`).
//! It is also cheaper: a symbol table is read in a millisecond, where libc's debug DWARF takes
//! tens (zlib, then parsing).

use std::borrow::Cow;
use std::path::Path;

use object::elf;
use object::read::elf::{ElfFile64, FileHeader, SectionHeader, Sym};
use object::Endianness;

use super::demangle::demangle;
use crate::binary::Elf;

/// A symbol that names code: its address as the ELF states it, and its name as the table
/// spells it.
struct Candidate {
    start: u64,
    size: u64,
    bind: elf::SymbolBind,
    name: Box<str>,
}

/// The functions of one module. Aliases (symbols starting at one address) are resolved when
/// a frame first falls in them: a C++ library has thousands of constructor and destructor
/// aliases, and comparing them means demangling them (9 ms for libceph-common, of which a
/// recording touches a handful of functions).
pub struct FunctionTable {
    /// Sorted by start; aliases in table order, which decides ties.
    symbols: Vec<Candidate>,
    /// Index of the first symbol of each start address.
    groups: Vec<usize>,
    /// Per group, the alias perf keeps (an index into `symbols`), once asked for.
    chosen: Vec<std::cell::OnceCell<usize>>,
    /// No table had a function of the file's own, only its PLT stubs are known (a stripped
    /// executable whose `.dynsym` only imports).
    pub only_stubs: bool,
}

/// Whether perf prefers `b` to `a`, two symbols at one address, each with whether it counts
/// as sized: one with a size, then a non-weak one, then a global one, then the one with fewer
/// leading underscores, then the longer name (both demangled). On a tie the first in the
/// table (`a`) stays.
fn prefers((a, a_sized): (&Candidate, bool), (b, b_sized): (&Candidate, bool)) -> bool {
    let binding =
        |c: &Candidate, sized: bool| (sized, c.bind != elf::STB_WEAK, c.bind == elf::STB_GLOBAL);
    if binding(a, a_sized) != binding(b, b_sized) {
        return binding(b, b_sized) > binding(a, a_sized);
    }
    if a.name == b.name {
        return false;
    }
    let naming = |n: &str| {
        let underscores = n.len() - n.trim_start_matches('_').len();
        (std::cmp::Reverse(underscores), n.len())
    };
    naming(&demangle(&b.name)) > naming(&demangle(&a.name))
}

/// A file mapped for reading its symbols.
struct Mapped(memmap2::Mmap);

impl Mapped {
    fn open(path: &Path) -> Option<Mapped> {
        let file = std::fs::File::open(path).ok()?;
        // SAFETY: read-only map of a binary, as in `modules`.
        unsafe { memmap2::Mmap::map(&file) }.ok().map(Mapped)
    }

    fn elf(&self) -> Option<ElfFile64<'_, Endianness>> {
        ElfFile64::parse(&*self.0).ok()
    }
}

/// Function symbols of the static (`.symtab`) or dynamic (`.dynsym`) table, in table order:
/// typed FUNC or IFUNC, named, and defined in the file; and, as perf takes them too, code
/// labels: untyped symbols in an executable section, such as the dynamic loader's `_start`
/// and `_dl_start_user`, written in assembly. A label inside a sized function is left out:
/// the function names those addresses.
fn functions(file: &ElfFile64<'_, Endianness>, dynamic: bool) -> Vec<Candidate> {
    let endian = file.endian();
    let table = if dynamic {
        file.elf_dynamic_symbol_table()
    } else {
        file.elf_symbol_table()
    };
    let sections = file.elf_section_table();
    // Reserved indices (SHN_ABS, SHN_COMMON, ...) name no section, so no code.
    let in_code = |s: &elf::Sym64<Endianness>| {
        s.st_shndx(endian).index().is_some_and(|i| {
            sections
                .section(object::SectionIndex(usize::from(i)))
                .is_ok_and(|h| h.sh_flags(endian).contains(elf::SHF_EXECINSTR))
        })
    };
    let is_label = |s: &elf::Sym64<Endianness>, name: &[u8]| {
        s.st_type() == elf::STT_NOTYPE
            && !matches!(s.st_visibility(), elf::STV_HIDDEN | elf::STV_INTERNAL)
            // Assemblers' local and mapping symbols are not names of code.
            && !name.starts_with(b".L")
            && !name.starts_with(b"$")
            && in_code(s)
    };
    // (candidate, whether it is a label rather than a typed function), in table order.
    let symbols: Vec<(Candidate, bool)> = table
        .iter()
        .filter(|s| s.st_name(endian) != 0 && s.st_shndx(endian) != elf::SHN_UNDEF)
        .filter_map(|s| {
            let name = table.symbol_name(endian, s).ok()?;
            let function = matches!(s.st_type(), elf::STT_FUNC | elf::STT_GNU_IFUNC);
            if !function && !is_label(s, name) {
                return None;
            }
            let candidate = Candidate {
                start: s.st_value(endian),
                size: s.st_size(endian),
                bind: s.st_bind(),
                name: String::from_utf8_lossy(name).into(),
            };
            Some((candidate, !function))
        })
        .collect();
    let mut sized: Vec<(u64, u64)> = symbols
        .iter()
        .filter(|(c, label)| !label && c.size > 0)
        .map(|(c, _)| (c.start, c.start.saturating_add(c.size)))
        .collect();
    sized.sort_unstable();
    // Whether `addr` lies inside a sized function that starts before it (functions barely
    // nest, so the few starting just below it are enough to look at).
    let inside_a_function = |addr: u64| {
        let below = sized.partition_point(|&(start, _)| start < addr);
        sized[below.saturating_sub(8)..below]
            .iter()
            .any(|&(_, end)| addr < end)
    };
    symbols
        .into_iter()
        .filter(|(c, label)| !label || !inside_a_function(c.start))
        .map(|(c, _)| c)
        .collect()
}

/// `name@plt` for each PLT stub (x86-64). Each 16-byte stub of `.plt` or `.plt.sec` jumps
/// through a GOT slot (`jmp *disp(%rip)`, `ff 25`); the `.rela.plt` relocation of that slot
/// names the function. Matching by slot, not by position, holds whatever order the
/// relocations are in (IFUNC ones are not in PLT order) and skips `.plt`'s header, whose
/// jump goes through a slot no relocation names.
fn plt_stubs(file: &ElfFile64<'_, Endianness>) -> Vec<Candidate> {
    const ENTRY: u64 = 16;
    let endian = file.endian();
    if file.elf_header().e_machine(endian) != elf::EM_X86_64 {
        return Vec::new();
    }
    let sections = file.elf_section_table();
    let by_name = |name: &str| sections.section_by_name(endian, name.as_bytes());
    let Some((_, rela_section)) = by_name(".rela.plt") else {
        return Vec::new();
    };
    let Ok(Some((relocations, symtab_index))) = rela_section.rela(endian, file.data()) else {
        return Vec::new();
    };
    let Ok(symbols) = sections.symbol_table_by_index(endian, file.data(), symtab_index) else {
        return Vec::new();
    };
    let slots: std::collections::HashMap<u64, &[u8]> = relocations
        .iter()
        .filter_map(|r| {
            let sym = symbols
                .symbol(object::SymbolIndex(r.r_sym(endian, false) as usize))
                .ok()?;
            let name = symbols.symbol_name(endian, sym).ok()?;
            (!name.is_empty()).then_some((r.r_offset.get(endian), name))
        })
        .collect();
    let mut stubs = Vec::new();
    for section in [".plt", ".plt.sec"] {
        let Some((_, header)) = by_name(section) else {
            continue;
        };
        let Ok(bytes) = header.data(endian, file.data()) else {
            continue;
        };
        let base = header.sh_addr(endian);
        for (i, entry) in bytes.chunks_exact(ENTRY as usize).enumerate() {
            let start = base.wrapping_add(i as u64 * ENTRY);
            // The jump is the first instruction, after an `endbr64` and a `bnd` prefix at most.
            let Some(at) = entry[..10].windows(2).position(|w| w == [0xff, 0x25]) else {
                continue;
            };
            let disp = i32::from_le_bytes(entry[at + 2..at + 6].try_into().expect("4 bytes"));
            let next = start.wrapping_add(at as u64 + 6);
            let slot = next.wrapping_add_signed(i64::from(disp));
            if let Some(name) = slots.get(&slot) {
                stubs.push(Candidate {
                    start,
                    size: ENTRY,
                    bind: elf::STB_GLOBAL,
                    name: format!("{}@plt", String::from_utf8_lossy(name)).into(),
                });
            }
        }
    }
    stubs
}

impl FunctionTable {
    /// The functions of `elf`, from the first table that has any, in perf's order: the file's
    /// own `.symtab`, its separate debug file's `.symtab`, the file's `.dynsym`; plus its PLT
    /// stubs. None when there are none at all.
    pub fn load(elf: &Elf) -> Option<FunctionTable> {
        let runtime_map = Mapped::open(&elf.file)?;
        let runtime = runtime_map.elf()?;
        let debug_map = elf.debug_file().and_then(|p| Mapped::open(&p));
        let debug = debug_map.as_ref().and_then(Mapped::elf);

        let mut candidates = functions(&runtime, false);
        if candidates.is_empty() {
            candidates = debug
                .as_ref()
                .map_or_else(Vec::new, |d| functions(d, false));
        }
        if candidates.is_empty() {
            candidates = functions(&runtime, true);
        }
        let only_stubs = candidates.is_empty();
        candidates.extend(plt_stubs(&runtime));
        if candidates.is_empty() {
            return None;
        }
        let mut table = FunctionTable::from_candidates(candidates);
        table.only_stubs = only_stubs;
        Some(table)
    }

    fn from_candidates(mut symbols: Vec<Candidate>) -> FunctionTable {
        // Stable: aliases stay in table order, which decides ties.
        symbols.sort_by_key(|c| c.start);
        let groups: Vec<usize> = (0..symbols.len())
            .filter(|&i| i == 0 || symbols[i - 1].start != symbols[i].start)
            .collect();
        let chosen = vec![std::cell::OnceCell::new(); groups.len()];
        FunctionTable {
            symbols,
            groups,
            chosen,
            only_stubs: false,
        }
    }

    /// The symbol perf keeps among those starting where group `g` starts.
    fn chosen(&self, g: usize) -> &Candidate {
        let i = *self.chosen[g].get_or_init(|| {
            let end = self
                .groups
                .get(g + 1)
                .copied()
                .unwrap_or(self.symbols.len());
            // perf gives sizeless symbols their ends before it drops aliases: each reaches
            // the next symbol, which for all but the last alias is at the same address. So
            // the last alias counts as sized whatever its own size.
            let sized = |i: usize| self.symbols[i].size > 0 || i + 1 == end;
            (self.groups[g] + 1..end).fold(self.groups[g], |best, i| {
                if prefers(
                    (&self.symbols[best], sized(best)),
                    (&self.symbols[i], sized(i)),
                ) {
                    i
                } else {
                    best
                }
            })
        });
        &self.symbols[i]
    }

    /// Where group `g`'s function ends: by its size, or, without one, where the next function
    /// starts (the last one: the end of the page after its start).
    fn end(&self, g: usize) -> u64 {
        let f = self.chosen(g);
        if f.size > 0 {
            return f.start.saturating_add(f.size);
        }
        match self.groups.get(g + 1) {
            Some(&next) => self.symbols[next].start,
            None => f
                .start
                .div_ceil(4096)
                .saturating_mul(4096)
                .saturating_add(4096),
        }
    }

    /// The name of the function containing `addr` (an address as the ELF states it),
    /// demangled; None in the gaps between functions.
    pub fn name(&self, addr: u64) -> Option<Cow<'_, str>> {
        let after = self
            .groups
            .partition_point(|&i| self.symbols[i].start <= addr);
        // The nearest start below `addr` normally contains it; a few steps back cover a
        // function that encloses smaller ones.
        (after.saturating_sub(8)..after)
            .rev()
            .find(|&g| addr < self.end(g))
            .map(|g| demangle(&self.chosen(g).name))
    }

    /// How many functions (start addresses) the table has.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(start: u64, size: u64, bind: elf::SymbolBind, name: &str) -> Candidate {
        Candidate {
            start,
            size,
            bind,
            name: name.into(),
        }
    }

    /// Code written in assembly (the dynamic loader's `_start`, `_dl_start_user`) has
    /// untyped labels, not functions: perf names frames by them, and so do we, except for a
    /// label inside a sized function, which the function names.
    #[test]
    fn code_labels_name_frames_outside_functions() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("labels.s");
        std::fs::write(
            &source,
            "    .text\n\
             entry:\n    call f\n\
             after_call:\n    hlt\n\
             \x20   .type f, @function\n\
             f:\n    nop\n\
             inside_f:\n    ret\n\
             \x20   .size f, .-f\n\
             \x20   .data\n\
             data_label:\n    .quad 0\n",
        )
        .unwrap();
        let so = dir.path().join("labels.so");
        let built = std::process::Command::new("gcc")
            .args(["-nostdlib", "-shared", "-o"])
            .arg(&so)
            .arg(&source)
            .status()
            .expect("gcc (scripts/setup.sh installs it)");
        assert!(built.success());
        let map = Mapped::open(&so).unwrap();
        let file = map.elf().unwrap();
        let candidates = functions(&file, false);
        let names: Vec<&str> = candidates.iter().map(|c| &*c.name).collect();
        for want in ["entry", "after_call", "f"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        for unwanted in ["inside_f", "data_label"] {
            assert!(!names.contains(&unwanted), "{unwanted} in {names:?}");
        }
        let at = |n: &str| candidates.iter().find(|c| &*c.name == n).unwrap().start;
        let (entry, after_call, f) = (at("entry"), at("after_call"), at("f"));
        let table = FunctionTable::from_candidates(candidates);
        // The return address of `call f` is `after_call`; looked up at address - 1 it is
        // the caller, `entry`.
        assert_eq!(table.name(after_call - 1).as_deref(), Some("entry"));
        assert_eq!(table.name(entry).as_deref(), Some("entry"));
        assert_eq!(table.name(f + 1).as_deref(), Some("f"));
    }

    /// glibc's aliases, as libc6-dbg's symbol table lists them, and the names perf 6.1's
    /// `perf script` printed for them on an nbd recording.
    #[test]
    fn aliases_resolve_as_perf_resolves_them() {
        use elf::{STB_GLOBAL as G, STB_LOCAL as L, STB_WEAK as W};
        let table = FunctionTable::from_candidates(vec![
            candidate(0x100, 157, L, "__libc_read"),
            candidate(0x100, 157, L, "__GI___libc_read"),
            candidate(0x100, 157, G, "read"),
            candidate(0x100, 157, G, "__read"),
            candidate(0x200, 181, L, "__libc_send"),
            candidate(0x200, 181, L, "__GI___send"),
            candidate(0x200, 181, G, "__send"),
            candidate(0x200, 181, W, "send"),
            candidate(0x300, 181, L, "__libc_recv"),
            candidate(0x300, 181, L, "__GI___recv"),
            candidate(0x300, 181, W, "__recv"),
            candidate(0x300, 181, W, "recv"),
            candidate(0x400, 472, G, "pthread_rwlock_rdlock@GLIBC_2.2.5"),
            candidate(0x400, 472, G, "pthread_rwlock_rdlock@@GLIBC_2.34"),
            candidate(0x400, 472, G, "__pthread_rwlock_rdlock@GLIBC_2.2.5"),
            candidate(0x600, 20, L, "__GI___lll_lock_wake"),
            candidate(0x600, 20, L, "__lll_lock_wake"),
            candidate(0x700, 8, L, "sized"),
            candidate(0x700, 0, W, "weak_sizeless"),
            // Sizeless but last: it reaches the next symbol, so it counts as sized.
            candidate(0x800, 8, L, "local_sized"),
            candidate(0x800, 0, G, "global_last"),
            // All sizeless: only the last reaches the next symbol.
            candidate(0x900, 0, G, "first_global"),
            candidate(0x900, 0, L, "last_local"),
            candidate(0xa00, 0x10, G, "after"),
        ]);
        let name = |a| table.name(a).map(|n| n.into_owned());
        assert_eq!(name(0x100).as_deref(), Some("read"));
        assert_eq!(name(0x200 + 180).as_deref(), Some("__send"));
        assert_eq!(name(0x300).as_deref(), Some("__libc_recv"));
        // Equal length and underscores: the first in the table stays.
        assert_eq!(
            name(0x400).as_deref(),
            Some("pthread_rwlock_rdlock@GLIBC_2.2.5")
        );
        assert_eq!(name(0x600).as_deref(), Some("__GI___lll_lock_wake"));
        assert_eq!(name(0x700).as_deref(), Some("sized"));
        assert_eq!(name(0x800).as_deref(), Some("global_last"));
        assert_eq!(name(0x9ff).as_deref(), Some("last_local"));
        // Gaps between sized functions have no name.
        assert_eq!(name(0x100 + 157), None);
        assert_eq!(name(0x99), None);
        assert_eq!(table.len(), 9);
    }

    #[test]
    fn a_function_without_size_reaches_the_next() {
        let table = FunctionTable::from_candidates(vec![
            candidate(0x1000, 0, elf::STB_GLOBAL, "_start"),
            candidate(0x1080, 0, elf::STB_GLOBAL, "last"),
        ]);
        assert_eq!(table.name(0x107f).as_deref(), Some("_start"));
        assert_eq!(table.name(0x2fff).as_deref(), Some("last"));
        assert_eq!(table.name(0x3000), None);
    }
}
