//! Fuzzes `analyze` with arbitrary bytes as a perf.data, with and without --partial: any
//! input must end in a result or an error, never a panic or an abort.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unwindbench::analyze::{analyze, AnalyzeOptions};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("unwindbench-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let input = dir.join("input.data");
    if std::fs::write(&input, data).is_err() {
        return;
    }
    for partial in [false, true] {
        let mut o = AnalyzeOptions::new(input.clone(), dir.join("out"));
        o.partial = partial;
        o.flamegraph = false;
        // No kernel symbols: they are the same for every input and slow each run down.
        o.kallsyms = "/nonexistent".into();
        let _ = analyze(&o);
    }
});
