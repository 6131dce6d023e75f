//! Hardening, second round (issue 16): each test here failed before its fix.
//! - Ctrl-C reaches `analyze` even while it waits for input: reading a pipe that never ends,
//!   the first SIGINT stops it with exit code 130 and one line saying so (it used to wait for
//!   the input to end, however long that took).
//! - A second Ctrl-C ends the program at once (exit 130), whatever the first one waits for; it
//!   used to be ignored like the first, so a five-minute perf finalize could not be cut short.
//! - Outputs of a root recording are for their owner only, unless asked otherwise.
//! - Sizes read from the input are checked against what the input holds (point 1): a pipe
//!   stream whose AUXTRACE data is missing, or that is cut inside a record, used to read as a
//!   clean (short or empty) recording; EVENT_DESC counts and an AUX file's trace size used to
//!   abort the process on a huge allocation.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The child's exit status, once it exits; kills it and fails with `what` after 30 s (a
/// bound on "it ends at all", not a timing assertion).
fn exit_within_30s(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn analyze_waiting_on_a_silent_pipe_stops_at_the_first_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .args(["analyze", "-", "--out"])
        .arg(dir.path().join("out"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The pipe stays open and silent: only the signal can end the wait.
    let _held = child.stdin.take();
    std::thread::sleep(Duration::from_millis(500));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    // Generous: the point is that it ends at all while its input is still open.
    let status = exit_within_30s(
        &mut child,
        "analyze kept waiting for its input after SIGINT",
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(130), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("interrupted"), "{stderr}");
}

/// What a root recording's analysis writes names every process on the machine: the run's
/// outputs are for their owner only, unless UNWINDBENCH_SHARED_OUTPUTS asks otherwise.
#[test]
fn analysis_outputs_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/perf/callchain-fp.data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for (shared, file_mode, dir_mode) in [(false, 0o600, 0o700), (true, 0o644, 0o755)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        // Under a usual umask, so the shared case is predictable.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("umask 022; exec \"$0\" analyze \"$1\" --out \"$2\"")
            .arg(env!("CARGO_BIN_EXE_unwindbench"))
            .arg(&fixture)
            .arg(&out)
            .env_remove("UNWINDBENCH_SHARED_OUTPUTS")
            .stdout(Stdio::null());
        if shared {
            cmd.env("UNWINDBENCH_SHARED_OUTPUTS", "1");
        }
        let status = cmd.status().unwrap();
        assert!(status.success());
        for f in ["stacks.folded", "flamegraph.svg", "stats.json"] {
            assert_eq!(mode(&out.join(f)), file_mode, "{f}, shared: {shared}");
        }
        assert_eq!(mode(&out), dir_mode, "shared: {shared}");
    }
}

// Point 1: sizes taken from the input. Each damaged input below is made from a real fixture;
// analyze runs as its own process, so an abort fails the test instead of the test binary.

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel),
    )
    .unwrap()
}

/// Runs `analyze` on `bytes`; its exit code and stderr.
fn analyze_bytes(bytes: &[u8], partial: bool) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.data");
    std::fs::write(&input, bytes).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_unwindbench"));
    cmd.arg("analyze")
        .arg(&input)
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--offline")
        .stdout(Stdio::null());
    if partial {
        cmd.arg("--partial");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The offsets and (type, size) of a pipe stream's records.
fn pipe_records(stream: &[u8]) -> Vec<(usize, u32, usize)> {
    let mut records = Vec::new();
    let mut at = 16;
    while at + 8 <= stream.len() {
        let record_type = u32::from_le_bytes(stream[at..at + 4].try_into().unwrap());
        let size = u16::from_le_bytes(stream[at + 6..at + 8].try_into().unwrap()) as usize;
        records.push((at, record_type, size));
        at += size.max(8);
    }
    records
}

fn auxtrace_record(claimed: u64) -> Vec<u8> {
    let mut r = 71u32.to_le_bytes().to_vec();
    r.extend_from_slice(&0u16.to_le_bytes());
    r.extend_from_slice(&48u16.to_le_bytes());
    r.extend_from_slice(&claimed.to_le_bytes());
    r.extend_from_slice(&[0; 32]);
    r
}

/// The issue's own case: an attribute record, then one AUXTRACE record claiming 2^40 bytes of
/// trace data, then the end. It used to read as a clean, empty recording (exit 0).
#[test]
fn a_pipe_stream_whose_aux_data_is_missing_is_damaged_not_empty() {
    let pipe = fixture("perf/callchain-fp.pipe.data");
    let (at, _, size) = *pipe_records(&pipe)
        .iter()
        .find(|r| r.1 == 64)
        .expect("a HEADER_ATTR record");
    let mut stream = pipe[..16].to_vec();
    stream.extend_from_slice(&pipe[at..at + size]);
    stream.extend_from_slice(&auxtrace_record(1 << 40));
    let (code, stderr) = analyze_bytes(&stream, false);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("claims 1099511627776 bytes of trace data"),
        "{stderr}"
    );
}

/// A pipe stream cut inside a sample used to end cleanly with the samples before it; now it
/// is damaged (an error, or with --partial a warning naming where).
#[test]
fn a_pipe_stream_cut_inside_a_record_is_reported() {
    let pipe = fixture("perf/callchain-fp.pipe.data");
    let (at, _, size) = *pipe_records(&pipe)
        .iter()
        .filter(|r| r.1 == 9)
        .nth(100)
        .expect("a hundred samples");
    let cut = &pipe[..at + size / 2];
    let (code, stderr) = analyze_bytes(cut, false);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("near byte {at}")) && stderr.contains("ends inside a record"),
        "{stderr}"
    );
    let (code, stderr) = analyze_bytes(cut, true);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("damaged at byte {at}")),
        "{stderr}"
    );
}

/// The event count of EVENT_DESC, and one event's id count, sized the crate's vectors: a
/// flipped high byte asked for hundreds of gigabytes and aborted the process. The same
/// section sent as a HEADER_FEATURE record of a pipe stream goes through the same check.
#[test]
fn counts_inside_metadata_are_checked_against_their_section() {
    let file = fixture("perf/callchain-fp.data");
    let event_desc = feature_section(&file, 12);
    let attr_size =
        u32::from_le_bytes(file[event_desc + 4..event_desc + 8].try_into().unwrap()) as usize;
    for (at, what) in [
        (event_desc, "event count"),
        (event_desc + 8 + attr_size, "id count"),
    ] {
        let mut bytes = file.clone();
        bytes[at..at + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        let (code, stderr) = analyze_bytes(&bytes, false);
        assert_eq!(code, Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains("EVENT_DESC") && stderr.contains(what),
            "{stderr}"
        );
    }
    let mut pipe = fixture("perf/callchain-fp.pipe.data");
    let (at, _, _) = *pipe_records(&pipe)
        .iter()
        .find(|r| r.1 == 80 && pipe[r.0 + 8] == 12)
        .expect("an EVENT_DESC feature record");
    pipe[at + 16..at + 20].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let (code, stderr) = analyze_bytes(&pipe, false);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("EVENT_DESC"), "{stderr}");
}

/// Where feature `bit`'s section starts in a file-format perf.data.
fn feature_section(file: &[u8], bit: u32) -> usize {
    let u64_at = |at: usize| u64::from_le_bytes(file[at..at + 8].try_into().unwrap()) as usize;
    let table = u64_at(40) + u64_at(48);
    let words: Vec<u64> = (0..4).map(|i| u64_at(72 + 8 * i) as u64).collect();
    let index = (0..bit)
        .filter(|b| words[*b as usize / 64] >> (b % 64) & 1 == 1)
        .count();
    u64_at(table + 16 * index)
}

/// A file with AUX trace data (derived from a real recording, see the fixtures' README) reads
/// like the recording it came from; with its trace size flipped to 2^40 the crate's reader
/// allocated that much and aborted. It is now read in place, within the file's bounds.
#[test]
fn aux_trace_files_are_read_within_their_bounds() {
    let aux = fixture("derived/callchain-fp-auxtrace.data");
    let (code, stderr) = analyze_bytes(&aux, false);
    assert_eq!(code, Some(0), "{stderr}");
    let data_offset = u64::from_le_bytes(aux[40..48].try_into().unwrap()) as usize;
    let mut huge = aux.clone();
    huge[data_offset + 8..data_offset + 16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let (code, stderr) = analyze_bytes(&huge, false);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("AUX trace data runs past the end"),
        "{stderr}"
    );
}

// Point 3: a second Ctrl-C ends the program at once, whatever the first one is waiting for
// (perf's finalize can take minutes). The victim below is this test binary run again: it
// takes the first signal, then keeps "waiting" without polling, as a long finalize would.

const VICTIM: &str = "UNWINDBENCH_SIGNAL_VICTIM";

#[test]
#[ignore = "run by a_second_signal_ends_the_program_at_once, in a child process"]
fn signal_victim() {
    if std::env::var_os(VICTIM).is_none() {
        return;
    }
    unwindbench::process::install_interrupt_handler();
    println!("ready");
    while unwindbench::process::interrupted().is_none() {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("first signal taken");
    // A stage that does not poll; only the handler can end this.
    loop {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_second_signal_ends_the_program_at_once() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "signal_victim",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(VICTIM, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut wait_for = |text: &str| {
        for line in lines.by_ref() {
            if line.unwrap().contains(text) {
                return;
            }
        }
        panic!("the victim never said {text:?}");
    };
    let kill = |sig: &str| {
        assert!(Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap()
            .success());
    };
    wait_for("ready");
    kill("-INT");
    wait_for("first signal taken");
    kill("-INT");
    let status = exit_within_30s(&mut child, "the second SIGINT did not end the program");
    assert_eq!(status.code(), Some(130));
}
