//! How long a woken recorder waits for a CPU under the workload.
//!
//! perf sleeps in poll() until the kernel wakes it, when a CPU's ring buffer is half full;
//! from then on the other half fills while perf waits to be scheduled among the workload's
//! threads. If the wait outlasts the half, the kernel drops samples. What sets the loss below
//! perf's CPU limit is therefore the distribution of that wait, which no constant stands in
//! for: this probe measures it. A thread of the harness (an ordinary thread, as perf is a
//! ordinary process) sleeps to absolute deadlines a millisecond apart and records how late it
//! ran after each; the delays go into a log-spaced histogram, whose tail the model reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::control::monotonic_ns;

/// Histogram edges: 10 µs to 1 s, 12 bins per decade.
const BINS_PER_DECADE: f64 = 12.0;
const LOWEST_MS: f64 = 0.01;
const BINS: usize = 61;

/// The delays a woken thread waited, as a histogram.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WakeDelays {
    /// Time between wake-ups (µs).
    pub period_us: u64,
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// Counts per bin; bin k holds delays up to `LOWEST_MS × 10^((k+1)/12)` ms (the last
    /// holds everything longer).
    pub histogram: Vec<u64>,
}

/// The upper edge of bin `k` (ms).
fn edge(k: usize) -> f64 {
    LOWEST_MS * 10f64.powf((k + 1) as f64 / BINS_PER_DECADE)
}

fn bin_of(ms: f64) -> usize {
    if ms <= LOWEST_MS {
        return 0;
    }
    ((ms / LOWEST_MS).log10() * BINS_PER_DECADE)
        .floor()
        .min((BINS - 1) as f64) as usize
}

impl WakeDelays {
    /// The histogram of `delays_ms` (reordered), taken every `period_us`.
    pub fn from_delays(period_us: u64, delays_ms: &mut [f64]) -> WakeDelays {
        let mut histogram = vec![0u64; BINS];
        for &d in delays_ms.iter() {
            histogram[bin_of(d)] += 1;
        }
        delays_ms.sort_by(f64::total_cmp);
        let q = |p: f64| crate::stats::quantile(delays_ms, p).unwrap_or(0.0);
        WakeDelays {
            period_us,
            count: delays_ms.len() as u64,
            mean_ms: delays_ms.iter().sum::<f64>() / delays_ms.len().max(1) as f64,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            histogram,
        }
    }

    /// E[max(0, D - t)] in ms: how far, on average, a wait runs past `t_ms`. Each bin's
    /// delays are taken at the geometric middle of its edges.
    pub fn excess_ms(&self, t_ms: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let total: f64 = self
            .histogram
            .iter()
            .enumerate()
            .map(|(k, &n)| {
                let lo = if k == 0 { 0.0 } else { edge(k - 1) };
                let mid = if k == 0 {
                    LOWEST_MS / 2.0
                } else {
                    (lo * edge(k)).sqrt()
                };
                n as f64 * (mid - t_ms).max(0.0)
            })
            .sum();
        total / self.count as f64
    }

    /// The share of waits longer than `t_ms`.
    pub fn share_over(&self, t_ms: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let over: u64 = self
            .histogram
            .iter()
            .enumerate()
            .filter(|(k, _)| {
                let lo = if *k == 0 { 0.0 } else { edge(k - 1) };
                (lo * edge(*k)).sqrt() > t_ms
            })
            .map(|(_, n)| n)
            .sum();
        over as f64 / self.count as f64
    }
}

/// A running probe.
pub struct WakeProbe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<f64>>,
    period: Duration,
}

impl WakeProbe {
    /// Starts sleeping to deadlines `period` apart on a thread of its own.
    pub fn start(period: Duration) -> WakeProbe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let step = period.as_nanos() as u64;
        let handle = std::thread::spawn(move || {
            let mut delays = Vec::new();
            let mut next = monotonic_ns() + step;
            while !flag.load(Ordering::Relaxed) {
                let at = libc::timespec {
                    tv_sec: (next / 1_000_000_000) as libc::time_t,
                    tv_nsec: (next % 1_000_000_000) as libc::c_long,
                };
                // SAFETY: a valid timespec; a null remainder is allowed with TIMER_ABSTIME.
                unsafe {
                    libc::clock_nanosleep(
                        libc::CLOCK_MONOTONIC,
                        libc::TIMER_ABSTIME,
                        &at,
                        std::ptr::null_mut(),
                    )
                };
                let now = monotonic_ns();
                delays.push(now.saturating_sub(next) as f64 / 1e6);
                // A long wait is one wait, not a run of missed deadlines after it.
                next = next.max(now) + step;
            }
            delays
        });
        WakeProbe {
            stop,
            handle,
            period,
        }
    }

    /// Stops it and returns the delays it saw.
    pub fn finish(self) -> WakeDelays {
        self.finish_after(0.0)
    }

    /// Stops the probe and keeps the waits after the first `skip` share of them: the start
    /// of a ramp holds the workload's own start-up (fio's job processes, their connections),
    /// whose waits say nothing about the workload running.
    pub fn finish_after(self, skip: f64) -> WakeDelays {
        self.stop.store(true, Ordering::Relaxed);
        let mut delays = self.handle.join().unwrap_or_default();
        let first = (delays.len() as f64 * skip.clamp(0.0, 1.0)) as usize;
        WakeDelays::from_delays(self.period.as_micros() as u64, &mut delays[first..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_ten_microseconds_to_a_second() {
        assert_eq!(bin_of(0.001), 0);
        assert_eq!(bin_of(0.0101), 0);
        assert_eq!(bin_of(1.0), 24);
        assert!(edge(bin_of(5.0)) >= 5.0 && edge(bin_of(5.0) - 1) < 5.0);
        assert_eq!(bin_of(1e6), BINS - 1);
    }

    #[test]
    fn the_tail_is_read_from_the_histogram() {
        // Nine waits of 0.05 ms and one of 10 ms.
        let mut d = vec![0.05; 9];
        d.push(10.0);
        let w = WakeDelays::from_delays(1000, &mut d);
        assert_eq!(w.count, 10);
        assert!((w.share_over(1.0) - 0.1).abs() < 1e-12);
        // (10 - 2) / 10, to the bin's resolution (a bin spans 21%).
        let e = w.excess_ms(2.0);
        assert!((e - 0.8).abs() < 0.12, "{e}");
        assert_eq!(w.excess_ms(100.0), 0.0);
    }

    #[test]
    fn the_probe_measures_its_own_lateness() {
        let p = WakeProbe::start(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(60));
        let w = p.finish();
        assert!(w.count >= 20, "{w:?}");
        assert!(w.mean_ms >= 0.0 && w.p50_ms <= w.p999_ms);
        assert_eq!(w.histogram.iter().sum::<u64>(), w.count);
    }
}
