//! Criterion benches of the analysis stages on the real fixtures: parsing (record
//! statistics), and the whole analysis (parse, unwind, symbolize, fold) of a frame-pointer and
//! a DWARF recording. Whole-file figures on large recordings: scripts/bench-analyze.sh.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use unwindbench::analyze::{analyze, AnalyzeOptions};
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

fn whole_analysis(c: &mut Criterion) {
    let mut g = c.benchmark_group("analyze");
    g.sample_size(20);
    let out = tempfile::tempdir().unwrap();
    for name in ["callchain-fp.data", "callchain-dwarf4k.data"] {
        let path = fixture(name);
        g.throughput(Throughput::Bytes(std::fs::metadata(&path).unwrap().len()));
        let mut o = AnalyzeOptions::new(path, out.path().to_path_buf());
        o.search = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bin")];
        o.flamegraph = false;
        g.bench_function(name, |b| b.iter(|| analyze(&o).unwrap().distinct_stacks));
    }
    g.finish();
}

criterion_group!(benches, parse, whole_analysis);
criterion_main!(benches);
