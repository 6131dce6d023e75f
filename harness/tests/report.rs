//! Reports rendered from a fixed, real results.json (tests/fixtures/results/): snapshots of
//! report.md and of the HTML's structure, escaping of hostile strings, well-formed SVG, no
//! network references, and `unwindbench report` on a run folder.
//!
//! Regenerate the snapshots with `UNWINDBENCH_BLESS=1 cargo test --test report`.

use std::path::{Path, PathBuf};
use std::process::Command;

use unwindbench::report::charts;
use unwindbench::report::html;
use unwindbench::report::markdown;
use unwindbench::results::Results;

mod common;
use common::{assert_offline, assert_well_formed, check_run_folder};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn results() -> Results {
    Results::load(&fixture_dir().join("results/results.json")).unwrap()
}

fn snapshot(name: &str, actual: &str) {
    let path = fixture_dir().join("expected").join(name);
    if std::env::var_os("UNWINDBENCH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with UNWINDBENCH_BLESS=1", path.display()));
    assert_eq!(
        actual, expected,
        "{name} changed; rerun with UNWINDBENCH_BLESS=1 if intended"
    );
}

#[test]
fn report_md_snapshot() {
    let md = markdown::render(&results());
    assert!(md.contains("| type "), "{md}");
    assert!(md.contains("## Against the reference post"));
    assert!(md.contains("![perf.data size](charts/perf-data-size.svg)"));
    snapshot("report.md", &md);
}

/// Headings, table headers and section ids: the page's skeleton.
fn structure(page: &str) -> String {
    let mut out = String::new();
    let mut rest = page;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        let end = rest.find('>').unwrap_or(rest.len() - 1);
        let tag = &rest[1..end];
        let name = tag.split_whitespace().next().unwrap_or("");
        if matches!(name, "h1" | "h2" | "th" | "summary" | "figure" | "table") {
            let close = format!("</{name}>");
            let text = rest[end + 1..].split(close.as_str()).next().unwrap_or("");
            let text: String = if name == "figure" || name == "table" {
                tag.to_string()
            } else {
                // drop nested markup
                let mut t = String::new();
                let mut inside = false;
                for c in text.chars() {
                    match c {
                        '<' => inside = true,
                        '>' => inside = false,
                        c if !inside => t.push(c),
                        _ => {}
                    }
                }
                t
            };
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push_str(&format!(
                "{name}: {}\n",
                text.chars().take(100).collect::<String>()
            ));
        }
        rest = &rest[end + 1..];
    }
    out
}

#[test]
fn report_html_structure_snapshot() {
    let r = results();
    let page = html::render(&r, &charts::render_all(&r), None);
    snapshot("report-structure.txt", &structure(&page));
}

#[test]
fn recorded_strings_are_escaped() {
    let mut r = results();
    let evil = "<script>alert(\"x\")</script>&<img src=x onerror=y>";
    r.machine.hostname = evil.into();
    r.workload.description = evil.into();
    r.machine.cpu_model = evil.into();
    r.runs[0].warnings.push(evil.into());
    r.notes.push(evil.into());
    r.doctor.findings[0].detail = evil.into();
    let page = html::render(&r, &charts::render_all(&r), None);
    assert!(!page.contains("<script>"), "unescaped script tag");
    assert!(!page.contains("<img src=x"), "unescaped img tag");
    assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"));
    let md = markdown::render(&r);
    // Markdown renderers pass HTML through: the table cell must not break the table at least.
    assert!(md
        .lines()
        .filter(|l| l.starts_with("| machine"))
        .all(|l| l.ends_with('|')));
}

#[test]
fn every_chart_is_well_formed_svg() {
    let r = results();
    let charts = charts::render_all(&r);
    let names: Vec<&str> = charts.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "perf-data-size",
            "lost-chunks",
            "overheads",
            "completeness",
            "stack-depth"
        ]
    );
    for c in &charts {
        assert!(c.svg.contains("<svg"), "{}", c.name);
        assert_well_formed(&c.svg, c.name);
    }
}

#[test]
fn the_page_references_nothing_on_the_network() {
    let r = results();
    assert_offline(&html::render(&r, &charts::render_all(&r), None));
}

#[test]
fn report_command_renders_a_run_folder_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture_dir().join("results/results.json"),
        dir.path().join("results.json"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .arg("report")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "report.md",
        "report.html",
        "charts/perf-data-size.svg",
        "charts/stack-depth.svg",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    // No recording files came with the copy: the page must not link flame graphs it lacks.
    check_run_folder(dir.path());
    let bad = Command::new(env!("CARGO_BIN_EXE_unwindbench"))
        .args(["report", "/nonexistent/run"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(
        msg.contains("results.json") && msg.lines().count() == 1,
        "{msg}"
    );
}
