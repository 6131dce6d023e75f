//! `analyze` on the real fixtures of scripts/make-fixtures.sh: a golden folded output,
//! parity with `perf script | inferno-collapse-perf`, the known stacks of the fixture
//! program, and damaged input.
//!
//! Regenerate the golden files with `UNWINDBENCH_BLESS=1 cargo test --test analyze_fixtures`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use inferno::collapse::Collapse;
use unwindbench::analyze::{analyze, AnalyzeOptions, Recorded};
use unwindbench::fold::Weighting;

mod common;
use common::folded::{agreement, libc_aliases, parse_folded, without_libc_aliases};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn run(
    name: &str,
    weighting: Weighting,
) -> (
    unwindbench::analyze::Analysis,
    BTreeMap<String, u64>,
    tempfile::TempDir,
) {
    let out = tempfile::tempdir().unwrap();
    let mut o = AnalyzeOptions::new(fixtures().join("perf").join(name), out.path().to_path_buf());
    // The recorded binary path is this checkout's; a clone elsewhere finds it by build id.
    o.search = vec![fixtures().join("bin")];
    // The vDSO of the kernel that recorded, kept with the fixtures: the host's own cache
    // holds its own kernel's, which another machine's CI would not have.
    o.buildid_dir = Some(fixtures().join("debug"));
    o.weighting = weighting;
    let a = analyze(&o).unwrap();
    let folded = parse_folded(&std::fs::read_to_string(out.path().join("stacks.folded")).unwrap());
    (a, folded, out)
}

/// `perf script` text (saved at fixture time) folded by inferno's collapser, as
/// `inferno-collapse-perf` would.
fn inferno_fold(script: &str) -> BTreeMap<String, u64> {
    let text = std::fs::read(fixtures().join("perf").join(script)).unwrap();
    let mut out = Vec::new();
    inferno::collapse::perf::Folder::from(inferno::collapse::perf::Options::default())
        .collapse(&text[..], &mut out)
        .unwrap();
    parse_folded(&String::from_utf8(out).unwrap())
}

#[test]
fn frame_pointer_stacks_match_the_golden_file() {
    let (a, folded, out) = run("callchain-fp.data", Weighting::Samples);
    // libc is named from the host's copy, which must be the build that recorded: say so
    // rather than report changed stacks when the machine's libc was upgraded since.
    assert!(
        a.missing_modules.is_empty(),
        "fixture modules unusable on this host (regenerate with scripts/make-fixtures.sh): {:?}",
        a.missing_modules
    );
    let ours = std::fs::read_to_string(out.path().join("stacks.folded")).unwrap();
    let golden = fixtures().join("expected/callchain-fp.folded");
    if std::env::var_os("UNWINDBENCH_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &ours).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .expect("golden file missing: run with UNWINDBENCH_BLESS=1 to create it");
    assert_eq!(
        ours, expected,
        "stacks changed; rerun with UNWINDBENCH_BLESS=1 if intended"
    );
    assert!(!folded.is_empty());
}

#[test]
fn frame_pointer_stacks_agree_with_perf_script_and_inferno() {
    let (_, ours, _out) = run("callchain-fp.data", Weighting::Period);
    let theirs = inferno_fold("callchain-fp.script");
    let share = agreement(&ours, &theirs);
    assert!(
        share >= 0.99,
        "only {:.2}% of the weight on the same stacks\nours: {ours:#?}\ntheirs: {theirs:#?}",
        share * 100.0
    );
}

#[test]
fn the_known_call_chains_come_out() {
    let (a, folded, _out) = run("callchain-fp.data", Weighting::Samples);
    assert_eq!(a.recorded, Recorded::Callchain);
    // User time only: no kernel frame lacks a name, so no warning that kallsyms is missing.
    assert!(a.kernel_symbols);
    let total: u64 = folded.values().sum();
    let on_chain: u64 = folded
        .iter()
        .filter(|(s, _)| {
            s.starts_with("callchain;")
                && s.contains(";main;run;")
                && (s.contains(";run;outer;middle;inner;spin") || s.contains(";run;other;spin"))
        })
        .map(|(_, n)| n)
        .sum();
    assert!(
        on_chain as f64 >= 0.95 * total as f64,
        "{on_chain} of {total}: {folded:#?}"
    );
    // Three slices in four go through the deep branch.
    let deep: u64 = folded
        .iter()
        .filter(|(s, _)| s.contains(";outer;middle;inner;"))
        .map(|(_, n)| n)
        .sum();
    let share = deep as f64 / on_chain as f64;
    assert!((0.6..0.9).contains(&share), "deep share {share}");
    let f = &a.stacks["callchain"];
    assert!(f.completeness.unwrap() >= 0.95, "{f:?}");
    assert!(f.depth_p50.unwrap() >= 6, "{f:?}");
}

/// Completeness of `comm`'s stacks in `perf script` text: the outermost frame is a bottom.
fn perf_script_completeness(script: &str, comm: &str) -> f64 {
    let text = std::fs::read_to_string(fixtures().join("perf").join(script)).unwrap();
    let (mut total, mut complete) = (0u64, 0u64);
    for block in text.split("\n\n") {
        let mut lines = block.lines().filter(|l| !l.trim().is_empty());
        let Some(header) = lines.next() else { continue };
        if !header.trim_start().starts_with(comm) {
            continue;
        }
        let frames: Vec<&str> = lines.collect();
        let Some(last) = frames.last() else { continue };
        total += 1;
        let sym = last.split_whitespace().nth(1).unwrap_or("");
        let sym = sym.split('+').next().unwrap_or("");
        if unwindbench::unwind::bottoms::is_bottom_name(sym, true) {
            complete += 1;
        }
    }
    complete as f64 / total.max(1) as f64
}

#[test]
fn dwarf_stacks_are_at_least_as_complete_as_perf_scripts() {
    let (a, folded, _out) = run("callchain-dwarf4k.data", Weighting::Samples);
    assert_eq!(a.recorded, Recorded::Dwarf { stack_bytes: 4096 });
    let ours = a.stacks["callchain"].completeness.unwrap();
    let perf = perf_script_completeness("callchain-dwarf4k.script", "callchain");
    assert!(ours >= perf - 1e-9, "ours {ours} < perf script {perf}");
    assert!(ours >= 0.95, "{:?}", a.stacks["callchain"]);
    // DWARF reaches below main, into libc's start code.
    assert!(
        folded
            .keys()
            .any(|s| s.contains("__libc_start_call_main;main;run;")),
        "{folded:#?}"
    );
    // perf names DWARF-unwound frames from DWARF (`__libc_start_main_impl`), frame-pointer
    // ones from the symbol table (`__libc_start_main@@GLIBC_2.34`); we name both the latter
    // way, so that the modes compare. Same function, same stack.
    let aliases = libc_aliases();
    let theirs = without_libc_aliases(&inferno_fold("callchain-dwarf4k.script"), &aliases);
    let share = agreement(&without_libc_aliases(&folded, &aliases), &theirs);
    assert!(
        share >= 0.9,
        "DWARF stacks agree on only {:.1}%",
        share * 100.0
    );
}

#[test]
fn pipe_format_gives_the_same_kind_of_stacks() {
    let (a, folded, _out) = run("callchain-fp.pipe.data", Weighting::Samples);
    assert_eq!(a.format, unwindbench::perfdata::Format::Pipe);
    assert!(
        folded.keys().any(|s| s.contains(";main;run;")),
        "{folded:#?}"
    );
}

#[test]
fn damaged_input_fails_in_one_line_or_reads_partially() {
    let bytes = std::fs::read(fixtures().join("perf/callchain-dwarf4k.data")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Corrupt a record header in the middle of the data section: its size becomes 4.
    let data_offset = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    let data_size = u64::from_le_bytes(bytes[48..56].try_into().unwrap()) as usize;
    let mut corrupt = bytes.clone();
    // Walk records to the middle one.
    let mut at = data_offset;
    while at < data_offset + data_size / 2 {
        let size = u16::from_le_bytes([corrupt[at + 6], corrupt[at + 7]]) as usize;
        at += size;
    }
    corrupt[at + 6] = 4;
    corrupt[at + 7] = 0;
    let path = dir.path().join("corrupt.data");
    std::fs::write(&path, &corrupt).unwrap();
    let mut o = AnalyzeOptions::new(path.clone(), dir.path().join("out"));
    o.search = vec![fixtures().join("bin")];
    let err = analyze(&o).unwrap_err().to_string();
    assert!(err.contains("corrupt near byte"), "{err}");
    assert!(!err.contains('\n'));
    o.partial = true;
    let a = analyze(&o).unwrap();
    assert!(a.partial_error.is_some());
    assert!(a.records.samples > 0);
}

/// Threads split a file's samples between them (`--threads`); the stacks and every figure of
/// stats.json must come out exactly as with one.
#[test]
fn any_number_of_threads_gives_the_same_result() {
    for name in [
        "callchain-fp.data",
        "callchain-dwarf4k.data",
        "callchain-lost.data",
    ] {
        let results: Vec<(String, serde_json::Value)> = [1, 2, 3]
            .into_iter()
            .map(|threads| {
                let out = tempfile::tempdir().unwrap();
                let mut o = AnalyzeOptions::new(
                    fixtures().join("perf").join(name),
                    out.path().to_path_buf(),
                );
                o.search = vec![fixtures().join("bin")];
                o.threads = threads;
                let mut a = analyze(&o).unwrap();
                // Timings differ from run to run, whatever the threads.
                a.wall_s = 0.0;
                a.mb_per_s = 0.0;
                a.phases = Default::default();
                let folded = std::fs::read_to_string(out.path().join("stacks.folded")).unwrap();
                (folded, serde_json::to_value(&a).unwrap())
            })
            .collect();
        assert!(
            results[0].0.lines().count() >= 2,
            "{name}: {}",
            results[0].0
        );
        for (threads, r) in [2, 3].iter().zip(&results[1..]) {
            assert_eq!(
                r.0, results[0].0,
                "{name}: folded stacks with {threads} threads"
            );
            assert_eq!(r.1, results[0].1, "{name}: stats with {threads} threads");
        }
    }
}
