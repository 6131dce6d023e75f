//! A perf.data writer for the online recorder: one attribute, records appended as they come,
//! the header written last.
//!
//! The layout is perf's file format (`PERFILE2`): a 104-byte header, the attribute section
//! (the attribute and an empty id list: with one attribute perf gives every sample to it),
//! then the data section. No feature sections: perf report, perf script and `analyze` read
//! build ids from the MMAP2 records and files from their paths.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"PERFILE2";
const HEADER_SIZE: u64 = 104;
/// `PERF_RECORD_FINISHED_ROUND`: everything before it may be sorted and flushed.
pub const FINISHED_ROUND: u32 = 68;

/// A perf.data being written.
pub struct PerfDataWriter {
    out: BufWriter<File>,
    path: PathBuf,
    attr_len: u64,
    data_start: u64,
    written: u64,
}

impl PerfDataWriter {
    /// Creates `path` with `attr` (a kernel `perf_event_attr`, its own size in bytes 4..8)
    /// as the file's only event.
    pub fn create(path: &Path, attr: &[u8]) -> std::io::Result<PerfDataWriter> {
        let file = File::create(path)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let attr_len = attr.len() as u64;
        let data_start = HEADER_SIZE + attr_len + 16;
        // The header's place, filled in by `finish`.
        out.write_all(&[0u8; HEADER_SIZE as usize])?;
        out.write_all(attr)?;
        // The attribute's id section: empty.
        out.write_all(&data_start.to_le_bytes())?;
        out.write_all(&0u64.to_le_bytes())?;
        Ok(PerfDataWriter {
            out,
            path: path.to_path_buf(),
            attr_len,
            data_start,
            written: 0,
        })
    }

    /// Appends one record: its header (type, misc, size) and `body`, which must be a whole
    /// number of 8-byte words.
    pub fn record(&mut self, kind: u32, misc: u16, body: &[&[u8]]) -> std::io::Result<()> {
        let len: usize = 8 + body.iter().map(|b| b.len()).sum::<usize>();
        let size = u16::try_from(len).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "record over 64 KiB")
        })?;
        self.out.write_all(&kind.to_le_bytes())?;
        self.out.write_all(&misc.to_le_bytes())?;
        self.out.write_all(&size.to_le_bytes())?;
        for b in body {
            self.out.write_all(b)?;
        }
        self.written += len as u64;
        Ok(())
    }

    pub fn bytes_written(&self) -> u64 {
        self.data_start + self.written
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the header (now that the data section's size is known) and syncs the file.
    pub fn finish(mut self) -> std::io::Result<u64> {
        let mut header = Vec::with_capacity(HEADER_SIZE as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&HEADER_SIZE.to_le_bytes());
        // One attribute entry: the attribute and its id section.
        let entry = self.attr_len + 16;
        header.extend_from_slice(&entry.to_le_bytes());
        for v in [HEADER_SIZE, entry, self.data_start, self.written, 0, 0] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        // No features.
        header.extend_from_slice(&[0u8; 32]);
        debug_assert_eq!(header.len() as u64, HEADER_SIZE);
        self.out.flush()?;
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&header)?;
        file.sync_all()?;
        Ok(self.data_start + self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_points_at_attribute_and_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.data");
        let mut attr = vec![0u8; 128];
        attr[4..8].copy_from_slice(&128u32.to_le_bytes());
        let mut w = PerfDataWriter::create(&path, &attr).unwrap();
        w.record(FINISHED_ROUND, 0, &[]).unwrap();
        w.record(3, 0, &[&[1u8; 16]]).unwrap();
        assert_eq!(w.finish().unwrap(), 104 + 144 + 8 + 24);
        let bytes = std::fs::read(&path).unwrap();
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        assert_eq!(&bytes[..8], b"PERFILE2");
        assert_eq!((word(16), word(24), word(32)), (144, 104, 144));
        assert_eq!((word(40), word(48)), (104 + 144, 32));
        assert_eq!(bytes.len(), 104 + 144 + 32);
        // A record that does not fit perf's 16-bit size is refused, not truncated.
        let mut w = PerfDataWriter::create(&path, &attr).unwrap();
        assert!(w.record(9, 0, &[&vec![0u8; 70_000]]).is_err());
    }
}
