//! Hardening, second round (issue 16): each test here failed before its fix.
//! - Ctrl-C reaches `analyze` even while it waits for input: reading a pipe that never ends,
//!   the first SIGINT stops it with exit code 130 and one line saying so (it used to wait for
//!   the input to end, however long that took).
//! - Outputs of a root recording are for their owner only, unless asked otherwise.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("analyze kept waiting for its input after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
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
