//! Everything a run writes for people and programs, behind one [`Exporter`] trait.

pub mod markdown;
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

    /// Renders and writes atomically into `dir`.
    fn export(&self, results: &Results, dir: &Path) -> Result<PathBuf, ResultsError> {
        let path = dir.join(self.file_name());
        results::write_atomically(&path, &self.render(results)?)?;
        Ok(path)
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

/// The exporters every run writes, in order (results.json first: the others render it).
pub fn exporters() -> Vec<Box<dyn Exporter>> {
    vec![Box::new(JsonExporter), Box::new(MarkdownExporter)]
}
