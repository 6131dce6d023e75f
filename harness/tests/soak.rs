//! Soak: short comparisons back to back, as a nightly job runs them for months. After each,
//! what the harness still held as it exited (descriptors, threads, children: its own report,
//! `UNWINDBENCH_RESOURCES`), the processes it left behind, the files in its run folder and in
//! the temp folder, the kernel's dirty page cache and the harness's peak memory are recorded;
//! the soak fails when any of them grows. `short_soak` is the suite's (a few runs);
//! `long_soak` (ignored; `scripts/soak.sh N`) runs N and prints the table.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use unwindbench::resources::Snapshot;

mod common;

/// One iteration's figures.
#[derive(Debug, Clone)]
struct Row {
    wall_s: f64,
    /// The harness's own view as it exited.
    at_exit: Snapshot,
    /// Processes naming the run or socket folder, alive after the harness exited.
    left_behind: usize,
    run_files: usize,
    temp_entries: usize,
    dirty_mib: f64,
}

fn files_under(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                n += 1;
            }
        }
    }
    n
}

/// Entries in the temp folder that the harness makes (socket folders, temporaries).
fn temp_entries() -> usize {
    std::fs::read_dir(std::env::temp_dir())
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().contains("unwindbench"))
                .count()
        })
        .unwrap_or(0)
}

fn dirty_mib() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Dirty:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib / 1024.0
}

fn iteration(dir: &Path, i: usize) -> Row {
    let run = dir.join(format!("run-{i:03}"));
    let report = dir.join("resources.jsonl");
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .args([
            "compare",
            "--unwind",
            "fp",
            "--runtime",
            "2s",
            "--ramp",
            "1s",
        ])
        .args(["--prices", "none", "--without-none", "--overhead", "runs"])
        .args(["--repeat", "1", "--quiet", "--out"])
        .arg(&run)
        .env("UNWINDBENCH_RESOURCES", &report)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let wall_s = started.elapsed().as_secs_f64();
    let last = std::fs::read_to_string(&report).unwrap();
    let at_exit: Snapshot = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    Row {
        wall_s,
        at_exit,
        left_behind: common::leftovers(&run, pid).len(),
        run_files: files_under(&run),
        temp_entries: temp_entries(),
        dirty_mib: dirty_mib(),
    }
}

fn table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| run | wall s | fds at exit | threads | children | left behind | run files | temp entries | dirty MiB | peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for (i, r) in rows.iter().enumerate() {
        t.push_str(&format!(
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} |\n",
            i + 1,
            r.wall_s,
            r.at_exit.fds,
            r.at_exit.threads,
            r.at_exit.children,
            r.left_behind,
            r.run_files,
            r.temp_entries,
            r.dirty_mib,
            r.at_exit.peak_rss_kib as f64 / 1024.0
        ));
    }
    t
}

/// Theil–Sen slope of `values` against the run number (per run).
fn slope(values: &[f64]) -> f64 {
    let points: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as f64, v))
        .collect();
    unwindbench::stats::theil_sen(&points).map_or(0.0, |l| l.slope)
}

/// Fails on growth: counts must stay where the first run left them (descriptors, threads,
/// children at exit, files in a run folder) or at zero (processes left behind) or at what
/// the temp folder held before; memory and dirty data must have no upward trend beyond
/// noise over the runs (Theil–Sen slope times the runs below a tenth of the median + 8 MiB).
fn check(rows: &[Row], temp_before: usize) {
    let t = table(rows);
    let first = &rows[0];
    for (i, r) in rows.iter().enumerate() {
        let n = i + 1;
        assert_eq!(
            r.at_exit.fds, first.at_exit.fds,
            "run {n}: descriptors\n{t}"
        );
        assert_eq!(r.at_exit.threads, 1, "run {n}: threads at exit\n{t}");
        assert_eq!(r.at_exit.children, 0, "run {n}: children at exit\n{t}");
        assert_eq!(r.left_behind, 0, "run {n}: processes left behind\n{t}");
        assert_eq!(
            r.run_files, first.run_files,
            "run {n}: files in the run folder\n{t}"
        );
        assert!(r.temp_entries <= temp_before, "run {n}: temp folder\n{t}");
    }
    // Not an absolute count: the harness inherits what its parent left open (cargo's
    // jobserver pipes, under `cargo test`), so the first run is the reference.
    let runs = rows.len() as f64;
    for (what, values) in [
        (
            "peak RSS",
            rows.iter()
                .map(|r| r.at_exit.peak_rss_kib as f64 / 1024.0)
                .collect::<Vec<_>>(),
        ),
        (
            "dirty page cache",
            rows.iter().map(|r| r.dirty_mib).collect(),
        ),
    ] {
        let growth = slope(&values) * runs;
        let median = unwindbench::stats::median(&values).unwrap_or(0.0);
        assert!(
            growth <= median * 0.1 + 8.0,
            "{what} grows by {growth:.1} MiB over {runs} runs\n{t}"
        );
    }
}

fn soak(iterations: usize) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let temp_before = temp_entries();
    let mut rows = Vec::new();
    for i in 0..iterations {
        rows.push(iteration(dir.path(), i));
        eprintln!("soak {}/{iterations}: {:?}", i + 1, rows.last().unwrap());
        // Kept up to date, so a soak cut short still leaves its table.
        if let Some(path) = std::env::var_os("UNWINDBENCH_SOAK_TABLE") {
            std::fs::write(path, table(&rows)).unwrap();
        }
    }
    check(&rows, temp_before);
    rows
}

#[test]
fn short_soak() {
    soak(4);
}

/// `scripts/soak.sh N`: N runs (default 100), the table on stdout and in
/// `UNWINDBENCH_SOAK_TABLE` where set.
#[test]
#[ignore]
fn long_soak() {
    let n = std::env::var("UNWINDBENCH_SOAK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let rows = soak(n);
    println!("{}", table(&rows));
}
