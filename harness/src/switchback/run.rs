//! One switchback of a mode on an NBD workload: nbdkit and fio as in a measurement, fio
//! writing per-interval logs, the recorder started with sampling off and switched round by
//! round until the time is spent; then the recording's last bytes flushed (what writing them
//! back costs is the deferred part), the samples and I/Os of every round counted, and the
//! rounds summarized.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::counters::{Snapshot, Watched, WritebackThreads};
use super::estimate::{self, Arm, Round, SwitchbackSummary, WholeRun};
use super::iolog::{self, IoLogError, IoSeries};
use super::options::SwitchbackOptions;
use super::schedule::Schedule;
use crate::mode::UnwindMode;
use crate::price::rounds::Marks;
use crate::process::{self, Tools};
use crate::progress::Progress;
use crate::record::control::{monotonic_ns, ControlError, Fifos, Session};
use crate::record::measure::{spawn_fio, write_job, NbdServing};
use crate::record::measured::{MeasureError, MeasurePaths};
use crate::record::{cpu, Recording, Sink};
use crate::workload::fio::JobTemplate;
use crate::workload::target::TargetKind;
use crate::workload::{ServerSpec, Workload, WorkloadKind};

/// What one switchback needs to know.
pub struct SwitchbackSpec<'a> {
    pub workload: &'a Workload,
    pub tools: &'a Tools,
    pub ramp: Duration,
    pub target: TargetKind,
    pub recording: Recording,
    /// Sampling frequency (`-F`); None: the recorder's default.
    pub freq: Option<u32>,
    /// A short private folder for the server's socket.
    pub sock_dir: &'a Path,
    pub options: &'a SwitchbackOptions,
    /// Keep the recording and fio's logs.
    pub keep_data: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SwitchbackError {
    #[error("the switchback counts I/Os in fio's per-interval logs, so it needs an NBD workload; `{0}` runs a program")]
    NotNbd(String),
    #[error(
        "the switchback records into a file, as the reference does; {0} streams through a pipe"
    )]
    Pipe(String),
    #[error(transparent)]
    Measure(#[from] MeasureError),
    #[error("the recorder: {0}")]
    Control(#[from] ControlError),
    #[error("{0}")]
    IoLog(#[from] IoLogError),
    #[error("only {0} blocks had both rounds measured (fio ended early? see fio.log); at least 3 are needed")]
    TooShort(usize),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SwitchbackError {
    pub fn is_interrupt(&self) -> bool {
        match self {
            SwitchbackError::Measure(e) => e.is_interrupt(),
            SwitchbackError::Control(e) => e.is_interrupt(),
            _ => false,
        }
    }
}

impl From<process::ProcessError> for SwitchbackError {
    fn from(e: process::ProcessError) -> Self {
        SwitchbackError::Measure(MeasureError::Process(e))
    }
}

/// What a switchback gives.
#[derive(Clone, Debug)]
pub struct SwitchbackRun {
    pub summary: SwitchbackSummary,
    /// Why it ended early, rounds whose I/Os the logs did not cover, a recording that could
    /// not be read: said beside the figures.
    pub notes: Vec<String>,
}

/// The rounds and the whole run as measured, kept in the folder as `switchback.json`.
#[derive(serde::Serialize)]
struct Kept<'a> {
    rounds: &'a [Round],
    whole: &'a WholeRun,
    summary: &'a SwitchbackSummary,
}

/// The recorder's command: `perf record -a` with sampling off until enabled, or the online
/// recorder with the same control FIFOs.
fn recorder_command(
    rec: Recording,
    freq: Option<u32>,
    fifos: &Fifos,
    output: &Path,
) -> (String, std::process::Command) {
    let mut args: Vec<String> = Vec::new();
    let program = if rec.mode.is_online() {
        args.extend([
            "online-record".into(),
            "-o".into(),
            output.display().to_string(),
        ]);
        std::env::current_exe()
            .ok()
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe"))
            .display()
            .to_string()
    } else {
        args.extend(
            [
                "record",
                "-a",
                "-k",
                "mono",
                "-D",
                "-1",
                "--buildid-all",
                "-o",
            ]
            .map(String::from),
        );
        args.push(output.display().to_string());
        "perf".to_string()
    };
    if let Some(f) = freq {
        args.extend(["-F".into(), f.to_string()]);
    }
    args.extend(["--control".into(), fifos.argument()]);
    args.extend(rec.mode.perf_args());
    if let Some(k) = rec.knob {
        args.extend(k.perf_args());
    }
    let name = if rec.mode.is_online() {
        "unwindbench online-record"
    } else {
        "perf"
    };
    (name.to_string(), process::command(&program, &args))
}

/// Why the switching stopped before its time was spent, if it did.
fn stop_reason(dir: &Path, fio: &mut process::Child) -> Result<Option<String>, SwitchbackError> {
    if fio.try_wait()?.is_some() {
        return Ok(Some(
            "fio ended before the switchback's time was spent".into(),
        ));
    }
    if let Some((free, total)) = crate::disk::disk_space(dir) {
        let margin = crate::disk::disk_margin(total);
        if free < margin {
            return Ok(Some(format!(
                "stopped before the disk filled: {} free at {}",
                crate::units::human_bytes(free),
                dir.display()
            )));
        }
    }
    Ok(None)
}

/// A round between two snapshots.
fn round_between(
    block: usize,
    arm: Arm,
    after_on: Option<bool>,
    (asked, acked): (u64, u64),
    a: &Snapshot,
    b: &Snapshot,
) -> Round {
    Round {
        block,
        on: arm == Arm::On,
        after_on,
        switch_ms: acked.saturating_sub(asked) as f64 / 1e6,
        switched_ns: acked,
        start_ns: a.t_ns,
        end_ns: b.t_ns,
        work: 0.0,
        workload: b.workload.since(&a.workload),
        recorder: b.recorder.since(&a.recorder),
        system: b.system.since(&a.system),
        writeback_ns: b.writeback_ns.saturating_sub(a.writeback_ns),
        written_bytes: b.recorded_bytes.saturating_sub(a.recorded_bytes),
        dirty_mb: b.dirty_mb,
        samples: 0,
        lost: 0,
    }
}

/// The blocks, until the time is spent or something stops them. Returns the rounds, the
/// snapshot taken at the first switch, and why they stopped early (if they did).
fn switch_rounds(
    session: &mut Session,
    watched: &mut Watched,
    fio: &mut process::Child,
    opts: &SwitchbackOptions,
    dir: &Path,
    progress: &mut dyn Progress,
) -> Result<(Vec<Round>, Snapshot, Option<String>), SwitchbackError> {
    let mut schedule = Schedule::new(opts.seed);
    let mut rounds: Vec<Round> = Vec::new();
    let first = watched.snapshot();
    let mut stopped = None;
    let mut block = 0;
    while monotonic_ns().saturating_sub(first.t_ns) < opts.duration.as_nanos() as u64 {
        if let Some(why) = stop_reason(dir, fio)? {
            stopped = Some(why);
            break;
        }
        for arm in schedule.next_block() {
            let asked = monotonic_ns();
            let acked = match arm {
                Arm::On => session.enable()?,
                Arm::Off => session.disable()?,
            };
            process::sleep_interruptibly(opts.settle)?;
            let a = watched.snapshot();
            process::sleep_interruptibly(opts.round)?;
            let b = watched.snapshot();
            let after_on = rounds.last().map(|r| r.on);
            rounds.push(round_between(block, arm, after_on, (asked, acked), &a, &b));
        }
        block += 1;
        if block % 20 == 0 {
            let done = monotonic_ns().saturating_sub(first.t_ns) as f64 / 1e9;
            progress.phase(&format!(
                "switching: {block} blocks, {done:.0} of {:.0} s",
                opts.duration.as_secs_f64()
            ));
        }
    }
    Ok((rounds, first, stopped))
}

/// The harness thread's own CPU time (s).
fn own_thread_cpu_s() -> f64 {
    // SAFETY: out-parameter of the right type.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    }
}

/// Writes the recording's dirty pages back now, so that the writeback of everything it wrote
/// falls inside the run; returns the harness's CPU for it (a flush by fsync runs in the
/// caller, not the flusher threads).
fn flush(path: &Path) -> f64 {
    let before = own_thread_cpu_s();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.sync_data();
    }
    own_thread_cpu_s() - before
}

/// Counts every round's I/Os and samples; rounds the logs do not cover keep no work (their
/// block is left out) and are said in a note.
fn count(rounds: &mut [Round], ios: &IoSeries, marks: Option<&Marks>, notes: &mut Vec<String>) {
    let mut uncovered = 0;
    for r in rounds.iter_mut() {
        match ios.ios_between(r.start_ns, r.end_ns) {
            Some(n) => r.work = n,
            None => uncovered += 1,
        }
        if let Some(m) = marks {
            let w = m.window(r.start_ns, r.end_ns, -1, 0, 0);
            r.samples = w.samples;
            r.lost = w.lost;
        }
    }
    if uncovered > 0 {
        notes.push(format!(
            "{uncovered} rounds fell outside fio's logs and were left out with their blocks"
        ));
    }
}

/// What the switching left: the rounds (their I/Os and samples not yet counted), the whole
/// run's writeback, the recording and why the switching stopped early, if it did.
struct Switched {
    rounds: Vec<Round>,
    whole: WholeRun,
    recording: PathBuf,
    stopped: Option<String>,
}

/// The workload under the recorder, switched until the time is spent, then stopped and the
/// recording's last dirty pages flushed.
fn run_switched(
    spec: &SwitchbackSpec<'_>,
    (server, job): (&ServerSpec, &JobTemplate),
    paths: &MeasurePaths,
    progress: &mut dyn Progress,
) -> Result<Switched, SwitchbackError> {
    let dir = &paths.dir;
    let serving = NbdServing::start(spec.tools, server, spec.target, spec.sock_dir, paths)?;
    // fio runs until the harness stops it: long enough for any delay the switching meets.
    let runtime = spec.options.duration * 3 + Duration::from_secs(600);
    let log_ms = spec.options.log_interval.as_millis().max(1) as u32;
    let logs = iolog::fio_options(dir, log_ms);
    write_job(job, &serving.target, (runtime, spec.ramp), &logs, paths)?;
    let fifos = Fifos::create(dir)?;
    let (name, cmd) = recorder_command(spec.recording, spec.freq, &fifos, &paths.perf_data());
    let mut session = Session::launch(&name, cmd, &fifos, &paths.perf_data(), &paths.perf_log())?;
    let mut fio = spawn_fio(spec.tools, paths)?;
    progress.phase("ramp");
    let mut writeback = WritebackThreads::new();
    let ramp_start = (monotonic_ns(), writeback.run_ns());
    process::sleep_interruptibly(spec.ramp)?;
    let background_cpus = writeback.run_ns().saturating_sub(ramp_start.1) as f64
        / monotonic_ns().saturating_sub(ramp_start.0).max(1) as f64;
    // nbdfuse, for a loop device, serves the workload as nbdkit does.
    let mut workload = serving.server_pids();
    workload.push(fio.pid());
    workload.extend(cpu::children(fio.pid()));
    let mut watched = Watched {
        workload,
        recorder: session.pid(),
        output: paths.perf_data(),
        writeback,
    };
    let (rounds, first, stopped) = switch_rounds(
        &mut session,
        &mut watched,
        &mut fio,
        spec.options,
        dir,
        progress,
    )?;
    progress.phase("stopping");
    session.disable()?;
    fio.signal_group(libc::SIGINT);
    let _ = fio.wait_interruptibly(Duration::from_secs(120))?;
    let (recording, _) = session.finish()?;
    let flushed_by_us = flush(&recording);
    let end = watched.snapshot();
    serving.stop();
    let whole = WholeRun {
        seconds: end.t_ns.saturating_sub(first.t_ns) as f64 / 1e9,
        writeback_cpu_s: end.writeback_ns.saturating_sub(first.writeback_ns) as f64 / 1e9
            + flushed_by_us,
        written_mb: end.recorded_bytes.saturating_sub(first.recorded_bytes) as f64 / 1e6,
        background_cpus,
    };
    Ok(Switched {
        rounds,
        whole,
        recording,
        stopped,
    })
}

/// Runs one switchback of `spec.recording` in `dir`.
pub fn measure(
    spec: &SwitchbackSpec<'_>,
    dir: &Path,
    progress: &mut dyn Progress,
) -> Result<SwitchbackRun, SwitchbackError> {
    let rec = spec.recording;
    if rec.sink == Sink::Pipe {
        return Err(SwitchbackError::Pipe(rec.label()));
    }
    let WorkloadKind::Nbd { server, job } = &spec.workload.kind else {
        return Err(SwitchbackError::NotNbd(spec.workload.name.clone()));
    };
    let paths = MeasurePaths {
        dir: dir.to_path_buf(),
    };
    std::fs::create_dir_all(dir).map_err(|source| SwitchbackError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    progress.phase("starting");
    let Switched {
        rounds,
        whole,
        recording,
        stopped,
    } = run_switched(spec, (server, job), &paths, progress)?;
    progress.phase("counting");
    conclude(spec, dir, rounds, &whole, stopped, &recording)
}

/// Counts the I/Os and samples of every round, sums the rounds up, keeps them in
/// switchback.json and (without --keep-data) deletes the recording and fio's logs.
fn conclude(
    spec: &SwitchbackSpec<'_>,
    dir: &Path,
    mut rounds: Vec<Round>,
    whole: &WholeRun,
    stopped: Option<String>,
    recording: &Path,
) -> Result<SwitchbackRun, SwitchbackError> {
    let mut notes: Vec<String> = stopped.into_iter().collect();
    let ios = IoSeries::read(dir)?;
    let marks = match Marks::read(recording) {
        Ok(m) => Some(m),
        Err(e) => {
            notes.push(format!(
                "samples per round unknown: the recording did not read: {e}"
            ));
            None
        }
    };
    count(&mut rounds, &ios, marks.as_ref(), &mut notes);
    drop(marks);
    if !spec.keep_data {
        let _ = std::fs::remove_file(recording);
        for f in iolog::log_files(dir) {
            let _ = std::fs::remove_file(f);
        }
    }
    let settings = (
        spec.options.round.as_secs_f64() * 1e3,
        spec.options.settle.as_secs_f64() * 1e3,
    );
    let summary = estimate::summarize(&rounds, settings, Some(whole))
        .ok_or(SwitchbackError::TooShort(rounds.len() / 2))?;
    let kept = Kept {
        rounds: &rounds,
        whole,
        summary: &summary,
    };
    let text = serde_json::to_vec(&kept).unwrap_or_default();
    crate::files::write_atomically(&dir.join("switchback.json"), &text).map_err(|source| {
        SwitchbackError::Io {
            path: dir.join("switchback.json"),
            source,
        }
    })?;
    Ok(SwitchbackRun { summary, notes })
}

/// Whether a mode can be switched here: every mode perf records, and the online recorder.
pub fn switchable(mode: UnwindMode) -> bool {
    !matches!(mode, UnwindMode::Lbr)
}
