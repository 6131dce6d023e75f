//! unwindbench: what call-stack unwinding costs a profiler.
//!
//! The data flow, one module per stage:
//!
//! ```text
//! preflight -> workload -> record -> parse -> unwind -> symbolize -> fold -> report
//! ```
//!
//! - [`preflight`] (`doctor`): perf, permissions, PMU, nbdkit, fio and its nbd engine, kernel
//!   NBD, disk, and a frame-pointer [`audit`] of the workload's binaries.
//! - [`workload`]: workload TOML files, the nbdkit server, fio jobs and their JSON results,
//!   raw-device targets.
//! - [`record`]: `perf record -a` per [`mode`], the measured window, CPU accounting.
//! - [`perfdata`]: perf.data (file and pipe format) read natively: record counts, lost data,
//!   samples per comm.
//! - [`unwind`]: frames of each sample: kernel callchains split at context markers, DWARF
//!   user stacks unwound with framehop over per-process address spaces.
//! - [`symbolize`]: blazesym by file offset, kallsyms for the kernel.
//! - [`fold`]: folded stacks, stack completeness and depth per process.
//! - [`report`]: `results.json`, the table, `report.md`, flame graphs.
//! - [`analyze`] runs parse to fold on one perf.data; [`compare`] runs the whole flow;
//!   [`process`] guarantees no child outlives the run.

pub mod accuracy;
pub mod analyze;
pub mod audit;
pub mod binary;
pub mod cli;
pub mod compare;
pub mod fasthash;
pub mod files;
pub mod fold;
pub mod history;
pub mod machine;
pub mod mode;
pub mod perfdata;
pub mod preflight;
pub mod process;
pub mod progress;
pub mod record;
pub mod report;
pub mod results;
mod serde_text;
pub mod sweep;
pub mod symbolize;
pub mod timestamp;
pub mod units;
pub mod unwind;
pub mod workload;
