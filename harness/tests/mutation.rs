//! A short, bounded mutation test over `analyze` (no cargo-fuzz needed; the longer fuzzing
//! is fuzz/, see its README): the real fixtures with seeded damage — flipped bits, truncation,
//! zeroed ranges, duplicated chunks — must come back as results or one-line errors, with and
//! without --partial, and a cut file must not pass for a whole one.
//!
//! Each input runs in a child process of a *debug* build of the binary (built once into
//! target/checked, beside the release build the suite uses): an abort, a stack overflow or a
//! SIGBUS ends the child, not the test, and the debug build's overflow checks and debug
//! assertions turn the arithmetic bugs the fuzzer found into failures here. An input that
//! kills the child is kept in tests/fixtures/corrupt/ and replayed first from then on.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

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

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    FlipBits,
    /// Cut at this length.
    Truncate(usize),
    ZeroRange,
    DuplicateChunk,
    /// Damage where it hurts most: the header and the first records.
    HeaderByte,
}

fn mutate(bytes: &[u8], rng: &mut Rng) -> (Kind, Vec<u8>) {
    let mut b = bytes.to_vec();
    let kind = match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            Kind::FlipBits
        }
        1 => {
            let at = rng.below(b.len());
            b.truncate(at);
            Kind::Truncate(at)
        }
        2 => {
            let i = rng.below(b.len());
            let n = (1 + rng.below(64)).min(b.len() - i);
            b[i..i + n].fill(0);
            Kind::ZeroRange
        }
        3 => {
            let i = rng.below(b.len());
            let n = (1 + rng.below(256)).min(b.len() - i);
            let chunk = b[i..i + n].to_vec();
            let at = rng.below(b.len());
            b.splice(at..at, chunk);
            Kind::DuplicateChunk
        }
        _ => {
            let i = rng.below(b.len().min(512));
            b[i] = rng.next() as u8;
            Kind::HeaderByte
        }
    };
    (kind, b)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The debug build of the binary, built once per test run into its own target folder (its
/// own lock: the release build's folder stays locked while `cargo test` runs).
fn checked_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let target = workspace.join("target/checked");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--bin", "unwindbench"])
            .current_dir(workspace)
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the debug build of unwindbench failed");
        target.join("debug/unwindbench")
    })
}

/// How one child run ended.
struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    stderr: String,
}

fn run(input: &Path, out: &Path, partial: bool) -> Outcome {
    let mut cmd = Command::new(checked_binary());
    cmd.arg("analyze")
        .arg(input)
        .arg("--out")
        .arg(out)
        .arg("--search")
        .arg(fixtures().join("bin"))
        // No kernel symbols (the same for every input, and slow in a debug build).
        .args(["--kallsyms", "/nonexistent", "--offline", "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if partial {
        cmd.arg("--partial");
    }
    let out = cmd.output().expect("the child starts");
    Outcome {
        code: out.status.code(),
        signal: out.status.signal(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// What an input must produce, beyond "a result or one line of error".
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    Anything,
    /// A cut file, read without --partial: refused, never taken for a whole recording.
    Refused,
}

/// Analyzes `bytes` both ways in child processes; panics (failing the test) if a child dies,
/// an error spans lines or an expectation fails. A dead child's input is kept.
fn survive(bytes: &[u8], dir: &Path, what: &str, expect: Expect) {
    let input = dir.join(format!("{what}.data"));
    std::fs::write(&input, bytes).unwrap();
    for partial in [false, true] {
        let o = run(&input, &dir.join(format!("{what}.out")), partial);
        if o.code.is_none() || o.code == Some(101) {
            let keep = fixtures().join("corrupt").join(format!("{what}.data"));
            std::fs::create_dir_all(keep.parent().unwrap()).unwrap();
            std::fs::write(&keep, bytes).unwrap();
            panic!(
                "analyze died on {what} (partial: {partial}, exit {:?}, signal {:?}); input kept as {}\n{}",
                o.code,
                o.signal,
                keep.display(),
                o.stderr
            );
        }
        // A panic the parser's guard caught still prints its backtrace: a finding too.
        assert!(
            !o.stderr.contains("panicked"),
            "{what}: a caught panic: {}",
            o.stderr
        );
        let errors = o.stderr.lines().filter(|l| l.starts_with("error")).count();
        match o.code {
            Some(0) => assert_eq!(errors, 0, "{what}: exit 0 with an error: {}", o.stderr),
            Some(1) => assert_eq!(errors, 1, "{what}: not one error line: {}", o.stderr),
            other => panic!("{what}: exit {other:?}: {}", o.stderr),
        }
        if expect == Expect::Refused && !partial {
            assert_eq!(
                o.code,
                Some(1),
                "{what}: a cut input read as whole: {}",
                o.stderr
            );
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
            let name = e.path().file_stem().unwrap().to_string_lossy().into_owned();
            survive(&bytes, dir.path(), &name, Expect::Anything);
        }
    }
}

/// Record boundaries of a pipe stream: cutting there is a clean (if early) end.
fn pipe_boundaries(stream: &[u8]) -> Vec<usize> {
    let mut at = 16;
    let mut ends = vec![at];
    while at + 8 <= stream.len() {
        // (The pipe fixture has no AUXTRACE records, whose data would follow them.)
        let size = u16::from_le_bytes([stream[at + 6], stream[at + 7]]) as usize;
        at += size.max(8);
        ends.push(at);
    }
    ends
}

fn expectation(kind: Kind, original: &[u8], pipe: bool) -> Expect {
    match kind {
        // A file cut anywhere misses its metadata; a stream cut between records is a stream
        // that ended there, indistinguishable from a short recording.
        Kind::Truncate(at) if !pipe || !pipe_boundaries(original).contains(&at) => Expect::Refused,
        _ => Expect::Anything,
    }
}

fn mutate_fixture(rel: &str, seed: u64, count: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let original = std::fs::read(fixtures().join(rel)).unwrap();
    let name = Path::new(rel).file_stem().unwrap().to_string_lossy();
    let pipe = rel.contains(".pipe.");
    for i in 0..count {
        let (kind, bytes) = mutate(&original, &mut rng);
        let expect = expectation(kind, &original, pipe);
        survive(&bytes, dir.path(), &format!("{name}-mutation-{i}"), expect);
    }
}

// One test per fixture, so the harness runs them side by side.

#[test]
fn seeded_mutations_of_a_frame_pointer_file() {
    mutate_fixture("perf/callchain-fp.data", 0x5eed_cafe_f00d_0001, 50);
}

#[test]
fn seeded_mutations_of_a_dwarf_file() {
    mutate_fixture("perf/callchain-dwarf4k.data", 0x5eed_cafe_f00d_0002, 50);
}

#[test]
fn seeded_mutations_of_a_pipe_stream() {
    mutate_fixture("perf/callchain-fp.pipe.data", 0x5eed_cafe_f00d_0003, 50);
}

#[test]
fn seeded_mutations_of_a_lossy_file() {
    mutate_fixture("perf/callchain-lost.data", 0x5eed_cafe_f00d_0004, 50);
}

#[test]
fn seeded_mutations_of_an_aux_trace_file() {
    mutate_fixture(
        "derived/callchain-fp-auxtrace.data",
        0x5eed_cafe_f00d_0005,
        50,
    );
}

/// A record the parser rejects is counted, not silently dropped: the figures say the file was
/// damaged. The kept fuzz input (a pipe stream) has one sample whose callchain length
/// overflows, and ends inside a record: it reads with --partial only.
#[test]
fn malformed_records_are_counted() {
    use unwindbench::analyze::{analyze, AnalyzeOptions};
    let dir = tempfile::tempdir().unwrap();
    let mut o = AnalyzeOptions::new(
        fixtures().join("corrupt/callchain-length-overflow.data"),
        dir.path().join("out"),
    );
    o.flamegraph = false;
    o.search = vec![fixtures().join("bin")];
    assert!(
        analyze(&o).is_err(),
        "the stream is cut: refused without --partial"
    );
    o.partial = true;
    let a = analyze(&o).expect("the damage is inside one record; the rest reads");
    assert_eq!(a.records.unparsable_records, 1);
    let summary = unwindbench::analyze::summary::analysis_summary(&a, dir.path());
    assert!(summary.contains("1 record(s) were malformed"), "{summary}");
}
