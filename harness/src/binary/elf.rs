//! An ELF file as the later stages need it: where its code sits in the file and in memory,
//! its unwind sections (mapped, not copied), its entry point and build id.

use std::ops::{Deref, Range};
use std::path::PathBuf;
use std::sync::Arc;

use object::{Object, ObjectSection, ObjectSegment};

use super::build_id::BuildId;

/// A place in a file, as a byte offset. A sampled address becomes one once its mapping is
/// known (address - mapping start + page offset); unlike the address, it does not move with
/// ASLR or differ between processes, so frames are kept, merged and named by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileOffset(u64);

impl FileOffset {
    pub const fn new(offset: u64) -> FileOffset {
        FileOffset(offset)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    /// `n` bytes further on; None past the end of the address range.
    pub fn checked_add(self, n: u64) -> Option<FileOffset> {
        self.0.checked_add(n).map(FileOffset)
    }
}

/// Offsets read out of an ELF file's own tables (segment offsets, say) are file offsets.
impl From<u64> for FileOffset {
    fn from(offset: u64) -> FileOffset {
        FileOffset(offset)
    }
}

/// Bytes of a mapped file (zero-copy) or an owned copy (decompressed sections).
#[derive(Clone)]
pub enum Bytes {
    Mapped {
        map: Arc<memmap2::Mmap>,
        range: Range<usize>,
    },
    Owned(Arc<[u8]>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped { map, range } => &map[range.clone()],
            Bytes::Owned(v) => v,
        }
    }
}

/// A loadable segment with code: where its bytes are in the file and where it wants to be.
#[derive(Clone, Copy, Debug)]
pub struct ExecSegment {
    pub file_offset: u64,
    pub file_size: u64,
    pub vaddr: u64,
}

/// A section's address as the ELF states it (SVMA) and its bytes.
#[derive(Clone)]
pub struct Section {
    pub svma: Range<u64>,
    pub bytes: Bytes,
}

/// What unwinding needs of an ELF file.
pub struct Elf {
    /// The file that was read (which may differ from the recorded path).
    pub file: PathBuf,
    pub exec_segments: Vec<ExecSegment>,
    /// Lowest PT_LOAD address: framehop's module base.
    pub base_svma: u64,
    pub text_svma: Option<Range<u64>>,
    pub got_svma: Option<Range<u64>>,
    pub eh_frame: Option<Section>,
    pub eh_frame_hdr: Option<Section>,
    /// Only when there is no `.eh_frame` (framehop ignores it otherwise).
    pub debug_frame: Option<Section>,
    /// ELF entry point (`_start`), whose own frame has no unwind info.
    pub entry: u64,
    pub build_id: Option<BuildId>,
}

impl Elf {
    /// The separate debug file of a stripped distro binary (`-dbg`/`-dbgsym` packages),
    /// found by build id under /usr/lib/debug.
    pub fn debug_file(&self) -> Option<PathBuf> {
        self.build_id.as_ref()?.debug_file()
    }

    /// The file offset of a virtual address in an executable segment.
    pub fn file_offset_of(&self, vaddr: u64) -> Option<FileOffset> {
        let s = self
            .exec_segments
            .iter()
            .find(|s| vaddr >= s.vaddr && vaddr - s.vaddr < s.file_size)?;
        (vaddr - s.vaddr).checked_add(s.file_offset).map(FileOffset)
    }

    /// The virtual address (as the ELF states it) of a file offset in an executable segment.
    pub fn vaddr_of(&self, offset: FileOffset) -> Option<u64> {
        let offset = offset.get();
        let s = self
            .exec_segments
            .iter()
            .find(|s| offset >= s.file_offset && offset - s.file_offset < s.file_size)?;
        (offset - s.file_offset).checked_add(s.vaddr)
    }

    /// The load bias of a mapping of this file: how far its code sits from where the ELF says.
    pub fn bias(&self, start: u64, end: u64, pgoff: u64) -> Option<u64> {
        let len = end - start;
        let seg = self
            .exec_segments
            .iter()
            .find(|s| s.file_offset < pgoff + len && pgoff < s.file_offset + s.file_size.max(1))?;
        Some(
            start
                .wrapping_sub(pgoff)
                .wrapping_add(seg.file_offset)
                .wrapping_sub(seg.vaddr),
        )
    }
}

/// Parses a mapped ELF file; Err says why it cannot be used.
pub(super) fn parse(file: PathBuf, map: Arc<memmap2::Mmap>) -> Result<Elf, String> {
    let obj = object::File::parse(&**map).map_err(|e| format!("{}: {e}", file.display()))?;
    let exec_segments: Vec<ExecSegment> = obj
        .segments()
        .filter(|s| s.permissions().executable())
        .map(|s| {
            let (off, size) = s.file_range();
            ExecSegment {
                file_offset: off,
                file_size: size,
                vaddr: s.address(),
            }
        })
        .collect();
    if exec_segments.is_empty() {
        return Err(format!("{}: no executable segment", file.display()));
    }
    let base_svma = obj.segments().map(|s| s.address()).min().unwrap_or(0);
    let svma = |name: &str| {
        obj.section_by_name(name)
            .map(|s| s.address()..s.address() + s.size())
    };
    let mapped = |name: &str| {
        let s = obj.section_by_name(name)?;
        let (off, size) = s.file_range()?;
        // A corrupt section header must not point past the file.
        if off.checked_add(size)? > map.len() as u64 {
            return None;
        }
        Some(Section {
            svma: s.address()..s.address() + s.size(),
            bytes: Bytes::Mapped {
                map: map.clone(),
                range: off as usize..(off + size) as usize,
            },
        })
    };
    let eh_frame = mapped(".eh_frame");
    let debug_frame = if eh_frame.is_none() {
        obj.section_by_name(".debug_frame").and_then(|s| {
            let data = s.uncompressed_data().ok()?;
            Some(Section {
                svma: s.address()..s.address() + s.size(),
                bytes: Bytes::Owned(Arc::from(&*data)),
            })
        })
    } else {
        None
    };
    Ok(Elf {
        exec_segments,
        base_svma,
        text_svma: svma(".text"),
        got_svma: svma(".got"),
        eh_frame_hdr: mapped(".eh_frame_hdr"),
        eh_frame,
        debug_frame,
        entry: obj.entry(),
        build_id: obj.build_id().ok().flatten().map(BuildId::new),
        file,
    })
}
