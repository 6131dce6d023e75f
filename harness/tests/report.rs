//! Reports rendered from fixed, real results.json files (tests/fixtures/results/: a run with
//! separate runs only, and one measured by switchback): snapshots of report.md, of the
//! switchback's section and table and of the HTML's structure, escaping of hostile strings,
//! well-formed SVG, the columns a run cannot have left out, no network references, and
//! `unwindbench report` on a run folder.
//!
//! Regenerate the snapshots with `UNWINDBENCH_BLESS=1 cargo test --test report`.

use std::path::{Path, PathBuf};
use std::process::Command;

use unwindbench::report::charts;
use unwindbench::report::html;
use unwindbench::report::{markdown, table};
use unwindbench::results::Results;

mod common;
use common::{assert_offline, assert_well_formed, check_run_folder};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn results() -> Results {
    Results::load(&fixture_dir().join("results/results.json")).unwrap()
}

/// The run measured by switchback (no baseline runs), with `none`, `fp` and `dwarf:8k`.
fn switchback_results() -> Results {
    Results::load(&fixture_dir().join("results/switchback/results.json")).unwrap()
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

/// The text of report.md's section titled `title`, up to the next section.
fn section<'a>(md: &'a str, title: &str) -> &'a str {
    let start = md
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("no section {title}:\n{md}"));
    let rest = &md[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 4);
    &rest[..end]
}

/// The header cells of the table's first line.
fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap()
        .split('|')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn switchback_section_and_table_snapshots() {
    let r = switchback_results();
    let md = markdown::render(&r);
    let part = section(&md, "The overhead on the workload (switchback)");
    // The method in words, a row per mode, the model, the notes of every switchback.
    assert!(part.contains("rounds of 250 ms"), "{part}");
    for title in ["no call graph", "frame pointers", "DWARF (8K)"] {
        assert_eq!(
            part.lines()
                .filter(|l| l.starts_with(&format!("| {title} |")))
                .count(),
            2,
            "{title}: a row in each table\n{part}"
        );
    }
    assert!(
        part.contains("cannot tell: interval 12.4 points wide"),
        "{part}"
    );
    assert!(
        part.contains("- `dwarf:8k`: 3 rounds fell outside fio's logs"),
        "{part}"
    );
    snapshot("switchback/section.md", part);
    snapshot("switchback/table.md", &table::render(&r, true));
    let page = html::render(&r, &charts::render_all(&r), None);
    snapshot("switchback/report-structure.txt", &structure(&page));
}

#[test]
fn columns_a_run_cannot_have_are_left_out() {
    let runs = header(&table::render(&results(), true));
    let switchback = header(&table::render(&switchback_results(), true));
    let separate = [
        "overhead (separate runs)",
        "CPU per I/O (separate runs)",
        "cost per sample",
    ];
    let switched = ["overhead (switchback)", "CPU per I/O (switchback)"];
    // A file from before the switchback: the separate runs' columns, none of the switchback.
    for c in separate {
        assert!(runs.iter().any(|h| h == c), "{c} missing: {runs:?}");
        assert!(
            !switchback.iter().any(|h| h == c),
            "{c} shown: {switchback:?}"
        );
    }
    for c in switched {
        assert!(!runs.iter().any(|h| h == c), "{c} shown: {runs:?}");
        assert!(
            switchback.iter().any(|h| h == c),
            "{c} missing: {switchback:?}"
        );
    }
    // `none` of the same repeat needs no baseline: a switchback run has it.
    assert!(switchback.iter().any(|h| h == "overhead over none"));
    // Every row has every shown column, in the table and on the page.
    let r = switchback_results();
    let text = table::render(&r, true);
    for line in text.lines().filter(|l| l.starts_with('|')) {
        assert_eq!(line.matches('|').count(), switchback.len() + 1, "{line}");
    }
    let page = html::render(&r, &charts::render_all(&r), None);
    let results_table = page.split("<h2>Results</h2>").nth(1).unwrap();
    let results_table = results_table.split("</table>").next().unwrap();
    assert_eq!(results_table.matches("<th>").count(), switchback.len());
    assert!(!results_table.contains("separate runs"));
    // With both methods, both kinds of column.
    let mut both = switchback_results();
    both.settings.overhead = Some("both".into());
    let both = header(&table::render(&both, true));
    assert!(
        both.iter().any(|h| h == "overhead (separate runs)"),
        "{both:?}"
    );
    assert!(
        both.iter().any(|h| h == "overhead (switchback)"),
        "{both:?}"
    );
    // --repeat 0: the switchback's columns and nothing from the repeats.
    let mut only = switchback_results();
    only.settings.repeat = 0;
    only.runs.clear();
    let only = header(&table::render(&only, true));
    assert_eq!(
        only,
        ["type", "overhead (switchback)", "CPU per I/O (switchback)"]
    );
}

#[test]
fn the_switchback_chart_has_a_strip_per_mode() {
    let r = switchback_results();
    let chart = charts::render_all(&r)
        .into_iter()
        .find(|c| c.name == "switchback")
        .expect("a switchback chart");
    assert_well_formed(&chart.svg, "switchback.svg");
    // Every block a point, each mode's points in its own colour.
    let mut by_colour: std::collections::BTreeMap<String, usize> = Default::default();
    for circle in chart.svg.split("<circle").skip(1) {
        let tag = circle.split('>').next().unwrap();
        let fill = common::attribute_values(tag, "fill")
            .first()
            .map(|f| f.to_string())
            .unwrap_or_default();
        *by_colour.entry(fill).or_default() += 1;
    }
    let mut blocks: Vec<usize> = r
        .switchbacks
        .iter()
        .map(|s| s.summary.as_ref().unwrap().log_ratios.len())
        .collect();
    let mut strips: Vec<usize> = by_colour.values().copied().collect();
    blocks.sort();
    strips.sort();
    assert_eq!(strips, blocks, "{by_colour:?}");
    // The page shows it; a run without switchbacks has none.
    let page = html::render(&r, &charts::render_all(&r), None);
    assert!(page.contains("id=\"chart-switchback\""));
    assert!(!charts::render_all(&results())
        .iter()
        .any(|c| c.name == "switchback"));
}

/// The switchback cell of the row titled `title`.
fn switchback_cell(table: &str, title: &str) -> String {
    let column = header(table)
        .iter()
        .position(|h| h == "overhead (switchback)")
        .unwrap();
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("| {title} ")))
        .unwrap();
    row.split('|').nth(column + 1).unwrap().trim().to_string()
}

/// The number of a cell's footnote mark (` [2]` at its end), if it has one.
fn footnote_mark(cell: &str) -> Option<&str> {
    let (_, mark) = cell.strip_suffix(']')?.rsplit_once(" [")?;
    mark.chars().all(|c| c.is_ascii_digit()).then_some(mark)
}

#[test]
fn a_significant_carry_over_is_footnoted() {
    let mut r = switchback_results();
    // In the fixture dwarf:8k's carry-over is significant and fp's is not: turn them round.
    for s in r.switchbacks.iter_mut() {
        let summary = s.summary.as_mut().unwrap();
        let c = summary.carry_over.as_mut().unwrap();
        c.significant = s.recording.to_string() == "fp";
    }
    let text = table::render(&r, true);
    let fp = switchback_cell(&text, "frame pointers");
    let mark = footnote_mark(&fp).unwrap_or_else(|| panic!("no mark on fp's cell: {fp}\n{text}"));
    let note = text
        .lines()
        .find(|l| l.starts_with(&format!("[{mark}] ")))
        .unwrap();
    assert!(note.contains("outlasted the 50 ms settle time"), "{note}");
    // The carry-over, the steady figure it stands on and the paired one beside it.
    assert!(
        note.contains("carry-over into sampled rounds +3.9%"),
        "{note}"
    );
    assert!(note.contains("steady overhead"), "{note}");
    assert!(note.contains("-1.2% [-21%–16%]"), "{note}");
    assert!(note.contains("the paired one, 9.3% [4.1%–14%]"), "{note}");
    let dwarf = switchback_cell(&text, "DWARF (8K)");
    assert_eq!(footnote_mark(&dwarf), None, "{dwarf}");
    assert_eq!(text.matches("outlasted").count(), 1, "{text}");
    // The terminal says it in its line.
    let terminal = unwindbench::report::terminal(&r);
    let line = terminal
        .lines()
        .find(|l| l.starts_with("- frame pointers:"))
        .unwrap();
    assert!(line.contains("carry-over significant"), "{line}");
}

#[test]
fn a_failed_switchback_says_why() {
    let mut r = switchback_results();
    let evil = "perf died <script>x</script>";
    let fp = r
        .switchbacks
        .iter_mut()
        .find(|s| s.recording.to_string() == "fp")
        .unwrap();
    fp.status = unwindbench::results::MeasurementStatus::Failed;
    fp.error = Some(evil.into());
    fp.summary = None;
    let m = r
        .modes
        .iter_mut()
        .find(|m| m.mode.to_string() == "fp")
        .unwrap();
    m.figures
        .retain(|metric, _| !format!("{metric:?}").contains("Switchback"));
    m.switchback_model = None;
    let text = table::render(&r, true);
    let cell = switchback_cell(&text, "frame pointers");
    assert!(
        cell.starts_with('–') && footnote_mark(&cell).is_some(),
        "{text}"
    );
    assert!(
        text.contains("the switchback of `fp` failed: perf died"),
        "{text}"
    );
    let md = markdown::render(&r);
    let part = section(&md, "The overhead on the workload (switchback)");
    assert!(part.contains(&format!("- `fp`: failed: {evil}")), "{part}");
    assert!(!part.contains("| frame pointers |"), "{part}");
    let page = html::render(&r, &charts::render_all(&r), None);
    assert!(!page.contains("<script>"), "unescaped error");
    assert!(page.contains("perf died &lt;script&gt;"));
}

#[test]
fn the_terminal_says_which_overheads_it_shows() {
    let runs = unwindbench::report::terminal(&results());
    assert!(runs.contains("Overheads from separate runs"), "{runs}");
    assert!(!runs.contains("switchback"), "{runs}");
    let r = switchback_results();
    let text = unwindbench::report::terminal(&r);
    assert!(!text.contains("Overheads from separate runs"), "{text}");
    for line in [
        "- no call graph: 8.3% [1.9%–14%]; no carry-over; deferred: –",
        "- frame pointers: 9.3% [4.1%–14%]; no carry-over; deferred: –",
        "- note on fp: 2 rounds fell outside fio's logs and were left out with their blocks",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}: {text}");
    }
    let dwarf = text
        .lines()
        .find(|l| l.starts_with("- DWARF (8K):"))
        .unwrap();
    assert!(dwarf.contains("carry-over significant"), "{dwarf}");
    assert!(dwarf.contains("deferred 1.55 points"), "{dwarf}");
}
