//! perf.data statistics on real fixtures (made by scripts/make-fixtures.sh), checked against
//! perf's own counts stored beside each file (`*.expected`), and the errors for broken files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use unwindbench::perfdata::{self, stats, Format};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/perf")
        .join(name)
}

/// perf's counts for a fixture: (records by type, LOST sum, LOST_SAMPLES sum, comm counts).
struct Expected {
    records: BTreeMap<String, u64>,
    lost_in_chunks: u64,
    lost_samples: u64,
    comms: BTreeMap<String, u64>,
}

fn expected(data: &str) -> Expected {
    let path = fixture(&data.replace(".data", ".expected"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut e = Expected {
        records: BTreeMap::new(),
        lost_in_chunks: 0,
        lost_samples: 0,
        comms: BTreeMap::new(),
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["records", ty, n] => {
                e.records.insert(ty.to_string(), n.parse().unwrap());
            }
            ["lost_in_chunks", n] => e.lost_in_chunks = n.parse().unwrap(),
            ["lost_samples", n] => e.lost_samples = n.parse().unwrap(),
            ["comm", name, n] => {
                e.comms.insert(name.to_string(), n.parse().unwrap());
            }
            _ => {}
        }
    }
    e
}

fn collect(name: &str) -> stats::RecordStats {
    let data = perfdata::open(&fixture(name), false).unwrap();
    let (s, err) = stats::collect(data);
    assert!(err.is_none(), "{name}: {err:?}");
    s
}

#[test]
fn counts_match_perf_on_every_fixture() {
    for name in [
        "callchain-fp.data",
        "callchain-dwarf4k.data",
        "callchain-lost.data",
        "callchain-fp.pipe.data",
    ] {
        let s = collect(name);
        let e = expected(name);
        assert_eq!(Some(&s.samples), e.records.get("SAMPLE"), "{name} samples");
        assert_eq!(
            s.lost_chunks,
            e.records.get("LOST").copied().unwrap_or(0),
            "{name} LOST"
        );
        assert_eq!(s.lost_in_chunks, e.lost_in_chunks, "{name} LOST sum");
        assert_eq!(
            s.lost_samples_counter + s.lost_samples_kernel,
            e.lost_samples,
            "{name} LOST_SAMPLES sum"
        );
        for ty in ["MMAP", "MMAP2", "COMM", "EXIT"] {
            assert_eq!(
                s.records_by_type.get(ty).copied().unwrap_or(0),
                e.records.get(ty).copied().unwrap_or(0),
                "{name} {ty}: {:?}",
                s.records_by_type
            );
        }
        assert_eq!(s.samples_per_comm, e.comms, "{name} comms");
    }
}

#[test]
fn lost_data_is_counted_once() {
    let s = collect("callchain-lost.data");
    assert!(s.lost_chunks > 0, "the fixture was recorded to lose data");
    // perf's end-of-run counter and the LOST records count the same drops.
    assert_eq!(
        s.lost_events,
        s.lost_in_chunks.max(s.lost_samples_counter) + s.lost_samples_kernel
    );
    assert!(s.lost_events < s.lost_in_chunks + s.lost_samples_counter);
    assert!(s.lost_share() > 0.0 && s.lost_share() < 1.0);
}

#[test]
fn file_and_pipe_formats_are_recognized() {
    let file = perfdata::open(&fixture("callchain-fp.data"), false).unwrap();
    assert_eq!(file.format, Format::File);
    let event = file.sampling_event();
    assert!(
        event.name.contains("cpu-clock") || event.hardware,
        "{event:?}"
    );
    let pipe = perfdata::open(&fixture("callchain-fp.pipe.data"), false).unwrap();
    assert_eq!(pipe.format, Format::Pipe);
}

fn broken_copy(name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> tempfile::TempPath {
    let mut bytes = std::fs::read(fixture(name)).unwrap();
    edit(&mut bytes);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    file.into_temp_path()
}

fn open_error(path: &Path) -> String {
    match perfdata::open(path, false) {
        Err(e) => e.to_string(),
        Ok(data) => match stats::collect(data) {
            (_, Some(e)) => e.to_string(),
            (s, None) => panic!("broken file read fine: {} samples", s.samples),
        },
    }
}

#[test]
fn empty_truncated_and_foreign_files_get_one_line_errors() {
    let empty = broken_copy("callchain-fp.data", |b| b.clear());
    let half = broken_copy("callchain-dwarf4k.data", |b| b.truncate(b.len() / 2));
    let foreign = broken_copy("callchain-fp.data", |b| b[..8].copy_from_slice(b"NOTPERF!"));
    for (file, expected) in [
        (&empty, vec!["is empty"]),
        (&half, vec!["truncated", "--partial"]),
        (&foreign, vec!["not a perf.data file"]),
    ] {
        let msg = open_error(file);
        for e in expected {
            assert!(msg.contains(e), "{msg}");
        }
        assert!(!msg.contains('\n'), "{msg}");
    }
}

#[test]
fn a_file_perf_never_finalized_is_named_as_such() {
    // perf writes the data size into the header only at the end; a killed perf leaves 0.
    let unfinished = broken_copy("callchain-fp.data", |b| b[48..56].fill(0));
    let msg = open_error(&unfinished);
    assert!(msg.contains("never finished"), "{msg}");
}

#[test]
fn flipped_record_sizes_are_reported_with_an_offset() {
    // Zero the size field of a record header early in the data section.
    let bytes = std::fs::read(fixture("callchain-fp.data")).unwrap();
    let data_offset = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    let corrupt = broken_copy("callchain-fp.data", |b| {
        // first record header: type u32, misc u16, size u16
        b[data_offset + 6] = 0;
        b[data_offset + 7] = 0;
    });
    let msg = open_error(&corrupt);
    assert!(msg.contains("corrupt near byte"), "{msg}");
}

#[test]
fn partial_reading_keeps_what_is_there() {
    let full = collect("callchain-dwarf4k.data");
    for (what, cut) in [("truncated", 3usize), ("half", 2)] {
        let damaged = broken_copy("callchain-dwarf4k.data", |b| b.truncate(b.len() * cut / 4));
        let data = perfdata::open(&damaged, true).unwrap();
        let damage = data.damage().expect("damage is reported");
        assert!(damage.contains("damaged at byte"), "{what}: {damage}");
        let (s, err) = stats::collect(data);
        assert!(err.is_none(), "{what}: {err:?}");
        assert!(
            s.samples > 0 && s.samples < full.samples,
            "{what}: {} of {}",
            s.samples,
            full.samples
        );
    }
    // A file perf never finalized (size 0 in the header) is read to its end.
    let unfinished = broken_copy("callchain-fp.data", |b| b[48..56].fill(0));
    let data = perfdata::open(&unfinished, true).unwrap();
    assert!(data.damage().unwrap().contains("never finalized"));
    let (s, _) = stats::collect(data);
    assert_eq!(s.samples, collect("callchain-fp.data").samples);
}
