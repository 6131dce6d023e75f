//! The table's columns: their titles and the indices the renderers and the footnotes use.

/// Column titles: the reference post's table first (type, size, lost chunks, overhead, flame
/// graph), then the figures it could not give.
pub const COLUMNS: [&str; 15] = [
    "type",
    "perf.data",
    "lost chunks",
    "overhead",
    "flame graph",
    "MB/s",
    "samples",
    "lost events",
    "perf CPU",
    "sample share",
    "CPU per I/O",
    "overhead over none",
    "cost per sample",
    "nbdkit stacks complete",
    "depth p50 / p99",
];

/// The column of flame graph links (report.md and report.html only).
pub const FLAMEGRAPH_COLUMN: usize = 4;
pub const PERF_DATA_COLUMN: usize = 1;
pub const OVER_NONE_COLUMN: usize = 11;
pub const COST_COLUMN: usize = 12;
pub const COMPLETENESS_COLUMN: usize = 13;
