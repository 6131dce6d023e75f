//! Names where no symbol exists: function boundaries from `.eh_frame`.
//!
//! A stripped binary (Debian's nbdkit, fio, libnbd) has no symbol for its own functions, but
//! its unwind tables still describe every function: each FDE gives a start and a length. A
//! frame no symbol names is named by the function that contains it, `nbdkit+0x1a2b0`: the
//! module's file name and the file offset of the function's start. Distinct functions stay
//! distinct, a stack keeps its shape instead of folding into runs of `[nbdkit]`, the same
//! address gets the same name in every mode, and a `perf script` user can map the offset
//! back (`perf script` prints file offsets for unsymbolized frames).

use gimli::{BaseAddresses, CieOrFde, EhFrame, LittleEndian, UnwindSection};

use crate::binary::{Elf, FileOffset};

/// The functions `.eh_frame` describes, as sorted, non-overlapping address ranges (the ELF's
/// own virtual addresses).
#[derive(Debug, Default)]
pub struct Boundaries {
    functions: Vec<(u64, u64)>,
}

/// FDEs read at most from one file: a damaged table cannot make the walk run away.
const MAX_FDES: usize = 1 << 22;

impl Boundaries {
    /// The FDEs of `elf`'s `.eh_frame`; None without one.
    pub fn load(elf: &Elf) -> Option<Boundaries> {
        let section = elf.eh_frame.as_ref()?;
        let eh = EhFrame::new(&section.bytes, LittleEndian);
        let mut bases = BaseAddresses::default().set_eh_frame(section.svma.start);
        if let Some(text) = &elf.text_svma {
            bases = bases.set_text(text.start);
        }
        if let Some(got) = &elf.got_svma {
            bases = bases.set_got(got.start);
        }
        let mut functions = Vec::new();
        let mut entries = eh.entries(&bases);
        while functions.len() < MAX_FDES {
            let Ok(Some(entry)) = entries.next() else {
                break;
            };
            let CieOrFde::Fde(partial) = entry else {
                continue;
            };
            let Ok(fde) =
                partial.parse(|section, bases, offset| section.cie_from_offset(bases, offset))
            else {
                continue;
            };
            let start = fde.initial_address();
            if fde.len() > 0 {
                functions.push((start, start.saturating_add(fde.len())));
            }
        }
        functions.sort_unstable();
        // Overlapping entries (rare; hand-written assembly) keep the first start.
        functions.dedup_by(|later, earlier| later.0 < earlier.1);
        Some(Boundaries { functions })
    }

    pub fn len(&self) -> usize {
        self.functions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }

    /// The start of the function containing `vaddr`.
    pub fn containing(&self, vaddr: u64) -> Option<u64> {
        let k = self.functions.partition_point(|&(start, _)| start <= vaddr);
        let &(start, end) = self.functions.get(k.checked_sub(1)?)?;
        (vaddr < end).then_some(start)
    }

    /// `file+0xOFFSET` for the function containing `offset` of `elf`, `file` being the
    /// module's file name; None where no FDE covers it.
    pub fn name(&self, file: &str, elf: &Elf, offset: FileOffset) -> Option<String> {
        let start = self.containing(elf.vaddr_of(offset)?)?;
        let start = elf.file_offset_of(start)?;
        Some(format!("{file}+{:#x}", start.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_belongs_to_the_function_whose_range_holds_it() {
        let b = Boundaries {
            functions: vec![(0x1000, 0x1040), (0x1040, 0x1100), (0x2000, 0x2010)],
        };
        assert_eq!(b.containing(0x1000), Some(0x1000));
        assert_eq!(b.containing(0x103f), Some(0x1000));
        assert_eq!(b.containing(0x1040), Some(0x1040));
        assert_eq!(b.containing(0x10ff), Some(0x1040));
        // Between functions, before the first, after the last: no function.
        assert_eq!(b.containing(0x1100), None);
        assert_eq!(b.containing(0xfff), None);
        assert_eq!(b.containing(0x2010), None);
    }
}
