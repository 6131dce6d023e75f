//! The switchback on the price list's fixed work, where the answer is known: the work spins
//! on one CPU and perf samples it from another, so every sample costs the work exactly the
//! kernel's price and nothing else competes. Its throughput overhead must then be the price
//! times the samples taken per second of work; a switchback that disagreed would be
//! measuring something else. `calibrate --check-switchback` runs it after the prices.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::estimate::{self, Arm, Round, SwitchbackSummary};
use super::options::SwitchbackOptions;
use super::schedule::Schedule;
use crate::mode::UnwindMode;
use crate::price::control::{self, start_session, PinnedHere, SessionSpec, Worker};
use crate::price::rounds::Marks;
use crate::price::PriceError;
use crate::process;
use crate::record::control::monotonic_ns;
use crate::stats::Interval;

/// The fixed work to switch sampling on.
pub struct FixedSpec<'a> {
    /// The built price program.
    pub binary: &'a Path,
    /// Its stack depth (the price list's deep stack).
    pub depth: u32,
    pub mode: UnwindMode,
    pub freq: u32,
    pub options: &'a SwitchbackOptions,
    /// Scratch folder for the session's recording (removed afterwards by the caller).
    pub dir: &'a Path,
}

/// The measured overhead beside the price list's prediction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FixedCheck {
    pub mode: String,
    pub freq: u32,
    /// Samples of the working thread per second of its sampled rounds.
    pub samples_per_s: f64,
    /// The kernel's price per sample (ns) as the price list gives it.
    pub price_ns: Interval,
    /// price × samples per second: the share of the work's time sampling takes.
    pub predicted: Interval,
    pub measured: SwitchbackSummary,
    /// Whether the two intervals overlap.
    pub agrees: bool,
}

/// Runs a switchback of `spec.mode` on the fixed work and returns the rounds' summary and
/// the working thread's samples per second of sampled rounds.
pub fn measure(spec: &FixedSpec<'_>) -> Result<(SwitchbackSummary, f64), PriceError> {
    let cpus = control::allowed_cpus();
    let work_cpu = cpus[0];
    let perf_cpu = *cpus.last().unwrap_or(&work_cpu);
    let _pinned = PinnedHere::to(perf_cpu)?;
    let mut worker = Worker::start(spec.binary, spec.depth, work_cpu)?;
    let iterations = crate::price::iterations_for(&mut worker, spec.options.round)?;
    std::fs::create_dir_all(spec.dir).map_err(|source| PriceError::Io {
        path: spec.dir.to_path_buf(),
        source,
    })?;
    let session_spec = SessionSpec {
        mode: spec.mode,
        freq: spec.freq,
        buffer: crate::price::ring_buffer_bytes(spec.mode, spec.freq, spec.options.round),
        cpu: perf_cpu,
        pids: vec![worker.pid()],
    };
    let mut session = start_session(&session_spec, spec.dir)?;
    let mut schedule = Schedule::new(spec.options.seed);
    let mut rounds: Vec<Round> = Vec::new();
    let started = monotonic_ns();
    let mut block = 0;
    while monotonic_ns() - started < spec.options.duration.as_nanos() as u64 {
        for arm in schedule.next_block() {
            let asked = monotonic_ns();
            let acked = match arm {
                Arm::On => session.enable()?,
                Arm::Off => session.disable()?,
            };
            process::sleep_interruptibly(spec.options.settle)?;
            let p0 = session.cpu_seconds()?;
            let t = worker.round(iterations)?;
            let p1 = session.cpu_seconds()?;
            let mut r = Round {
                block,
                on: arm == Arm::On,
                after_on: rounds.last().map(|r| r.on),
                switch_ms: acked.saturating_sub(asked) as f64 / 1e6,
                switched_ns: acked,
                start_ns: t.start_ns,
                end_ns: t.end_ns,
                work: iterations as f64,
                ..Round::default()
            };
            r.workload.run_ns = t.cpu_ns;
            r.recorder.run_ns = ((p1 - p0).max(0.0) * 1e9) as u64;
            rounds.push(r);
        }
        block += 1;
    }
    session.disable()?;
    let tid = worker.tid();
    worker.quit();
    let (recording, _) = session.finish()?;
    let marks = Marks::read(&recording);
    let _ = std::fs::remove_file(&recording);
    let marks = marks?;
    let (mut own, mut on_s) = (0u64, 0.0);
    for r in rounds.iter_mut() {
        let w = marks.window(r.start_ns, r.end_ns, tid, r.start_ns, r.end_ns);
        r.samples = w.own_samples;
        r.lost = w.lost;
        if r.on {
            own += w.own_samples;
            on_s += r.seconds();
        }
    }
    let settings = (
        spec.options.round.as_secs_f64() * 1e3,
        spec.options.settle.as_secs_f64() * 1e3,
    );
    let summary = estimate::summarize(&rounds, settings, None).ok_or_else(|| {
        PriceError::Worker("the switchback on the fixed work measured fewer than 3 blocks".into())
    })?;
    Ok((summary, own as f64 / on_s.max(1e-9)))
}

/// The check of one mode: its switchback on the fixed work against price × samples per
/// second.
pub fn check(spec: &FixedSpec<'_>, price_ns: Interval) -> Result<FixedCheck, PriceError> {
    let (measured, samples_per_s) = measure(spec)?;
    let predicted = price_ns.scaled(samples_per_s / 1e9);
    Ok(FixedCheck {
        mode: spec.mode.to_string(),
        freq: spec.freq,
        samples_per_s,
        price_ns,
        predicted,
        agrees: predicted.overlaps(&measured.overhead),
        measured,
    })
}
