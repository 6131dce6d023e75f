//! How loading a workload can fail: each error names the file (and line) and the fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error(
        "unknown workload `{name}`; known workloads: {known} (or pass a path to a .toml file)"
    )]
    Unknown { name: String, known: String },
    #[error("cannot read workload {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("malformed workload {path}:{line}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("workload {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("fio job {path}: {message}")]
    Job { path: PathBuf, message: String },
    #[error("--fp-built: {0} not found; build it first with scripts/build-fp-workloads.sh")]
    NoFpBuild(PathBuf),
}
