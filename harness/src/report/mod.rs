//! Rendering only: everything a run writes for people and programs from [`Results`], behind
//! one [`Exporter`] trait. It computes no figure (that is [`crate::results`]).
//!
//! - [`table`]: the comparison table (terminal, report.md, report.html);
//! - [`facts`]: the rows report.md and report.html both show, built once;
//! - [`markdown`], [`html`]: the two reports, one function per section ([`markdown_table`]:
//!   Markdown's tables);
//! - [`charts`]: the charts, from a table of what each draws;
//! - [`flamegraph`]: flame graphs with inferno;
//! - [`prices`]: the price list (`calibrate`, and the price step of `compare`);
//! - [`switchback`](mod@switchback): the overhead measured inside one run, per mode;
//! - [`format`](mod@format): how numbers are printed.

pub mod charts;
pub mod columns;
pub mod facts;
pub mod flamegraph;
pub mod footnotes;
pub mod format;
pub mod html;
pub mod markdown;
pub mod markdown_table;
pub mod prices;
pub mod switchback;
pub mod table;

use std::path::{Path, PathBuf};

use crate::files::write_atomically;
use crate::results::{Results, ResultsError};

/// [`write_atomically`], failing with the file's name.
fn write(path: &Path, contents: &[u8]) -> Result<(), ResultsError> {
    write_atomically(path, contents).map_err(|source| ResultsError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// One output of a run folder, rendered from [`Results`] alone.
pub trait Exporter {
    /// File name inside the run folder.
    fn file_name(&self) -> &'static str;
    fn render(&self, results: &Results) -> Result<Vec<u8>, ResultsError>;

    /// Renders and writes atomically into `dir`; returns the files written.
    fn export(&self, results: &Results, dir: &Path) -> Result<Vec<PathBuf>, ResultsError> {
        let path = dir.join(self.file_name());
        write(&path, &self.render(results)?)?;
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
        write(&path, page.as_bytes())?;
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
            write(&path, c.svg.as_bytes())?;
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

/// What `compare` prints: the table without links, how to read its overheads, why it ranks
/// modes against their prices where it does, the model's disagreements, and the sweep.
pub fn terminal(results: &Results) -> String {
    let mut out = table::render(results, false);
    let runs = results.modes.iter().any(|m| {
        m.figure(crate::results::Metric::OverheadThroughput)
            .is_some()
    });
    if runs && columns::available(results, columns::Source::SeparateRuns) {
        out.push_str("Overheads from separate runs: estimate [95% interval] over the paired repeats; \"within noise\" when the interval holds 0.\n");
    }
    out.push_str(&format!("Target: {}\n", facts::target_text(results)));
    if let Some(s) = facts::engine_baseline_sentence(results) {
        out.push_str(&s);
        out.push('\n');
    }
    let switchback = switchback::terminal(results);
    if !switchback.is_empty() {
        out.push('\n');
        out.push_str(&switchback);
    }
    if !results.explanations.is_empty() {
        out.push_str("\nWhere the overheads rank modes against their prices:\n");
        out.push_str(&table::explanations(results));
    }
    let rows = facts::model_rows(results);
    if !rows.is_empty() {
        out.push_str(
            "\nThe model (price list x what each recording sampled) beside the measurement:\n",
        );
        for r in rows {
            out.push_str(&format!(
                "- {}: lost {} (predicted / measured), MB/s asked / written {}, held back by {}; CPU per I/O {}; agrees: {}\n",
                r[0], r[4], r[2], r[3], r[6], r[8]
            ));
        }
    }
    if let Some(s) = &results.sweep {
        out.push('\n');
        out.push_str(&markdown::sweep_text(s));
    }
    out
}
