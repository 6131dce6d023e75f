//! What one measurement gives and where it goes: its raw figures ([`Measured`], with what
//! perf and the pipe's reader cost), the files it writes ([`MeasurePaths`]), and how it can
//! fail ([`MeasureError`]). Shared by the run loop ([`super::measure`]) and perf's side of
//! it ([`super::profiler`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::perf::PerfError;
use super::Sink;
use crate::process::ProcessError;
use crate::workload::fio::{FioOutputError, FioResult};
use crate::workload::program::ProgramError;
use crate::workload::server::ServerError;
use crate::workload::target::TargetError;

#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error("nbdkit: {0}")]
    Server(#[from] ServerError),
    #[error("target: {0}")]
    Target(#[from] TargetError),
    #[error("perf: {0}")]
    Perf(#[from] PerfError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("fio exited with {code}: {message} (log: {log})")]
    Fio {
        code: i32,
        message: String,
        log: PathBuf,
    },
    #[error("fio: {0}")]
    FioOutput(#[from] FioOutputError),
    #[error("pipe reader: {0}")]
    Reader(String),
    #[error("program: {0}")]
    Program(#[from] ProgramError),
    #[error("{program} exited with {code}; see {log}")]
    ProgramFailed {
        program: String,
        code: i32,
        log: PathBuf,
    },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl MeasureError {
    pub fn is_interrupt(&self) -> bool {
        matches!(
            self,
            MeasureError::Process(ProcessError::Interrupted(_))
                | MeasureError::Server(ServerError::Process(ProcessError::Interrupted(_)))
                | MeasureError::Perf(PerfError::Process(ProcessError::Interrupted(_)))
                | MeasureError::Target(TargetError::Process(ProcessError::Interrupted(_)))
                | MeasureError::Program(ProgramError::Process(ProcessError::Interrupted(_)))
        )
    }
}

/// What perf cost in one measurement.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PerfCost {
    /// Size of the perf.data perf wrote.
    pub data_bytes: u64,
    /// CPU seconds perf used inside the measured window.
    pub window_cpu_s: f64,
    /// CPU seconds over perf's whole life (start-up and finalizing included).
    pub total_cpu_s: f64,
    pub max_rss_kib: u64,
    /// perf's wall time from start to exit.
    pub wall_s: f64,
    #[serde(default)]
    pub sink: Sink,
    /// The pipe sink's reader (the analyzer reading perf's stream while it is written).
    #[serde(default)]
    pub reader: Option<ReaderCost>,
    /// Set when the recording was stopped early (--max-data): why, and the seconds of the
    /// window it covers.
    #[serde(default)]
    pub truncated: Option<String>,
    #[serde(default)]
    pub recorded_s: Option<f64>,
    /// Dirty page-cache data when the window began (MB): it brings the kernel's throttling
    /// of perf's writes closer (see [`super::memory`]).
    #[serde(default)]
    pub dirty_at_start_mb: Option<f64>,
    /// perf's time on a CPU, waiting for one, and timeslices in the window (schedstat): how
    /// long it waited to run, beside the model's wake-up delays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sched: Option<super::cpu::ThreadTimes>,
}

/// What reading a pipe-sink recording live cost: it competes with the workload for CPUs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReaderCost {
    /// CPU seconds of the reader inside the measured window.
    pub window_cpu_s: f64,
    /// CPU seconds over its whole life (the analysis after the stream ended included).
    pub total_cpu_s: f64,
    pub peak_rss_mib: f64,
    pub wall_s: f64,
}

/// The raw figures of one measurement.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Measured {
    pub fio: FioResult,
    /// Length of the measured window (end of ramp to fio's exit), seconds.
    pub window_s: f64,
    /// CPU seconds of the server (nbdkit) in the window.
    pub server_cpu_s: f64,
    /// CPU seconds of fio and its job processes in the window.
    pub client_cpu_s: f64,
    pub perf: Option<PerfCost>,
}

impl Measured {
    /// I/Os per second of the measured window: the I/Os fio completed after its ramp over the
    /// window's wall time. fio's own IOPS add up per-job rates, which over-counts whenever its
    /// jobs do not run at the same time (on a busy 2-CPU machine some start many seconds
    /// late); this figure cannot.
    pub fn iops(&self) -> f64 {
        if self.window_s > 0.0 {
            self.fio.total_ios as f64 / self.window_s
        } else {
            0.0
        }
    }

    /// Workload CPU (server + client) per completed I/O, microseconds.
    pub fn cpu_per_io_us(&self) -> Option<f64> {
        (self.fio.total_ios > 0)
            .then(|| (self.server_cpu_s + self.client_cpu_s) / self.fio.total_ios as f64 * 1e6)
    }
}

/// Files of one measurement, inside its folder.
pub struct MeasurePaths {
    pub dir: PathBuf,
}

impl MeasurePaths {
    pub fn perf_data(&self) -> PathBuf {
        self.dir.join("perf.data")
    }
    pub fn perf_log(&self) -> PathBuf {
        self.dir.join("perf.stderr")
    }
    pub fn fio_job(&self) -> PathBuf {
        self.dir.join("job.fio")
    }
    pub fn fio_json(&self) -> PathBuf {
        self.dir.join("fio.json")
    }
    pub fn fio_log(&self) -> PathBuf {
        self.dir.join("fio.log")
    }
    pub fn nbdkit_log(&self) -> PathBuf {
        self.dir.join("nbdkit.log")
    }
    pub fn nbd_client_log(&self) -> PathBuf {
        self.dir.join("nbd-client.log")
    }
    pub fn nbdfuse_log(&self) -> PathBuf {
        self.dir.join("nbdfuse.log")
    }
    pub fn analysis_log(&self) -> PathBuf {
        self.dir.join("analysis.log")
    }
    /// The workload's known stacks, for the analysis to score against.
    pub fn truth(&self) -> PathBuf {
        self.dir.join("truth.json")
    }

    /// What every analysis of this measurement is given, after its input: the folder, a
    /// Firefox Profiler profile, the known stacks where there are some, and the folders its
    /// sandbox must read besides the system's (see [`crate::analyze::confine`]): the
    /// harness's own (its frames, as those of the online recorder) and the project's build
    /// folder (frame-pointer builds, programs of program workloads).
    pub fn analysis_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> =
            vec!["--out".into(), self.dir.clone().into(), "--profile".into()];
        if self.truth().exists() {
            args.extend(["--truth".into(), self.truth().into()]);
        }
        let own = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(PathBuf::from));
        let build = crate::workload::ProjectDirs::locate().build();
        for dir in own.into_iter().chain([build]).filter(|d| d.is_dir()) {
            args.extend(["--read".into(), dir.into()]);
        }
        args
    }
}
