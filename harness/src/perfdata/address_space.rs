//! Address spaces over time: which file is mapped where, per process, as of each sample.
//!
//! perf's records arrive in time order, so applying MMAP/MMAP2, FORK, COMM (exec) and EXIT as
//! they come gives every sample the mappings its process had when it was taken:
//! - FORK of a new process copies the parent's mappings (the kernel emits no MMAP for
//!   inherited ones);
//! - an exec (COMM with the exec flag) empties the process's map: without this, mappings from
//!   before the exec (perf's own libc, inherited by the `nbdkit --run` it forks and execs)
//!   stay, and a lookup can pick the wrong libc;
//! - a new mapping replaces whatever it overlaps (perf records no munmap), and what it
//!   covers only in part keeps its other parts, as in the kernel;
//! - EXIT of the process drops its map, so a reused pid starts clean.
//!
//! Mappings name modules by [`ModuleId`], an index into the recording's module table
//! ([`crate::binary::ModuleTable`]), so a library mapped by a hundred processes is loaded once.

use crate::binary::{FileOffset, ModuleId};
use crate::fasthash::FxHashMap as HashMap;

/// One executable mapping of a file (or of an anonymous region, with its pseudo-path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// File offset of `start`.
    pub pgoff: u64,
    pub module: ModuleId,
}

impl Mapping {
    /// File offset of `address`, which must lie inside the mapping.
    pub fn file_offset(&self, address: u64) -> FileOffset {
        FileOffset::new(address - self.start + self.pgoff)
    }
}

/// The mappings of one address space, sorted by start, non-overlapping.
#[derive(Clone, Debug, Default)]
pub struct MappingSet {
    maps: Vec<Mapping>,
}

impl MappingSet {
    /// Inserts `m` over the mappings it overlaps. As the kernel does, a mapping covered in
    /// part keeps the parts outside `m` (same file, its offsets shifted): an executable
    /// region remapped in its middle is still mapped at both ends. Returns the mappings
    /// taken out and the parts of them kept.
    pub fn insert(&mut self, m: Mapping) -> Replaced {
        let first = self.maps.partition_point(|x| x.end <= m.start);
        let mut last = first;
        while last < self.maps.len() && self.maps[last].start < m.end {
            last += 1;
        }
        let overlapped = &self.maps[first..last];
        let left = overlapped
            .first()
            .filter(|old| old.start < m.start)
            .map(|old| Mapping {
                end: m.start,
                ..*old
            });
        let right = overlapped
            .last()
            .filter(|old| old.end > m.end)
            .map(|old| Mapping {
                start: m.end,
                pgoff: old.pgoff.wrapping_add(m.end - old.start),
                ..*old
            });
        let placed = left.into_iter().chain([m]).chain(right);
        let removed: Vec<Mapping> = self.maps.splice(first..last, placed).collect();
        let kept = left.into_iter().chain(right).collect();
        Replaced { removed, kept }
    }

    /// The mapping containing `address`.
    pub fn find(&self, address: u64) -> Option<&Mapping> {
        let i = self.maps.partition_point(|x| x.end <= address);
        self.maps.get(i).filter(|m| m.start <= address)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Mapping> {
        self.maps.iter()
    }

    pub fn len(&self) -> usize {
        self.maps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }
}

/// The mappings an insertion took out, and the parts of them outside the new one that stay.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replaced {
    pub removed: Vec<Mapping>,
    pub kept: Vec<Mapping>,
}

/// What happened to an address space, for a caller that mirrors it (the DWARF unwinder).
#[derive(Debug, PartialEq, Eq)]
pub enum SpaceEvent {
    /// `pid` got a copy of `parent`'s space.
    Forked {
        pid: i32,
        parent: i32,
    },
    /// `pid`'s space was emptied (exec) or dropped (exit).
    Reset {
        pid: i32,
    },
    Dropped {
        pid: i32,
    },
    /// `added` was mapped into `pid` over `replaced.removed`, of which `replaced.kept`
    /// remain.
    Mapped {
        pid: i32,
        added: Mapping,
        replaced: Replaced,
    },
}

/// All user address spaces, plus the kernel's (pid -1 in perf's records).
#[derive(Debug, Default)]
pub struct AddressSpaces {
    spaces: HashMap<i32, MappingSet>,
    kernel: MappingSet,
}

impl AddressSpaces {
    pub fn space(&self, pid: i32) -> Option<&MappingSet> {
        self.spaces.get(&pid)
    }

    pub fn kernel(&self) -> &MappingSet {
        &self.kernel
    }

    /// A mapping record. `pid == -1` maps into the kernel's space.
    pub fn map(&mut self, pid: i32, m: Mapping) -> Option<SpaceEvent> {
        if pid == -1 {
            self.kernel.insert(m);
            return None;
        }
        let replaced = self.spaces.entry(pid).or_default().insert(m);
        Some(SpaceEvent::Mapped {
            pid,
            added: m,
            replaced,
        })
    }

    /// A FORK record. Threads (pid == ppid) share the space already.
    pub fn fork(&mut self, pid: i32, ppid: i32) -> Option<SpaceEvent> {
        if pid == ppid {
            return None;
        }
        let copy = self.spaces.get(&ppid).cloned().unwrap_or_default();
        self.spaces.insert(pid, copy);
        Some(SpaceEvent::Forked { pid, parent: ppid })
    }

    /// A COMM record with the exec flag: a new program image.
    pub fn exec(&mut self, pid: i32) -> SpaceEvent {
        self.spaces.insert(pid, MappingSet::default());
        SpaceEvent::Reset { pid }
    }

    /// An EXIT record; only the exit of the process itself (pid == tid) drops the space.
    pub fn exit(&mut self, pid: i32, tid: i32) -> Option<SpaceEvent> {
        if pid != tid {
            return None;
        }
        self.spaces
            .remove(&pid)
            .map(|_| SpaceEvent::Dropped { pid })
    }

    /// Live address spaces (for memory accounting and tests).
    pub fn len(&self) -> usize {
        self.spaces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spaces.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(start: u64, end: u64, module: ModuleId) -> Mapping {
        Mapping {
            start,
            end,
            pgoff: 0x1000,
            module,
        }
    }

    #[test]
    fn lookup_and_replacement() {
        let mut s = MappingSet::default();
        assert!(s.insert(m(0x1000, 0x2000, 1)) == Replaced::default());
        assert!(s.insert(m(0x5000, 0x6000, 2)) == Replaced::default());
        assert_eq!(s.find(0x1800).map(|x| x.module), Some(1));
        assert_eq!(s.find(0x2000), None);
        assert_eq!(s.find(0x5fff).map(|x| x.module), Some(2));
        assert_eq!(s.find(0x1800).unwrap().file_offset(0x1800).get(), 0x1800);
        // A mapping over both replaces both; the parts outside it stay, at their offsets.
        let replaced = s.insert(m(0x1800, 0x5800, 3));
        assert_eq!(replaced.removed.len(), 2);
        assert_eq!(
            replaced.kept,
            [
                Mapping {
                    start: 0x1000,
                    end: 0x1800,
                    pgoff: 0x1000,
                    module: 1
                },
                Mapping {
                    start: 0x5800,
                    end: 0x6000,
                    pgoff: 0x1800,
                    module: 2
                }
            ]
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s.find(0x1900).map(|x| x.module), Some(3));
        assert_eq!(s.find(0x17ff).map(|x| x.module), Some(1));
        let right = s.find(0x5900).unwrap();
        assert_eq!((right.module, right.file_offset(0x5900).get()), (2, 0x1900));
        // One mapping covered in its middle: both ends stay.
        let mut s = MappingSet::default();
        s.insert(m(0x1000, 0x9000, 1));
        let replaced = s.insert(m(0x3000, 0x4000, 2));
        assert_eq!(replaced.kept.len(), 2);
        let found: Vec<_> = [0x2fff, 0x3000, 0x3fff, 0x4000, 0x8fff]
            .iter()
            .map(|&a| s.find(a).map(|x| (x.module, x.file_offset(a).get())))
            .collect();
        assert_eq!(
            found,
            [
                Some((1, 0x2fff)),
                Some((2, 0x1000)),
                Some((2, 0x1fff)),
                Some((1, 0x4000)),
                Some((1, 0x8fff))
            ]
        );
        // Exactly over one: nothing kept.
        assert!(s.insert(m(0x3000, 0x4000, 3)).kept.is_empty());
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn exec_forgets_the_old_image_and_fork_copies() {
        let mut a = AddressSpaces::default();
        a.map(10, m(0x7000, 0x8000, 7)); // perf's libc
        a.fork(11, 10); // perf forks the workload
        assert_eq!(a.space(11).unwrap().find(0x7100).map(|x| x.module), Some(7));
        a.exec(11); // ... which execs nbdkit
        assert!(a.space(11).unwrap().find(0x7100).is_none());
        a.map(11, m(0x7000, 0x7800, 8)); // nbdkit's libc, elsewhere in the same range
        assert_eq!(a.space(11).unwrap().find(0x7100).map(|x| x.module), Some(8));
        assert_eq!(a.space(10).unwrap().find(0x7100).map(|x| x.module), Some(7));
        // threads share; process exit drops; a reused pid starts from its new parent
        assert_eq!(a.fork(11, 11), None);
        assert_eq!(a.exit(11, 12), None);
        assert!(a.exit(11, 11).is_some());
        assert!(a.space(11).is_none());
        a.fork(11, 10);
        assert_eq!(a.space(11).unwrap().find(0x7100).map(|x| x.module), Some(7));
        a.map(-1, m(0xffff_0000, 0xffff_f000, 0));
        assert_eq!(a.kernel().len(), 1);
    }
}
