//! One measurement: a fresh nbdkit, fio driving it for ramp + runtime, and, unless this is the
//! baseline, `perf record -a` over the measured window.
//!
//! The window starts when fio's ramp ends (perf enables its events then, via `--delay`) and
//! ends when fio exits. CPU figures are cut to that window: usage read from /proc at its start
//! is subtracted from usage at its end (wait4's rusage for fio, /proc for the still-running
//! server and perf).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cpu;
use super::perf::{self, PerfError, PerfOptions};
use super::{Recording, Sink};
use crate::process::{self, Child, CpuTimes, ProcessError};
use crate::workload::fio::{self, FioOutputError, FioResult};
use crate::workload::server::{self, ServerError};
use crate::workload::target::{self, Target, TargetError, TargetKind};
use crate::workload::Workload;

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
}

/// Starts `unwindbench analyze -` on the measurement's folder, reading stdin; returns it and
/// the pipe to give perf as stdout.
fn start_reader(paths: &MeasurePaths) -> Result<(Child, std::process::ChildStdin), MeasureError> {
    let exe = std::env::current_exe().map_err(|source| MeasureError::Io {
        path: PathBuf::from("/proc/self/exe"),
        source,
    })?;
    let exe = exe.display().to_string();
    let dir = paths.dir.display().to_string();
    let mut cmd = process::command(&exe, &["analyze", "-", "--out", dir.as_str()]);
    let io = |source| MeasureError::Io {
        path: paths.analysis_log(),
        source,
    };
    cmd.stdout(process::to_file(&paths.analysis_log()).map_err(io)?);
    cmd.stderr(
        std::fs::OpenOptions::new()
            .append(true)
            .open(paths.analysis_log())
            .map_err(io)?,
    );
    Ok(process::spawn_with_stdin(&exe, cmd)?)
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
}

/// Runs one measurement; `on_phase` hears "ramp", "recording", "stopping" as they begin.
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
    let mut server = server::start(&spec.workload.server, spec.sock_dir, &paths.nbdkit_log())?;
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
    let job = spec.workload.job.render(&target, spec.runtime, spec.ramp);
    std::fs::write(paths.fio_job(), job).map_err(|source| MeasureError::Io {
        path: paths.fio_job(),
        source,
    })?;

    let mut reader: Option<Child> = None;
    let recording = match spec.recording {
        Some(rec) => {
            let opts = PerfOptions {
                delay: spec.ramp,
                ..spec.perf.clone()
            };
            let stdout = match rec.sink {
                Sink::Pipe => {
                    let (child, pipe) = start_reader(paths)?;
                    reader = Some(child);
                    Some(std::process::Stdio::from(pipe))
                }
                Sink::File => None,
            };
            Some(perf::start(
                rec,
                &opts,
                &paths.perf_data(),
                &paths.perf_log(),
                stdout,
            )?)
        }
        None => None,
    };

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

    // Window start.
    on_phase("recording");
    let window_start = Instant::now();
    let server_at_start = cpu::tree_cpu(server.child.pid());
    let client_at_start = cpu::tree_cpu(fio.pid());
    let perf_at_start = recording
        .as_ref()
        .and_then(|r| cpu::thread_run_seconds(r.pid()));
    let reader_at_start = reader
        .as_ref()
        .and_then(|r| cpu::thread_run_seconds(r.pid()));

    let fio_timeout = spec.runtime + Duration::from_secs(120);
    let fio_exit = fio.wait_interruptibly(fio_timeout)?;
    // Window end.
    let window_s = window_start.elapsed().as_secs_f64();
    let server_at_end = cpu::tree_cpu(server.child.pid());
    let perf_at_end = recording
        .as_ref()
        .and_then(|r| cpu::thread_run_seconds(r.pid()));
    let reader_at_end = reader
        .as_ref()
        .and_then(|r| cpu::thread_run_seconds(r.pid()));
    on_phase("stopping");

    let perf_cost = match recording {
        Some(rec) => {
            let output = rec.output.clone();
            let exit = rec.stop()?;
            let mut data_bytes = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
            // The reader ends when perf closes the pipe; its stats say how many bytes flowed.
            let reader_cost = match reader.as_mut() {
                Some(r) => {
                    let done = r.wait_interruptibly(Duration::from_secs(3 * 3600))?;
                    if !done.status.success() {
                        let log = std::fs::read_to_string(paths.analysis_log()).unwrap_or_default();
                        return Err(MeasureError::Reader(
                            log.lines()
                                .rfind(|l| !l.trim().is_empty())
                                .unwrap_or("the reader failed without a message")
                                .trim_start_matches("error: ")
                                .to_string(),
                        ));
                    }
                    data_bytes = streamed_bytes(paths).unwrap_or(0);
                    Some(ReaderCost {
                        window_cpu_s: (reader_at_end.unwrap_or_default()
                            - reader_at_start.unwrap_or_default())
                        .max(0.0),
                        total_cpu_s: done.cpu.total(),
                        peak_rss_mib: done.max_rss_kib as f64 / 1024.0,
                        wall_s: done.wall.as_secs_f64(),
                    })
                }
                None => None,
            };
            let window_cpu =
                (perf_at_end.unwrap_or_default() - perf_at_start.unwrap_or_default()).max(0.0);
            Some(PerfCost {
                data_bytes,
                window_cpu_s: window_cpu,
                total_cpu_s: exit.cpu.total(),
                max_rss_kib: exit.max_rss_kib,
                wall_s: exit.wall.as_secs_f64(),
                sink: spec.recording.map(|r| r.sink).unwrap_or_default(),
                reader: reader_cost,
            })
        }
        None => None,
    };
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

/// Bytes the pipe reader counted, from the stats.json it wrote.
fn streamed_bytes(paths: &MeasurePaths) -> Option<u64> {
    let text = std::fs::read_to_string(paths.dir.join("stats.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.pointer("/records/bytes")?.as_u64()
}
