//! A short, bounded mutation test over `analyze` (no cargo-fuzz needed; the longer fuzzing
//! is fuzz/, see its README): the real fixtures with seeded damage — flipped bits, truncation,
//! zeroed ranges, duplicated chunks — must come back as results or one-line errors, never
//! as a panic, with and without --partial. Inputs that once failed are kept in
//! tests/fixtures/corrupt/ and replayed first.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use unwindbench::analyze::{analyze, AnalyzeOptions};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        1 => b.truncate(rng.below(b.len())),
        2 => {
            let i = rng.below(b.len());
            let n = (1 + rng.below(64)).min(b.len() - i);
            b[i..i + n].fill(0);
        }
        3 => {
            let i = rng.below(b.len());
            let n = (1 + rng.below(256)).min(b.len() - i);
            let chunk = b[i..i + n].to_vec();
            let at = rng.below(b.len());
            b.splice(at..at, chunk);
        }
        _ => {
            // Damage where it hurts most: the header and the first records.
            let i = rng.below(b.len().min(512));
            b[i] = rng.next() as u8;
        }
    }
    b
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Analyzes `bytes` both ways; panics (failing the test) if analyze panics or an error
/// spans lines.
fn survive(bytes: &[u8], dir: &Path, what: &str) {
    let input = dir.join("input.data");
    std::fs::write(&input, bytes).unwrap();
    for partial in [false, true] {
        let mut o = AnalyzeOptions::new(input.clone(), dir.join("out"));
        o.partial = partial;
        o.flamegraph = false;
        o.search = vec![fixtures().join("bin")];
        let outcome = catch_unwind(AssertUnwindSafe(|| analyze(&o)));
        match outcome {
            Err(_) => {
                let keep = fixtures().join("corrupt").join(format!("{what}.data"));
                std::fs::create_dir_all(keep.parent().unwrap()).unwrap();
                std::fs::write(&keep, bytes).unwrap();
                panic!(
                    "analyze panicked on {what} (partial: {partial}); input kept as {}",
                    keep.display()
                );
            }
            Ok(Err(e)) => {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "{what}: multi-line error: {msg}");
            }
            Ok(Ok(_)) => {}
        }
    }
}

#[test]
fn kept_crash_inputs_stay_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let Ok(entries) = std::fs::read_dir(fixtures().join("corrupt")) else {
        return;
    };
    for e in entries.flatten() {
        if e.path().extension().is_some_and(|x| x == "data") {
            let bytes = std::fs::read(e.path()).unwrap();
            survive(&bytes, dir.path(), &e.file_name().to_string_lossy());
        }
    }
}

#[test]
fn seeded_mutations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    for name in [
        "callchain-fp.data",
        "callchain-dwarf4k.data",
        "callchain-fp.pipe.data",
        "callchain-lost.data",
    ] {
        let original = std::fs::read(fixtures().join("perf").join(name)).unwrap();
        for i in 0..60 {
            let bytes = mutate(&original, &mut rng);
            survive(&bytes, dir.path(), &format!("{name}-mutation-{i}"));
        }
    }
}

/// A record the parser rejects is counted, not silently dropped: the figures say the file was
/// damaged. The kept fuzz input has one sample whose callchain length overflows.
#[test]
fn malformed_records_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = AnalyzeOptions::new(
        fixtures().join("corrupt/callchain-length-overflow.data"),
        dir.path().join("out"),
    );
    o.flamegraph = false;
    o.search = vec![fixtures().join("bin")];
    let a = analyze(&o).expect("the damage is inside one record; the rest reads");
    assert_eq!(a.records.unparsable_records, 1);
    let summary = unwindbench::analyze::summary::analysis_summary(&a, dir.path());
    assert!(summary.contains("1 record(s) were malformed"), "{summary}");
}
