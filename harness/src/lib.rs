//! unwindbench: what call-stack unwinding costs a profiler.
//!
//! The data flow, one module per stage:
//!
//! ```text
//! preflight -> workload -> record -> perfdata -> unwind -> symbolize -> fold -> results -> report -> history
//!                                       binary: the files the recording maps, for unwind and symbolize
//!                                       sweep, accuracy: figures taken along unwind and fold
//! ```
//!
//! - [`preflight`] (`doctor`): perf, permissions, PMU, nbdkit, fio and its nbd engine, kernel
//!   NBD, disk, and a frame-pointer [`audit`] of the workload's binaries; [`machine`] is what
//!   it probed.
//! - [`workload`]: workload TOML files, the nbdkit server, fio jobs and their JSON results,
//!   raw-device targets, programs with known stacks.
//! - [`record`]: `perf record -a` per [`mode`] around the measured window, CPU accounting;
//!   what one measurement gives.
//! - [`perfdata`]: perf.data (file and pipe format) read natively: record counts, lost data,
//!   address spaces over time.
//! - [`binary`]: the ELF files mapped, found and checked by build id, parsed once.
//! - [`unwind`]: the frames of each sample, as file offsets: kernel callchains, DWARF user
//!   stacks unwound with framehop, and where stacks end.
//! - [`symbolize`]: names for frames, from symbol tables as perf names them, and kallsyms.
//! - [`fold`]: folded stacks, stack completeness and depth per process (data only).
//! - [`sweep`]: how large the DWARF copy must be, from one largest-copy recording;
//!   [`accuracy`]: stacks scored against a program's known chains.
//! - [`analyze`] runs perfdata to fold on one recording (reading, unwinding, naming,
//!   folding, as stages).
//! - [`price`] (`calibrate`): what one sample costs per mode, measured on fixed work with
//!   sampling switched on and off, what perf can write, and the model that turns both into
//!   predictions for a workload.
//! - [`switchback`]: the overhead of a mode on the running workload, sampling switched on
//!   and off in short random rounds inside one run (and on the fixed work, as a check).
//! - [`results`]: `results.json`, the model: every figure over the repeats, once, by
//!   metric; the reference comparison.
//! - [`report`]: rendering only: the table, `report.md`, `report.html`, charts, flame graphs.
//! - [`history`]: many runs, many hosts: trends and noise-aware regressions.
//! - [`compare`] runs the whole flow (and `sweep`); [`cli`] turns arguments into its options.
//!
//! Used throughout: [`process`] (no child outlives the run), [`stats`] (intervals),
//! [`progress`], [`units`],
//! [`timestamp`], [`fasthash`], [`files`], [`leftovers`], [`disk`], [`sandbox`] (what a
//! process that parses untrusted bytes may still do), [`exclusive`] (one measurement at a
//! time, and the other profilers beside it), [`resources`] (what the harness holds, for soaks).

// What is measured, and the check before it.
pub mod mode;
pub mod machine;
pub mod audit;
pub mod preflight;
pub mod workload;
// Measuring.
pub mod record;
// Reading a recording, stage by stage.
pub mod perfdata;
pub mod binary;
pub mod unwind;
pub mod symbolize;
pub mod fold;
pub mod sweep;
pub mod accuracy;
pub mod analyze;
pub mod online;
// What a sample costs, on fixed work.
pub mod price;
// What a mode costs the running workload, switched on and off inside one run.
pub mod switchback;
// The figures, and what is made of them.
pub mod results;
pub mod report;
pub mod history;
// The whole flow, and the command line.
pub mod compare;
pub mod cli;
// Used throughout.
pub mod process;
pub mod stats;
pub mod progress;
pub mod units;
pub mod timestamp;
pub mod fasthash;
pub mod disk;
pub mod files;
pub mod leftovers;
pub mod exclusive;
pub mod resources;
pub mod sandbox;
mod serde_text;
