//! Reading what is left of a damaged perf.data (`--partial`).
//!
//! linux-perf-data needs the metadata sections that follow the data section (gone from a
//! truncated file) and buffers a whole round before it emits a record (so damage in the first
//! round hides everything). This reader needs only the header and the attribute section at the
//! front of the file: it finds where the records stop making sense ([`scan`]), then reads the
//! records before that point, in time order round by round as the other readers do
//! ([`super::rounds`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use byteorder::LittleEndian;
use linux_perf_data::linux_perf_event_reader::{
    get_record_identifier, get_record_timestamp, AttrFlags, Endianness, PerfEventAttr, RawData,
    RawEventRecord, RecordParseInfo, RecordType, SampleFormat,
};
use linux_perf_data::{PerfFileRecord, RawUserRecord, UserRecordType};

use super::header::FileHeader;
use super::records::leading_u64;
use super::rounds::{RoundSorter, SortKey};

const FINISHED_ROUND: u32 = 68;
/// Highest kernel record type and the range of perf's own (user) record types known today.
const MAX_KERNEL_TYPE: u32 = 31;
const USER_TYPES: std::ops::RangeInclusive<u32> = 64..=127;

/// Where a file's records stop being readable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub offset: u64,
    pub reason: String,
}

/// Walks the record headers of the data section `header` gives. Returns the end of the last
/// whole record, and the damage, if any.
pub(super) fn scan(path: &Path, header: &FileHeader) -> std::io::Result<(u64, Option<Damage>)> {
    let mut f = BufReader::with_capacity(1 << 20, File::open(path)?);
    let file_len = f.get_ref().metadata()?.len();
    if !header.complete {
        // As reading the header with read_exact would say.
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "failed to fill whole buffer",
        ));
    }
    let data_size = header.data.size;
    let declared_end = header.data.end();
    // The end of the records that can be read: the data section's end, or the file's end
    // when perf never wrote the size.
    let data_end = if data_size == 0 {
        file_len
    } else {
        declared_end.min(file_len)
    };
    let mut pos = header.data.offset;
    f.seek(SeekFrom::Start(pos))?;
    let mut header = [0u8; 8];
    let damage = loop {
        if pos >= data_end {
            break (data_size != 0 && declared_end > file_len).then(|| Damage {
                offset: file_len,
                reason: format!("the file ends at byte {file_len}, inside its data section (which runs to {declared_end})"),
            });
        }
        if pos + 8 > data_end || f.read_exact(&mut header).is_err() {
            break Some(Damage {
                offset: pos,
                reason: "a record header is cut off".into(),
            });
        }
        let ty = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let size = u64::from(u16::from_le_bytes([header[6], header[7]]));
        if size < 8 {
            break Some(Damage {
                offset: pos,
                reason: format!("a record claims a size of {size} bytes"),
            });
        }
        if !(1..=MAX_KERNEL_TYPE).contains(&ty) && !USER_TYPES.contains(&ty) {
            break Some(Damage {
                offset: pos,
                reason: format!("unknown record type {ty}"),
            });
        }
        if pos + size > data_end {
            break Some(Damage {
                offset: pos,
                reason: "a record runs past the end of the data".into(),
            });
        }
        f.seek_relative(size as i64 - 8)?;
        pos += size;
    };
    Ok((pos.min(data_end), damage))
}

struct Pending {
    ty: u32,
    misc: u16,
    attr: usize,
    body: Vec<u8>,
}

/// Sequential reader of the records in `[data_offset, good_end)`.
pub struct Salvage {
    reader: BufReader<File>,
    pos: u64,
    good_end: u64,
    pub attrs: Vec<PerfEventAttr>,
    parse_infos: Vec<RecordParseInfo>,
    id_to_attr: HashMap<u64, usize>,
    sample_id_all: bool,
    /// Records read and not yet handed out, in perf's round order.
    rounds: RoundSorter<Pending>,
    /// Whether every record up to `good_end` has been read.
    finished: bool,
    current: Vec<u8>,
}

impl Salvage {
    pub(super) fn open(
        path: &Path,
        header: &FileHeader,
        good_end: u64,
    ) -> std::io::Result<Salvage> {
        let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
        let mut attrs = Vec::new();
        let mut id_to_attr = HashMap::new();
        // An attribute is at least perf's first version of it (64 bytes) and ends with a
        // 16-byte file section; a damaged header may claim any size (found by fuzzing).
        let count = if (64..=4096).contains(&header.attr_size) {
            header.attrs.size / header.attr_size
        } else {
            0
        };
        for i in 0..count {
            let Some(at) = header.attrs.offset.checked_add(i * header.attr_size) else {
                break;
            };
            reader.seek(SeekFrom::Start(at))?;
            let (attr, _) = PerfEventAttr::parse::<_, LittleEndian>(&mut reader)?;
            // Each entry ends with a file section pointing at the event's ids.
            reader.seek(SeekFrom::Start(at.saturating_add(header.attr_size - 16)))?;
            let mut s = [0u8; 16];
            reader.read_exact(&mut s)?;
            let ids_offset = leading_u64(&s[..8], Endianness::LittleEndian).unwrap_or(0);
            let ids_size = leading_u64(&s[8..], Endianness::LittleEndian).unwrap_or(0);
            if ids_size / 8 < 1 << 20 {
                reader.seek(SeekFrom::Start(ids_offset))?;
                for _ in 0..ids_size / 8 {
                    let mut id = [0u8; 8];
                    if reader.read_exact(&mut id).is_err() {
                        break;
                    }
                    id_to_attr.insert(u64::from_le_bytes(id), attrs.len());
                }
            }
            attrs.push(attr);
        }
        if attrs.is_empty() {
            return Err(std::io::Error::other("no event attributes in the header"));
        }
        let parse_infos = attrs
            .iter()
            .map(|a| RecordParseInfo::new(a, Endianness::LittleEndian))
            .collect();
        let sample_id_all = attrs[0].flags.contains(AttrFlags::SAMPLE_ID_ALL)
            && attrs[0].sample_format.contains(SampleFormat::IDENTIFIER);
        reader.seek(SeekFrom::Start(header.data.offset))?;
        Ok(Salvage {
            reader,
            pos: header.data.offset,
            good_end,
            attrs,
            parse_infos,
            id_to_attr,
            sample_id_all,
            rounds: RoundSorter::default(),
            finished: false,
            current: Vec::new(),
        })
    }

    /// Bytes read so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn attr_of(&self, ty: u32, body: &[u8]) -> usize {
        if self.attrs.len() == 1 {
            return 0;
        }
        get_record_identifier::<LittleEndian>(
            RecordType(ty),
            RawData::Single(body),
            self.sample_id_all,
        )
        .and_then(|id| self.id_to_attr.get(&id).copied())
        .unwrap_or(0)
    }

    /// Reads up to the next FINISHED_ROUND (or the end) into the sorter.
    fn read_round(&mut self) -> std::io::Result<()> {
        while self.pos < self.good_end {
            let at = self.pos;
            let mut h = [0u8; 8];
            self.reader.read_exact(&mut h)?;
            let ty = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            let misc = u16::from_le_bytes([h[4], h[5]]);
            let size = u16::from_le_bytes([h[6], h[7]]) as usize;
            let mut body = vec![0u8; size - 8];
            self.reader.read_exact(&mut body)?;
            self.pos += size as u64;
            if ty == FINISHED_ROUND {
                self.rounds.finish_round();
                if self.rounds.has_released() {
                    return Ok(());
                }
                continue;
            }
            let (attr, timestamp) = if USER_TYPES.contains(&ty) {
                (0, None)
            } else {
                let attr = self.attr_of(ty, &body);
                let timestamp = get_record_timestamp::<LittleEndian>(
                    RecordType(ty),
                    RawData::Single(&body),
                    &self.parse_infos[attr],
                );
                (attr, timestamp)
            };
            let key = SortKey {
                timestamp,
                offset: at,
            };
            self.rounds.insert(
                key,
                Pending {
                    ty,
                    misc,
                    attr,
                    body,
                },
            );
        }
        self.rounds.finish();
        self.finished = true;
        Ok(())
    }

    pub fn next_record(&mut self) -> std::io::Result<Option<PerfFileRecord<'_>>> {
        while !self.rounds.has_released() && !self.finished {
            self.read_round()?;
        }
        let Some(mut p) = self.rounds.pop() else {
            return Ok(None);
        };
        std::mem::swap(&mut self.current, &mut p.body);
        let (ty, misc, attr) = (p.ty, p.misc, p.attr);
        let data = RawData::Single(&self.current);
        Ok(Some(match UserRecordType::try_from(RecordType(ty)) {
            Some(record_type) => PerfFileRecord::UserRecord(RawUserRecord {
                record_type,
                endian: Endianness::LittleEndian,
                misc,
                data,
            }),
            None => PerfFileRecord::EventRecord {
                attr_index: attr,
                record: RawEventRecord::new(RecordType(ty), misc, data, self.parse_infos[attr]),
            },
        }))
    }
}
