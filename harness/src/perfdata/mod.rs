//! Reading perf.data, file or pipe format, natively with `linux-perf-data`.
//!
//! [`open`] checks the file header before any record is read, so a file that perf never
//! finished, a truncated copy or something that is not perf.data at all is reported in one
//! line with the offsets involved, instead of failing somewhere deep in the parser. Records are
//! streamed in time order (each round between FINISHED_ROUND records is sorted), so memory
//! stays bounded by a round, not by the file. The crate parses headers, metadata, pipe
//! streams and compressed files; records of finished files are read in place from a memory
//! map by [`mapped`], which avoids copying every record.

pub mod address_space;
mod byte_source;
mod mapped;
pub mod salvage;
pub mod stats;
pub mod threads;

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use byte_source::{Counting, MappedFile};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::binary::BuildId;
use linux_perf_data::linux_perf_event_reader::{PerfEventAttr, PerfEventType, SoftwareCounterType};
use linux_perf_data::{Endianness, PerfFile, PerfFileReader, PerfFileRecord, PerfRecordIter};

/// Size of the on-disk header of a seekable perf.data file.
const FILE_HEADER_SIZE: u64 = 104;
/// Size of the header of a pipe-mode stream (magic + size only).
const PIPE_HEADER_SIZE: u64 = 16;

#[derive(Debug, thiserror::Error)]
pub enum PerfDataError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is empty (0 bytes): perf wrote nothing; record again")]
    Empty { path: PathBuf },
    #[error("{path} is not a perf.data file (starts with {magic:?} instead of \"PERFILE2\")")]
    NotPerfData { path: PathBuf, magic: String },
    #[error("{path}: perf never finished writing it (header says 0 data bytes but the file has {file_len}): perf was killed before it could finalize; record again")]
    Unfinished { path: PathBuf, file_len: u64 },
    #[error("{path} is truncated: its data section ends at byte {expected_end} but the file has only {file_len} bytes; use --partial to read what is there")]
    Truncated {
        path: PathBuf,
        expected_end: u64,
        file_len: u64,
    },
    #[error("{path} is corrupt near byte {offset}: {message}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        message: String,
    },
}

/// Files are read through a memory map: no read() syscalls and no kernel-to-user copy of
/// every byte (a third of the analysis time of a DWARF recording went there).
type FileIter = PerfRecordIter<Counting<MappedFile>>;
type PipeIter = PerfRecordIter<Counting<BufReader<Box<dyn Read + Send>>>>;

enum Iter {
    /// Finished files, read in place (see [`mapped`]).
    Mapped(mapped::MappedRecords),
    /// Files the in-place reader leaves to the crate (compressed, AUX trace, simpleperf).
    File(FileIter),
    Pipe(PipeIter),
    /// A damaged file read with --partial (see [`salvage`]).
    Salvage(salvage::Salvage),
}

/// What kind of stream a [`PerfData`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    File,
    Pipe,
}

/// An open perf.data stream.
pub struct PerfData {
    pub path: PathBuf,
    pub format: Format,
    /// The parsed metadata; None when a damaged file is salvaged (its metadata is gone).
    file: Option<PerfFile>,
    iter: Iter,
    /// Where a salvaged file's records stop, and why.
    damage: Option<salvage::Damage>,
    position: Arc<AtomicU64>,
    /// Length of the data section when known (file format): records end there.
    data_end: Option<u64>,
    /// Allow a truncated file: read up to where its bytes end.
    partial: bool,
}

/// The fixed header fields [`open`] checks.
struct FileHeader {
    magic: [u8; 8],
    header_size: u64,
    data_offset: u64,
    data_size: u64,
}

fn read_header(file: &mut File) -> std::io::Result<FileHeader> {
    let mut buf = [0u8; FILE_HEADER_SIZE as usize];
    let n = read_up_to(file, &mut buf)?;
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[at..at + 8]);
        // perf.data written on this machine is little-endian; a big-endian file reads as
        // nonsense sizes here and is caught by the checks below or by the parser.
        u64::from_le_bytes(b)
    };
    let mut magic = [0u8; 8];
    magic.copy_from_slice(&buf[..8]);
    Ok(FileHeader {
        magic,
        header_size: if n >= 16 { u64_at(8) } else { 0 },
        data_offset: if n >= 56 { u64_at(40) } else { 0 },
        data_size: if n >= 56 { u64_at(48) } else { 0 },
    })
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Checks every section the header points at against the file's length before the crate
/// reads them: linux-perf-data allocates a metadata section at the size the header claims, so
/// one flipped bit there would ask for terabytes (found by the mutation test).
fn check_sections(
    file: &mut File,
    file_len: u64,
    header: &FileHeader,
) -> Result<(), (u64, String)> {
    let io = |e: std::io::Error| (0, e.to_string());
    let mut buf = [0u8; FILE_HEADER_SIZE as usize];
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    read_up_to(file, &mut buf).map_err(io)?;
    let at = |i: usize| u64::from_le_bytes(buf[i..i + 8].try_into().unwrap_or([0; 8]));
    let attr_size = at(16);
    // `field` is where the offending (offset, size) pair is stored: the error names it.
    let within = |name: &str, field: u64, offset: u64, size: u64| {
        if offset.checked_add(size).is_some_and(|end| end <= file_len) {
            Ok(())
        } else {
            Err((
                field,
                format!(
                    "its {name} section claims bytes {offset}..{} but the file has {file_len}",
                    offset.saturating_add(size)
                ),
            ))
        }
    };
    within("attribute", 24, at(24), at(32))?;
    if at(32) > 0 && !(64..=4096).contains(&attr_size) {
        return Err((
            16,
            format!("its header gives an impossible attribute size ({attr_size} bytes)"),
        ));
    }
    within("event types", 56, at(56), at(64))?;
    // The feature sections' table follows the data; one 16-byte entry per feature bit set.
    let features: u32 = (0..4).map(|w| at(72 + 8 * w).count_ones()).sum();
    let table = header.data_offset.saturating_add(header.data_size);
    if header.data_size == 0 || features == 0 {
        return Ok(());
    }
    within("feature table", 40, table, u64::from(features) * 16)?;
    file.seek(SeekFrom::Start(table)).map_err(io)?;
    for i in 0..u64::from(features) {
        let mut entry = [0u8; 16];
        read_up_to(file, &mut entry).map_err(io)?;
        let offset = u64::from_le_bytes(entry[..8].try_into().unwrap_or([0; 8]));
        let size = u64::from_le_bytes(entry[8..].try_into().unwrap_or([0; 8]));
        within("metadata", table + 16 * i, offset, size)?;
    }
    Ok(())
}

/// Opens a perf.data file (file format, or a pipe-format stream saved to a file). With
/// `partial`, a truncated file is read up to its last whole record instead of refused.
pub fn open(path: &Path, partial: bool) -> Result<PerfData, PerfDataError> {
    let open_err = |source| PerfDataError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(open_err)?;
    let file_len = file.metadata().map_err(open_err)?.len();
    if file_len == 0 {
        return Err(PerfDataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let header = read_header(&mut file).map_err(open_err)?;
    if &header.magic != b"PERFILE2" && &header.magic != b"2ELIFREP" {
        return Err(PerfDataError::NotPerfData {
            path: path.to_path_buf(),
            magic: String::from_utf8_lossy(&header.magic).into_owned(),
        });
    }
    file.seek(SeekFrom::Start(0)).map_err(open_err)?;
    if header.header_size == PIPE_HEADER_SIZE {
        let reader: Box<dyn Read + Send> = Box::new(file);
        return open_pipe(path, reader, partial);
    }
    if partial {
        let (layout, good_end, damage) = salvage::scan(path).map_err(open_err)?;
        let unfinished = header.data_size == 0;
        if damage.is_some() || unfinished {
            let reader = salvage::Salvage::open(path, &layout, good_end).map_err(|e| {
                PerfDataError::Corrupt {
                    path: path.to_path_buf(),
                    offset: layout.attrs_offset,
                    message: format!("its header and event attributes are unreadable too: {e}"),
                }
            })?;
            let damage = match (damage, unfinished) {
                (Some(d), true) => Some(salvage::Damage {
                    reason: format!(
                        "perf never finalized the file, and its records stop here ({})",
                        d.reason
                    ),
                    ..d
                }),
                (Some(d), false) => Some(d),
                (None, _) => Some(salvage::Damage {
                    offset: good_end,
                    reason: "perf never finalized the file (records up to its end were read)"
                        .into(),
                }),
            };
            return Ok(PerfData {
                path: path.to_path_buf(),
                format: Format::File,
                file: None,
                iter: Iter::Salvage(reader),
                damage,
                position: Arc::new(AtomicU64::new(0)),
                data_end: Some(good_end),
                partial,
            });
        }
    }
    if header.data_size == 0 && file_len > header.data_offset.max(FILE_HEADER_SIZE) {
        return Err(PerfDataError::Unfinished {
            path: path.to_path_buf(),
            file_len,
        });
    }
    let expected_end = header.data_offset.saturating_add(header.data_size);
    if expected_end <= file_len {
        check_sections(&mut file, file_len, &header).map_err(|(offset, message)| {
            PerfDataError::Corrupt {
                path: path.to_path_buf(),
                offset,
                message,
            }
        })?;
        file.seek(SeekFrom::Start(0)).map_err(open_err)?;
    }
    if expected_end > file_len && !partial {
        return Err(PerfDataError::Truncated {
            path: path.to_path_buf(),
            expected_end,
            file_len,
        });
    }
    let position = Arc::new(AtomicU64::new(0));
    // SAFETY: a read-only map of a finished recording; truncating it underneath would fault,
    // the accepted risk of mapping files.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(open_err)?;
    let reader = Counting {
        inner: MappedFile::new(map),
        position: position.clone(),
    };
    let PerfFileReader {
        perf_file,
        record_iter,
    } = PerfFileReader::parse_file(reader).map_err(|e| PerfDataError::Corrupt {
        path: path.to_path_buf(),
        offset: position.load(Ordering::Relaxed),
        message: if expected_end > file_len {
            format!(
                "the file ends at byte {file_len}, before the header's data and metadata sections ({e})"
            )
        } else {
            format!("unreadable header or metadata: {e}")
        },
    })?;
    let iter = if mapped::MappedRecords::suits(&perf_file) {
        drop(record_iter);
        // SAFETY: as above.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(open_err)?;
        Iter::Mapped(mapped::MappedRecords::new(
            map,
            &perf_file,
            header.data_offset,
            header.data_size,
            position.clone(),
        ))
    } else {
        Iter::File(record_iter)
    };
    Ok(PerfData {
        path: path.to_path_buf(),
        format: Format::File,
        file: Some(perf_file),
        iter,
        damage: None,
        position,
        data_end: Some(expected_end),
        partial,
    })
}

/// Reads a pipe-format stream (`perf record -o -`) from `reader`, e.g. stdin or a pipe.
pub fn open_pipe(
    name: &Path,
    reader: Box<dyn Read + Send>,
    partial: bool,
) -> Result<PerfData, PerfDataError> {
    let position = Arc::new(AtomicU64::new(0));
    let counting = Counting {
        inner: BufReader::with_capacity(1 << 20, reader),
        position: position.clone(),
    };
    let PerfFileReader {
        perf_file,
        record_iter,
    } = PerfFileReader::parse_pipe(counting).map_err(|e| {
        let offset = position.load(Ordering::Relaxed);
        if offset == 0 {
            PerfDataError::Empty {
                path: name.to_path_buf(),
            }
        } else {
            PerfDataError::Corrupt {
                path: name.to_path_buf(),
                offset,
                message: format!("bad pipe-format header: {e}"),
            }
        }
    })?;
    Ok(PerfData {
        path: name.to_path_buf(),
        format: Format::Pipe,
        file: Some(perf_file),
        iter: Iter::Pipe(record_iter),
        damage: None,
        position,
        data_end: None,
        partial,
    })
}

impl PerfData {
    /// The next record in time order, or None at the end.
    pub fn next_record(&mut self) -> Result<Option<PerfFileRecord<'_>>, PerfDataError> {
        let result = match &mut self.iter {
            Iter::Mapped(it) => {
                return match it.next_record() {
                    Ok(record) => Ok(record),
                    // Truncated files reach here only with --partial: read up to where the
                    // bytes end, as for the crate's reader below.
                    Err(_) if self.partial => Ok(None),
                    Err((offset, message)) => Err(PerfDataError::Corrupt {
                        path: self.path.clone(),
                        offset,
                        message,
                    }),
                };
            }
            Iter::File(it) => it.next_record(self.file.as_mut().expect("file-format metadata")),
            Iter::Pipe(it) => it.next_record(self.file.as_mut().expect("pipe-format metadata")),
            Iter::Salvage(it) => {
                let offset = it.position();
                return it.next_record().map_err(|e| PerfDataError::Corrupt {
                    path: self.path.clone(),
                    offset,
                    message: e.to_string(),
                });
            }
        };
        match result {
            Ok(record) => Ok(record),
            Err(e) => {
                let offset = self.position.load(Ordering::Relaxed);
                let past_end = self.data_end.is_some_and(|end| offset >= end);
                if self.partial && (past_end || is_eof(&e)) {
                    return Ok(None);
                }
                Err(PerfDataError::Corrupt {
                    path: self.path.clone(),
                    offset,
                    message: describe(&e),
                })
            }
        }
    }

    /// A second reader of the same finished file, from its first record, sharing the memory
    /// map: it yields the same records in the same order as this one, independently, so
    /// threads can split the work of one file. None where the file is not read in place
    /// (pipe streams, compressed or AUX-trace files, salvaged damage).
    pub fn sibling(&self) -> Option<PerfData> {
        let Iter::Mapped(records) = &self.iter else {
            return None;
        };
        let position = Arc::new(AtomicU64::new(0));
        Some(PerfData {
            path: self.path.clone(),
            format: self.format,
            file: None,
            iter: Iter::Mapped(records.sibling(position.clone())),
            damage: None,
            position,
            data_end: self.data_end,
            partial: self.partial,
        })
    }

    /// For a damaged file read with --partial: where and why reading stopped.
    pub fn damage(&self) -> Option<String> {
        self.damage.as_ref().map(|d| {
            format!(
                "{}: damaged at byte {}: {}; read the records before it",
                self.path.display(),
                d.offset,
                d.reason
            )
        })
    }

    /// The attributes of the first event (the sampling event).
    pub fn first_attr(&self) -> Option<&PerfEventAttr> {
        match (&self.file, &self.iter) {
            (Some(f), _) => f.event_attributes().first().map(|a| &a.attr),
            (None, Iter::Salvage(s)) => s.attrs.first(),
            _ => None,
        }
    }

    fn first_attr_name(&self) -> Option<&str> {
        self.file.as_ref()?.event_attributes().first()?.name()
    }

    /// Build ids perf recorded, by path (empty for pipe streams and salvaged files, whose
    /// build-id table comes at the end).
    pub fn build_ids(&self) -> std::collections::HashMap<Vec<u8>, BuildId> {
        self.file
            .as_ref()
            .and_then(|f| f.build_ids().ok())
            .unwrap_or_default()
            .into_values()
            .map(|info| (info.path, BuildId::new(&info.build_id)))
            .collect()
    }

    pub fn perf_version(&self) -> Option<String> {
        self.file
            .as_ref()?
            .perf_version()
            .ok()
            .flatten()
            .map(str::to_string)
    }

    /// Bytes consumed from the stream so far.
    pub fn position(&self) -> u64 {
        match &self.iter {
            Iter::Salvage(s) => s.position(),
            _ => self.position.load(Ordering::Relaxed),
        }
    }

    pub fn endian(&self) -> Endianness {
        self.file
            .as_ref()
            .map_or(Endianness::LittleEndian, PerfFile::endian)
    }

    /// The sampling event of the first attribute, e.g. `cpu-clock (software timer)`.
    pub fn sampling_event(&self) -> SamplingEvent {
        let Some(attr) = self.first_attr() else {
            return SamplingEvent {
                name: "unknown".into(),
                hardware: false,
            };
        };
        let hardware = matches!(
            attr.type_,
            PerfEventType::Hardware(..)
                | PerfEventType::HwCache(..)
                | PerfEventType::DynamicPmu(..)
        );
        let fallback = match attr.type_ {
            PerfEventType::Software(SoftwareCounterType::CpuClock) => "cpu-clock",
            PerfEventType::Software(SoftwareCounterType::TaskClock) => "task-clock",
            _ if hardware => "hardware event",
            _ => "other event",
        };
        SamplingEvent {
            name: self.first_attr_name().unwrap_or(fallback).to_string(),
            hardware,
        }
    }
}

/// Which event drove the sampling: a hardware PMU counter or a software clock.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SamplingEvent {
    pub name: String,
    pub hardware: bool,
}

impl std::fmt::Display for SamplingEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.hardware {
            "hardware PMU"
        } else {
            "software timer, no hardware PMU sampling"
        };
        write!(f, "{} ({kind})", self.name)
    }
}

fn is_eof(e: &linux_perf_data::Error) -> bool {
    match e {
        linux_perf_data::Error::IoError(io) => io.kind() == std::io::ErrorKind::UnexpectedEof,
        linux_perf_data::Error::Read(_) => true,
        _ => false,
    }
}

fn describe(e: &linux_perf_data::Error) -> String {
    match e {
        linux_perf_data::Error::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "a record runs past the end of the data (truncated)".into()
        }
        linux_perf_data::Error::Read(_) => {
            "a record runs past the end of the data (truncated)".into()
        }
        linux_perf_data::Error::InvalidPerfEventSize => {
            "a record header has an impossible size (flipped or overwritten bytes)".into()
        }
        other => other.to_string().replace('\n', " "),
    }
}

/// Parses a kernel record. None: the record cannot be parsed; callers skip and count it.
///
/// linux-perf-event-reader multiplies a sample's callchain length from the file by 8 without
/// checking (found by fuzzing): that overflow is refused here before the crate sees it, and
/// any other panic in the parser is caught as a last resort.
pub fn parse_record<'a>(
    record: &linux_perf_data::linux_perf_event_reader::RawEventRecord<'a>,
) -> Option<linux_perf_data::linux_perf_event_reader::EventRecord<'a>> {
    if !callchain_fits(record) {
        return None;
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| record.parse()))
        .ok()?
        .ok()
}

/// False when a sample's callchain length claims more entries than the record holds.
fn callchain_fits(record: &linux_perf_data::linux_perf_event_reader::RawEventRecord<'_>) -> bool {
    use linux_perf_data::linux_perf_event_reader::{RecordType, SampleFormat};
    let format = record.parse_info.sample_format;
    if record.record_type != RecordType::SAMPLE
        || !format.contains(SampleFormat::CALLCHAIN)
        // READ values have a variable size; such recordings are not ours, and the catch
        // above still stands guard.
        || format.contains(SampleFormat::READ)
    {
        return true;
    }
    // The fixed 8-byte fields that come before the callchain, in the kernel's order.
    let before = [
        SampleFormat::IDENTIFIER,
        SampleFormat::IP,
        SampleFormat::TID,
        SampleFormat::TIME,
        SampleFormat::ADDR,
        SampleFormat::ID,
        SampleFormat::STREAM_ID,
        SampleFormat::CPU,
        SampleFormat::PERIOD,
    ]
    .iter()
    .filter(|f| format.contains(**f))
    .count()
        * 8;
    let data = record.data.as_slice();
    let Some(nr) = data
        .get(before..)
        .and_then(|d| leading_u64(d, record.parse_info.endian))
    else {
        return true; // too short: the crate reports that itself
    };
    nr <= (data.len() - before - 8) as u64 / 8
}

/// A u64 from the start of a raw record body, in the file's byte order.
pub fn leading_u64(data: &[u8], endian: Endianness) -> Option<u64> {
    let bytes: [u8; 8] = data.get(..8)?.try_into().ok()?;
    Some(match endian {
        Endianness::LittleEndian => u64::from_le_bytes(bytes),
        Endianness::BigEndian => u64::from_be_bytes(bytes),
    })
}
