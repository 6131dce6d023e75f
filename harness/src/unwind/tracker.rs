//! Address spaces and DWARF unwinders kept in step with a recording's records.
//!
//! `analyze` feeds it the records of a perf.data in time order; the online recorder
//! ([`crate::online`]) feeds it the records as the kernel writes them. Both unwind a sample
//! with the same mappings, the same module table and the same framehop unwinder: one code
//! path, so an online stack and an offline one of the same bytes are the same stack.

use linux_perf_data::linux_perf_event_reader::{CpuMode, EventRecord, Mmap2FileId, SampleRecord};

use super::dwarf::{DwarfUnwinder, UserUnwind};
use crate::binary::{FileFinder, ModuleTable};
use crate::perfdata::address_space::{AddressSpaces, Mapping};

/// What MMAP and MMAP2 records say alike; MMAP2 adds protection and a build id.
struct MapRecord<'a> {
    pid: i32,
    cpu_mode: CpuMode,
    path: std::borrow::Cow<'a, [u8]>,
    address: u64,
    length: u64,
    page_offset: u64,
    executable: bool,
    build_id: Option<&'a [u8]>,
}

impl<'a> MapRecord<'a> {
    fn of(event: &'a EventRecord<'a>) -> Option<MapRecord<'a>> {
        const PROT_EXEC: u32 = 4;
        match event {
            EventRecord::Mmap(m) => Some(MapRecord {
                pid: m.pid,
                cpu_mode: m.cpu_mode,
                path: m.path.as_slice(),
                address: m.address,
                length: m.length,
                page_offset: m.page_offset,
                executable: m.is_executable,
                build_id: None,
            }),
            EventRecord::Mmap2(m) => Some(MapRecord {
                pid: m.pid,
                cpu_mode: m.cpu_mode,
                path: m.path.as_slice(),
                address: m.address,
                length: m.length,
                page_offset: m.page_offset,
                executable: m.protection & PROT_EXEC != 0,
                build_id: match &m.file_id {
                    Mmap2FileId::BuildId(id) => Some(id.as_slice()),
                    _ => None,
                },
            }),
            _ => None,
        }
    }
}

/// The recording's modules, every process's mappings and their unwinders.
pub struct Tracker {
    pub modules: ModuleTable,
    pub spaces: AddressSpaces,
    pub dwarf: DwarfUnwinder,
    /// The kernel's `_text` at recording time, from the kernel mapping.
    pub recorded_text: Option<u64>,
}

impl Tracker {
    pub fn new(modules: ModuleTable) -> Tracker {
        Tracker {
            modules,
            spaces: AddressSpaces::default(),
            dwarf: DwarfUnwinder::default(),
            recorded_text: None,
        }
    }

    /// Applies a mapping, fork, exec or exit record; other records change nothing.
    pub fn apply(&mut self, event: &EventRecord, finder: &FileFinder) {
        let ev = match event {
            EventRecord::Mmap(_) | EventRecord::Mmap2(_) => return self.map(event, finder),
            EventRecord::Fork(f) => self.spaces.fork(f.pid, f.ppid),
            EventRecord::Comm(c) if c.is_execve => Some(self.spaces.exec(c.pid)),
            EventRecord::Exit(e) => self.spaces.exit(e.pid, e.tid),
            _ => None,
        };
        if let Some(ev) = ev {
            self.dwarf.apply(&ev, &self.modules, finder);
        }
    }

    fn map(&mut self, event: &EventRecord, finder: &FileFinder) {
        let Some(m) = MapRecord::of(event) else {
            return;
        };
        let kernel = m.pid == -1 || m.cpu_mode == CpuMode::Kernel;
        if kernel && m.path.starts_with(b"[kernel.kallsyms]") {
            self.recorded_text.get_or_insert(m.page_offset);
        }
        if !m.executable && !kernel {
            return;
        }
        let module = self.modules.intern(&m.path, m.build_id, kernel);
        let mapping = Mapping {
            start: m.address,
            end: m.address.saturating_add(m.length),
            pgoff: m.page_offset,
            module,
        };
        if let Some(ev) = self.spaces.map(if kernel { -1 } else { m.pid }, mapping) {
            self.dwarf.apply(&ev, &self.modules, finder);
        }
    }

    /// Unwinds the user stack copied into `sample` (see [`DwarfUnwinder::unwind`]).
    pub fn unwind_user(
        &mut self,
        sample: &SampleRecord<'_>,
        finder: &FileFinder,
        out: &mut Vec<u64>,
        bytes: &mut Vec<u32>,
    ) -> UserUnwind {
        self.dwarf
            .unwind(sample, &self.spaces, &self.modules, finder, out, bytes)
    }
}
