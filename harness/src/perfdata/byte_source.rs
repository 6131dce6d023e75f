//! The byte streams the perf.data parser reads from: a memory-mapped file that releases pages
//! behind it, and a wrapper that counts position so errors can name an offset.

use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A reader that counts the bytes consumed, so that a parse error can name where it happened.
pub(super) struct Counting<R> {
    pub(super) inner: R,
    pub(super) position: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let at = self.inner.seek(pos)?;
        self.position.store(at, Ordering::Relaxed);
        Ok(at)
    }
}

/// A memory-mapped file read front to back. Pages behind the reader are dropped from the
/// mapping as it goes (the records were copied out by then), so resident memory stays near
/// [`RELEASE_EVERY`] however large the file: a 10 GB recording must not show up as 10 GB of
/// RSS. Dropping pages of a read-only file mapping only unmaps them; the page cache keeps
/// the data and a later read faults it back in.
pub struct MappedFile {
    map: memmap2::Mmap,
    pos: u64,
    released: u64,
}

const RELEASE_EVERY: u64 = 64 << 20;

impl MappedFile {
    pub(super) fn new(map: memmap2::Mmap) -> MappedFile {
        MappedFile {
            map,
            pos: 0,
            released: 0,
        }
    }

    fn release_behind(&mut self) {
        const PAGE: u64 = 4096;
        if self.pos < self.released + RELEASE_EVERY {
            return;
        }
        // Keep the last megabyte: the current record may straddle it. Never past the map:
        // the crate seeks wherever a header points, also beyond the end of a cut file, and
        // MADV_DONTNEED past the mapping would drop whatever memory lies there (found by
        // fuzzing: it zeroed the dynamic linker's tables).
        let end = (self.pos.saturating_sub(1 << 20)).min(self.map.len() as u64) / PAGE * PAGE;
        if end <= self.released {
            return;
        }
        // SAFETY: the range lies inside our mapping; MADV_DONTNEED on a private read-only
        // file mapping cannot change what later reads see.
        unsafe {
            libc::madvise(
                self.map.as_ptr().add(self.released as usize) as *mut libc::c_void,
                (end - self.released) as usize,
                libc::MADV_DONTNEED,
            );
        }
        self.released = end;
    }
}

impl Read for MappedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let start = (self.pos as usize).min(self.map.len());
        let n = buf.len().min(self.map.len() - start);
        buf[..n].copy_from_slice(&self.map[start..start + n]);
        self.pos += n as u64;
        self.release_behind();
        Ok(n)
    }
}

impl Seek for MappedFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let len = self.map.len() as i128;
        let target = match pos {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => len + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if target < 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start",
            ));
        }
        self.pos = target as u64;
        // Seeking back (the crate reads the metadata at the end first) re-reads from there.
        self.released = self.released.min(self.pos / 4096 * 4096);
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header of a cut file points far past its end; reading there must not release pages
    /// beyond the mapping (it used to madvise everything up to the claimed position).
    #[test]
    fn reading_past_the_end_releases_nothing_beyond_the_map() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.data");
        std::fs::write(&path, vec![7u8; 3 * 4096 + 100]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: a read-only map of a file this test owns and does not change.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let mut f = MappedFile::new(map);
        f.seek(SeekFrom::Start(200 << 20)).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(f.read(&mut buf).unwrap(), 0);
        assert!(f.released <= f.map.len() as u64, "released {}", f.released);
        f.seek(SeekFrom::Start(0)).unwrap();
        assert_eq!(f.read(&mut buf).unwrap(), 16);
        assert_eq!(buf, [7u8; 16]);
    }
}
