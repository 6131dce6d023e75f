//! Kernel names from a kallsyms file, chosen the way `perf` chooses them.
//!
//! perf reads kallsyms (its build-id cache copy, or /proc/kallsyms) into symbols without
//! sizes, ends each at the next one's start, and only then drops aliases, keeping those
//! with a size: of several symbols at one address, the one listed last stands
//! (`__x86_indirect_thunk_rax`, not `__pi___x86_indirect_thunk_rax` before it). Naming kernel
//! frames the same way keeps them comparable with `perf script`'s.
//!
//! The file is ~10 MB of text; a symbol's name is only cut out of it when a frame falls in it.

use std::path::Path;

/// A kallsyms file's code and data symbols, sorted by address.
pub struct Kallsyms {
    text: Vec<u8>,
    /// (address, where its name starts in `text`), sorted by address; aliases in file order.
    symbols: Vec<(u64, u32)>,
}

/// The name of the symbol whose line starts at `line`, and whether it is a module's
/// (`\t[nbd]` after the name).
fn name_at(text: &[u8], line: usize) -> (&str, bool) {
    let rest = &text[line..];
    let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let rest = &rest[..end];
    let (name, module) = match rest.iter().position(|&b| b == b'\t' || b == b' ') {
        Some(i) => (&rest[..i], rest[i..].contains(&b'[')),
        None => (rest, false),
    };
    (
        std::str::from_utf8(name).unwrap_or("[invalid name]"),
        module,
    )
}

impl Kallsyms {
    pub fn load(path: &Path) -> Option<Kallsyms> {
        Kallsyms::parse(std::fs::read(path).ok()?)
    }

    /// None when no symbol has an address (hidden by kptr_restrict).
    fn parse(text: Vec<u8>) -> Option<Kallsyms> {
        let mut symbols: Vec<(u64, u32)> = Vec::new();
        let mut pos = 0usize;
        while pos < text.len() {
            let end = text[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(text.len(), |i| pos + i);
            let line = &text[pos..end];
            // `ffffffff81000000 T _text`: 16 hex digits, a space, the type, a space, the name
            // (a line without one is skipped).
            if line.len() > 19 && line[16] == b' ' && line[18] == b' ' && line[19] > b' ' {
                let address = std::str::from_utf8(&line[..16])
                    .ok()
                    .and_then(|h| u64::from_str_radix(h, 16).ok());
                // Code and data, as perf keeps them (data symbols end the code before them).
                let kept = matches!(line[17].to_ascii_uppercase(), b'T' | b'W' | b'D' | b'B');
                if let (Some(address), true) = (address, kept) {
                    if address != 0 {
                        symbols.push((address, (pos + 19) as u32));
                    }
                }
            }
            pos = end + 1;
        }
        if symbols.is_empty() || text.len() > u32::MAX as usize {
            return None;
        }
        // Stable: aliases keep their order in the file, which decides which one stands.
        symbols.sort_by_key(|&(address, _)| address);
        Some(Kallsyms { text, symbols })
    }

    /// The name of the symbol containing `addr`, as perf resolves it; None outside them.
    pub fn name(&self, addr: u64) -> Option<&str> {
        let after = self.symbols.partition_point(|&(a, _)| a <= addr);
        // The last symbol at or below `addr` is the last alias at its address: the one perf
        // keeps.
        let &(start, line) = self.symbols.get(after.checked_sub(1)?)?;
        let (name, module) = name_at(&self.text, line as usize);
        let end = match self.symbols.get(after) {
            // Core kernel and modules lie far apart: the gap between them is no one's.
            Some(&(next, next_line)) if name_at(&self.text, next_line as usize).1 == module => next,
            _ => start
                .saturating_add(4096)
                .div_ceil(4096)
                .saturating_mul(4096),
        };
        (addr < end).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_alias_stands_and_gaps_are_nobodys() {
        let k = Kallsyms::parse(
            b"ffffffff81000000 T _text\n\
              ffffffff81000100 T __pi___x86_indirect_thunk_rax\n\
              ffffffff81000100 T __x86_indirect_thunk_rax\n\
              ffffffff81000200 r __ksymtab_x\n\
              ffffffff81000300 t local_fn\n\
              ffffffff81000400 D some_data\n\
              ffffffffc0000000 t mod_fn\t[nbd]\n\
              0000000000000000 T hidden\n"
                .to_vec(),
        )
        .unwrap();
        assert_eq!(k.name(0xffffffff81000000), Some("_text"));
        assert_eq!(k.name(0xffffffff81000150), Some("__x86_indirect_thunk_rax"));
        // Read-only data is not kept: the thunk reaches the next kept symbol.
        assert_eq!(k.name(0xffffffff81000250), Some("__x86_indirect_thunk_rax"));
        assert_eq!(k.name(0xffffffff810003ff), Some("local_fn"));
        // The last core symbol before the modules ends a page later, not at the module.
        assert_eq!(k.name(0xffffffff81001000), Some("some_data"));
        assert_eq!(k.name(0xffffffff81002000), None);
        assert_eq!(k.name(0xffffffffc0000010), Some("mod_fn"));
        assert_eq!(k.name(0xffffffff80000000), None);
    }

    #[test]
    fn hidden_addresses_give_no_table() {
        assert!(Kallsyms::parse(b"0000000000000000 T _text\n".to_vec()).is_none());
    }
}
