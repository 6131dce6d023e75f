//! Recording: `perf record` around the measured window of a workload.

pub mod cpu;
pub mod measure;
pub mod perf;
