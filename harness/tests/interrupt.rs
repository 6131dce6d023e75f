//! Ctrl-C reaches `analyze` even while it waits for input: reading a pipe that never ends, the
//! first SIGINT stops it with exit code 130 and one line saying so (it used to wait for the
//! input to end, however long that took).

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
