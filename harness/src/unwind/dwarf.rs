//! DWARF unwinding of sampled user stacks with framehop.
//!
//! One framehop unwinder per address space, built the first time a process is sampled from
//! its mappings at that moment and kept in step with later mapping, fork, exec and exit
//! events. A module (file at an address) is built once and shared by every process that maps
//! it at the same place (forked children).

use crate::fasthash::FxHashMap as HashMap;
use std::ops::Range;

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{Error as FhError, ExplicitModuleSectionInfo, FrameAddress, Module, Unwinder};
use linux_perf_data::linux_perf_event_reader::constants::{
    PERF_REG_X86_BP, PERF_REG_X86_IP, PERF_REG_X86_SP,
};
use linux_perf_data::linux_perf_event_reader::SampleRecord;

use super::{UserEnd, MAX_FRAMES};
use crate::binary::{Bytes, FileFinder, ModuleTable, Section};
use crate::perfdata::address_space::{AddressSpaces, Mapping, MappingSet, SpaceEvent};

type FhModule = Module<Bytes>;

/// How the user stack of one DWARF sample was unwound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserUnwind {
    pub end: UserEnd,
    /// Stack bytes from the sampled stack pointer up to the outermost frame's return-address
    /// slot that was read: what a complete copy needed, when `end` is a bottom.
    pub bytes_used: u64,
    /// Bytes perf actually copied for this sample.
    pub bytes_copied: u64,
}

/// A process's framehop unwinder and its own rule cache.
///
/// framehop's cache can be shared between unwinders, but an entry only hits for the unwinder
/// generation that stored it: with one cache for all processes, every switch between two
/// sampled processes (fio, nbdkit) turned the other's entries into misses, and CFI was
/// evaluated again for most frames. One cache per process keeps its entries warm.
struct ProcessUnwinder {
    unwinder: UnwinderX86_64<Bytes>,
    cache: Box<CacheX86_64>,
}

impl ProcessUnwinder {
    fn new(unwinder: UnwinderX86_64<Bytes>) -> ProcessUnwinder {
        ProcessUnwinder {
            unwinder,
            cache: Box::default(),
        }
    }
}

#[derive(Default)]
pub struct DwarfUnwinder {
    unwinders: HashMap<i32, ProcessUnwinder>,
    built: HashMap<(u32, u64, u64), Option<FhModule>>,
}

impl DwarfUnwinder {
    /// Mirrors an address-space change into the unwinder of that process, if it has one.
    pub fn apply(&mut self, event: &SpaceEvent, modules: &ModuleTable, finder: &FileFinder) {
        match event {
            SpaceEvent::Forked { pid, parent } => {
                match self.unwinders.get(parent) {
                    Some(u) => {
                        let child = ProcessUnwinder::new(u.unwinder.clone());
                        self.unwinders.insert(*pid, child)
                    }
                    None => self.unwinders.remove(pid),
                };
            }
            SpaceEvent::Reset { pid } | SpaceEvent::Dropped { pid } => {
                self.unwinders.remove(pid);
            }
            SpaceEvent::Mapped {
                pid,
                added,
                replaced,
            } => {
                if !self.unwinders.contains_key(pid) {
                    return;
                }
                let added = std::iter::once(added).chain(&replaced.kept);
                let built: Vec<FhModule> = added
                    .filter_map(|m| self.module(m, modules, finder))
                    .collect();
                let Some(u) = self.unwinders.get_mut(pid) else {
                    return;
                };
                for r in &replaced.removed {
                    u.unwinder.remove_module(r.start);
                }
                for m in built {
                    u.unwinder.add_module(m);
                }
            }
        }
    }

    /// The framehop module for a mapping, built once per (file, place).
    fn module(
        &mut self,
        m: &Mapping,
        modules: &ModuleTable,
        finder: &FileFinder,
    ) -> Option<FhModule> {
        self.built
            .entry((m.module, m.start, m.end))
            .or_insert_with(|| build_module(m, modules, finder))
            .clone()
    }

    fn ensure_unwinder(
        &mut self,
        pid: i32,
        space: Option<&MappingSet>,
        modules: &ModuleTable,
        finder: &FileFinder,
    ) {
        if self.unwinders.contains_key(&pid) {
            return;
        }
        let mut u = UnwinderX86_64::new();
        if let Some(space) = space {
            for m in space.iter() {
                if let Some(module) = self.module(m, modules, finder) {
                    u.add_module(module);
                }
            }
        }
        self.unwinders.insert(pid, ProcessUnwinder::new(u));
    }

    /// Unwinds the user stack of `sample` into `out` (lookup addresses, leaf first) and, per
    /// frame, into `bytes` the stack bytes above the sampled stack pointer that had been
    /// read when the frame was found: with a copy of at least that many bytes, perf's own
    /// recording would have reached the frame.
    pub fn unwind(
        &mut self,
        sample: &SampleRecord<'_>,
        spaces: &AddressSpaces,
        modules: &ModuleTable,
        finder: &FileFinder,
        out: &mut Vec<u64>,
        bytes: &mut Vec<u32>,
    ) -> UserUnwind {
        out.clear();
        bytes.clear();
        let none = UserUnwind {
            end: UserEnd::NoUser,
            bytes_used: 0,
            bytes_copied: 0,
        };
        let (Some(regs), Some((stack, dyn_size)), Some(pid)) =
            (&sample.user_regs, &sample.user_stack, sample.pid)
        else {
            return none;
        };
        let (Some(ip), Some(sp), Some(bp)) = (
            regs.get(PERF_REG_X86_IP),
            regs.get(PERF_REG_X86_SP),
            regs.get(PERF_REG_X86_BP),
        ) else {
            return none;
        };
        // Only the first dyn_size bytes were copied; the rest of the record is padding.
        let all = stack.as_slice();
        let copied = (*dyn_size as usize).min(all.len());
        if copied == 0 || pid <= 0 {
            return none;
        }
        let stack = &all[..copied];
        let highest_read = std::cell::Cell::new(sp);
        let mut read_stack = |addr: u64| -> Result<u64, ()> {
            let offset = usize::try_from(addr.checked_sub(sp).ok_or(())?).map_err(|_| ())?;
            let word = stack
                .get(offset..offset.checked_add(8).ok_or(())?)
                .ok_or(())?;
            highest_read.set(highest_read.get().max(addr + 8));
            Ok(u64::from_le_bytes(word.try_into().map_err(|_| ())?))
        };
        self.ensure_unwinder(pid, spaces.space(pid), modules, finder);
        let Some(ProcessUnwinder { unwinder, cache }) = self.unwinders.get_mut(&pid) else {
            return none;
        };
        let mut frames = unwinder.iter_frames(
            ip,
            UnwindRegsX86_64::new(ip, sp, bp),
            &mut **cache,
            &mut read_stack,
        );
        let end = loop {
            match frames.next() {
                Ok(Some(frame)) => {
                    if out.len() >= MAX_FRAMES {
                        break UserEnd::Error;
                    }
                    out.push(lookup(frame));
                    bytes.push((highest_read.get() - sp).min(u64::from(u32::MAX)) as u32);
                }
                Ok(None) => break UserEnd::Bottom,
                Err(FhError::CouldNotReadStack(addr)) if addr >= sp + copied as u64 => {
                    break UserEnd::OutOfStack
                }
                Err(_) => break UserEnd::Error,
            }
        };
        // ld.so's and the executable's `_start` have no unwind info, so a stack that reaches
        // them ends in an error although it is complete.
        let end = match (end, out.last()) {
            (UserEnd::Error, Some(&last))
                if at_entry_point(last, spaces.space(pid), modules, finder) =>
            {
                UserEnd::Bottom
            }
            (end, _) => end,
        };
        UserUnwind {
            end,
            bytes_used: highest_read.get() - sp,
            bytes_copied: copied as u64,
        }
    }
}

/// Whether `address` lies in the first instructions of its module's ELF entry point.
pub fn at_entry_point(
    address: u64,
    space: Option<&MappingSet>,
    modules: &ModuleTable,
    finder: &FileFinder,
) -> bool {
    let Some(m) = space.and_then(|s| s.find(address)) else {
        return false;
    };
    let Ok(elf) = modules.get(m.module).elf(finder) else {
        return false;
    };
    let Some(bias) = elf.bias(m.start, m.end, m.pgoff) else {
        return false;
    };
    let entry = elf.entry.wrapping_add(bias);
    elf.entry != 0 && address >= entry && address < entry + 64
}

fn lookup(frame: FrameAddress) -> u64 {
    frame.address_for_lookup()
}

fn build_module(m: &Mapping, modules: &ModuleTable, finder: &FileFinder) -> Option<FhModule> {
    let module = modules.get(m.module);
    let elf = module.elf(finder).ok()?;
    let bias = elf.bias(m.start, m.end, m.pgoff)?;
    let sect = |s: &Option<Section>| -> (Option<Range<u64>>, Option<Bytes>) {
        match s {
            Some(s) => (Some(s.svma.clone()), Some(s.bytes.clone())),
            None => (None, None),
        }
    };
    let (eh_frame_svma, eh_frame) = sect(&elf.eh_frame);
    let (eh_frame_hdr_svma, eh_frame_hdr) = sect(&elf.eh_frame_hdr);
    let (_, debug_frame) = sect(&elf.debug_frame);
    let info = ExplicitModuleSectionInfo {
        base_svma: elf.base_svma,
        text_svma: elf.text_svma.clone(),
        text: None,
        stubs_svma: None,
        stub_helper_svma: None,
        got_svma: elf.got_svma.clone(),
        unwind_info: None,
        eh_frame_svma,
        eh_frame,
        eh_frame_hdr_svma,
        eh_frame_hdr,
        debug_frame,
        text_segment_svma: None,
        text_segment: None,
    };
    Some(Module::new(
        module.path.clone(),
        m.start..m.end,
        elf.base_svma.wrapping_add(bias),
        info,
    ))
}
