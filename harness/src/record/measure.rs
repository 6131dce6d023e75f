//! One measurement: the workload (a fresh nbdkit with fio driving it, or a program of the
//! repo) for ramp + runtime, and, unless this is the baseline, `perf record -a` over the
//! measured window ([`super::profiler`]).
//!
//! The window starts when the workload's ramp ends (perf enables its events then, via
//! `--delay`) and ends when the client exits. CPU figures are cut to that window: usage read
//! from /proc at its start is subtracted from usage at its end (wait4's rusage for the
//! client, /proc for the still-running server and perf).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cpu;
use super::perf::{PerfError, PerfOptions};
use super::profiler::Profiler;
use super::{Recording, Sink};
use crate::process::{self, CpuTimes, ProcessError};
use crate::workload::fio::{self, FioOutputError, FioResult};
use crate::workload::program::{self, BuiltProgram, ProgramError};
use crate::workload::server::{self, ServerError};
use crate::workload::target::{self, Target, TargetError, TargetKind};
use crate::workload::ServerSpec;
use crate::workload::{fio::JobTemplate, Workload, WorkloadKind};

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
    pub fn analysis_log(&self) -> PathBuf {
        self.dir.join("analysis.log")
    }
    /// The workload's known stacks, for the analysis to score against.
    pub fn truth(&self) -> PathBuf {
        self.dir.join("truth.json")
    }
}

/// Everything one measurement needs to know.
pub struct MeasureSpec<'a> {
    pub workload: &'a Workload,
    pub runtime: Duration,
    pub ramp: Duration,
    pub target: TargetKind,
    /// None: the unprofiled baseline.
    pub recording: Option<Recording>,
    pub perf: PerfOptions,
    /// A private folder for the server's socket (short path: Unix sockets are limited to 108
    /// bytes, run folders may be deeper).
    pub sock_dir: &'a Path,
    /// The built binaries of a program workload (empty for NBD workloads).
    pub programs: &'a [BuiltProgram],
    /// Stop a file-sink recording once its perf.data passes this many bytes.
    pub max_data: Option<u64>,
}

/// Runs one measurement; `on_phase` hears "starting", "ramp", "recording", "stopping".
pub fn measure(
    spec: &MeasureSpec<'_>,
    paths: &MeasurePaths,
    on_phase: &mut dyn FnMut(&str),
) -> Result<Measured, MeasureError> {
    std::fs::create_dir_all(&paths.dir).map_err(|source| MeasureError::Io {
        path: paths.dir.clone(),
        source,
    })?;
    on_phase("starting");
    match &spec.workload.kind {
        WorkloadKind::Nbd { server, job } => measure_nbd(spec, server, job, paths, on_phase),
        WorkloadKind::Program { spec: program, .. } => {
            measure_program(spec, program, paths, on_phase)
        }
    }
}

fn measure_nbd(
    spec: &MeasureSpec<'_>,
    server_spec: &ServerSpec,
    job: &JobTemplate,
    paths: &MeasurePaths,
    on_phase: &mut dyn FnMut(&str),
) -> Result<Measured, MeasureError> {
    let mut server = server::start(server_spec, spec.sock_dir, &paths.nbdkit_log())?;
    // Dropped (detached) before the server is stopped, on every path.
    let kernel_device = match spec.target {
        TargetKind::KernelNbd => Some(target::attach_kernel_device(
            &server.socket,
            &paths.nbd_client_log(),
        )?),
        TargetKind::NbdEngine => None,
    };
    let target = match &kernel_device {
        Some(dev) => Target::KernelNbd {
            device: dev.device.clone(),
        },
        None => Target::NbdEngine {
            socket: server.socket.clone(),
        },
    };
    let job = job.render(&target, spec.runtime, spec.ramp);
    std::fs::write(paths.fio_job(), job).map_err(|source| MeasureError::Io {
        path: paths.fio_job(),
        source,
    })?;

    let mut profiler = Profiler::start(spec.recording, &spec.perf, spec.ramp, paths)?;
    let mut fio_cmd = process::command(
        "fio",
        &[
            "--output-format=json".to_string(),
            format!("--output={}", paths.fio_json().display()),
            paths.fio_job().display().to_string(),
        ],
    );
    let io_err = |source| MeasureError::Io {
        path: paths.fio_log(),
        source,
    };
    fio_cmd.stdout(process::to_file(&paths.fio_log()).map_err(io_err)?);
    fio_cmd.stderr(
        std::fs::OpenOptions::new()
            .append(true)
            .open(paths.fio_log())
            .map_err(io_err)?,
    );
    let mut fio = process::spawn("fio", fio_cmd)?;
    on_phase("ramp");
    process::sleep_interruptibly(spec.ramp)?;

    on_phase("recording");
    let window_start = Instant::now();
    let server_at_start = cpu::tree_cpu(server.child.pid());
    let client_at_start = cpu::tree_cpu(fio.pid());
    profiler.window_start();

    let fio_exit = fio.wait_ticking(spec.runtime + Duration::from_secs(120), &mut || {
        profiler.watch(spec.max_data, window_start)
    })?;
    let window_s = window_start.elapsed().as_secs_f64();
    let server_at_end = cpu::tree_cpu(server.child.pid());
    profiler.window_end();
    on_phase("stopping");
    let perf_cost = profiler.finish(paths)?;
    drop(kernel_device);
    let _ = server.child.stop(libc::SIGTERM, Duration::from_secs(10));

    if !fio_exit.status.success() {
        let log = std::fs::read_to_string(paths.fio_log()).unwrap_or_default();
        return Err(MeasureError::Fio {
            code: fio_exit.code(),
            message: log
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("no output")
                .to_string(),
            log: paths.fio_log(),
        });
    }
    let fio_result = fio::parse_output(&paths.fio_json())?;
    let client_cpu: CpuTimes = fio_exit.cpu.saturating_sub(client_at_start);
    Ok(Measured {
        fio: fio_result,
        window_s,
        server_cpu_s: server_at_end.saturating_sub(server_at_start).total(),
        client_cpu_s: client_cpu.total(),
        perf: perf_cost,
    })
}

/// A program workload: every build runs as its own process for ramp + runtime and reports
/// the work it did after its ramp; that work per second is the throughput ("IOPS" in the
/// tables), and the programs' CPU per unit of it the CPU-per-I/O figure.
fn measure_program(
    spec: &MeasureSpec<'_>,
    program_spec: &program::ProgramSpec,
    paths: &MeasurePaths,
    on_phase: &mut dyn FnMut(&str),
) -> Result<Measured, MeasureError> {
    let mut profiler = Profiler::start(spec.recording, &spec.perf, spec.ramp, paths)?;
    let mut running = Vec::new();
    for p in spec.programs {
        let log = paths.dir.join(format!("{}.log", p.comm));
        let child = program::start(program_spec, p, spec.ramp, spec.runtime, &log)?;
        running.push((p, child, log));
    }
    on_phase("ramp");
    process::sleep_interruptibly(spec.ramp)?;
    on_phase("recording");
    let window_start = Instant::now();
    let at_start: Vec<CpuTimes> = running
        .iter()
        .map(|(_, c, _)| cpu::tree_cpu(c.pid()))
        .collect();
    profiler.window_start();
    let mut exits = Vec::new();
    for (_, child, _) in running.iter_mut() {
        exits.push(
            child.wait_ticking(spec.runtime + Duration::from_secs(60), &mut || {
                profiler.watch(spec.max_data, window_start)
            })?,
        );
    }
    let window_s = window_start.elapsed().as_secs_f64();
    profiler.window_end();
    on_phase("stopping");
    let perf_cost = profiler.finish(paths)?;

    let mut iterations = 0u64;
    let mut cpu = 0f64;
    for (((p, _, log), exit), start) in running.iter().zip(&exits).zip(&at_start) {
        if !exit.status.success() {
            return Err(MeasureError::ProgramFailed {
                program: p.comm.clone(),
                code: exit.code(),
                log: log.clone(),
            });
        }
        iterations += program::iterations(log).unwrap_or(0);
        cpu += exit.cpu.saturating_sub(*start).total();
    }
    let runtime = spec.runtime.as_secs_f64();
    Ok(Measured {
        fio: FioResult {
            iops: iterations as f64 / runtime,
            total_ios: iterations,
            ..FioResult::default()
        },
        window_s,
        server_cpu_s: 0.0,
        client_cpu_s: cpu,
        perf: perf_cost,
    })
}
