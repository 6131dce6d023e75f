//! Fuzzes the perf.data readers alone, much faster than `analyze_bytes` (no unwinding, no
//! symbols, no outputs): a pipe-format input is streamed through `open_pipe` as `perf record
//! -o -` would feed it, anything else is read as a file. Every record is read and every
//! sample parsed, with and without --partial; a panic or an abort is a finding.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use unwindbench::perfdata::{self, parse_record, PerfData};

fn drain(mut data: PerfData) {
    let _ = (data.recorded(), data.build_ids(), data.perf_version());
    let _ = data.sampling_event();
    let sibling = data.sibling();
    while let Ok(Some(record)) = data.next_record() {
        if let linux_perf_data::PerfFileRecord::EventRecord { record, .. } = record {
            let _ = parse_record(&record);
        }
    }
    let _ = data.damage();
    if let Some(mut s) = sibling {
        while let Ok(Some(_)) = s.next_record() {}
    }
}

fuzz_target!(|bytes: &[u8]| {
    let pipe = bytes.len() >= 16 && bytes[8..16] == 16u64.to_le_bytes();
    let file = std::env::temp_dir().join(format!("unwindbench-fuzz-read-{}", std::process::id()));
    if !pipe && std::fs::write(&file, bytes).is_err() {
        return;
    }
    for partial in [false, true] {
        let opened = if pipe {
            let stream = Box::new(Cursor::new(bytes.to_vec()));
            perfdata::open_pipe(Path::new("fuzz-input"), stream, partial)
        } else {
            perfdata::open(&file, partial)
        };
        if let Ok(data) = opened {
            drain(data);
        }
    }
});
