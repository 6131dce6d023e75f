//! The analysis's confinement (see `unwindbench::sandbox` and `analyze::confine`): what a
//! confined process is refused, that the `analyze` command confines itself before it reads,
//! and that confinement changes no output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use unwindbench::sandbox::{self, Policy};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_unwindbench"))
}

/// Set in the child this test file starts to run [`probe_child`]; the folder it may write.
const PROBE_ENV: &str = "UNWINDBENCH_SANDBOX_PROBE";

/// The outcome of one attempt, as a line the parent reads: `NAME ok` or `NAME refused: why`.
fn report<T>(name: &str, r: std::io::Result<T>) {
    match r {
        Ok(_) => println!("{name} ok"),
        Err(e) => println!("{name} refused: {e}"),
    }
}

/// Runs only in the child: confines its thread with the product's own function and the
/// policy of an offline analysis (read the fixtures, write one folder, no network), then
/// tries what a compromised parser would.
#[test]
fn probe_child() {
    let Some(out) = std::env::var_os(PROBE_ENV).map(PathBuf::from) else {
        return;
    };
    let outside = out.parent().unwrap().join("outside.txt");
    let policy = Policy {
        read: vec![fixtures()],
        write: vec![out.clone()],
        connect_tcp: None,
    };
    let c = sandbox::confine(&policy).expect("confine");
    // libtest has printed the test's name on this line.
    println!();
    println!("landlock {}", c.landlock);
    println!("seccomp {}", c.seccomp);
    report("write-inside", std::fs::write(out.join("ok.txt"), b"ok"));
    report(
        "read-fixture",
        std::fs::read(fixtures().join("bin/callchain")),
    );
    report("write-outside", std::fs::write(&outside, b"escaped"));
    report(
        "write-tmp",
        std::fs::write(std::env::temp_dir().join("ub-sandbox-escape"), b"x"),
    );
    report("read-etc", std::fs::read("/etc/passwd"));
    report("spawn", Command::new("/bin/true").status());
    // execve itself, past any fork: replaces this process if it is allowed.
    let prog = c"/bin/true";
    let argv = [prog.as_ptr(), std::ptr::null()];
    // SAFETY: NUL-terminated program and a NULL-terminated argv.
    unsafe { libc::execv(prog.as_ptr(), argv.as_ptr()) };
    report::<()>("exec", Err(std::io::Error::last_os_error()));
    report("tcp", std::net::TcpStream::connect("127.0.0.1:9"));
    report("udp", std::net::UdpSocket::bind("127.0.0.1:0"));
    report("unix", std::os::unix::net::UnixDatagram::unbound());
    println!("probe done");
}

#[test]
fn a_confined_child_cannot_write_outside_exec_or_open_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let o = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "probe_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(PROBE_ENV, &out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{text}"))
            .to_string()
    };
    assert!(line("probe").contains("done"), "{text}");
    assert!(line("landlock").contains("Landlock ABI"), "{text}");
    assert!(line("seccomp").contains("seccomp filter"), "{text}");
    // What it needs still works.
    assert_eq!(line("write-inside"), "write-inside ok");
    assert_eq!(line("read-fixture"), "read-fixture ok");
    assert_eq!(std::fs::read(out.join("ok.txt")).unwrap(), b"ok");
    // What a compromised parser would try does not.
    for name in [
        "write-outside",
        "write-tmp",
        "read-etc",
        "spawn",
        "exec",
        "tcp",
        "udp",
        "unix",
    ] {
        assert!(line(name).contains("refused"), "{name}: {}", line(name));
    }
    assert!(!dir.path().join("outside.txt").exists());
}

/// `/proc/PID/status` of a running analysis: its NoNewPrivs, Seccomp mode and CapEff.
fn status_fields(pid: u32) -> Option<(String, String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .map(|v| v.trim().to_string())
    };
    Some((field("NoNewPrivs")?, field("Seccomp")?, field("CapEff")?))
}

#[test]
fn the_analysis_child_runs_with_no_new_privs_and_a_seccomp_filter() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Reading a pipe stream from stdin: it confines itself, then waits for the first byte.
    let mut child = bin()
        .args(["analyze", "-", "--offline", "--out"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (nnp, seccomp, cap_eff) = loop {
        let fields = status_fields(pid).expect("analysis child exited early");
        if fields.1 == "2" || Instant::now() > deadline {
            break fields;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(nnp, "1", "NoNewPrivs");
    assert_eq!(seccomp, "2", "Seccomp mode (2: filter)");
    // As root only CAP_DAC_READ_SEARCH (2) and CAP_SYSLOG (34) are left; as a user, none.
    let eff = u64::from_str_radix(&cap_eff, 16).unwrap();
    assert_eq!(eff & !((1 << 2) | (1 << 34)), 0, "CapEff {cap_eff}");
    let stream = std::fs::read(fixtures().join("perf/callchain-fp.pipe.data")).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&stream).unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!std::fs::read(out.join("stacks.folded")).unwrap().is_empty());
}

/// stats.json without the figures of time (wall seconds, MB/s, phases), which differ
/// between any two runs.
fn timeless_stats(path: &Path) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in ["wall_s", "mb_per_s", "phases"] {
        o.remove(k);
    }
    v
}

#[test]
fn fixture_analyses_are_identical_confined_and_unconfined() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = [
        "perf/callchain-fp.data",
        "perf/callchain-dwarf4k.data",
        "perf/callchain-fp.pipe.data",
        "perf/callchain-lost.data",
        "derived/callchain-fp-auxtrace.data",
    ];
    for input in inputs {
        let mut outs = Vec::new();
        for confined in [true, false] {
            let out = dir
                .path()
                .join(format!("{}-{confined}", input.replace('/', "-")));
            let mut cmd = bin();
            cmd.arg("analyze")
                .arg(fixtures().join(input))
                .args(["--profile", "--offline", "--search"])
                .arg(fixtures().join("bin"))
                .arg("--buildid-dir")
                .arg(fixtures().join("debug"))
                .arg("--out")
                .arg(&out);
            if !confined {
                cmd.arg("--no-sandbox");
            }
            let o = cmd.output().unwrap();
            assert!(
                o.status.success(),
                "{input} confined={confined}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            outs.push(out);
        }
        for file in ["stacks.folded", "flamegraph.svg", "profile.json.gz"] {
            let a = std::fs::read(outs[0].join(file)).unwrap();
            let b = std::fs::read(outs[1].join(file)).unwrap();
            assert!(a == b, "{input}: {file} differs confined and unconfined");
        }
        assert_eq!(
            timeless_stats(&outs[0].join("stats.json")),
            timeless_stats(&outs[1].join("stats.json")),
            "{input}: stats.json"
        );
    }
}
