//! The fixed header at the start of a perf.data file, decoded once for every reader of it:
//! the checks before a file is opened, the crate's reader and the salvage of damaged files.
//!
//! File format: 104 bytes of magic, header size, attribute size, then (offset, size) pairs
//! of the attribute, data and event-type sections and a 256-bit feature bitmap. A pipe
//! stream's header is its first 16 bytes only (magic and a header size of 16).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use linux_perf_data::Endianness;

use super::feature_checks;

/// Size of the on-disk header of a seekable perf.data file.
pub const FILE_HEADER_SIZE: u64 = 104;
/// Size of the header of a pipe-mode stream (magic + size only).
pub const PIPE_HEADER_SIZE: u64 = 16;

/// Where one section of the file is, as the header says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Section {
    pub offset: u64,
    pub size: u64,
}

impl Section {
    /// Where the section ends (saturating: a damaged header may claim anything).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.size)
    }
}

/// The header as read from the start of a file; a file shorter than the header gives the
/// fields it holds and zeros for the rest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileHeader {
    pub magic: [u8; 8],
    /// 0 unless its 8 bytes were read.
    pub header_size: u64,
    pub attr_size: u64,
    pub attrs: Section,
    /// Both 0 unless the whole (offset, size) pair was read.
    pub data: Section,
    pub event_types: Section,
    /// The feature bitmap: one metadata section after the data per bit set.
    pub features: [u64; 4],
    /// Whether the whole header was there.
    pub complete: bool,
}

fn u64_le(b: &[u8], at: usize) -> u64 {
    // perf.data written on this machine is little-endian; a big-endian file reads as
    // nonsense sizes here and is caught by the checks or by the parser.
    b.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Reads up to `buf.len()` bytes; fewer only at the end of the input.
pub fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

impl FileHeader {
    /// Decodes a header from the first `read` bytes of `buf` (zeros after them).
    pub fn decode(buf: &[u8; FILE_HEADER_SIZE as usize], read: usize) -> FileHeader {
        let at = |i: usize| u64_le(buf, i);
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&buf[..8]);
        let data_read = read >= 56;
        FileHeader {
            magic,
            header_size: if read >= 16 { at(8) } else { 0 },
            attr_size: at(16),
            attrs: Section {
                offset: at(24),
                size: at(32),
            },
            data: Section {
                offset: if data_read { at(40) } else { 0 },
                size: if data_read { at(48) } else { 0 },
            },
            event_types: Section {
                offset: at(56),
                size: at(64),
            },
            features: [at(72), at(80), at(88), at(96)],
            complete: read >= FILE_HEADER_SIZE as usize,
        }
    }

    /// Reads and decodes the header at the reader's position.
    pub fn read(r: &mut impl Read) -> std::io::Result<FileHeader> {
        let mut buf = [0u8; FILE_HEADER_SIZE as usize];
        let n = read_up_to(r, &mut buf)?;
        Ok(FileHeader::decode(&buf, n))
    }

    pub fn is_perf_data(&self) -> bool {
        &self.magic == b"PERFILE2" || &self.magic == b"2ELIFREP"
    }

    /// A pipe-format stream saved to a file.
    pub fn is_pipe(&self) -> bool {
        self.header_size == PIPE_HEADER_SIZE
    }

    /// How many feature (metadata) sections follow the data.
    pub fn feature_count(&self) -> u32 {
        self.features.iter().map(|w| w.count_ones()).sum()
    }

    /// Checks every section the header points at against the file's length before the
    /// crate reads them: linux-perf-data allocates a metadata section at the size the header
    /// claims, so one flipped bit there would ask for terabytes (found by the mutation
    /// test). Err: the offset of the offending field and what is wrong.
    pub fn check_sections(&self, file: &mut File, file_len: u64) -> Result<(), (u64, String)> {
        let io = |e: std::io::Error| (0, e.to_string());
        // `field` is where the offending (offset, size) pair is stored: the error names it.
        let within = |name: &str, field: u64, s: Section| {
            if s.offset
                .checked_add(s.size)
                .is_some_and(|end| end <= file_len)
            {
                Ok(())
            } else {
                Err((
                    field,
                    format!(
                        "its {name} section claims bytes {}..{} but the file has {file_len}",
                        s.offset,
                        s.end()
                    ),
                ))
            }
        };
        within("attribute", 24, self.attrs)?;
        // Checked even with no attributes: the crate divides the section's size by it
        // (found by fuzzing: a zero divided by zero, a panic in any build).
        if !(64..=4096).contains(&self.attr_size) {
            return Err((
                16,
                format!(
                    "its header gives an impossible attribute size ({} bytes)",
                    self.attr_size
                ),
            ));
        }
        within("event types", 56, self.event_types)?;
        // Each event type is an attribute and a section of event ids, which the crate sizes
        // a vector from (found by fuzzing: ids "of" 32 GB).
        let entry = self.attr_size + 16;
        for i in 0..self.event_types.size / entry {
            let start = self.event_types.offset + i * entry;
            let mut own = [0u8; 8];
            file.seek(SeekFrom::Start(start)).map_err(io)?;
            read_up_to(file, &mut own).map_err(io)?;
            let own = u32::from_le_bytes(own[4..8].try_into().expect("4 bytes"));
            if !feature_checks::crate_reads_whole(own, self.attr_size) {
                return Err((
                    start + 4,
                    format!("an event type's attribute gives its own size as {own} bytes, not one of perf's sizes up to {}", self.attr_size),
                ));
            }
            let at = start + self.attr_size;
            let mut pair = [0u8; 16];
            file.seek(SeekFrom::Start(at)).map_err(io)?;
            read_up_to(file, &mut pair).map_err(io)?;
            let ids = Section {
                offset: u64_le(&pair, 0),
                size: u64_le(&pair, 8),
            };
            within("event type ids", at, ids)?;
        }
        // The feature sections' table follows the data; one 16-byte entry per feature bit.
        let features = self.feature_count();
        let table = self.data.end();
        // An empty data section still has its feature table after it: the crate reads it
        // there (found by fuzzing: a bare header whose table was its own bytes).
        if features == 0 {
            return Ok(());
        }
        let table_size = u64::from(features) * 16;
        within(
            "feature table",
            40,
            Section {
                offset: table,
                size: table_size,
            },
        )?;
        file.seek(SeekFrom::Start(table)).map_err(io)?;
        let mut checked = Vec::new();
        for (i, bit) in self.feature_bits().enumerate() {
            let mut entry = [0u8; 16];
            read_up_to(file, &mut entry).map_err(io)?;
            let metadata = Section {
                offset: u64_le(&entry, 0),
                size: u64_le(&entry, 8),
            };
            within("metadata", table + 16 * i as u64, metadata)?;
            if feature_checks::is_checked(bit) {
                checked.push((bit, metadata));
            }
        }
        // The counts inside the sections the crate parses, now that they lie in the file.
        for (bit, section) in checked {
            let mut data = vec![0u8; section.size as usize];
            file.seek(SeekFrom::Start(section.offset)).map_err(io)?;
            read_up_to(file, &mut data).map_err(io)?;
            feature_checks::check(bit, &data, self.endian())
                .map_err(|message| (section.offset, message))?;
        }
        Ok(())
    }

    /// The numbers of the features present, in the order of their table entries.
    fn feature_bits(&self) -> impl Iterator<Item = u32> + '_ {
        (0..256u32).filter(|&bit| self.features[bit as usize / 64] >> (bit % 64) & 1 == 1)
    }

    /// The byte order its magic gives ("PERFILE2" little-endian, "2ELIFREP" big-endian).
    pub fn endian(&self) -> Endianness {
        if &self.magic == b"2ELIFREP" {
            Endianness::BigEndian
        } else {
            Endianness::LittleEndian
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_file_gives_the_fields_it_holds() {
        let mut buf = [0u8; FILE_HEADER_SIZE as usize];
        buf[..8].copy_from_slice(b"PERFILE2");
        buf[8..16].copy_from_slice(&104u64.to_le_bytes());
        buf[40..48].copy_from_slice(&4096u64.to_le_bytes());
        buf[48..56].copy_from_slice(&512u64.to_le_bytes());
        let h = FileHeader::decode(&buf, 56);
        assert!(h.is_perf_data() && !h.is_pipe() && !h.complete);
        assert_eq!(h.data.end(), 4608);
        // The data pair cut in its middle counts as not there.
        let h = FileHeader::decode(&buf, 50);
        assert_eq!(h.data, Section::default());
        assert_eq!(h.header_size, 104);
        let h = FileHeader::decode(&buf, 12);
        assert_eq!(h.header_size, 0);
    }

    /// Hand-made (a corrupt input): one event type whose ids section claims 32 GB. The crate
    /// sized a vector from it when the file has no EVENT_DESC (found by fuzzing).
    #[test]
    fn event_type_ids_must_lie_in_the_file() {
        let attr_size = 136u64;
        let mut file = vec![0u8; FILE_HEADER_SIZE as usize];
        file[..8].copy_from_slice(b"PERFILE2");
        file[8..16].copy_from_slice(&104u64.to_le_bytes());
        file[16..24].copy_from_slice(&attr_size.to_le_bytes());
        // The event types section: one attribute and its ids section, right after the header.
        file[56..64].copy_from_slice(&104u64.to_le_bytes());
        file[64..72].copy_from_slice(&(attr_size + 16).to_le_bytes());
        let mut attr = vec![0u8; attr_size as usize];
        attr[4] = attr_size as u8; // the attribute's own size
        file.extend_from_slice(&attr);
        file.extend_from_slice(&104u64.to_le_bytes());
        file.extend_from_slice(&0x7_ffff_fff8u64.to_le_bytes());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("types.data");
        std::fs::write(&path, &file).unwrap();
        let mut f = File::open(&path).unwrap();
        let header = FileHeader::read(&mut f).unwrap();
        let (at, message) = header
            .check_sections(&mut f, file.len() as u64)
            .unwrap_err();
        assert_eq!(at, 104 + attr_size);
        assert!(message.contains("event type ids"), "{message}");
    }
}
