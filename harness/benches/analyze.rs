//! Criterion benches of the analysis stages on the real fixtures: parsing (record
//! statistics), unwinding (everything before naming), folding, naming (this machine's libc,
//! from its symbol tables and, with inlined functions, from its DWARF), and the whole
//! analysis (parse, unwind, symbolize, fold) of a frame-pointer and a DWARF recording.
//! Whole-file figures on large recordings: scripts/bench-analyze.sh.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use unwindbench::analyze::{self, analyze, AnalyzeOptions};
use unwindbench::fold::Weighting;
use unwindbench::perfdata::{self, stats};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/perf")
        .join(name)
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for name in ["callchain-fp.data", "callchain-dwarf4k.data"] {
        let path = fixture(name);
        g.throughput(Throughput::Bytes(std::fs::metadata(&path).unwrap().len()));
        g.bench_function(name, |b| {
            b.iter(|| {
                let (s, err) = stats::collect(perfdata::open(&path, false).unwrap());
                assert!(err.is_none());
                s.samples
            })
        });
    }
    g.finish();
}

/// 2,000 addresses spread over libc's code, named in one batch as a module is in `analyze`.
fn naming(c: &mut Criterion) {
    use unwindbench::binary::{FileFinder, ModuleTable};
    use unwindbench::symbolize::Symbolizer;
    let mut modules = ModuleTable::default();
    let libc = modules.intern(b"/usr/lib/x86_64-linux-gnu/libc.so.6", None, false);
    let finder = FileFinder::default();
    let Ok(elf) = modules.get(libc).elf(&finder) else {
        eprintln!("naming bench skipped: no /usr/lib/x86_64-linux-gnu/libc.so.6");
        return;
    };
    let code = elf.exec_segments[0];
    let step = (code.file_size / 2000).max(1);
    let offsets: Vec<u64> = (0..2000).map(|i| code.file_offset + i * step).collect();
    let mut g = c.benchmark_group("name_libc");
    g.sample_size(10);
    for (label, inline) in [("symbol_table", false), ("inline_dwarf", true)] {
        let symbolizer = Symbolizer::new(inline, Path::new("/proc/kallsyms"), None, None);
        g.bench_function(label, |b| b.iter(|| symbolizer.user(elf, &offsets).len()));
    }
    g.finish();
}

fn options(path: PathBuf, out: &Path) -> AnalyzeOptions {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut o = AnalyzeOptions::new(path, out.to_path_buf());
    o.search = vec![fixtures.join("bin")];
    o.buildid_dir = Some(fixtures.join("debug"));
    o.flamegraph = false;
    o
}

/// `run` on the frame-pointer and the DWARF fixture, in group `group`, by input bytes.
fn per_recording<R>(c: &mut Criterion, group: &str, run: impl Fn(&AnalyzeOptions) -> R) {
    let mut g = c.benchmark_group(group);
    g.sample_size(20);
    let out = tempfile::tempdir().unwrap();
    for name in ["callchain-fp.data", "callchain-dwarf4k.data"] {
        let path = fixture(name);
        g.throughput(Throughput::Bytes(std::fs::metadata(&path).unwrap().len()));
        let o = options(path, out.path());
        g.bench_function(name, |b| b.iter(|| run(&o)));
    }
    g.finish();
}

/// Reading every record, following address spaces, unwinding every sample (framehop for the
/// DWARF recording) and interning the stacks: everything before naming.
fn unwind(c: &mut Criterion) {
    per_recording(c, "unwind", |o| {
        analyze::unwind(o).unwrap().table.distinct_stacks()
    });
}

/// Named distinct stacks to the folded text and the per-process figures (completeness,
/// depth percentiles).
fn fold(c: &mut Criterion) {
    let mut g = c.benchmark_group("fold");
    let out = tempfile::tempdir().unwrap();
    for name in ["callchain-fp.data", "callchain-dwarf4k.data"] {
        let o = options(fixture(name), out.path());
        let unwound = analyze::unwind(&o).unwrap();
        let (names, _, _) = unwound.name_frames(&o);
        g.throughput(Throughput::Elements(unwound.records.samples));
        g.bench_function(name, |b| {
            b.iter(|| {
                let (folded, figures) = unwound.table.finish(&names, Weighting::Samples);
                unwindbench::fold::write_folded(&folded, std::io::sink()).unwrap();
                figures.len()
            })
        });
    }
    g.finish();
}

fn whole_analysis(c: &mut Criterion) {
    per_recording(c, "analyze", |o| analyze(o).unwrap().distinct_stacks);
}

criterion_group!(benches, parse, unwind, fold, naming, whole_analysis);
criterion_main!(benches);
