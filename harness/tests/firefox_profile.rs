//! `analyze --profile` on the real fixtures: the written profile.json.gz, read back as the
//! Firefox Profiler reads it (processed format), holds the recorded process and thread, every
//! sample once at its perf time, the folded stacks' names frame by frame with their
//! libraries, and the incomplete stacks in their own category.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use unwindbench::analyze::profile::PROFILE_FILE;
use unwindbench::analyze::{analyze, Analysis, AnalyzeOptions};

mod common;
use common::folded::parse_folded;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `analyze --profile` as a library call, on `threads` threads.
fn analyze_fixture(name: &str, threads: usize) -> (Analysis, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let mut o = AnalyzeOptions::new(fixtures().join("perf").join(name), out.path().to_path_buf());
    o.search = vec![fixtures().join("bin")];
    o.buildid_dir = Some(fixtures().join("debug"));
    o.offline = true;
    o.flamegraph = false;
    o.threads = threads;
    o.profile = true;
    (analyze(&o).unwrap(), out)
}

fn profile_json(dir: &Path) -> String {
    let gz = std::fs::read(dir.join(PROFILE_FILE)).unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut json)
        .unwrap();
    json
}

/// One frame of a sample, as the viewer shows it.
#[derive(Debug)]
struct Frame {
    name: String,
    lib: Option<String>,
    category: String,
    subcategory: String,
}

/// One sample: its thread's name, its time (ms) and its frames, root first.
#[derive(Debug)]
struct Sample {
    thread: String,
    time_ms: f64,
    frames: Vec<Frame>,
}

fn as_index(v: &Value) -> Option<usize> {
    v.as_u64().map(|i| i as usize)
}

/// The samples of every thread, stacks resolved through the stack, frame, func and resource
/// tables as the viewer resolves them.
fn samples(profile: &Value) -> Vec<Sample> {
    let categories = profile["meta"]["categories"].as_array().unwrap();
    let libs = profile["libs"].as_array().unwrap();
    let mut out = Vec::new();
    for thread in profile["threads"].as_array().unwrap() {
        let strings = &thread["stringArray"];
        let (frames, funcs) = (&thread["frameTable"], &thread["funcTable"]);
        let stacks = &thread["stackTable"];
        let frame = |f: usize| {
            let func = as_index(&frames["func"][f]).unwrap();
            let lib = as_index(&funcs["resource"][func])
                .and_then(|r| as_index(&thread["resourceTable"]["lib"][r]))
                .map(|l| libs[l]["name"].as_str().unwrap().to_string());
            let category = &categories[as_index(&frames["category"][f]).unwrap()];
            let sub = as_index(&frames["subcategory"][f]).unwrap();
            Frame {
                name: strings[as_index(&funcs["name"][func]).unwrap()]
                    .as_str()
                    .unwrap()
                    .to_string(),
                lib,
                category: category["name"].as_str().unwrap().to_string(),
                subcategory: category["subcategories"][sub].as_str().unwrap().to_string(),
            }
        };
        let mut time_ms = 0.0;
        let table = &thread["samples"];
        for i in 0..table["length"].as_u64().unwrap() as usize {
            time_ms += table["timeDeltas"][i].as_f64().unwrap();
            assert_eq!(
                table["weight"][i].as_i64(),
                Some(1),
                "one sample, weight one"
            );
            let mut chain = Vec::new();
            let mut stack = as_index(&table["stack"][i]);
            while let Some(s) = stack {
                chain.push(frame(as_index(&stacks["frame"][s]).unwrap()));
                stack = as_index(&stacks["prefix"][s]);
            }
            chain.reverse();
            out.push(Sample {
                thread: thread["name"].as_str().unwrap().to_string(),
                time_ms,
                frames: chain,
            });
        }
    }
    out
}

/// The samples folded as `analyze` folds them: `comm;root;...;leaf` and a count.
fn fold(samples: &[Sample]) -> BTreeMap<String, u64> {
    let mut folded = BTreeMap::new();
    for s in samples {
        let mut line = s.thread.replace(' ', "_").replace(';', ":");
        for f in &s.frames {
            line.push(';');
            line.push_str(&f.name);
        }
        *folded.entry(line).or_insert(0) += 1;
    }
    folded
}

/// The functions most often at the leaf, most first (ties by name), from folded lines.
fn top_self(folded: &BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut by_leaf: BTreeMap<String, u64> = BTreeMap::new();
    for (line, count) in folded {
        let leaf = line.rsplit(';').next().unwrap().to_string();
        *by_leaf.entry(leaf).or_insert(0) += count;
    }
    let mut top: Vec<(String, u64)> = by_leaf.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(n);
    top
}

#[test]
fn the_flag_writes_the_callchain_process_with_every_sample_at_its_time() {
    let out = tempfile::tempdir().unwrap();
    let data = fixtures().join("perf/callchain-dwarf4k.data");
    let run = |dir: &Path, extra: &[&str]| {
        let status = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
            .arg("analyze")
            .arg(&data)
            .arg("--out")
            .arg(dir)
            .arg("--search")
            .arg(fixtures().join("bin"))
            .arg("--buildid-dir")
            .arg(fixtures().join("debug"))
            .arg("--offline")
            .args(extra)
            .output()
            .unwrap();
        assert!(status.status.success(), "{status:?}");
    };
    run(&out.path().join("plain"), &[]);
    assert!(!out.path().join("plain").join(PROFILE_FILE).exists());
    let dir = out.path().join("profiled");
    run(&dir, &["--profile"]);
    let profile: Value = serde_json::from_str(&profile_json(&dir)).unwrap();
    let stats: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stats.json")).unwrap()).unwrap();

    // One process, `callchain`, with its one (main) thread.
    let threads = profile["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 1, "{threads:#?}");
    let t = &threads[0];
    assert_eq!(t["processName"], "callchain");
    assert_eq!(t["name"], "callchain");
    assert_eq!(t["isMainThread"], true);
    assert_eq!(t["pid"], t["tid"]);
    assert!(t["pid"].as_str().unwrap().parse::<u32>().unwrap() > 0);

    // Every sample once, at perf's time: the first and last as stats.json has them, in order.
    let samples = samples(&profile);
    let folded = parse_folded(&std::fs::read_to_string(dir.join("stacks.folded")).unwrap());
    assert_eq!(samples.len() as u64, folded.values().sum::<u64>());
    assert_eq!(
        samples.len() as u64,
        stats["records"]["samples"].as_u64().unwrap()
    );
    let ns = |k: &str| stats["records"][k].as_u64().unwrap() as f64 / 1e6;
    let (first, last) = (samples[0].time_ms, samples[samples.len() - 1].time_ms);
    assert!((first - ns("first_sample_ns")).abs() < 1e-3, "{first}");
    assert!((last - ns("last_sample_ns")).abs() < 1e-3, "{last}");
    assert!(samples.windows(2).all(|w| w[0].time_ms <= w[1].time_ms));
    assert_eq!(t["registerTime"].as_f64(), Some(first));
}

#[test]
fn the_stacks_are_the_folded_stacks_frame_by_frame_with_their_libraries() {
    let (_, out) = analyze_fixture("callchain-dwarf4k.data", 1);
    let profile: Value = serde_json::from_str(&profile_json(out.path())).unwrap();
    let samples = samples(&profile);
    let folded = parse_folded(&std::fs::read_to_string(out.path().join("stacks.folded")).unwrap());
    assert_eq!(fold(&samples), folded);
    assert_eq!(top_self(&fold(&samples), 3), top_self(&folded, 3));
    assert_eq!(top_self(&folded, 1)[0].0, "spin");

    // The program's deep branch (workloads/programs/callchain.c), in order, in its binary,
    // below the C library's start-up frames.
    let chain = ["main", "run", "outer", "middle", "inner", "spin"];
    let deep: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            let names: Vec<&str> = s.frames.iter().map(|f| f.name.as_str()).collect();
            names.ends_with(&chain)
        })
        .collect();
    let expected: u64 = folded
        .iter()
        .filter(|(l, _)| l.ends_with(";main;run;outer;middle;inner;spin"))
        .map(|(_, n)| n)
        .sum();
    assert!(expected > 0);
    assert_eq!(deep.len() as u64, expected);
    for s in deep {
        let (start, program) = s.frames.split_at(s.frames.len() - chain.len());
        assert!(
            program
                .iter()
                .all(|f| f.lib.as_deref() == Some("callchain")),
            "{s:#?}"
        );
        assert!(program.iter().all(|f| f.category == "User"), "{s:#?}");
        let libc = start.iter().find(|f| f.name == "__libc_start_call_main");
        assert_eq!(
            libc.and_then(|f| f.lib.as_deref()),
            Some("libc.so.6"),
            "{s:#?}"
        );
    }
    let libs: Vec<&str> = profile["libs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert!(
        libs.contains(&"callchain") && libs.contains(&"libc.so.6"),
        "{libs:?}"
    );
}

#[test]
fn incomplete_stacks_are_in_their_own_category_by_reason() {
    // DWARF with 1 KiB copies, lossy: most stacks end early (stats.json counts them).
    let (a, out) = analyze_fixture("callchain-lost.data", 1);
    let all = &a.stacks[unwindbench::fold::ALL];
    let incomplete = all.user_samples - all.complete;
    assert!(incomplete > 0 && all.complete > 0, "{all:?}");
    let profile: Value = serde_json::from_str(&profile_json(out.path())).unwrap();
    let samples = samples(&profile);
    assert_eq!(samples.len() as u64, all.samples);
    let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
    for s in &samples {
        let marked = s.frames.iter().filter(|f| f.category == "Incomplete stack");
        let marked = marked.count();
        // A stack is marked whole or not at all.
        assert!(marked == 0 || marked == s.frames.len(), "{s:#?}");
        if marked > 0 {
            *reasons.entry(s.frames[0].subcategory.as_str()).or_default() += 1;
        }
        // Kernel frames of whole stacks are in the kernel's library.
        for f in s.frames.iter().filter(|f| f.category == "Kernel") {
            assert_eq!(f.lib.as_deref(), Some("[kernel.kallsyms]"), "{s:#?}");
        }
    }
    assert_eq!(reasons.values().sum::<u64>(), incomplete, "{reasons:?}");
    let reason = |r: &str| reasons.get(r).copied().unwrap_or(0);
    assert_eq!(reason("beyond the copied stack"), all.out_of_stack);
    assert_eq!(reason("unwinding failed"), all.unwind_errors);
    // The names stay those of the folded stacks.
    let folded = parse_folded(&std::fs::read_to_string(out.path().join("stacks.folded")).unwrap());
    assert_eq!(fold(&samples), folded);
}

#[test]
fn the_profile_is_the_same_whatever_the_number_of_threads() {
    for name in ["callchain-lost.data", "callchain-fp.data"] {
        let (_, one) = analyze_fixture(name, 1);
        let (_, three) = analyze_fixture(name, 3);
        assert!(
            profile_json(one.path()) == profile_json(three.path()),
            "{name}: profiles differ between 1 and 3 threads"
        );
    }
}
