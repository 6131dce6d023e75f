//! Everything a run writes for people and programs, behind one [`Exporter`] trait.

pub mod charts;
pub mod flamegraph;
pub mod html;
pub mod markdown;
pub mod reference;
pub mod results;
pub mod summary;
pub mod table;

use std::path::{Path, PathBuf};

use results::{Results, ResultsError};

/// One output of a run folder, rendered from [`Results`] alone.
pub trait Exporter {
    /// File name inside the run folder.
    fn file_name(&self) -> &'static str;
    fn render(&self, results: &Results) -> Result<Vec<u8>, ResultsError>;

    /// Renders and writes atomically into `dir`; returns the files written.
    fn export(&self, results: &Results, dir: &Path) -> Result<Vec<PathBuf>, ResultsError> {
        let path = dir.join(self.file_name());
        results::write_atomically(&path, &self.render(results)?)?;
        Ok(vec![path])
    }
}

/// `results.json`.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn file_name(&self) -> &'static str {
        "results.json"
    }
    fn render(&self, results: &Results) -> Result<Vec<u8>, ResultsError> {
        let mut json = serde_json::to_vec_pretty(results).map_err(|e| ResultsError::Write {
            path: self.file_name().into(),
            source: std::io::Error::other(e),
        })?;
        json.push(b'\n');
        Ok(json)
    }
}

/// `report.md`.
pub struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn file_name(&self) -> &'static str {
        "report.md"
    }
    fn render(&self, results: &Results) -> Result<Vec<u8>, ResultsError> {
        Ok(markdown::render(results).into_bytes())
    }
}

/// `report.html`.
pub struct HtmlExporter;

impl Exporter for HtmlExporter {
    fn file_name(&self) -> &'static str {
        "report.html"
    }
    fn render(&self, results: &Results) -> Result<Vec<u8>, ResultsError> {
        Ok(html::render(results, &charts::render_all(results), None).into_bytes())
    }
    fn export(&self, results: &Results, dir: &Path) -> Result<Vec<PathBuf>, ResultsError> {
        let path = dir.join(self.file_name());
        let page = html::render(results, &charts::render_all(results), Some(dir));
        results::write_atomically(&path, page.as_bytes())?;
        Ok(vec![path])
    }
}

/// `charts/*.svg`.
pub struct ChartsExporter;

impl Exporter for ChartsExporter {
    fn file_name(&self) -> &'static str {
        "charts"
    }
    fn render(&self, _: &Results) -> Result<Vec<u8>, ResultsError> {
        Ok(Vec::new())
    }
    fn export(&self, results: &Results, dir: &Path) -> Result<Vec<PathBuf>, ResultsError> {
        let charts = charts::render_all(results);
        if charts.is_empty() {
            return Ok(Vec::new());
        }
        let folder = dir.join(self.file_name());
        std::fs::create_dir_all(&folder).map_err(|source| ResultsError::Write {
            path: folder.clone(),
            source,
        })?;
        let mut written = Vec::new();
        for c in charts {
            let path = folder.join(format!("{}.svg", c.name));
            results::write_atomically(&path, c.svg.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }
}

/// The exporters every run writes, in order (results.json first: the others render it).
pub fn exporters() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(JsonExporter),
        Box::new(MarkdownExporter),
        Box::new(ChartsExporter),
        Box::new(HtmlExporter),
    ]
}

/// The human summary `analyze` prints.
pub fn analysis_summary(a: &crate::analyze::Analysis, out: &Path) -> String {
    use crate::analyze::Recorded;
    let mut s = String::new();
    let r = &a.records;
    s.push_str(&format!(
        "{}: {} samples, {} lost chunks ({} events lost), {:.1} MB read in {:.2} s ({:.0} MB/s)\n",
        a.input,
        r.samples,
        r.lost_chunks,
        r.lost_events,
        r.bytes as f64 / 1e6,
        a.wall_s,
        a.mb_per_s
    ));
    let mode = match a.recorded {
        Recorded::None => "no call graph".to_string(),
        Recorded::Callchain => "callchains".to_string(),
        Recorded::Dwarf { stack_bytes } => format!("DWARF {stack_bytes} B"),
    };
    s.push_str(&format!(
        "stacks: {mode}; {} distinct stacks, {} distinct frames\n",
        a.distinct_stacks, a.distinct_frames
    ));
    let mut rows: Vec<(&String, &crate::fold::StackFigures)> = a.stacks.iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.samples));
    s.push_str("  process            samples  complete  depth p50/p99\n");
    for (comm, f) in rows.iter().take(12) {
        let name = if comm.as_str() == crate::fold::ALL {
            "(all)"
        } else {
            comm.as_str()
        };
        s.push_str(&format!(
            "  {:<16} {:>9}  {:>8}  {}/{}\n",
            name,
            f.samples,
            f.completeness
                .map(|c| format!("{:.1}%", c * 100.0))
                .unwrap_or_else(|| "–".into()),
            f.depth_p50
                .map(|d| d.to_string())
                .unwrap_or_else(|| "–".into()),
            f.depth_p99
                .map(|d| d.to_string())
                .unwrap_or_else(|| "–".into()),
        ));
    }
    if !a.missing_modules.is_empty() {
        s.push_str(&format!(
            "{} module(s) could not be read; their frames are named [file]: see stats.json\n",
            a.missing_modules.len()
        ));
    }
    if r.unparsable_records > 0 {
        s.push_str(&format!(
            "warning: {} record(s) were malformed and skipped (the file is damaged); their samples are not in the figures\n",
            r.unparsable_records
        ));
    }
    if !a.kernel_symbols {
        s.push_str("kernel frames are unnamed: kallsyms of this boot is unreadable or hidden (run as root)\n");
    }
    s.push_str(&format!(
        "wrote {}/{{stacks.folded,flamegraph.svg,stats.json}}\n",
        out.display()
    ));
    s
}

/// The sweep as Markdown: the smallest copy sizes per process, then the check against real
/// recordings.
pub fn sweep_text(s: &crate::sweep::SweepReport) -> String {
    use crate::sweep::size_text;
    let mut out = format!(
        "Stack-size sweep from `{}` ({}-byte copies): the smallest DWARF copy giving complete stacks\n\n",
        s.recording, s.copy_bytes
    );
    out.push_str("| process | user stacks | needed p50 | p90 | p99 | 90% complete at | 99% at | 100% at |\n|---|---|---|---|---|---|---|---|\n");
    let mut rows: Vec<_> = s.processes.iter().collect();
    rows.sort_by_key(|(_, p)| std::cmp::Reverse(p.user_samples));
    for (comm, p) in rows {
        let bytes = |b: Option<u32>| match b {
            Some(b) => format!("{b} B"),
            None => format!("> {}", s.copy_bytes),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            comm.replace('|', "\\|"),
            p.user_samples,
            bytes(p.needed_p50),
            bytes(p.needed_p90),
            bytes(p.needed_p99),
            size_text(p.smallest_90, s.copy_bytes),
            size_text(p.smallest_99, s.copy_bytes),
            size_text(p.smallest_100, s.copy_bytes),
        ));
    }
    if !s.check.is_empty() {
        out.push_str("\nThe prediction against real recordings at those sizes (they differ only by the perturbation a larger copy causes and the data it loses):\n\n| recording | process | predicted complete | measured complete | measured - predicted |\n|---|---|---|---|---|\n");
        let pct = |x: Option<f64>| {
            x.map(|v| format!("{:.1}%", v * 100.0))
                .unwrap_or_else(|| "–".into())
        };
        for c in &s.check {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                c.mode,
                c.process,
                pct(c.predicted),
                pct(c.measured),
                c.difference_points
                    .map(|d| format!("{d:+.1} points"))
                    .unwrap_or_else(|| "–".into())
            ));
        }
    }
    out
}
