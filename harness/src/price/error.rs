//! What can go wrong while pricing.

use std::path::PathBuf;

use crate::perfdata::PerfDataError;
use crate::process::ProcessError;
use crate::workload::program::ProgramError;

#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Program(#[from] ProgramError),
    #[error("cannot read the price session's recording: {0}")]
    PerfData(#[from] PerfDataError),
    #[error("perf could not run the price session: {message} (log: {log})")]
    PerfStart { message: String, log: PathBuf },
    #[error("{0}")]
    Worker(String),
    #[error("cannot pin the harness to CPU {cpu}: {source}")]
    Pin { cpu: usize, source: std::io::Error },
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Options(String),
    #[error("perf's price session: {0}")]
    Control(#[from] crate::record::control::ControlError),
}
