//! Records of a finished perf.data file, read in place from a memory map.
//!
//! `linux-perf-data`'s reader copies every record body out of its `Read` source into a
//! buffer of its own before handing it out; on a DWARF recording that is the whole file
//! (8 KiB of stack per sample) copied once more, which measured as the largest single cost
//! of `analyze` (memmove and `read_exact`, ~29% of its time on a 697 MB DWARF 8K file). This
//! reader hands out records that borrow the map directly and keeps only an index per round
//! (offset, length, sort key), so memory stays bounded by a round as before.
//!
//! It yields exactly what the crate's reader yields, in the same order: records are sorted
//! by (timestamp, offset) between FINISHED_ROUND records with the same rule (a record is
//! released once no later round can precede it, see [`super::rounds`]), event records are matched to their
//! attribute by id the same way, and user records carry no attribute. Compressed (`-z`),
//! AUX-trace and simpleperf files keep the crate's reader; see [`MappedRecords::suits`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::rounds::{RoundSorter, SortKey};
use crate::fasthash::FxHashMap;
use linux_perf_data::linux_perf_event_reader::{
    AttrFlags, RawData, RawEventRecord, RecordParseInfo, RecordType, SampleFormat,
};
use linux_perf_data::{
    Endianness, Feature, PerfFile, PerfFileRecord, RawUserRecord, UserRecordType,
};

/// How to tell which attribute (event) a record belongs to.
#[derive(Clone, Copy)]
enum AttrLookup {
    /// One event: every record is attribute 0.
    Single,
    /// The id sits at the same place for every attribute.
    SameLayout,
    /// Every attribute has IDENTIFIER: first word of a sample, last word of other records
    /// (when `sample_id_all`).
    Identifier { sample_id_all: bool },
}

#[derive(Clone, Copy)]
struct Pending {
    /// Offset of the record body in the map.
    body: usize,
    len: u32,
    record_type: u32,
    misc: u16,
    attr_index: Option<usize>,
}

/// What every reader of one file needs and none changes; shared with sibling readers (see
/// [`MappedRecords::sibling`]): one mapping, so a page one reader faulted in is there for the
/// others.
struct Layout {
    map: memmap2::Mmap,
    /// Where the data section starts and ends (clamped to the file's length).
    start: usize,
    end: usize,
    /// Where the header says the data section ends (may lie past the file's end).
    declared_end: u64,
    endian: Endianness,
    parse_infos: Vec<RecordParseInfo>,
    lookup: AttrLookup,
    id_to_attr: FxHashMap<u64, usize>,
}

/// The records of one memory-mapped perf.data file, in time order, without copying.
pub(super) struct MappedRecords {
    layout: Arc<Layout>,
    /// Next unread byte.
    pos: usize,
    /// Records indexed and not yet handed out, in perf's round order.
    rounds: RoundSorter<Pending>,
    finished: bool,
    /// Pages below this were dropped from the mapping (see `release_behind`).
    released: usize,
    /// The damage found, if any: the offset and what was wrong.
    error: Option<(u64, String)>,
    /// Bytes of the file consumed so far, shared with [`super::PerfData::position`].
    position: Arc<AtomicU64>,
}

const PERF_RECORD_FINISHED_ROUND: u32 = 68;
const PERF_RECORD_AUXTRACE: u32 = 71;
const HEADER_SIZE: usize = 8;
/// Drop pages of the map behind the reader in steps of this many bytes, so resident memory
/// stays small however large the file (the page cache keeps the data).
const RELEASE_EVERY: usize = 64 << 20;

impl MappedRecords {
    /// Whether this reader can read `file`; otherwise the crate's reader must.
    pub(super) fn suits(file: &PerfFile) -> bool {
        let features = file.features();
        let attrs = file.event_attributes();
        let identifiable = attrs.len() <= 1
            || attrs.iter().all(|a| {
                RecordParseInfo::new(&a.attr, file.endian()).id_parse_info
                    == RecordParseInfo::new(&attrs[0].attr, file.endian()).id_parse_info
            })
            || attrs.iter().all(|a| {
                a.attr.sample_format.contains(SampleFormat::IDENTIFIER)
                    && a.attr.flags.contains(AttrFlags::SAMPLE_ID_ALL)
                        == attrs[0].attr.flags.contains(AttrFlags::SAMPLE_ID_ALL)
            });
        !features.has_feature(Feature::COMPRESSED)
            && !features.has_feature(Feature::SIMPLEPERF_META_INFO)
            && !attrs.is_empty()
            && identifiable
    }

    /// `data_offset..data_offset + data_size` is the header's data section.
    pub(super) fn new(
        map: memmap2::Mmap,
        file: &PerfFile,
        data_offset: u64,
        data_size: u64,
        position: Arc<AtomicU64>,
    ) -> MappedRecords {
        let endian = file.endian();
        let attrs = file.event_attributes();
        let parse_infos: Vec<RecordParseInfo> = attrs
            .iter()
            .map(|a| RecordParseInfo::new(&a.attr, endian))
            .collect();
        let lookup = if parse_infos.len() <= 1 {
            AttrLookup::Single
        } else if parse_infos
            .iter()
            .all(|p| p.id_parse_info == parse_infos[0].id_parse_info)
        {
            AttrLookup::SameLayout
        } else {
            AttrLookup::Identifier {
                sample_id_all: attrs[0].attr.flags.contains(AttrFlags::SAMPLE_ID_ALL),
            }
        };
        let mut id_to_attr = FxHashMap::default();
        for (index, a) in attrs.iter().enumerate() {
            for &id in &a.event_ids {
                id_to_attr.insert(id, index);
            }
        }
        let declared_end = data_offset.saturating_add(data_size);
        let end = declared_end.min(map.len() as u64) as usize;
        let layout = Layout {
            map,
            start: (data_offset as usize).min(end),
            end,
            declared_end,
            endian,
            parse_infos,
            lookup,
            id_to_attr,
        };
        MappedRecords::from_start(Arc::new(layout), position)
    }

    /// A second reader of the same file from its first record, sharing the mapping: it
    /// yields the same records in the same order, independently of this one.
    pub(super) fn sibling(&self, position: Arc<AtomicU64>) -> MappedRecords {
        MappedRecords::from_start(self.layout.clone(), position)
    }

    fn from_start(layout: Arc<Layout>, position: Arc<AtomicU64>) -> MappedRecords {
        MappedRecords {
            pos: layout.start,
            layout,
            rounds: RoundSorter::default(),
            finished: false,
            released: 0,
            error: None,
            position,
        }
    }

    /// The next record in time order; `Err((offset, message))` where the file is damaged.
    /// Records before the damage have all been returned by then.
    pub(super) fn next_record(&mut self) -> Result<Option<PerfFileRecord<'_>>, (u64, String)> {
        while !self.rounds.has_released() && !self.finished {
            self.read_round();
        }
        let Some(p) = self.rounds.pop() else {
            return match self.error.take() {
                Some(e) => Err(e),
                None => Ok(None),
            };
        };
        let data = RawData::Single(&self.layout.map[p.body..p.body + p.len as usize]);
        let record_type = RecordType(p.record_type);
        Ok(Some(match UserRecordType::try_from(record_type) {
            Some(record_type) => PerfFileRecord::UserRecord(RawUserRecord {
                record_type,
                endian: self.layout.endian,
                misc: p.misc,
                data,
            }),
            None => {
                let attr_index = p.attr_index.unwrap_or(0);
                PerfFileRecord::EventRecord {
                    attr_index,
                    record: RawEventRecord::new(
                        record_type,
                        p.misc,
                        data,
                        self.layout.parse_infos[attr_index],
                    ),
                }
            }
        }))
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = [self.layout.map[at], self.layout.map[at + 1]];
        match self.layout.endian {
            Endianness::LittleEndian => u16::from_le_bytes(b),
            Endianness::BigEndian => u16::from_be_bytes(b),
        }
    }

    fn u32_at(&self, at: usize) -> u32 {
        let b: [u8; 4] = self.layout.map[at..at + 4].try_into().expect("4 bytes");
        match self.layout.endian {
            Endianness::LittleEndian => u32::from_le_bytes(b),
            Endianness::BigEndian => u32::from_be_bytes(b),
        }
    }

    fn u64_at(&self, at: usize) -> u64 {
        let b: [u8; 8] = self.layout.map[at..at + 8].try_into().expect("8 bytes");
        match self.layout.endian {
            Endianness::LittleEndian => u64::from_le_bytes(b),
            Endianness::BigEndian => u64::from_be_bytes(b),
        }
    }

    /// Indexes records up to the next FINISHED_ROUND (or the end) into the sorter.
    fn read_round(&mut self) {
        self.release_behind();
        self.index_round();
        self.position.store(self.pos as u64, Ordering::Relaxed);
    }

    fn index_round(&mut self) {
        while self.pos < self.layout.end {
            let at = self.pos;
            if self.layout.end - at < HEADER_SIZE {
                self.fail(at, "the data ends inside a record header".into());
                return;
            }
            let record_type = self.u32_at(at);
            let misc = self.u16_at(at + 4);
            let size = self.u16_at(at + 6) as usize;
            if size < HEADER_SIZE {
                self.fail(
                    at,
                    format!("a record claims {size} bytes, less than its own 8-byte header"),
                );
                return;
            }
            if at + size > self.layout.end {
                self.fail(
                    at,
                    format!("a record of {size} bytes runs past the end of the data"),
                );
                return;
            }
            self.pos = at + size;
            if record_type == PERF_RECORD_FINISHED_ROUND {
                self.rounds.finish_round();
                if self.rounds.has_released() {
                    return;
                }
                continue;
            }
            let body = at + HEADER_SIZE;
            let len = size - HEADER_SIZE;
            if record_type == PERF_RECORD_AUXTRACE {
                // The trace data follows the record, outside its size: step over it.
                let aux = if len >= 8 { self.u64_at(body) } else { 0 };
                let skip = usize::try_from(aux).unwrap_or(usize::MAX);
                match self.pos.checked_add(skip).filter(|&e| e <= self.layout.end) {
                    Some(next) => self.pos = next,
                    None => {
                        self.fail(at, "AUX trace data runs past the end of the data".into());
                        return;
                    }
                }
            }
            self.insert(at, body, len, record_type, misc);
        }
        // Everything has been read: whatever is left comes out in order.
        self.rounds.finish();
        self.finished = true;
    }

    /// Records the damage and ends the stream; records already read still come out first.
    fn fail(&mut self, at: usize, message: String) {
        let message = if (self.layout.end as u64) < self.layout.declared_end {
            format!(
                "{message} (the data section should end at byte {}, the file has {})",
                self.layout.declared_end,
                self.layout.map.len()
            )
        } else {
            message
        };
        self.error = Some((at as u64, message));
        self.pos = self.layout.end;
    }

    fn insert(&mut self, at: usize, body: usize, len: usize, record_type: u32, misc: u16) {
        let rt = RecordType(record_type);
        let (attr_index, timestamp) = if rt.is_builtin_type() {
            let data = RawData::Single(&self.layout.map[body..body + len]);
            let attr_index = match self.layout.lookup {
                AttrLookup::Single => 0,
                AttrLookup::SameLayout => {
                    RawEventRecord::new(rt, misc, data, self.layout.parse_infos[0])
                        .id()
                        .and_then(|id| self.layout.id_to_attr.get(&id).copied())
                        .unwrap_or(0)
                }
                AttrLookup::Identifier { sample_id_all } => {
                    let id = if rt == RecordType::SAMPLE {
                        (len >= 8).then(|| self.u64_at(body))
                    } else if sample_id_all && len >= 8 {
                        Some(self.u64_at(body + len - 8))
                    } else {
                        None
                    };
                    id.and_then(|id| self.layout.id_to_attr.get(&id).copied())
                        .unwrap_or(0)
                }
            };
            let timestamp =
                RawEventRecord::new(rt, misc, data, self.layout.parse_infos[attr_index])
                    .timestamp();
            (Some(attr_index), timestamp)
        } else {
            (None, None)
        };
        let key = SortKey {
            timestamp,
            offset: at as u64,
        };
        self.rounds.insert(
            key,
            Pending {
                body,
                len: len as u32,
                record_type,
                misc,
                attr_index,
            },
        );
    }

    /// Drops mapped pages that no pending record lies in any more.
    fn release_behind(&mut self) {
        const PAGE: usize = 4096;
        let oldest = self.rounds.held().map(|p| p.body).min().unwrap_or(self.pos);
        let end = oldest
            .saturating_sub(HEADER_SIZE)
            .min(self.layout.map.len())
            / PAGE
            * PAGE;
        if end < self.released + RELEASE_EVERY {
            return;
        }
        // SAFETY: the range lies inside our mapping and no record handed out borrows it any
        // more (`next_record` takes `&mut self`); MADV_DONTNEED on a read-only file mapping
        // only unmaps pages, a later access reads the same bytes back from the page cache.
        unsafe {
            libc::madvise(
                self.layout.map.as_ptr().add(self.released) as *mut libc::c_void,
                end - self.released,
                libc::MADV_DONTNEED,
            );
        }
        self.released = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linux_perf_data::PerfFileReader;
    use std::path::Path;

    /// Every record as (user type or attribute index, type, misc, body), in the order read.
    type Seen = Vec<(Option<usize>, String, u16, Vec<u8>)>;

    fn seen(record: &PerfFileRecord<'_>) -> (Option<usize>, String, u16, Vec<u8>) {
        match record {
            PerfFileRecord::EventRecord { attr_index, record } => (
                Some(*attr_index),
                format!("{:?}", record.record_type),
                record.misc,
                record.data.as_slice().into_owned(),
            ),
            PerfFileRecord::UserRecord(r) => (
                None,
                format!("{:?}", r.record_type),
                r.misc,
                r.data.as_slice().into_owned(),
            ),
        }
    }

    /// The crate's reader and ours over the same file: the same records in the same order.
    fn both_readers(path: &Path) -> (Seen, Seen) {
        let file = std::fs::File::open(path).unwrap();
        let PerfFileReader {
            mut perf_file,
            mut record_iter,
        } = PerfFileReader::parse_file(std::io::BufReader::new(file)).unwrap();
        let mut theirs = Vec::new();
        while let Some(r) = record_iter.next_record(&mut perf_file).unwrap() {
            theirs.push(seen(&r));
        }
        assert!(MappedRecords::suits(&perf_file), "{}", path.display());
        let mut file = std::fs::File::open(path).unwrap();
        let header = crate::perfdata::header::FileHeader::read(&mut file).unwrap();
        // SAFETY: a test fixture nobody writes to.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let mut ours_reader = MappedRecords::new(
            map,
            &perf_file,
            header.data.offset,
            header.data.size,
            Arc::default(),
        );
        let mut ours = Vec::new();
        while let Some(r) = ours_reader.next_record().unwrap() {
            ours.push(seen(&r));
        }
        (theirs, ours)
    }

    fn assert_same(path: &Path) -> usize {
        let (theirs, ours) = both_readers(path);
        assert_eq!(theirs.len(), ours.len(), "{}", path.display());
        for (i, (t, o)) in theirs.iter().zip(&ours).enumerate() {
            assert_eq!(t, o, "{}: record {i} differs", path.display());
        }
        ours.len()
    }

    #[test]
    fn the_fixtures_read_the_same_as_with_the_crate_reader() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for name in [
            "perf/callchain-fp.data",
            "perf/callchain-dwarf4k.data",
            "perf/callchain-lost.data",
        ] {
            assert!(assert_same(&dir.join(name)) > 100, "{name}");
        }
    }

    /// Several events (perf adds IDENTIFIER and a tracking dummy event): records must still be
    /// matched to their event and ordered as the crate does. Records with the real perf.
    #[test]
    fn a_system_wide_recording_of_two_events_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("two.data");
        let status = std::process::Command::new("perf")
            .args([
                "record",
                "-q",
                "-a",
                "-F",
                "499",
                "-g",
                "-e",
                "cpu-clock",
                "-e",
            ])
            .args(["task-clock", "--delay", "100", "-o"])
            .arg(&data)
            .args([
                "--",
                "sh",
                "-c",
                "for i in $(seq 3000); do :; done; ls / >/dev/null",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "perf record failed (run the tests as root)"
        );
        let file = std::fs::File::open(&data).unwrap();
        let reader = PerfFileReader::parse_file(std::io::BufReader::new(file)).unwrap();
        assert!(reader.perf_file.event_attributes().len() >= 2);
        assert!(assert_same(&data) > 100);
    }
}
