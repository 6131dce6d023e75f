//! Names for a stripped program, end to end: from a debuginfod server (Debian's `debuginfod`
//! over a folder holding the unstripped build, asked on loopback), and, with the server
//! gone, from the function boundaries of `.eh_frame`, said in one line; and perf, given the
//! same debug file, names the frames as `analyze` does. Needs root (perf), gcc, strip and
//! debuginfod (scripts/setup.sh installs them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const CHAIN: [&str; 3] = ["outer_loop", "middle_step", "leaf_work"];

/// The program built with debug info (for the server) and its stripped copy (to run).
fn build(dir: &Path) -> (PathBuf, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/names.c");
    let served = dir.join("served");
    let run = dir.join("run");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    let full = served.join("names");
    let ok = Command::new("gcc")
        .args(["-O1", "-g", "-fno-inline", "-Wl,--build-id", "-o"])
        .arg(&full)
        .arg(&src)
        .status()
        .unwrap();
    assert!(ok.success(), "gcc");
    let stripped = run.join("names");
    std::fs::copy(&full, &stripped).unwrap();
    assert!(Command::new("strip")
        .arg("--strip-all")
        .arg(&stripped)
        .status()
        .unwrap()
        .success());
    (full, stripped)
}

fn build_id(file: &Path) -> String {
    let out = Command::new("readelf")
        .arg("-n")
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .expect("a build id")
        .trim()
        .to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Debian's debuginfod serving `dir`, ready once it answers for `id`.
struct Server(Child);

impl Server {
    fn start(dir: &Path, db: &Path, port: u16, id: &str) -> Server {
        let child = Command::new("debuginfod")
            .args(["-F", "-t", "0", "-g", "0", "-p", &port.to_string(), "-d"])
            .arg(db)
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("debuginfod (scripts/setup.sh installs it)");
        let server = Server(child);
        let url = format!("http://127.0.0.1:{port}/buildid/{id}/debuginfo");
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&url).call().is_err() {
            assert!(Instant::now() < deadline, "debuginfod never served {url}");
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn analyze(data: &Path, out: &Path, urls: &str, cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .arg("analyze")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(["--process", "names"])
        // The program lives in a temp folder, which the confined analysis does not read
        // unless told (a place any user can plant a file): without it, its build id is
        // never read and only the vdso is asked for.
        .arg("--read")
        .arg(data.parent().unwrap())
        .env("DEBUGINFOD_URLS", urls)
        .env("DEBUGINFOD_CACHE_PATH", cache)
        .output()
        .unwrap()
}

/// Frames of the program's own module in `out/stacks.folded`.
fn program_frames(out: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(out.join("stacks.folded")).unwrap();
    text.lines()
        .filter_map(|l| l.rsplit_once(' '))
        .flat_map(|(stack, _)| {
            stack
                .split(';')
                .skip(1)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|f| CHAIN.contains(&f.as_str()) || f.starts_with("names+0x") || f == "[names]")
        .collect()
}

#[test]
fn names_come_from_debuginfod_then_from_function_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let (full, stripped) = build(dir.path());
    let id = build_id(&stripped);
    assert_eq!(id, build_id(&full));

    // A DWARF recording of the stripped program, nothing added to perf's build-id cache.
    let data = dir.path().join("perf.data");
    let rec = Command::new("perf")
        .args([
            "record",
            "-q",
            "-N",
            "-F",
            "999",
            "--call-graph",
            "dwarf,8192",
            "-o",
        ])
        .arg(&data)
        .arg(&stripped)
        .arg("1500")
        .status()
        .unwrap();
    assert!(rec.success(), "perf record");

    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = Server::start(
        &dir.path().join("served"),
        &dir.path().join("db.sqlite"),
        port,
        &id,
    );
    let cache = dir.path().join("cache");
    let out = dir.path().join("named");
    let o = analyze(&data, &out, &url, &cache);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("debuginfod: asking"),
        "says what it waits for: {stderr}"
    );
    assert!(
        cache.join(&id).join("debuginfo").is_file(),
        "fetched into elfutils' cache layout: {stderr}"
    );
    let named = program_frames(&out);
    for f in CHAIN {
        assert!(named.contains(f), "{f} named from the server: {named:?}");
    }
    assert!(
        !named
            .iter()
            .any(|f| f.starts_with("names+0x") || f == "[names]"),
        "{named:?}"
    );

    // The server gone and nothing cached: function boundaries, said in one line.
    drop(server);
    let out = dir.path().join("boundaries");
    let o = analyze(&data, &out, &url, &dir.path().join("empty-cache"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.contains("failed")).count(),
        1,
        "one line for the failed server: {stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("no symbols or debug file for names")),
        "{stdout}"
    );
    let by_boundaries = program_frames(&out);
    let distinct: Vec<&String> = by_boundaries
        .iter()
        .filter(|f| f.starts_with("names+0x"))
        .collect();
    // main, outer_loop, middle_step, leaf_work: distinct functions keep distinct names.
    assert!(distinct.len() >= 3, "{by_boundaries:?}");
    assert!(!by_boundaries.contains("[names]"), "{by_boundaries:?}");

    // perf, given the same debug file through a build-id cache of its own, names the
    // program's samples as we did from the server.
    let bid = dir.path().join("buildid");
    let add = Command::new("perf")
        .arg("--buildid-dir")
        .arg(&bid)
        .args(["buildid-cache", "--add"])
        .arg(&full)
        .status()
        .unwrap();
    assert!(add.success());
    let report = Command::new("perf")
        .arg("--buildid-dir")
        .arg(&bid)
        .args([
            "report",
            "--stdio",
            "--no-children",
            "-g",
            "none",
            "--sort",
            "sym",
            "--dsos",
            "names",
            "-i",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    // perf's self shares of the program's own functions, those of at least 1% (a stray
    // sample in startup code is perf's business and ours alike).
    let theirs: BTreeSet<String> = text
        .lines()
        .filter_map(|l| {
            let (share, name) = l.split_once("[.]")?;
            let share: f64 = share.trim().trim_end_matches('%').parse().ok()?;
            (share >= 1.0).then(|| name.trim().to_string())
        })
        .collect();
    assert!(theirs.contains("leaf_work"), "perf report: {text}");
    assert!(
        theirs.iter().all(|n| CHAIN.contains(&n.as_str())),
        "perf left program frames unnamed: {text}"
    );
    // Ours: the leaf frames of the program's samples, by share, from the server's names.
    let folded = std::fs::read_to_string(dir.path().join("named/stacks.folded")).unwrap();
    let mut leaves: std::collections::BTreeMap<String, u64> = Default::default();
    let mut total = 0;
    for (stack, n) in folded.lines().filter_map(|l| l.rsplit_once(' ')) {
        let n: u64 = n.parse().unwrap();
        let leaf = stack.rsplit(';').next().unwrap().to_string();
        if CHAIN.contains(&leaf.as_str()) || leaf.starts_with("names+0x") {
            *leaves.entry(leaf).or_default() += n;
        }
        total += n;
    }
    let ours: BTreeSet<String> = leaves
        .into_iter()
        .filter(|(_, n)| *n as f64 >= 0.01 * total as f64)
        .map(|(f, _)| f)
        .collect();
    assert_eq!(ours, theirs, "self names of the program's samples");
}
