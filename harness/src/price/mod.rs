//! The price list: what one sample costs, per unwinding mode, measured on fixed CPU-bound
//! work instead of a noisy I/O workload's throughput.
//!
//! The work (`workloads/programs/pricework.c`) runs on one CPU at a known stack depth, a
//! shallow and a deep variant; `perf record -p` samples it from another CPU, started with its
//! events disabled, one perf per mode and sampling rate, all at once. The harness alternates rounds of
//! the same work with sampling switched on and off through perf's control FIFO ([`control`]),
//! in pairs of random order, cycling through every stack, mode and rate in a fresh random
//! order each time, so that drift on the machine reaches all modes alike. For every pair:
//!
//! - the *kernel's price* shows as the extra CPU time of the sampled round (the thread's CPU
//!   clock includes the interrupts it suffers on a kernel without IRQ time accounting);
//! - the *recorder's price* as perf's extra CPU time up to the point where it has read every
//!   sample of the round;
//! - the samples and bytes come from the recording itself ([`rounds`]).
//!
//! Each price is the slope of the extra time against the samples taken, fitted over all
//! rounds at all rates with Theil–Sen and given a 95% bootstrap interval (see [`crate::stats`]):
//! a fixed cost per round (switching sampling on, say) goes into the intercept, not the price,
//! and every round at every rate tightens the one estimate. `none` prices the sampling
//! interrupt alone, so what unwinding adds is the difference to it. [`capacity`] measures what
//! perf can write, and [`model`] turns prices and capacity into predictions for a workload.

pub mod capacity;
pub mod control;
pub mod model;
pub mod rounds;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::mode::UnwindMode;
use crate::perfdata::PerfDataError;
use crate::process::ProcessError;
use crate::progress::Progress;
use crate::stats::{self, Interval, SplitMix64};
use crate::workload::program::{self, Build, ProgramError, ProgramSpec};
use control::{PinnedHere, Session, SessionSpec, Worker};
use rounds::{Marks, PairedRound};

/// The modes `calibrate` prices unless told otherwise: sampling alone, frame pointers, and the
/// two DWARF sizes of the default comparison.
pub const DEFAULT_PRICED_MODES: &str = "none,fp,dwarf:8k,dwarf:32k";

/// Bumped when a field of prices.json changes meaning.
pub const PRICES_SCHEMA_VERSION: u32 = 1;

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
}

/// A stack the work runs at.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// 4 levels: a frame-pointer walk of a few frames, a DWARF copy cut short by the stack's
    /// end.
    Shallow,
    /// 100 levels of 704 bytes: a walk of about 100 frames, a full DWARF copy at any size.
    Deep,
}

impl Variant {
    pub fn depth(self) -> u32 {
        match self {
            Variant::Shallow => 4,
            Variant::Deep => 100,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Variant::Shallow => "shallow",
            Variant::Deep => "deep",
        }
    }
}

/// Locals per level of the price program (compiled in): 100 levels hold more than perf's
/// largest DWARF copy.
const FRAME_BYTES: u32 = 704;

/// How the price list is measured; defaults in [`PriceOptions::new`].
#[derive(Clone, Debug)]
pub struct PriceOptions {
    /// Modes priced. Default: none, fp, dwarf:8k, dwarf:32k.
    pub modes: Vec<UnwindMode>,
    /// Sampling rates (Hz). Default 1000, 4000, 16000; rates above the kernel's
    /// `perf_event_max_sample_rate` are dropped with a note.
    pub freqs: Vec<u32>,
    /// Default: shallow and deep.
    pub variants: Vec<Variant>,
    /// Cycles: pairs of rounds (one sampled, one not) per stack, mode and rate. Default 30.
    pub pairs: usize,
    /// CPU time of an unsampled round. Default 25 ms.
    pub round: Duration,
    /// perf's ring buffer per CPU and session (`-m`). Default 16M: more than a round's
    /// samples at 16 kHz with the largest copy, so none is lost.
    pub buffer: String,
    /// Seeds the order of rounds and the bootstrap. Default 1.
    pub seed: u64,
    /// Also measure what perf can write ([`capacity`]). Default: on.
    pub capacity: Option<capacity::CapacityOptions>,
}

impl PriceOptions {
    pub fn new(modes: Vec<UnwindMode>) -> PriceOptions {
        PriceOptions {
            modes,
            freqs: vec![1000, 4000, 16000],
            variants: vec![Variant::Shallow, Variant::Deep],
            pairs: 30,
            round: Duration::from_millis(25),
            buffer: "16M".into(),
            seed: 1,
            capacity: Some(capacity::CapacityOptions::default()),
        }
    }

    /// Pairs of rounds this will run.
    pub fn pair_count(&self) -> usize {
        self.variants.len() * self.modes.len() * self.freqs.len() * self.pairs
    }
}

/// The price of one mode at one stack.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModePrice {
    /// Canonical mode spelling (`fp`, `dwarf:8k`).
    pub mode: String,
    pub variant: Variant,
    /// Levels of the work's stack.
    pub depth: u32,
    /// Kernel-side cost: extra CPU time of the sampled thread per sample it took (ns).
    pub kernel_ns: Option<Interval>,
    /// Recorder-side cost: perf's extra CPU time per sample written, all CPUs (ns).
    pub recorder_ns: Option<Interval>,
    /// The two together: what one sample costs the machine (ns).
    pub total_ns: Option<Interval>,
    /// perf's extra CPU time per MB written (ms per MB).
    pub recorder_ms_per_mb: Option<Interval>,
    /// The fitted extra time per round when no sample is taken (ns): should be near 0.
    pub intercept_ns: Option<f64>,
    /// Mean bytes of the working thread's samples on disk.
    pub bytes_per_sample: Option<f64>,
    /// Mean stack bytes the kernel copied per sample (DWARF), and callchain entries per
    /// sample (frame pointers; kernel and user).
    pub copied_per_sample: Option<f64>,
    pub chain_per_sample: Option<f64>,
    /// Paired rounds behind the figures, the working thread's samples in them, and events
    /// lost during sampled rounds (which would make the price too low).
    pub rounds: usize,
    pub samples: u64,
    pub lost: u64,
}

/// The rounds of one stack, mode and rate, kept so the figures can be recomputed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    pub mode: String,
    pub variant: Variant,
    pub freq: u32,
    pub rounds: Vec<PairedRound>,
}

/// prices.json.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PriceList {
    pub schema_version: u32,
    pub tool: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub machine: crate::machine::Machine,
    /// CPUs of the work and of perf (the same one on a single-CPU machine).
    pub work_cpu: usize,
    pub perf_cpu: usize,
    pub freqs: Vec<u32>,
    pub pairs: usize,
    pub round_ms: f64,
    /// Iterations of the work per round.
    pub iterations: u64,
    pub seed: u64,
    pub prices: Vec<ModePrice>,
    #[serde(default)]
    pub capacity: Option<capacity::SinkCapacity>,
    /// Things the reader must know (rates dropped, losses, single CPU...).
    pub notes: Vec<String>,
    pub sessions_raw: Vec<SessionRecord>,
}

impl PriceList {
    /// The price of `mode` at `variant`.
    pub fn price(&self, mode: &str, variant: Variant) -> Option<&ModePrice> {
        self.prices
            .iter()
            .find(|p| p.mode == mode && p.variant == variant)
    }
}

/// Builds the price program into `build_dir` (once; rebuilt when the source is newer).
pub fn build_program(source: &Path, build_dir: &Path) -> Result<PathBuf, PriceError> {
    let spec = ProgramSpec {
        source: source.to_path_buf(),
        depth: 0,
        frame_bytes: FRAME_BYTES,
        threads: 1,
        builds: vec![Build::Fp],
    };
    let built = program::build(&spec, source, build_dir)?;
    built
        .into_iter()
        .next()
        .map(|b| b.path)
        .ok_or_else(|| PriceError::Worker("the price program was not built".into()))
}

/// The kernel's ceiling on sampling rates.
fn max_sample_rate() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Iterations for a round of `round` CPU time on this machine.
fn iterations_for(worker: &mut Worker, round: Duration) -> Result<u64, PriceError> {
    const PROBE: u64 = 5_000_000;
    // The first round warms caches and the CPU; the median of three after it decides.
    worker.round(PROBE)?;
    let mut t: Vec<f64> = Vec::new();
    for _ in 0..3 {
        t.push(worker.round(PROBE)?.cpu_ns as f64);
    }
    let per = stats::median(&t).unwrap_or(1.0).max(1.0) / PROBE as f64;
    Ok(((round.as_nanos() as f64 / per) as u64).max(1000))
}

/// Where a price measurement runs.
pub struct PriceSetup<'a> {
    /// `workloads/programs/pricework.c`.
    pub source: &'a Path,
    /// Where the program is built.
    pub build_dir: &'a Path,
    /// Scratch folder for the sessions' recordings (emptied as it goes).
    pub work_dir: &'a Path,
}

/// Measures the price list.
pub fn measure(
    opts: &PriceOptions,
    setup: &PriceSetup<'_>,
    progress: &mut dyn Progress,
) -> Result<PriceList, PriceError> {
    if opts.modes.is_empty() || opts.freqs.is_empty() || opts.variants.is_empty() || opts.pairs < 2
    {
        return Err(PriceError::Options(
            "the price list needs at least one mode, one rate, one stack and two pairs".into(),
        ));
    }
    let started_at = crate::timestamp::now_rfc3339();
    let mut notes = Vec::new();
    let mut freqs = opts.freqs.clone();
    if let Some(max) = max_sample_rate() {
        let dropped: Vec<u32> = freqs.iter().copied().filter(|f| *f > max).collect();
        freqs.retain(|f| *f <= max);
        if !dropped.is_empty() {
            notes.push(format!(
                "rates {dropped:?} Hz left out: kernel.perf_event_max_sample_rate is {max}"
            ));
        }
    }
    freqs.sort_unstable();
    freqs.dedup();
    if freqs.len() < 2 {
        return Err(PriceError::Options(format!(
            "a price is a slope over sampling rates: give at least two rates at or below kernel.perf_event_max_sample_rate ({}), e.g. --freqs 1000,4000,16000",
            max_sample_rate().map_or("unknown".into(), |m| m.to_string())
        )));
    }
    let mut modes = opts.modes.clone();
    if modes.contains(&UnwindMode::Lbr) {
        if let Some(why) = crate::preflight::lbr_supported() {
            modes.retain(|m| *m != UnwindMode::Lbr);
            notes.push(format!("lbr not priced: {why}"));
        }
    }
    if modes.is_empty() {
        return Err(PriceError::Options(format!(
            "nothing to price here: {}",
            notes.join("; ")
        )));
    }
    let opts = &PriceOptions {
        modes,
        ..opts.clone()
    };
    let cpus = control::allowed_cpus();
    let work_cpu = cpus[0];
    let perf_cpu = *cpus.last().unwrap_or(&work_cpu);
    if work_cpu == perf_cpu {
        notes.push("one CPU only: perf and the work share it, so the work's CPU time excludes perf's but its caches do not".into());
    }
    std::fs::create_dir_all(setup.work_dir).map_err(|source| PriceError::Io {
        path: setup.work_dir.to_path_buf(),
        source,
    })?;
    let binary = build_program(setup.source, setup.build_dir)?;
    // The harness talks to perf and the work from perf's CPU, never the work's.
    let _pinned = PinnedHere::to(perf_cpu)?;
    let iterations = {
        let mut w = Worker::start(&binary, Variant::Deep.depth(), work_cpu)?;
        let n = iterations_for(&mut w, opts.round)?;
        w.quit();
        n
    };

    let (sessions_raw, cycles_done) = run_interleaved(
        opts,
        &freqs,
        &binary,
        work_cpu,
        perf_cpu,
        iterations,
        setup.work_dir,
        progress,
    )?;
    if cycles_done < opts.pairs {
        notes.push(format!(
            "interrupted after {cycles_done} of {} cycles: the figures come from those",
            opts.pairs
        ));
    }
    let mut prices = Vec::new();
    for &v in &opts.variants {
        for &m in &opts.modes {
            prices.push(estimate(&m.to_string(), v, &sessions_raw, opts.seed));
        }
    }
    for p in &prices {
        if p.lost > 0 {
            notes.push(format!(
                "{} ({} stack) lost {} events during sampled rounds: its kernel price is too low by their share",
                p.mode,
                p.variant.name(),
                p.lost
            ));
        }
    }
    let capacity = match &opts.capacity {
        Some(c) => {
            let n = opts.pairs + 1;
            progress.start(n, n, "what perf can write", c.duration);
            let cap = capacity::measure(c, &binary, work_cpu, perf_cpu, setup.work_dir);
            match cap {
                Ok(cap) => {
                    progress.end(&cap.summary());
                    Some(cap)
                }
                Err(e) => {
                    progress.end("failed");
                    notes.push(format!("sink capacity not measured: {e}"));
                    None
                }
            }
        }
        None => None,
    };
    progress.finish();
    Ok(PriceList {
        schema_version: PRICES_SCHEMA_VERSION,
        tool: format!("unwindbench {}", env!("CARGO_PKG_VERSION")),
        started_at,
        finished_at: Some(crate::timestamp::now_rfc3339()),
        machine: crate::machine::Machine::probe(),
        work_cpu,
        perf_cpu,
        freqs,
        pairs: opts.pairs,
        round_ms: opts.round.as_secs_f64() * 1e3,
        iterations,
        seed: opts.seed,
        prices,
        capacity,
        notes,
        sessions_raw,
    })
}

fn shuffle<T>(v: &mut [T], rng: &mut SplitMix64) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i + 1));
    }
}

/// A sampled round's times and where its sampling window was.
struct SampledRound {
    times: control::RoundTimes,
    perf_ns: u64,
    from: u64,
    to: u64,
}

/// One pair of rounds of `worker` with `session` switched on for one of them (in random
/// order), and the same control traffic around both, so only sampling differs.
fn pair(
    session: &mut Session,
    worker: &mut Worker,
    iterations: u64,
    rng: &mut SplitMix64,
) -> Result<(SampledRound, control::RoundTimes, u64), PriceError> {
    let sampled_first = rng.below(2) == 0;
    let mut sampled = None;
    let mut unsampled = None;
    for sampled_now in [sampled_first, !sampled_first] {
        let from = control::monotonic_ns();
        if sampled_now {
            session.enable()?;
        } else {
            session.ping()?;
        }
        let p0 = session.cpu_seconds()?;
        let times = worker.round(iterations)?;
        if sampled_now {
            session.disable()?;
        } else {
            session.ping()?;
        }
        let to = control::monotonic_ns();
        // After this answer perf has read every sample of the round.
        session.ping()?;
        let perf_ns = ((session.cpu_seconds()? - p0).max(0.0) * 1e9) as u64;
        if sampled_now {
            sampled = Some(SampledRound {
                times,
                perf_ns,
                from,
                to,
            });
        } else {
            unsampled = Some((times, perf_ns));
        }
    }
    match (sampled, unsampled) {
        (Some(s), Some((u, perf_u))) => Ok((s, u, perf_u)),
        _ => Err(PriceError::Worker(
            "a pair of rounds was not completed".into(),
        )),
    }
}

/// All sessions at once: one perf per (mode, rate), all started with sampling off, and one
/// working process per stack. Each cycle runs one pair of rounds for every (stack, mode,
/// rate) in a fresh random order, so whatever drifts on the machine (the host's load, the
/// CPU's clock) reaches every mode alike instead of favouring the mode measured in a quiet
/// minute. Returns the rounds per (stack, mode, rate) and the cycles completed.
#[allow(clippy::too_many_arguments)]
fn run_interleaved(
    opts: &PriceOptions,
    freqs: &[u32],
    binary: &Path,
    work_cpu: usize,
    perf_cpu: usize,
    iterations: u64,
    work_dir: &Path,
    progress: &mut dyn Progress,
) -> Result<(Vec<SessionRecord>, usize), PriceError> {
    let mut workers: Vec<(Variant, Worker)> = Vec::new();
    for &v in &opts.variants {
        let mut w = Worker::start(binary, v.depth(), work_cpu)?;
        // Two rounds to settle caches and the CPU's clock before anything counts.
        w.round(iterations)?;
        w.round(iterations)?;
        workers.push((v, w));
    }
    let pids: Vec<i32> = workers.iter().map(|(_, w)| w.pid()).collect();
    let mut sessions: Vec<(UnwindMode, u32, Session)> = Vec::new();
    for &mode in &opts.modes {
        for &freq in freqs {
            let dir = work_dir.join(format!("{}-{freq}", mode.to_string().replace(':', "-")));
            std::fs::create_dir_all(&dir).map_err(|source| PriceError::Io {
                path: dir.clone(),
                source,
            })?;
            let spec = SessionSpec {
                mode,
                freq,
                buffer: opts.buffer.clone(),
                cpu: perf_cpu,
                pids: pids.clone(),
            };
            sessions.push((mode, freq, Session::start(&spec, &dir)?));
        }
    }
    let combos: Vec<(usize, usize)> = (0..workers.len())
        .flat_map(|w| (0..sessions.len()).map(move |s| (w, s)))
        .collect();
    let mut rng = SplitMix64::new(opts.seed);
    let mut measured: Vec<Vec<(SampledRound, control::RoundTimes, u64)>> =
        (0..combos.len()).map(|_| Vec::new()).collect();
    let per_cycle = (opts.round * 2 + Duration::from_millis(12)) * combos.len() as u32;
    let mut cycles_done = 0;
    let total = opts.pairs + usize::from(opts.capacity.is_some());
    for cycle in 0..opts.pairs {
        progress.start(
            cycle + 1,
            total,
            "price list: one pair of rounds per stack, mode and rate",
            per_cycle,
        );
        let mut order: Vec<usize> = (0..combos.len()).collect();
        shuffle(&mut order, &mut rng);
        let mut stopped = None;
        for c in order {
            let (w, s) = combos[c];
            match pair(&mut sessions[s].2, &mut workers[w].1, iterations, &mut rng) {
                Ok(p) => measured[c].push(p),
                Err(e) => {
                    stopped = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = stopped {
            // An interrupt keeps the cycles already done; anything else is a failure.
            if crate::process::interrupted().is_some() && cycles_done >= 2 {
                progress.end("interrupted");
                break;
            }
            return Err(e);
        }
        cycles_done += 1;
        progress.end("done");
    }
    let worker_tids: Vec<i32> = workers.iter().map(|(_, w)| w.pid()).collect();
    for (_, w) in workers {
        w.quit();
    }
    let mut marks = Vec::new();
    for (_, _, session) in sessions {
        marks.push(Marks::read(&session.finish()?)?);
    }
    let records = combos
        .iter()
        .zip(measured)
        .map(|(&(w, s), rounds)| SessionRecord {
            mode: sessions_meta(opts, freqs, s).0.to_string(),
            variant: opts.variants[w],
            freq: sessions_meta(opts, freqs, s).1,
            rounds: rounds
                .into_iter()
                .map(|(sr, u, perf_u)| PairedRound {
                    sampled_cpu_ns: sr.times.cpu_ns,
                    unsampled_cpu_ns: u.cpu_ns,
                    perf_sampled_ns: sr.perf_ns,
                    perf_unsampled_ns: perf_u,
                    window: marks[s].window(
                        sr.from,
                        sr.to,
                        worker_tids[w],
                        sr.times.start_ns,
                        sr.times.end_ns,
                    ),
                })
                .collect(),
        })
        .collect();
    Ok((records, cycles_done))
}

/// The (mode, rate) of session `s`, in the order [`run_interleaved`] starts them.
fn sessions_meta(opts: &PriceOptions, freqs: &[u32], s: usize) -> (UnwindMode, u32) {
    (opts.modes[s / freqs.len()], freqs[s % freqs.len()])
}

/// The prices of one mode at one stack, from every session of it.
pub fn estimate(mode: &str, variant: Variant, sessions: &[SessionRecord], seed: u64) -> ModePrice {
    let groups: Vec<Vec<PairedRound>> = sessions
        .iter()
        .filter(|s| s.mode == mode && s.variant == variant)
        .map(|s| s.rounds.clone())
        .collect();
    let all: Vec<PairedRound> = groups.iter().flatten().copied().collect();
    let kernel_line = |r: &[PairedRound]| {
        let pts: Vec<(f64, f64)> = r
            .iter()
            .map(|r| (r.window.own_samples as f64, r.work_extra_ns()))
            .collect();
        stats::theil_sen(&pts)
    };
    let recorder_line = |r: &[PairedRound]| {
        let pts: Vec<(f64, f64)> = r
            .iter()
            .map(|r| (r.window.samples as f64, r.perf_extra_ns()))
            .collect();
        stats::theil_sen(&pts)
    };
    let per_mb = |r: &[PairedRound]| {
        let pts: Vec<(f64, f64)> = r
            .iter()
            .map(|r| (r.window.bytes as f64 / 1e6, r.perf_extra_ns() / 1e6))
            .collect();
        stats::theil_sen(&pts).map(|l| l.slope)
    };
    // Seeds differ by statistic so their resamples are independent.
    let seed = seed ^ (u64::from(variant.depth()) << 32);
    let kernel_ns = stats::bootstrap(&groups, seed, |r| kernel_line(r).map(|l| l.slope));
    let recorder_ns = stats::bootstrap(&groups, seed ^ 1, |r| recorder_line(r).map(|l| l.slope));
    let total_ns = stats::bootstrap(&groups, seed ^ 2, |r| {
        Some(kernel_line(r)?.slope + recorder_line(r)?.slope)
    });
    let recorder_ms_per_mb = stats::bootstrap(&groups, seed ^ 3, per_mb);
    let own: u64 = all.iter().map(|r| r.window.own_samples).sum();
    let mean_of = |f: fn(&PairedRound) -> u64| {
        (own > 0).then(|| all.iter().map(f).sum::<u64>() as f64 / own as f64)
    };
    ModePrice {
        mode: mode.to_string(),
        variant,
        depth: variant.depth(),
        kernel_ns,
        recorder_ns,
        total_ns,
        recorder_ms_per_mb,
        intercept_ns: kernel_line(&all).map(|l| l.intercept),
        bytes_per_sample: mean_of(|r| r.window.own_bytes),
        copied_per_sample: mean_of(|r| r.window.own_copied),
        chain_per_sample: mean_of(|r| r.window.own_chain),
        rounds: all.len(),
        samples: own,
        lost: all.iter().map(|r| r.window.lost).sum(),
    }
}

/// About how long [`measure`] takes: the rounds, perf's start and stop per session, the
/// capacity recording.
pub fn expected_duration(opts: &PriceOptions) -> Duration {
    // Each round pair: two rounds, their control round trips and some scheduling slack.
    let pair = opts.round * 2 + Duration::from_millis(12);
    pair * opts.pair_count() as u32
        + Duration::from_secs(2)
        + opts
            .capacity
            .as_ref()
            .map_or(Duration::ZERO, |c| c.duration + Duration::from_secs(5))
}

/// Measures the price list and writes it into `out`: prices.json, prices.md, prices.svg.
pub fn run(
    opts: &PriceOptions,
    dirs: &crate::workload::ProjectDirs,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<PriceList, PriceError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PriceError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let work_dir = out.join("scratch");
    let source = dirs.workloads().join("programs").join("pricework.c");
    let build_dir = dirs.build().join("programs");
    let setup = PriceSetup {
        source: &source,
        build_dir: &build_dir,
        work_dir: &work_dir,
    };
    let result = measure(opts, &setup, progress);
    let _ = std::fs::remove_dir_all(&work_dir);
    let list = result?;
    write(&list, out)?;
    Ok(list)
}

/// Writes prices.json, prices.md and prices.svg of `list` into `out`.
pub fn write(list: &PriceList, out: &Path) -> Result<(), PriceError> {
    let err = |e: crate::report::results::ResultsError| PriceError::Io {
        path: out.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut json = serde_json::to_vec_pretty(list).map_err(|e| PriceError::Io {
        path: out.join("prices.json"),
        source: std::io::Error::other(e),
    })?;
    json.push(b'\n');
    crate::report::results::write_atomically(&out.join("prices.json"), &json).map_err(err)?;
    crate::report::results::write_atomically(
        &out.join("prices.md"),
        crate::report::prices::render(list).as_bytes(),
    )
    .map_err(err)?;
    if let Some(svg) = crate::report::prices::chart(list) {
        crate::report::results::write_atomically(&out.join("prices.svg"), svg.as_bytes())
            .map_err(err)?;
    }
    Ok(())
}

/// Reads a prices.json written by [`write`].
pub fn load(path: &Path) -> Result<PriceList, PriceError> {
    let text = std::fs::read_to_string(path).map_err(|source| PriceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let list: PriceList = serde_json::from_str(&text).map_err(|e| {
        PriceError::Options(format!(
            "{} is not a prices.json this version reads: {e}",
            path.display()
        ))
    })?;
    if list.schema_version > PRICES_SCHEMA_VERSION {
        return Err(PriceError::Options(format!(
            "{} has schema_version {}; this build reads up to {PRICES_SCHEMA_VERSION}",
            path.display(),
            list.schema_version
        )));
    }
    Ok(list)
}
