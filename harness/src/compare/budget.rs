//! perf's CPU budget under the workload, for the model's lost share.
//!
//! A recording loses samples when perf cannot empty its ring buffers fast enough. On a machine
//! the workload keeps busy, what limits perf is the CPU time the scheduler gives it among the
//! workload's threads and the kernel's writeback, not the sink's rate on a free CPU (the price
//! list's capacity). One recording that asks far more than perf can write (`dwarf:65528` at
//! the run's rate), run with the workload for the comparison's length, takes all of that time:
//! its perf CPU is the budget. Its perf.data is deleted unread (deleting drops its dirty pages
//! without writing them back).

use super::measurement::Context;
use super::steps;
use crate::machine::Machine;
use crate::mode::{UnwindMode, MAX_DWARF_STACK};
use crate::price::model::PerfBudget;
use crate::progress::Progress;
use crate::record::measure;
use crate::record::measured::MeasurePaths;
use crate::record::wakeup::{WakeDelays, WakeProbe};
use crate::record::Recording;

/// The saturating recording: perf's largest DWARF copy.
pub(super) const SATURATING: UnwindMode = UnwindMode::Dwarf {
    stack_bytes: MAX_DWARF_STACK,
};

/// What came of the budget recording.
pub(super) enum Outcome {
    Measured(PerfBudget),
    /// Why there is no budget (a note for the results).
    Skipped(String),
    Interrupted,
}

/// Records the workload under the saturating mode and reads perf's CPU from it.
pub(super) fn measure_budget(
    ctx: &Context<'_>,
    machine: &Machine,
    progress: &mut dyn Progress,
) -> Outcome {
    let rec = Recording::plain(SATURATING);
    let skip = |why: String| {
        Outcome::Skipped(format!(
            "no CPU budget for perf under this workload ({why}): the model's lost share counts only the sink's capacity"
        ))
    };
    if let Some(refusal) =
        steps::disk_guard(rec, &[], ctx.freq, machine, ctx.disk_window(), ctx.run_dir)
    {
        return skip(refusal);
    }
    let paths = MeasurePaths {
        dir: ctx.run_dir.join("perf-budget"),
    };
    // A woken thread's wait for a CPU, under the workload alone (the ramp: perf's events are
    // still off) and beside the saturated perf (the window): what the model's wake-up term
    // reads.
    let mut probes = Probes::default();
    let result = measure::measure(&ctx.spec(Some(rec)), &paths, &mut |phase| {
        probes.phase(phase);
        progress.phase(phase)
    });
    let (alone, busy) = probes.finish();
    let _ = std::fs::remove_file(paths.perf_data());
    let measured = match result {
        Ok(m) => m,
        Err(e) if e.is_interrupt() => return Outcome::Interrupted,
        Err(e) => return skip(e.to_string()),
    };
    let Some(perf) = measured.perf.as_ref().filter(|_| measured.window_s > 0.0) else {
        return skip("perf's CPU time was not measured".into());
    };
    let budget = PerfBudget {
        mode: SATURATING.to_string(),
        freq: ctx.freq,
        window_s: measured.window_s,
        cpus: perf.window_cpu_s / measured.window_s,
        written_mb_per_s: perf.data_bytes as f64 / 1e6 / measured.window_s,
        wake_delays: alone,
        wake_delays_busy: busy,
    };
    progress.end(&format!(
        "perf got {:.2} CPUs and wrote {:.0} MB/s; a woken thread waited {}",
        budget.cpus,
        budget.written_mb_per_s,
        budget.wake_delays.as_ref().map_or("–".into(), |d| format!(
            "{:.2} ms at the median, {:.1} ms at p99.9",
            d.p50_ms, d.p999_ms
        ))
    ));
    Outcome::Measured(budget)
}

/// The wake-up probes of the budget recording, started and stopped by its phases.
#[derive(Default)]
struct Probes {
    running: Option<WakeProbe>,
    alone: Option<WakeDelays>,
    busy: Option<WakeDelays>,
}

impl Probes {
    fn phase(&mut self, phase: &str) {
        match phase {
            "ramp" => self.running = Some(WakeProbe::start(PROBE_PERIOD)),
            "recording" => {
                // The ramp's second half: its first holds the workload's start-up.
                self.alone = self.running.take().map(|p| p.finish_after(0.5));
                self.running = Some(WakeProbe::start(PROBE_PERIOD));
            }
            "stopping" => self.busy = self.running.take().map(WakeProbe::finish),
            _ => {}
        }
    }

    fn finish(mut self) -> (Option<WakeDelays>, Option<WakeDelays>) {
        if let Some(p) = self.running.take() {
            p.finish();
        }
        (self.alone, self.busy)
    }
}

/// A wake-up a millisecond: a thousand waits a second, cheap beside the workload.
const PROBE_PERIOD: std::time::Duration = std::time::Duration::from_millis(1);
