//! Flame graphs with inferno: one per recording, one zoomed to a process, and differential
//! ones (a mode against frame pointers).

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use inferno::flamegraph::{self as fg, Options};

use std::path::PathBuf;

use crate::fold::Weighting;
use crate::mode::UnwindMode;
use crate::record::{Recording, Subject};
use crate::results::{MeasurementStatus, Results, RunRecord};

fn options<'a>(title: &str, subtitle: Option<&str>, weighting: Weighting) -> Options<'a> {
    let mut o = Options::default();
    o.title = title.to_string();
    o.subtitle = subtitle.map(str::to_string);
    o.count_name = match weighting {
        Weighting::Samples => "samples".into(),
        Weighting::Period => "ns".into(),
    };
    // Colours from the function name, so the same function looks the same in every graph.
    o.hash = true;
    o.min_width = 0.05;
    o
}

/// The Firefox Profiler profile `analyze --profile` writes beside the flame graphs (gzipped
/// JSON: profiler.firefox.com and `samply load` read it as it is).
pub const PROFILE_FILE: &str = "profile.json.gz";

/// Writes a flame graph of `folded` to `path`.
pub fn write(
    folded: &BTreeMap<String, u64>,
    title: &str,
    subtitle: Option<&str>,
    weighting: Weighting,
    path: &Path,
) -> std::io::Result<()> {
    let lines: Vec<String> = folded.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let mut o = options(title, subtitle, weighting);
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    fg::from_lines(&mut o, lines.iter().map(String::as_str), &mut out)?;
    out.flush()
}

/// Writes a flame graph of the folded file `folded_path`, keeping only stacks of process
/// `comm` (the first frame) when given. Returns false when nothing was left to draw.
pub fn write_from_file(
    folded_path: &Path,
    comm: Option<&str>,
    title: &str,
    subtitle: Option<&str>,
    path: &Path,
) -> std::io::Result<bool> {
    let text = std::fs::read_to_string(folded_path)?;
    let prefix = comm.map(|c| format!("{c};"));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| prefix.as_ref().is_none_or(|p| l.starts_with(p.as_str())))
        .collect();
    if lines.is_empty() {
        return Ok(false);
    }
    let mut o = options(title, subtitle, Weighting::Samples);
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    fg::from_lines(&mut o, lines, &mut out)?;
    out.flush()?;
    Ok(true)
}

/// A differential flame graph: widths from `after`, colours by the change from `before`
/// (red grew, blue shrank), counts normalized so the totals compare. Both folded files are
/// filtered to process `comm` when given.
pub fn write_differential(
    before: &Path,
    after: &Path,
    comm: Option<&str>,
    title: &str,
    subtitle: Option<&str>,
    path: &Path,
) -> std::io::Result<bool> {
    let keep = |p: &Path| -> std::io::Result<String> {
        let text = std::fs::read_to_string(p)?;
        let prefix = comm.map(|c| format!("{c};"));
        Ok(text
            .lines()
            .filter(|l| prefix.as_ref().is_none_or(|p| l.starts_with(p.as_str())))
            .map(|l| format!("{l}\n"))
            .collect())
    };
    let (b, a) = (keep(before)?, keep(after)?);
    if b.is_empty() || a.is_empty() {
        return Ok(false);
    }
    let mut diff = Vec::new();
    inferno::differential::from_readers(
        inferno::differential::Options {
            normalize: true,
            strip_hex: false,
        },
        b.as_bytes(),
        a.as_bytes(),
        &mut diff,
    )?;
    let diff = String::from_utf8_lossy(&diff).into_owned();
    let mut o = options(title, subtitle, Weighting::Samples);
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    fg::from_lines(&mut o, diff.lines(), &mut out)?;
    out.flush()?;
    Ok(true)
}

/// Links each mode's flame graphs (first successful repeat) and draws, for every other mode,
/// differential flame graphs of the server and of all processes against the frame-pointer
/// recording of the same repeat.
pub fn link_flamegraphs(results: &mut Results, run_dir: &Path) {
    let server_comm = results.workload.primary().to_string();
    let server_comm = server_comm.as_str();
    let dir_of = |r: &RunRecord| -> PathBuf { run_dir.join(r.folder_name()) };
    let ok = |r: &&RunRecord| r.status == MeasurementStatus::Ok && r.analysis.is_some();
    for m in results.modes.iter_mut() {
        // Links are only ever to files that exist now.
        m.flamegraphs = Default::default();
        let subject = Subject::Recording(m.mode);
        let Some(first) = results
            .runs
            .iter()
            .filter(ok)
            .find(|r| r.subject == subject)
        else {
            continue;
        };
        let dir = dir_of(first);
        let rel = |p: PathBuf| p.strip_prefix(run_dir).map(Path::to_path_buf).ok();
        let all = dir.join("flamegraph.svg");
        let server = dir.join(format!("flamegraph-{server_comm}.svg"));
        m.flamegraphs.all = all.exists().then(|| rel(all)).flatten();
        m.flamegraphs.server = server.exists().then(|| rel(server)).flatten();
        let profile = dir.join(PROFILE_FILE);
        m.flamegraphs.profile = profile.exists().then(|| rel(profile)).flatten();
        let fp = Recording::plain(UnwindMode::Fp);
        if m.mode == fp {
            continue;
        }
        let Some(fp) = results
            .runs
            .iter()
            .filter(ok)
            .find(|r| r.subject == Subject::Recording(fp) && r.repeat == first.repeat)
        else {
            continue;
        };
        // The server alone, and every process: the second shows what perf itself (and the
        // kernel copying stacks for it) took from the machine under this mode.
        for (comm, file, title) in [
            (
                Some(server_comm),
                format!("diff-vs-fp-{server_comm}.svg"),
                format!("{server_comm}: {} against frame pointers", m.mode),
            ),
            (
                None,
                "diff-vs-fp.svg".to_string(),
                format!("all processes: {} against frame pointers", m.mode),
            ),
        ] {
            let diff = dir.join(file);
            let drawn = write_differential(
                &dir_of(fp).join("stacks.folded"),
                &dir.join("stacks.folded"),
                comm,
                &title,
                Some("widths: this mode; red: more samples than with fp, blue: fewer"),
                &diff,
            )
            .unwrap_or(false);
            let link = if drawn { rel(diff) } else { None };
            match comm {
                Some(_) => m.flamegraphs.diff_vs_fp = link,
                None => m.flamegraphs.diff_vs_fp_all = link,
            }
        }
    }
}

/// Draws every recording's flame graphs again from its stacks.folded (after an upgrade of
/// the renderer, say): all processes and the server. Returns how many were drawn.
pub fn redraw(results: &Results, run_dir: &Path) -> usize {
    let server_comm = results.workload.primary();
    let mut drawn = 0;
    for r in results.runs.iter().filter(|r| r.analysis.is_some()) {
        let dir = run_dir.join(r.folder_name());
        let folded = dir.join("stacks.folded");
        if !folded.exists() {
            continue;
        }
        let title = format!("{} — repeat {}", r.subject, r.repeat);
        if write_from_file(&folded, None, &title, None, &dir.join("flamegraph.svg"))
            .unwrap_or(false)
        {
            drawn += 1;
        }
        let server = dir.join(format!("flamegraph-{server_comm}.svg"));
        let server_title = format!("{server_comm} — {title}");
        if write_from_file(
            &folded,
            Some(server_comm),
            &server_title,
            Some("zoomed to the server process"),
            &server,
        )
        .unwrap_or(false)
        {
            drawn += 1;
        }
    }
    drawn
}
