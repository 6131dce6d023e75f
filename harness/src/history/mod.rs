//! `history`: many nights, many hosts. Every results.json under the given folders becomes a
//! point; points are grouped by host (the machine section), workload and mode, and each
//! watched metric's latest value is judged against its own past on the same host.
//!
//! - [`build`](mod@build) reads the runs, groups them and judges each series;
//! - [`detect`] is the noise-aware judgement of one series;
//! - [`model`] is what history.json holds;
//! - [`render`] writes history.md, history.html and the trend charts.

pub mod build;
pub mod detect;
pub mod model;
pub mod render;

use std::path::PathBuf;

pub use self::build::{build, host_of, workload_of, HistoryError, HistoryOptions};
pub use self::model::{Flag, Group, History, Point, Series, Skipped};

/// Builds the history and writes history.json, history.md, history.html and the charts.
pub fn run(opts: &HistoryOptions) -> Result<History, HistoryError> {
    let h = build(opts)?;
    let write = |path: PathBuf, contents: &[u8]| {
        crate::files::write_atomically(&path, contents)
            .map_err(|source| HistoryError::Write { path, source })
    };
    std::fs::create_dir_all(opts.out.join("charts")).map_err(|source| HistoryError::Write {
        path: opts.out.clone(),
        source,
    })?;
    let charts = render::charts(&h);
    for (name, svg) in &charts {
        let p = opts.out.join("charts").join(format!("{name}.svg"));
        write(p, svg.as_bytes())?;
    }
    let json = serde_json::to_vec_pretty(&h).unwrap_or_default();
    write(opts.out.join("history.json"), &json)?;
    write(opts.out.join("history.md"), render::markdown(&h).as_bytes())?;
    write(
        opts.out.join("history.html"),
        render::html(&h, &charts).as_bytes(),
    )?;
    Ok(h)
}
