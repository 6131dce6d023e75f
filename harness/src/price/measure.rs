//! Running the price list: the work program, one perf per (mode, rate) switched on for one
//! round at a time, the cycles of paired rounds, then the estimates and the capacity.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::capacity;
use super::control::{self, start_session, PinnedHere, Session, SessionSpec, Worker};
use super::error::PriceError;
use super::estimate::estimate;
use super::list::{PriceList, SessionRecord, Variant, PRICES_SCHEMA_VERSION};
use super::options::PriceOptions;
use super::rounds::{Marks, PairedRound};
use crate::mode::UnwindMode;
use crate::progress::Progress;
use crate::stats::{self, SplitMix64};
use crate::workload::program::{self, Build, ProgramSpec};

/// Locals per level of the price program (compiled in): 100 levels hold more than perf's
/// largest DWARF copy.
const FRAME_BYTES: u32 = 704;

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
pub fn iterations_for(worker: &mut Worker, round: Duration) -> Result<u64, PriceError> {
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

/// Refuses, before anything runs, options that leave too little to measure here.
pub fn check_options(opts: &PriceOptions) -> Result<(), PriceError> {
    usable(opts, &mut Vec::new()).map(|_| ())
}

/// The options as they will run here: rates above the kernel's ceiling and modes this CPU
/// lacks left out, each with a note; an error when too little is left to measure.
fn usable(opts: &PriceOptions, notes: &mut Vec<String>) -> Result<PriceOptions, PriceError> {
    if opts.modes.is_empty() || opts.freqs.is_empty() || opts.variants.is_empty() || opts.pairs < 2
    {
        return Err(PriceError::Options(
            "the price list needs at least one mode, one rate, one stack and two pairs".into(),
        ));
    }
    let mut freqs = opts.freqs.clone();
    let max = max_sample_rate();
    if let Some(max) = max {
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
            max.map_or("unknown".into(), |m| m.to_string())
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
    Ok(PriceOptions {
        modes,
        freqs,
        ..opts.clone()
    })
}

/// About how many bytes the sessions' recordings take: every sampled round's samples at
/// their largest (the copy plus a record's other fields, taken as 512 bytes).
fn predicted_bytes(opts: &PriceOptions) -> u64 {
    let round_s = opts.round.as_secs_f64() * 1.5;
    let per_pass: f64 = opts
        .modes
        .iter()
        .flat_map(|m| {
            opts.freqs
                .iter()
                .map(move |f| f64::from(*f) * round_s * f64::from(m.stack_copy_bytes() + 512))
        })
        .sum();
    (per_pass * (opts.pairs * opts.variants.len()) as f64) as u64
}

/// Refuses to start when the sessions' recordings would leave the disk short.
fn check_disk(opts: &PriceOptions, dir: &Path) -> Result<(), PriceError> {
    let Some((free, total)) = crate::preflight::disk_space(dir) else {
        return Err(PriceError::Options(format!(
            "cannot tell the free space of {}: not recording blind",
            dir.display()
        )));
    };
    let need = predicted_bytes(opts);
    let margin = crate::preflight::disk_margin(total);
    if need + margin > free {
        return Err(PriceError::Options(format!(
            "not enough disk for the price list's recordings in {}: about {} needed, {} free (keeping {} spare); use fewer pairs or a larger disk",
            dir.display(),
            crate::units::human_bytes(need),
            crate::units::human_bytes(free),
            crate::units::human_bytes(margin)
        )));
    }
    Ok(())
}

/// What every step of a measurement shares: the program, the CPUs, the round's length.
struct Bench<'a> {
    opts: PriceOptions,
    binary: PathBuf,
    work_cpu: usize,
    perf_cpu: usize,
    iterations: u64,
    work_dir: &'a Path,
}

/// Measures the price list.
pub fn measure(
    opts: &PriceOptions,
    setup: &PriceSetup<'_>,
    progress: &mut dyn Progress,
) -> Result<PriceList, PriceError> {
    let started_at = crate::timestamp::now_rfc3339();
    let mut notes = Vec::new();
    let opts = usable(opts, &mut notes)?;
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
    check_disk(&opts, setup.work_dir)?;
    let binary = build_program(setup.source, setup.build_dir)?;
    // The harness talks to perf and the work from perf's CPU, never the work's.
    let _pinned = PinnedHere::to(perf_cpu)?;
    let iterations = {
        let mut w = Worker::start(&binary, Variant::Deep.depth(), work_cpu)?;
        let n = iterations_for(&mut w, opts.round)?;
        w.quit();
        n
    };
    let bench = Bench {
        opts,
        binary,
        work_cpu,
        perf_cpu,
        iterations,
        work_dir: setup.work_dir,
    };
    let (sessions_raw, cycles_done) = run_interleaved(&bench, progress)?;
    let opts = &bench.opts;
    if cycles_done < opts.pairs {
        notes.push(format!(
            "interrupted after {cycles_done} of {} cycles: the figures come from those",
            opts.pairs
        ));
    }
    let prices: Vec<_> = opts
        .variants
        .iter()
        .flat_map(|&v| opts.modes.iter().map(move |m| (v, m.to_string())))
        .map(|(v, m)| estimate(&m, v, &sessions_raw, opts.seed))
        .collect();
    notes.extend(prices.iter().filter(|p| p.lost > 0).map(|p| {
        format!(
            "{} ({} stack) lost {} events during sampled rounds: its kernel price is too low by their share",
            p.mode,
            p.variant.name(),
            p.lost
        )
    }));
    let capacity = capacity_step(&bench, progress, &mut notes);
    progress.finish();
    Ok(PriceList {
        schema_version: PRICES_SCHEMA_VERSION,
        tool: format!("unwindbench {}", env!("CARGO_PKG_VERSION")),
        started_at,
        finished_at: Some(crate::timestamp::now_rfc3339()),
        machine: crate::machine::Machine::probe(&crate::process::Tools::system()),
        work_cpu,
        perf_cpu,
        freqs: opts.freqs.clone(),
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

/// The capacity recording, when asked for; a failure is a note, not the list's end.
fn capacity_step(
    bench: &Bench<'_>,
    progress: &mut dyn Progress,
    notes: &mut Vec<String>,
) -> Option<capacity::SinkCapacity> {
    let c = bench.opts.capacity.as_ref()?;
    let n = bench.opts.pairs + 1;
    progress.start(n, n, "what perf can write", c.duration);
    let cpus = (bench.work_cpu, bench.perf_cpu);
    match capacity::measure(
        c,
        &bench.binary,
        Variant::Deep.depth(),
        cpus,
        bench.work_dir,
    ) {
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

/// A pair as measured: the sampled round, the unsampled round's times and perf's CPU over it.
type MeasuredPair = (SampledRound, control::RoundTimes, u64);

/// One pair of rounds of `worker` with `session` switched on for one of them (in random
/// order), and the same control traffic around both, so only sampling differs.
fn pair(
    session: &mut Session,
    worker: &mut Worker,
    iterations: u64,
    rng: &mut SplitMix64,
) -> Result<MeasuredPair, PriceError> {
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

/// One working process per stack, warmed up.
fn start_workers(bench: &Bench<'_>) -> Result<Vec<Worker>, PriceError> {
    bench
        .opts
        .variants
        .iter()
        .map(|v| {
            let mut w = Worker::start(&bench.binary, v.depth(), bench.work_cpu)?;
            // Two rounds to settle caches and the CPU's clock before anything counts.
            w.round(bench.iterations)?;
            w.round(bench.iterations)?;
            Ok(w)
        })
        .collect()
}

/// One perf per (mode, rate) over the working processes, sampling off; in the order of
/// [`session_of`].
fn start_sessions(
    bench: &Bench<'_>,
    (pids, tids): (&[i32], &[i32]),
) -> Result<Vec<Session>, PriceError> {
    let mut sessions = Vec::new();
    for &mode in &bench.opts.modes {
        for &freq in &bench.opts.freqs {
            let dir = bench
                .work_dir
                .join(format!("{}-{freq}", mode.to_string().replace(':', "-")));
            std::fs::create_dir_all(&dir).map_err(|source| PriceError::Io {
                path: dir.clone(),
                source,
            })?;
            let spec = SessionSpec {
                mode,
                freq,
                buffer: bench.opts.buffer.unwrap_or_else(|| {
                    super::options::ring_buffer_bytes(mode, freq, bench.opts.round)
                }),
                cpu: bench.perf_cpu,
                pids: pids.to_vec(),
                tids: tids.to_vec(),
            };
            sessions.push(start_session(&spec, &dir)?);
        }
    }
    Ok(sessions)
}

/// The (mode, rate) of session `s`, in the order [`start_sessions`] starts them.
fn session_of(opts: &PriceOptions, s: usize) -> (UnwindMode, u32) {
    (
        opts.modes[s / opts.freqs.len()],
        opts.freqs[s % opts.freqs.len()],
    )
}

/// All sessions at once: one perf per (mode, rate), all started with sampling off, and one
/// working process per stack. Each cycle runs one pair of rounds for every (stack, mode,
/// rate) in a fresh random order, so whatever drifts on the machine (the host's load, the
/// CPU's clock) reaches every mode alike instead of favouring the mode measured in a quiet
/// minute. Returns the rounds per (stack, mode, rate) and the cycles completed.
fn run_interleaved(
    bench: &Bench<'_>,
    progress: &mut dyn Progress,
) -> Result<(Vec<SessionRecord>, usize), PriceError> {
    let opts = &bench.opts;
    let mut workers = start_workers(bench)?;
    let pids: Vec<i32> = workers.iter().map(Worker::pid).collect();
    let tids: Vec<i32> = workers.iter().map(Worker::tid).collect();
    let mut sessions = start_sessions(bench, (&pids, &tids))?;
    let combos: Vec<(usize, usize)> = (0..workers.len())
        .flat_map(|w| (0..sessions.len()).map(move |s| (w, s)))
        .collect();
    let mut rng = SplitMix64::new(opts.seed);
    let mut measured: Vec<Vec<MeasuredPair>> = (0..combos.len()).map(|_| Vec::new()).collect();
    let per_cycle = (opts.round * 2 + Duration::from_millis(12)) * combos.len() as u32;
    let total = opts.pairs + usize::from(opts.capacity.is_some());
    let mut cycles_done = 0;
    for cycle in 0..opts.pairs {
        progress.start(
            cycle + 1,
            total,
            "price list: one pair of rounds per stack, mode and rate",
            per_cycle,
        );
        let mut order: Vec<usize> = (0..combos.len()).collect();
        shuffle(&mut order, &mut rng);
        let done = order.into_iter().try_for_each(|c| {
            let (w, s) = combos[c];
            measured[c].push(pair(
                &mut sessions[s],
                &mut workers[w],
                bench.iterations,
                &mut rng,
            )?);
            Ok::<(), PriceError>(())
        });
        if let Err(e) = done {
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
    for w in workers {
        w.quit();
    }
    // Each recording is read and deleted at once: its dirty pages are dropped with it, so
    // the capacity recording after this starts from a clean page cache.
    let marks = sessions
        .into_iter()
        .map(|s| {
            let (path, _) = s.finish()?;
            let marks = Marks::read(&path);
            let _ = std::fs::remove_file(&path);
            marks
        })
        .collect::<Result<Vec<Marks>, PriceError>>()?;
    let records = combos
        .iter()
        .zip(measured)
        .map(|(&(w, s), pairs)| {
            let (mode, freq) = session_of(opts, s);
            SessionRecord {
                mode: mode.to_string(),
                variant: opts.variants[w],
                freq,
                rounds: pairs
                    .into_iter()
                    .map(|p| paired_round(p, &marks[s], tids[w]))
                    .collect(),
            }
        })
        .collect();
    Ok((records, cycles_done))
}

/// A measured pair with its samples counted from the recording.
fn paired_round(
    (sampled, unsampled, perf_unsampled): MeasuredPair,
    marks: &Marks,
    tid: i32,
) -> PairedRound {
    let t = &sampled.times;
    PairedRound {
        sampled_cpu_ns: t.cpu_ns,
        unsampled_cpu_ns: unsampled.cpu_ns,
        perf_sampled_ns: sampled.perf_ns,
        perf_unsampled_ns: perf_unsampled,
        window: marks.window(sampled.from, sampled.to, tid, t.start_ns, t.end_ns),
    }
}

/// Measures the price list with the repo's work program (built into `build/`), its
/// recordings in a scratch folder under `out` that is removed afterwards. Writing the list
/// is the report's ([`crate::report::prices::write`]).
pub fn run(
    opts: &PriceOptions,
    dirs: &crate::workload::ProjectDirs,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<PriceList, PriceError> {
    std::fs::create_dir_all(out).map_err(|source| PriceError::Io {
        path: out.to_path_buf(),
        source,
    })?;
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
    result
}
