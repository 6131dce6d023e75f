//! One measurement: the workload (a fresh nbdkit with fio driving it, or a program of the
//! repo) for ramp + runtime, and, unless this is the baseline, `perf record -a` over the
//! measured window ([`super::profiler`]).
//!
//! The window starts when the workload's ramp ends (perf enables its events then, via
//! `--delay`) and ends when the client exits. CPU figures are cut to that window: usage read
//! from /proc at its start is subtracted from usage at its end (wait4's rusage for the
//! client, /proc for the still-running server and perf).

use std::path::Path;
use std::time::{Duration, Instant};

use super::cpu;
use super::measured::{MeasureError, MeasurePaths, Measured};
use super::perf::PerfOptions;
use super::profiler::Profiler;
use super::Recording;
use crate::process::{self, CpuTimes, Tools};
use crate::workload::device::{self, BlockDevice, DeviceLogs};
use crate::workload::fio::{self, FioResult};
use crate::workload::program::{self, BuiltProgram};
use crate::workload::server;
use crate::workload::target::{Target, TargetKind};
use crate::workload::ServerSpec;
use crate::workload::{fio::JobTemplate, Workload, WorkloadKind};

/// Everything one measurement needs to know.
pub struct MeasureSpec<'a> {
    pub workload: &'a Workload,
    /// Where nbdkit and fio come from.
    pub tools: &'a Tools,
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

/// The server and the raw device of an NBD workload, up before fio starts. [`NbdServing::stop`]
/// takes them down in order (the device first, so nothing is left holding the server's
/// socket or a mount); dropped instead (an error, a Ctrl-C), the same happens.
pub struct NbdServing {
    pub server: server::Server,
    /// Released before the server is stopped.
    device: Option<BlockDevice>,
    pub target: Target,
}

impl NbdServing {
    /// Starts nbdkit on a socket in `sock_dir` and attaches the device `kind` needs (a loop
    /// device mounts its FUSE file in `sock_dir` too).
    pub fn start(
        tools: &Tools,
        server_spec: &ServerSpec,
        kind: TargetKind,
        sock_dir: &Path,
        paths: &MeasurePaths,
    ) -> Result<NbdServing, MeasureError> {
        let server = server::start(tools, server_spec, sock_dir, &paths.nbdkit_log())?;
        let logs = DeviceLogs {
            nbd_client: paths.nbd_client_log(),
            nbdfuse: paths.nbdfuse_log(),
        };
        let device = device::attach(kind, &server.socket, sock_dir, &logs)?;
        let target = match &device {
            Some(dev) => dev.target(),
            None => Target::NbdEngine {
                socket: server.socket.clone(),
            },
        };
        Ok(NbdServing {
            server,
            device,
            target,
        })
    }

    /// The processes that serve the workload: nbdkit, and nbdfuse for a loop device.
    pub fn server_pids(&self) -> Vec<i32> {
        let mut pids = vec![self.server.child.pid()];
        pids.extend(self.device.iter().flat_map(BlockDevice::helper_pids));
        pids
    }

    /// Their CPU time so far (threads and reaped children included).
    pub fn server_cpu(&self) -> CpuTimes {
        self.server_pids()
            .into_iter()
            .map(cpu::tree_cpu)
            .fold(CpuTimes::default(), |a, b| a.add(b))
    }

    /// Releases the device, then stops the server.
    pub fn stop(mut self) {
        self.release_device();
        let _ = self
            .server
            .child
            .stop(libc::SIGTERM, Duration::from_secs(10));
    }

    /// What could not be undone goes to stderr: the run goes on, and the next one (or
    /// `doctor`) cleans it up (see [`crate::leftovers`]).
    fn release_device(&mut self) {
        if let Some(mut dev) = self.device.take() {
            for problem in dev.release() {
                eprintln!("unwindbench: {problem}");
            }
        }
    }
}

impl Drop for NbdServing {
    fn drop(&mut self) {
        // Before the fields drop: the server (nbdkit) must outlive the device it serves.
        self.release_device();
    }
}

/// Writes the job fio runs (the template for `runtime` and `ramp` on `target`, with `extra`
/// options in its leading section) into the measurement's folder.
pub fn write_job(
    job: &JobTemplate,
    target: &Target,
    (runtime, ramp): (Duration, Duration),
    extra: &[(&str, String)],
    paths: &MeasurePaths,
) -> Result<(), MeasureError> {
    let text = job.render_with(target, runtime, ramp, extra);
    std::fs::write(paths.fio_job(), text).map_err(|source| MeasureError::Io {
        path: paths.fio_job(),
        source,
    })
}

/// Starts fio on the measurement's job file, its JSON results and log into the folder.
pub fn spawn_fio(tools: &Tools, paths: &MeasurePaths) -> Result<process::Child, MeasureError> {
    let mut fio_cmd = tools.command(
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
    Ok(process::spawn("fio", fio_cmd)?)
}

/// fio's failure as an error naming its last line.
pub fn fio_failed(exit: &process::Exit, paths: &MeasurePaths) -> MeasureError {
    let log = std::fs::read_to_string(paths.fio_log()).unwrap_or_default();
    MeasureError::Fio {
        code: exit.code(),
        message: log
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .to_string(),
        log: paths.fio_log(),
    }
}

fn measure_nbd(
    spec: &MeasureSpec<'_>,
    server_spec: &ServerSpec,
    job: &JobTemplate,
    paths: &MeasurePaths,
    on_phase: &mut dyn FnMut(&str),
) -> Result<Measured, MeasureError> {
    let serving = NbdServing::start(spec.tools, server_spec, spec.target, spec.sock_dir, paths)?;
    write_job(job, &serving.target, (spec.runtime, spec.ramp), &[], paths)?;
    let mut profiler = Profiler::start(spec.recording, &spec.perf, spec.ramp, paths)?;
    let mut fio = spawn_fio(spec.tools, paths)?;
    on_phase("ramp");
    process::sleep_interruptibly(spec.ramp)?;

    on_phase("recording");
    let window_start = Instant::now();
    let server_at_start = serving.server_cpu();
    let client_at_start = cpu::tree_cpu(fio.pid());
    profiler.window_start();

    let fio_exit = fio.wait_ticking(spec.runtime + Duration::from_secs(120), &mut || {
        profiler.watch(spec.max_data, window_start)
    })?;
    let window_s = window_start.elapsed().as_secs_f64();
    let server_at_end = serving.server_cpu();
    profiler.window_end();
    on_phase("stopping");
    let perf_cost = profiler.finish(paths)?;
    serving.stop();

    if !fio_exit.status.success() {
        return Err(fio_failed(&fio_exit, paths));
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
