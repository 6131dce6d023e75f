//! The reference post's figures ("Frame pointers vs DWARF – my verdict": 12-core/24-thread
//! AMD, Fedora 38, one minute of nbdkit null + fio, system-wide) beside this run's, as ratios to
//! frame pointers: absolute figures do not compare across machines, ratios might.

use serde::{Deserialize, Serialize};

use super::metric::Metric;
use super::mode::ModeSummary;

/// One row of the post's table.
struct Published {
    mode: &'static str,
    perf_data_mb: f64,
    lost_chunks: u64,
    /// perf's share of the samples, as the post measured its overhead.
    overhead: f64,
}

const PUBLISHED: [Published; 5] = [
    Published {
        mode: "fp",
        perf_data_mb: 934.0,
        lost_chunks: 0,
        overhead: 0.001,
    },
    Published {
        mode: "dwarf:4k",
        perf_data_mb: 10_104.0,
        lost_chunks: 425,
        overhead: 0.008,
    },
    Published {
        mode: "dwarf:8k",
        perf_data_mb: 18_733.0,
        lost_chunks: 1_643,
        overhead: 0.015,
    },
    Published {
        mode: "dwarf:16k",
        perf_data_mb: 35_149.0,
        lost_chunks: 5_333,
        overhead: 0.028,
    },
    Published {
        mode: "dwarf:32k",
        perf_data_mb: 57_590.0,
        lost_chunks: 545_024,
        overhead: 0.027,
    },
];

pub const SOURCE: &str = "\"Frame pointers vs DWARF – my verdict\": 12-core/24-thread AMD, Fedora 38, 1 minute, perf record -a over nbdkit null + fio";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReferenceRow {
    pub mode: String,
    pub reference_perf_data_mb: f64,
    pub reference_size_vs_fp: f64,
    pub reference_lost_chunks: u64,
    pub reference_overhead: f64,
    pub perf_data_mb: Option<f64>,
    pub size_vs_fp: Option<f64>,
    pub lost_chunks: Option<f64>,
    /// This run's perf sample share: the post's overhead measure.
    pub sample_share: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReferenceComparison {
    pub source: String,
    pub rows: Vec<ReferenceRow>,
}

/// The comparison, when this run measured frame pointers and at least one of the post's
/// DWARF sizes (ratios need the fp row of the same run).
pub fn compare(modes: &[ModeSummary]) -> Option<ReferenceComparison> {
    let ok = |label: &str| {
        modes
            .iter()
            .find(|m| m.mode.to_string() == label && m.measured())
    };
    let fp_bytes = ok("fp")?.median(Metric::PerfDataBytes)?;
    let rows: Vec<ReferenceRow> = PUBLISHED
        .iter()
        .map(|p| {
            let m = ok(p.mode);
            let mb = m
                .and_then(|m| m.median(Metric::PerfDataBytes))
                .map(|b| b / 1e6);
            ReferenceRow {
                mode: p.mode.to_string(),
                reference_perf_data_mb: p.perf_data_mb,
                reference_size_vs_fp: p.perf_data_mb / PUBLISHED[0].perf_data_mb,
                reference_lost_chunks: p.lost_chunks,
                reference_overhead: p.overhead,
                perf_data_mb: mb,
                size_vs_fp: mb.map(|mb| mb * 1e6 / fp_bytes),
                lost_chunks: m.and_then(|m| m.median(Metric::LostChunks)),
                sample_share: m.and_then(|m| m.median(Metric::OverheadSampleShare)),
            }
        })
        .collect();
    (rows.iter().filter(|r| r.perf_data_mb.is_some()).count() >= 2).then(|| ReferenceComparison {
        source: SOURCE.to_string(),
        rows,
    })
}
