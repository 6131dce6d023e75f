//! Reading perf.data, file or pipe format, natively with `linux-perf-data`.
//!
//! [`open`] checks the file header ([`header`]) before any record is read, so a file that
//! perf never finished, a truncated copy or something that is not perf.data at all is
//! reported in one line with the offsets involved, instead of failing somewhere deep in the
//! parser. Records are streamed in time order, round by round ([`rounds`]), so memory stays
//! bounded by a round, not by the file. The crate parses headers, metadata, pipe streams and
//! compressed files; records of finished files are read in place from a memory map by
//! [`mapped`], which avoids copying every record, and a damaged file's by [`salvage`].
//! [`records`] parses one record without trusting it; [`stats`], [`threads`] and
//! [`address_space`] follow what the records say.

pub mod address_space;
mod byte_source;
mod feature_checks;
mod framing;
mod header;
mod mapped;
pub mod records;
mod rounds;
pub mod salvage;
pub mod stats;
pub mod threads;

pub use self::records::{leading_u64, parse_record};

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use self::byte_source::{Counting, MappedFile};
use self::header::{FileHeader, FILE_HEADER_SIZE};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::binary::BuildId;
use linux_perf_data::linux_perf_event_reader::{
    PerfEventAttr, PerfEventType, SampleFormat, SoftwareCounterType,
};
use linux_perf_data::{Endianness, PerfFile, PerfFileReader, PerfFileRecord, PerfRecordIter};

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
    #[error("reading {path} was interrupted (Ctrl-C or SIGTERM): nothing written")]
    Interrupted { path: PathBuf },
}

/// Files are read through a memory map: no read() syscalls and no kernel-to-user copy of
/// every byte (a third of the analysis time of a DWARF recording went there).
type FileIter = PerfRecordIter<Counting<MappedFile>>;
type PipeIter = PerfRecordIter<framing::Framed<Counting<BufReader<Box<dyn Read + Send>>>>>;

enum Iter {
    /// Finished files, read in place (see [`mapped`]).
    Mapped(mapped::MappedRecords),
    /// Files the in-place reader leaves to the crate (compressed, simpleperf): AUX trace
    /// files are read in place, which steps over the trace data within the file's bounds..
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

/// How the recording collected stacks, read from its event attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recorded {
    /// No call graph.
    None,
    /// Kernel callchains (frame pointers, or LBR).
    Callchain,
    /// Registers and `stack_bytes` of user stack per sample.
    Dwarf { stack_bytes: u32 },
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
    /// Where a pipe stream stopped early, and why, once its reader finds out.
    pipe_damage: Option<framing::SharedDamage>,
    position: Arc<AtomicU64>,
    /// Length of the data section when known (file format): records end there.
    data_end: Option<u64>,
    /// Allow a truncated file: read up to where its bytes end.
    partial: bool,
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
    let header = FileHeader::read(&mut file).map_err(open_err)?;
    if !header.is_perf_data() {
        return Err(PerfDataError::NotPerfData {
            path: path.to_path_buf(),
            magic: String::from_utf8_lossy(&header.magic).into_owned(),
        });
    }
    file.seek(SeekFrom::Start(0)).map_err(open_err)?;
    if header.is_pipe() {
        let reader: Box<dyn Read + Send> = Box::new(file);
        return open_pipe(path, reader, partial);
    }
    if partial {
        if let Some(salvaged) = open_damaged(path, &header)? {
            return Ok(salvaged);
        }
    }
    check_whole(path, &mut file, file_len, &header, partial)?;
    open_finished(path, &file, file_len, &header, partial)
}

/// Whether `path` is a file-format perf.data that perf never finalized (its header still
/// says 0 data bytes: perf was killed while recording). None: not a perf.data file.
pub fn is_unfinalized(path: &Path) -> Option<bool> {
    let mut file = File::open(path).ok()?;
    let header = FileHeader::read(&mut file).ok()?;
    (header.is_perf_data() && !header.is_pipe()).then_some(header.data.size == 0)
}

/// A damaged or unfinished file, read up to the damage (--partial); None when the file is
/// whole and finished, for the normal readers.
fn open_damaged(path: &Path, header: &FileHeader) -> Result<Option<PerfData>, PerfDataError> {
    let (good_end, damage) = salvage::scan(path, header).map_err(|source| PerfDataError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let unfinished = header.data.size == 0;
    if damage.is_none() && !unfinished {
        return Ok(None);
    }
    let reader =
        salvage::Salvage::open(path, header, good_end).map_err(|e| PerfDataError::Corrupt {
            path: path.to_path_buf(),
            offset: header.attrs.offset,
            message: format!("its header and event attributes are unreadable too: {e}"),
        })?;
    let damage = match (damage, unfinished) {
        (Some(d), true) => salvage::Damage {
            reason: format!(
                "perf never finalized the file, and its records stop here ({})",
                d.reason
            ),
            ..d
        },
        (Some(d), false) => d,
        (None, _) => salvage::Damage {
            offset: good_end,
            reason: "perf never finalized the file (records up to its end were read)".into(),
        },
    };
    Ok(Some(PerfData {
        path: path.to_path_buf(),
        format: Format::File,
        file: None,
        iter: Iter::Salvage(reader),
        damage: Some(damage),
        pipe_damage: None,
        position: Arc::new(AtomicU64::new(0)),
        data_end: Some(good_end),
        partial: true,
    }))
}

/// Refuses a file perf never finished, one whose header points outside it, and (unless
/// `partial`) a truncated one, each with the offsets involved.
fn check_whole(
    path: &Path,
    file: &mut File,
    file_len: u64,
    header: &FileHeader,
    partial: bool,
) -> Result<(), PerfDataError> {
    if header.data.size == 0 && file_len > header.data.offset.max(FILE_HEADER_SIZE) {
        return Err(PerfDataError::Unfinished {
            path: path.to_path_buf(),
            file_len,
        });
    }
    let expected_end = header.data.end();
    if expected_end <= file_len {
        header
            .check_sections(file, file_len)
            .map_err(|(offset, message)| PerfDataError::Corrupt {
                path: path.to_path_buf(),
                offset,
                message,
            })?;
    }
    if expected_end > file_len && !partial {
        return Err(PerfDataError::Truncated {
            path: path.to_path_buf(),
            expected_end,
            file_len,
        });
    }
    Ok(())
}

/// A finished file: its metadata parsed by the crate, its records read in place where
/// [`mapped`] can, by the crate's reader otherwise.
fn open_finished(
    path: &Path,
    file: &File,
    file_len: u64,
    header: &FileHeader,
    partial: bool,
) -> Result<PerfData, PerfDataError> {
    let open_err = |source| PerfDataError::Open {
        path: path.to_path_buf(),
        source,
    };
    let expected_end = header.data.end();
    let position = Arc::new(AtomicU64::new(0));
    // SAFETY: a read-only map of a finished recording; truncating it underneath would fault,
    // the accepted risk of mapping files.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(open_err)?;
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
        let map = unsafe { memmap2::Mmap::map(file) }.map_err(open_err)?;
        Iter::Mapped(mapped::MappedRecords::new(
            map,
            &perf_file,
            header.data.offset,
            header.data.size,
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
        pipe_damage: None,
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
    let framed = framing::Framed::new(Counting {
        inner: BufReader::with_capacity(1 << 20, reader),
        position: position.clone(),
    });
    let damage = framed.damage();
    let parsed = PerfFileReader::parse_pipe(framed);
    let stopped_early = damage.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let PerfFileReader {
        perf_file,
        record_iter,
    } = parsed.map_err(|e| {
        let offset = position.load(Ordering::Relaxed);
        if let Some(d) = stopped_early {
            PerfDataError::Corrupt {
                path: name.to_path_buf(),
                offset: d.offset,
                message: format!("{} (before the first sample)", d.reason),
            }
        } else if offset == 0 {
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
        pipe_damage: Some(damage),
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
            Ok(None) => {
                let stopped = self.pipe_damage.as_ref();
                match stopped.and_then(|d| d.lock().unwrap_or_else(|e| e.into_inner()).take()) {
                    None => Ok(None),
                    // A stream the framing found cut or damaged: an error unless
                    // --partial, which reads up to the damage and reports it like a
                    // salvaged file's.
                    Some(found) if self.partial => {
                        self.damage = Some(found);
                        Ok(None)
                    }
                    Some(found) => Err(PerfDataError::Corrupt {
                        path: self.path.clone(),
                        offset: found.offset,
                        message: format!(
                            "{}; use --partial to read the records before it",
                            found.reason
                        ),
                    }),
                }
            }
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
    /// (pipe streams, compressed files, salvaged damage).
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
            pipe_damage: None,
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

    /// How the recording collected stacks, from its sampling event's attributes.
    pub fn recorded(&self) -> Recorded {
        let Some(attr) = self.first_attr() else {
            return Recorded::None;
        };
        let format = attr.sample_format;
        if format.contains(SampleFormat::STACK_USER) && format.contains(SampleFormat::REGS_USER) {
            Recorded::Dwarf {
                stack_bytes: attr.sample_stack_user,
            }
        } else if format.contains(SampleFormat::CALLCHAIN) {
            Recorded::Callchain
        } else {
            Recorded::None
        }
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
