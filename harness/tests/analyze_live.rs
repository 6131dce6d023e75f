//! `analyze` on recordings made now, on this machine: the reference's own way of running the
//! workload (`perf record -a -- nbdkit --run 'fio ...'`), where perf execs nbdkit from a fork
//! of itself, and a system-wide frame-pointer recording compared with `perf script` and
//! inferno (kernel frames included, which fixtures cannot do across boots). Needs root, perf,
//! nbdkit and fio.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use inferno::collapse::Collapse;
use unwindbench::analyze::{analyze, AnalyzeOptions};
use unwindbench::fold::Weighting;

mod common;
use common::folded::{agreement, boundaries_as_perf_names, largest_differences, parse_folded};

static SERIAL: Mutex<()> = Mutex::new(());

fn record(args: &[&str], output: &Path) {
    let status = Command::new("perf")
        .args(["record", "-q", "-a", "-o"])
        .arg(output)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "perf record {args:?}");
}

/// `perf script -i DATA | inferno-collapse-perf`, as a map.
fn perf_script_folded(data: &Path) -> BTreeMap<String, u64> {
    let script = Command::new("perf")
        .arg("script")
        .arg("-i")
        .arg(data)
        .output()
        .unwrap();
    assert!(script.status.success());
    let mut folded = Vec::new();
    inferno::collapse::perf::Folder::from(inferno::collapse::perf::Options::default())
        .collapse(&script.stdout[..], &mut folded)
        .unwrap();
    parse_folded(&String::from_utf8_lossy(&folded))
}

/// `perf script` looks kernel return addresses up as they are, not at address - 1 as we do.
/// Where a call to a function that never returns (`start_kernel`, `cpu_startup_entry`) is the
/// last instruction of its caller, the return address is the first byte after the caller:
/// perf names the next symbol, the `__pfx_` padding of the following function. We name the
/// caller, which is right. Map perf's name back to the symbol before it in kallsyms so the
/// comparison holds both tools to the same, correct, answer.
fn perf_names_of_return_sites(folded: BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let mut by_address: Vec<(u64, &str)> = kallsyms
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let address = u64::from_str_radix(f.next()?, 16).ok()?;
            let kind = f.next()?;
            let name = f.next()?;
            matches!(kind, "t" | "T").then_some((address, name))
        })
        .collect();
    by_address.sort_unstable();
    let mut caller_of_padding: BTreeMap<&str, &str> = BTreeMap::new();
    for pair in by_address.windows(2) {
        if pair[1].1.starts_with("__pfx_") && !pair[0].1.starts_with("__pfx_") {
            caller_of_padding.insert(pair[1].1, pair[0].1);
        }
    }
    let mut out = BTreeMap::new();
    for (stack, n) in folded {
        let renamed: Vec<&str> = stack
            .split(';')
            .map(|f| caller_of_padding.get(f).copied().unwrap_or(f))
            .collect();
        *out.entry(renamed.join(";")).or_insert(0) += n;
    }
    out
}

#[test]
fn nbdkit_run_stacks_are_complete_on_every_recording() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // Which libc base the pre-exec mapping leaves depends on ASLR, so one recording proves
    // little: every one of several must come out complete.
    for i in 0..3 {
        let data = dir.path().join(format!("run{i}.data"));
        record(
            &[
                "-F", "499", "--call-graph", "dwarf,8192", "--", "nbdkit", "-U", "-", "null", "1G",
                "--run",
                "fio --name=j --ioengine=nbd --uri=\"$uri\" --rw=randrw --direct=1 --iodepth=16 --time_based --runtime=2 --output=/dev/null",
            ],
            &data,
        );
        let mut o = AnalyzeOptions::new(data.clone(), dir.path().join(format!("out{i}")));
        o.threads = 2;
        let a = analyze(&o).unwrap();
        if i == 0 {
            // Two threads unwinding alternate samples of processes that fork and exec must
            // give what one thread gives.
            let mut one = o.clone();
            one.threads = 1;
            one.out_dir = dir.path().join("one-thread");
            let b = analyze(&one).unwrap();
            let folded = |d: &Path| std::fs::read_to_string(d.join("stacks.folded")).unwrap();
            assert_eq!(folded(&o.out_dir), folded(&one.out_dir));
            assert_eq!(a.stacks, b.stacks);
            assert_eq!(a.sweep, b.sweep);
            assert_eq!(a.records, b.records);
        }
        let f = &a.stacks["nbdkit"];
        assert!(f.user_samples > 50, "too few nbdkit samples: {f:?}");
        let c = f.completeness.unwrap();
        assert!(
            c >= 0.9,
            "recording {i}: nbdkit stacks {:.1}% complete: {f:?}",
            c * 100.0
        );
    }
}

/// The stacks of the fixture program (`callchain`) among all of a system-wide recording's.
fn program_stacks(folded: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    folded
        .iter()
        .filter(|(s, _)| s.starts_with("callchain;"))
        .map(|(s, n)| (s.clone(), *n))
        .collect()
}

#[test]
fn system_wide_frame_pointer_stacks_agree_with_perf_script() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fp.data");
    let prog = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bin/callchain");
    let prog = prog.display().to_string();
    // Pinned to the last CPU, so the first CPU idles in the boot task, whose stack holds a
    // call that is the last instruction of its function (see `perf_names_of_return_sites`).
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let last_cpu = (cpus - 1).to_string();
    record(
        &[
            "-F",
            "999",
            "--call-graph",
            "fp",
            "--",
            "taskset",
            "-c",
            &last_cpu,
            &prog,
            "1500",
        ],
        &data,
    );

    let theirs = perf_names_of_return_sites(perf_script_folded(&data));

    let mut o = AnalyzeOptions::new(data.clone(), dir.path().join("out"));
    o.weighting = Weighting::Period;
    let a = analyze(&o).unwrap();
    assert!(a.kernel_symbols, "run as root so kallsyms is readable");
    // Frames neither side can name: perf says `[file]`, we name the function's start.
    let ours = boundaries_as_perf_names(&parse_folded(
        &std::fs::read_to_string(dir.path().join("out/stacks.folded")).unwrap(),
    ));

    let share = agreement(&ours, &theirs);
    // The fixture program's own stacks, kernel frames included, must agree exactly.
    let (po, pt) = (program_stacks(&ours), program_stacks(&theirs));
    let prog_share = agreement(&po, &pt);
    let worst = largest_differences(&ours, &theirs);
    assert!(
        prog_share >= 0.99,
        "program stacks agree on {:.2}%; largest differences: {worst:#?}",
        prog_share * 100.0
    );
    assert!(
        share >= 0.95,
        "all stacks agree on {:.2}%; largest differences: {worst:#?}",
        share * 100.0
    );
}

/// glibc names most functions several times over (`read`, `__read`, `__libc_read`,
/// `__GI___libc_read`, ...), and perf keeps one name per address by its own preference;
/// calls through the PLT are `name@plt` frames of their own. A program that spends its time
/// in libc's `read` and `write` (dd) must come out with perf's names.
#[test]
fn libc_functions_are_named_as_perf_script_names_them() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dd.data");
    // User time only: the user frames are what this test is about.
    let status = Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock:u", "-F", "999"])
        .args(["--call-graph", "fp", "-o"])
        .arg(&data)
        .args(["--", "dd", "if=/dev/zero", "of=/dev/null", "bs=64"])
        .arg("count=3000000")
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let theirs = perf_script_folded(&data);

    let mut o = AnalyzeOptions::new(data.clone(), dir.path().join("out"));
    o.weighting = Weighting::Period;
    analyze(&o).unwrap();
    // Frames neither side can name: perf says `[file]`, we name the function's start.
    let ours = boundaries_as_perf_names(&parse_folded(
        &std::fs::read_to_string(dir.path().join("out/stacks.folded")).unwrap(),
    ));

    // The test means something only if perf put libc's aliased `read` on the stacks.
    assert!(
        theirs.keys().any(|s| s.split(';').any(|f| f == "read")),
        "no `read` frame in perf script's stacks: {theirs:#?}"
    );
    let share = agreement(&ours, &theirs);
    assert!(
        share >= 0.99,
        "dd's stacks agree on {:.2}%; largest differences: {:#?}",
        share * 100.0,
        largest_differences(&ours, &theirs)
    );
}

/// The online recorder's output read by perf and by us: the same stacks. A few seconds of
/// the fixture program, every CPU sampled, each sample unwound as it came (DWARF from a
/// 16 KiB copy), written as callchains; `perf script` over the file must give the program's
/// stacks as `analyze` gives them, and they must reach the program's bottom.
#[test]
fn online_recorder_stacks_agree_with_perf_script() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("online.data");
    let recorder = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .args(["online-record", "--stack", "16k", "-F", "999", "-o"])
        .arg(&data)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The recorder is up once its events are: give it the moment perf also takes.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let prog = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bin/callchain");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let status = Command::new("taskset")
        .args(["-c", &(cpus - 1).to_string()])
        .arg(&prog)
        .arg("1500")
        .status()
        .unwrap();
    assert!(status.success());
    let interrupted = Command::new("kill")
        .args(["-INT", &recorder.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = recorder.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Captured and wrote"), "{log}");

    let theirs = perf_names_of_return_sites(perf_script_folded(&data));
    let mut o = AnalyzeOptions::new(data.clone(), dir.path().join("out"));
    o.weighting = Weighting::Period;
    let a = analyze(&o).unwrap();
    // Frames neither side can name: perf says `[file]`, we name the function's start.
    let ours = boundaries_as_perf_names(&parse_folded(
        &std::fs::read_to_string(dir.path().join("out/stacks.folded")).unwrap(),
    ));
    let (po, pt) = (program_stacks(&ours), program_stacks(&theirs));
    assert!(po.values().sum::<u64>() > 0, "no samples of the program");
    let share = agreement(&po, &pt);
    assert!(
        share >= 0.99,
        "program stacks agree on {:.2}%; largest differences: {:#?}",
        share * 100.0,
        largest_differences(&po, &pt)
    );
    // Unwound online from the copy, the program's stacks reach its start.
    let complete = a.stacks["callchain"].completeness.unwrap();
    assert!(
        complete >= 0.95,
        "callchain stacks {:.1}% complete",
        complete * 100.0
    );
}
