//! The fleet workflow (.github/workflows/unwindbench-fleet.yml): valid against GitHub's own
//! schema, wired as README's "CI across hosts" says, and its scripts run here without perf:
//! a host that cannot measure records why and lets the others go on, and the final job's
//! script turns the artifact folders of two simulated hosts and a skipped one into the
//! cross-host table and the trend page.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn workflow() -> PathBuf {
    root().join(".github/workflows/unwindbench-fleet.yml")
}

/// A program of the virtual environment scripts/setup.sh makes under build/.
fn venv(program: &str) -> PathBuf {
    let p = root().join("build/venv/bin").join(program);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (it installs check-jsonschema into build/venv)",
        p.display()
    );
    p
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The workflow as JSON, read by ruamel.yaml (check-jsonschema's own YAML reader, YAML 1.2:
/// `on` stays a key).
fn parsed() -> Value {
    const TO_JSON: &str = "import json, sys\nfrom ruamel.yaml import YAML\nprint(json.dumps(YAML(typ='safe', pure=True).load(open(sys.argv[1]))))";
    let o = Command::new(venv("python"))
        .args(["-c", TO_JSON])
        .arg(workflow())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// A `run:` line's words as the shell splits them (double quotes only: all the workflow uses).
fn words(run: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in run.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                }
                started = false;
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

/// The steps of a job, and the arguments of the step that runs `script`, with its index.
fn script_step(job: &Value, script: &str) -> (usize, Vec<String>) {
    let steps = job["steps"].as_array().unwrap();
    let (i, step) = steps
        .iter()
        .enumerate()
        .find(|(_, s)| s["run"].as_str().is_some_and(|r| r.contains(script)))
        .unwrap_or_else(|| panic!("no step runs {script}"));
    let w = words(step["run"].as_str().unwrap());
    let at = w.iter().position(|x| x == script).unwrap();
    (i, w[at + 1..].to_vec())
}

/// The step that uses `action` (e.g. actions/upload-artifact@v4), with its index.
fn action_step<'a>(job: &'a Value, action: &str) -> (usize, &'a Value) {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .find(|(_, s)| s["uses"] == action)
        .unwrap_or_else(|| panic!("no step uses {action}"))
}

fn runs_always(v: &Value) -> bool {
    v["if"]
        .as_str()
        .is_some_and(|c| c.replace(' ', "").contains("always()"))
}

#[test]
fn the_workflow_is_valid_against_githubs_schema() {
    let o = Command::new(venv("check-jsonschema"))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(workflow())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_measure_jobs_run_every_host_and_upload_its_folder() {
    let w = parsed();
    assert!(
        w["on"]["schedule"][0]["cron"].is_string(),
        "a nightly schedule"
    );
    assert!(
        w["on"].get("workflow_dispatch").is_some(),
        "started by hand too"
    );
    let m = &w["jobs"]["measure"];
    assert_eq!(
        m["strategy"]["fail-fast"], false,
        "one host's failure stops no other"
    );
    let hosts = m["strategy"]["matrix"]["include"].as_array().unwrap();
    assert!(!hosts.is_empty());
    for h in hosts {
        assert!(h["host"].is_string() && !h["runs-on"].is_null(), "{h}");
    }
    assert_eq!(m["runs-on"], "${{ matrix.runs-on }}");

    let steps = m["steps"].as_array().unwrap();
    assert!(steps[0]["uses"]
        .as_str()
        .unwrap()
        .starts_with("actions/checkout@"));
    let (setup, _) = script_step(m, "scripts/setup.sh");
    assert_eq!(
        steps[setup]["continue-on-error"], true,
        "a failed setup becomes a skip"
    );
    let (measure, args) = script_step(m, "scripts/fleet-measure.sh");
    assert!(setup < measure);
    assert_eq!(args.len(), 2, "HOST OUTDIR: {args:?}");
    assert_eq!(args[0], "${{ matrix.host }}");
    assert!(args[1].ends_with("/${{ matrix.host }}"), "{args:?}");
    let outcome = steps[measure]["env"]["UNWINDBENCH_SETUP"].as_str().unwrap();
    assert!(outcome.contains(&format!(
        "steps.{}.outcome",
        steps[setup]["id"].as_str().unwrap()
    )));

    // Each host's folder is its artifact, named after it, uploaded even after a failure.
    let (upload, step) = action_step(m, "actions/upload-artifact@v4");
    assert!(measure < upload);
    assert!(runs_always(step));
    assert_eq!(step["with"]["name"], "unwindbench-${{ matrix.host }}");
    assert_eq!(step["with"]["path"], args[1].as_str());
}

#[test]
fn the_history_job_runs_after_all_hosts_over_all_artifacts() {
    let w = parsed();
    let h = &w["jobs"]["history"];
    let needs = &h["needs"];
    assert!(
        needs == "measure"
            || needs
                .as_array()
                .is_some_and(|n| n.contains(&"measure".into())),
        "{needs}"
    );
    assert!(runs_always(h), "it runs when some host failed: {}", h["if"]);
    let (download, step) = action_step(h, "actions/download-artifact@v4");
    assert_eq!(step["with"]["pattern"], "unwindbench-*");
    assert_ne!(
        step["with"]["merge-multiple"], true,
        "one folder per host artifact"
    );
    let (run, args) = script_step(h, "scripts/fleet-history.sh");
    assert!(download < run);
    assert_eq!(args.len(), 2, "DOWNLOAD_DIR OUT_DIR: {args:?}");
    assert_eq!(step["with"]["path"], args[0].as_str());
    let (upload, step) = action_step(h, "actions/upload-artifact@v4");
    assert!(run < upload && runs_always(step));
    assert_eq!(step["with"]["path"], args[1].as_str());
    let name = step["with"]["name"].as_str().unwrap();
    assert!(
        !name.starts_with("unwindbench-"),
        "{name}: a re-run would read the trend page as a host"
    );
}

/// A folder whose `perf` fails as Ubuntu's does without the kernel's tools package: put
/// first on PATH, it keeps fleet-measure.sh from ever recording here.
fn broken_perf(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let perf = bin.join("perf");
    std::fs::write(
        &perf,
        "#!/bin/sh\necho 'WARNING: perf not found for kernel 6.1.0' >&2\nexit 2\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&perf, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap())
}

#[test]
fn a_runner_that_cannot_measure_says_why_and_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let path = broken_perf(tmp.path());
    for (setup, host, reason) in [
        (
            "success",
            "noperf",
            "perf does not run: WARNING: perf not found",
        ),
        ("failure", "nosetup", "scripts/setup.sh failed"),
    ] {
        let out = tmp.path().join(host);
        let summary = tmp.path().join(format!("{host}.md"));
        let o = Command::new(root().join("scripts/fleet-measure.sh"))
            .arg(host)
            .arg(&out)
            .env("PATH", &path)
            .env("UNWINDBENCH_SETUP", setup)
            .env("UNWINDBENCH_FLEET_STORE", tmp.path().join("store"))
            .env("GITHUB_STEP_SUMMARY", &summary)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let why = std::fs::read_to_string(out.join("skipped.txt")).unwrap();
        assert!(why.contains(reason), "{why}");
        assert!(std::fs::read_to_string(out.join("host.txt"))
            .unwrap()
            .contains(&format!("host: {host}")));
        let page = std::fs::read_to_string(&summary).unwrap();
        assert!(
            page.contains(&format!("unwindbench on {host}: skipped")) && page.contains(reason),
            "{page}"
        );
        assert!(!tmp.path().join("store").exists(), "nothing measured");
    }
}

/// The download folder of the history job: hostA and hostB with the six fixture nights
/// (hostB's machine renamed, so they are two hosts), hostC skipped for want of perf.
/// `edit` changes hostB's latest night.
fn downloads(dir: &Path, edit: impl Fn(&mut Value)) -> PathBuf {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/history");
    let dl = dir.join("artifacts");
    let mut nights: Vec<String> = std::fs::read_dir(&fixtures)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("night-"))
        .collect();
    nights.sort();
    assert_eq!(nights.len(), 6);
    for host in ["hostA", "hostB"] {
        for night in &nights {
            let to = dl.join(format!("unwindbench-{host}")).join(night);
            std::fs::create_dir_all(&to).unwrap();
            let json = std::fs::read_to_string(fixtures.join(night).join("results.json")).unwrap();
            let mut v: Value = serde_json::from_str(&json).unwrap();
            if host == "hostB" {
                v["machine"]["hostname"] = "hostB".into();
                if night == nights.last().unwrap() {
                    edit(&mut v);
                }
            }
            std::fs::write(
                to.join("results.json"),
                serde_json::to_vec_pretty(&v).unwrap(),
            )
            .unwrap();
        }
    }
    let c = dl.join("unwindbench-hostC");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(
        c.join("skipped.txt"),
        "perf is not installed (Debian: linux-perf; Ubuntu: linux-tools-$(uname -r))\n",
    )
    .unwrap();
    dl
}

/// Runs scripts/fleet-history.sh as the history job does: its exit code, the summary it
/// appended to $GITHUB_STEP_SUMMARY, and its output folder.
fn fleet_history(dir: &Path, dl: &Path) -> (Option<i32>, String, PathBuf) {
    let summary = dir.join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = dir.join("fleet-history");
    let o = Command::new(root().join("scripts/fleet-history.sh"))
        .arg(dl)
        .arg(&out)
        .env("UNWINDBENCH", env!("CARGO_BIN_EXE_unwindbench"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    let page = std::fs::read_to_string(&summary).unwrap();
    println!("{}\n{page}", text(&o));
    assert!(
        page.starts_with("earlier step\n"),
        "appended, not overwritten"
    );
    let fleet = std::fs::read_to_string(out.join("fleet.md")).unwrap();
    assert!(page.ends_with(&fleet), "the summary is fleet.md");
    assert_eq!(String::from_utf8_lossy(&o.stdout), fleet);
    (o.status.code(), page, out)
}

#[test]
fn the_final_job_compares_two_hosts_and_lists_the_skipped_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dl = downloads(tmp.path(), |_| {});
    let (code, page, out) = fleet_history(tmp.path(), &dl);
    assert_eq!(code, Some(0), "{page}");
    assert!(page.contains("| hostA | measured | 6 | vm |"), "{page}");
    assert!(page.contains("| hostB | measured | 6 | hostB |"), "{page}");
    assert!(
        page.contains("| hostC | skipped: perf is not installed (Debian: linux-perf;"),
        "{page}"
    );
    assert!(page.contains("**No regressions.**"), "{page}");
    // The cross-host table: a column per machine, a row per mode and metric.
    assert!(page.contains("| mode | metric | hostB | vm |"), "{page}");
    assert!(
        page.contains("| dwarf:4k | lost chunks | 0 | 0 |"),
        "{page}"
    );
    assert!(page.contains("| fp | perf.data MB/s |"), "{page}");

    let trends = std::fs::read_to_string(out.join("history.html")).unwrap();
    assert!(trends.contains("hostB (") && trends.contains("vm ("));
    let h: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("history.json")).unwrap()).unwrap();
    assert_eq!(h["runs_read"], 12);
    assert_eq!(h["groups"].as_array().unwrap().len(), 2, "two hosts");
    for host in ["hostb", "vm"] {
        assert!(
            out.join(format!(
                "charts/{host}-nbd-null-2-s-default-rate-lost-chunks.svg"
            ))
            .exists(),
            "{host}'s trend chart"
        );
    }
}

#[test]
fn a_regression_on_one_host_fails_the_final_job_and_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dl = downloads(tmp.path(), |v| {
        let modes = v["modes"].as_array_mut().unwrap();
        let d = modes.iter_mut().find(|m| m["mode"] == "dwarf:4k").unwrap();
        d["lost_chunks"] = 800.0.into();
    });
    let (code, page, _) = fleet_history(tmp.path(), &dl);
    assert_eq!(code, Some(4), "the documented regression code: {page}");
    assert!(page.contains("### Regressions (1)"), "{page}");
    assert!(
        page.contains("- hostB (") && page.contains("lost chunks"),
        "{page}"
    );
    assert!(
        page.contains("| dwarf:4k | lost chunks | 800 **REGRESSED** | 0 |"),
        "{page}"
    );
}
