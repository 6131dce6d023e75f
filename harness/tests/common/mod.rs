// Each test file uses a part of these helpers; the rest would be dead code there.
#![allow(dead_code)]

//! Checks shared by the test files that look at rendered run folders, folded-stack
//! comparisons, and `history` runs.

pub mod folded;

use std::path::Path;

pub fn assert_well_formed(svg: &str, what: &str) {
    let mut reader = quick_xml::Reader::from_str(svg);
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("{what} is not well-formed XML: {e}"),
        }
    }
    assert_eq!(depth, 0, "{what}: unbalanced elements");
}

/// Attribute values of `attr="..."` in `page`.
pub fn attribute_values<'a>(page: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!(" {attr}=\"");
    page.match_indices(&key)
        .filter_map(|(i, _)| page[i + key.len()..].split('"').next())
        .collect()
}

pub fn assert_offline(page: &str) {
    for attr in ["href", "src", "data", "action"] {
        for v in attribute_values(page, attr) {
            assert!(
                !(v.contains("://") || v.starts_with("//")),
                "{attr}=\"{v}\" points at the network"
            );
        }
    }
    assert!(!page.contains("url(http"), "CSS fetches from the network");
    assert!(!page.contains("@import"), "CSS imports");
}

/// Checks a rendered run folder: every file report.html references exists, every SVG in it
/// is well-formed, nothing points at the network.
pub fn check_run_folder(dir: &Path) {
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_offline(&page);
    for attr in ["href", "data", "src"] {
        for v in attribute_values(&page, attr) {
            if v.starts_with('#') {
                continue;
            }
            assert!(dir.join(v).exists(), "report.html references missing {v}");
        }
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "svg") {
                assert_well_formed(
                    &std::fs::read_to_string(&p).unwrap(),
                    &p.display().to_string(),
                );
            }
        }
    }
}

/// Processes whose command line mentions `needle` (our run folder or socket).
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// What the harness left after it exited: none may remain. Its children (nbdkit, fio,
/// perf, nbdfuse) by their command lines: perf's names the run folder; nbdkit's, nbdfuse's
/// and fio's name the scratch folder, which is under the temp dir with the harness's pid.
/// And what the kernel keeps: loop devices backed by a file in that folder, FUSE mounts in
/// it, and the folder itself.
pub fn leftovers(run_dir: &Path, harness_pid: u32) -> Vec<String> {
    let mut left = processes_left(run_dir, harness_pid);
    left.extend(kernel_leftovers(harness_pid));
    left
}

/// The processes of [`leftovers`] alone (a killed harness's children go with it; what the
/// kernel keeps stays for the next run to clean).
pub fn processes_left(run_dir: &Path, harness_pid: u32) -> Vec<String> {
    let mut left = processes_mentioning(&run_dir.display().to_string());
    left.extend(processes_mentioning(&format!("unwindbench-{harness_pid}-")));
    left
}

/// Loop devices, FUSE mounts and scratch folders of the harness with this pid.
pub fn kernel_leftovers(harness_pid: u32) -> Vec<String> {
    use unwindbench::workload::device::kernel;
    let scratch = format!("unwindbench-{harness_pid}-");
    let mut left: Vec<String> = kernel::loop_devices()
        .into_iter()
        .filter(|l| l.backing_file.to_string_lossy().contains(&scratch))
        .map(|l| format!("{} on {}", l.device.display(), l.backing_file.display()))
        .collect();
    left.extend(
        kernel::fuse_mounts()
            .into_iter()
            .filter(|m| m.to_string_lossy().contains(&scratch))
            .map(|m| format!("FUSE mount {}", m.display())),
    );
    left.extend(
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&scratch))
            .map(|e| format!("scratch folder {}", e.path().display())),
    );
    left
}

/// Runs `unwindbench history DIR --out DIR/history EXTRA...`: its exit code, its history.json
/// and its standard error.
pub fn run_history(dir: &Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let out = dir.join("history");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .arg("history")
        .arg(dir)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(out.join("history.json")).unwrap();
    (
        o.status.code().unwrap_or(-1),
        serde_json::from_str(&text).unwrap(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
