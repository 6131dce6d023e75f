//! Predictions from the price list: what a workload's recording should lose and cost, given
//! how many samples it took and how many bytes each carried. They stand beside the measured
//! figures so that a disagreement beyond the interval is seen, and so that every lost chunk
//! has an explanation a person can check with a calculator.

use serde::{Deserialize, Serialize};

use super::capacity::SinkCapacity;
use super::list::{ModePrice, PriceList, Variant};
use crate::mode::UnwindMode;
use crate::record::wakeup::WakeDelays;
use crate::stats::Interval;

/// What a workload's recording did, as far as the model needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sampling {
    pub window_s: f64,
    pub cpus: usize,
    /// Samples in the file, and samples the kernel lost.
    pub kept: f64,
    pub lost: f64,
    /// Bytes perf wrote.
    pub data_bytes: f64,
    /// Kept samples of the workload's own processes, and their CPU seconds in the window.
    pub workload_samples: f64,
    pub workload_cpu_s: f64,
    /// Mean callchain entries and mean stack bytes copied per workload sample: where the
    /// workload's stacks stand between the price list's shallow and deep stacks.
    pub chain_per_sample: Option<f64>,
    pub copied_per_sample: Option<f64>,
    /// Dirty page-cache data when the recording started (MB).
    pub dirty_at_start_mb: Option<f64>,
    /// perf's CPU seconds in the window, and the CPUs' worth of time perf gets under this
    /// workload when it wants all it can ([`PerfBudget`]).
    pub perf_cpu_s: Option<f64>,
    pub perf_budget_cpus: Option<f64>,
    /// perf's ring buffer per CPU (bytes): `--mmap-pages`, else perf's default.
    pub ring_bytes: f64,
    /// How long a woken thread waits for a CPU under this workload ([`WakeDelays`]).
    pub wake_delays: Option<WakeDelays>,
}

/// What perf's CPU allows under a workload: a recording that asks far more than perf can
/// write (`dwarf:65528`), run with the workload for the comparison's length, takes every bit
/// of CPU the scheduler gives perf there. Measured, because on a busy machine it is a share of
/// the CPUs contested by the workload's threads and writeback, not a free CPU.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PerfBudget {
    pub mode: String,
    pub freq: u32,
    pub window_s: f64,
    /// perf's CPU time in the window over the window (CPUs).
    pub cpus: f64,
    pub written_mb_per_s: f64,
    /// How long a woken thread waited for a CPU under the workload alone (during the
    /// recording's ramp, sampling off) and beside the saturated perf (its window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_delays: Option<WakeDelays>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_delays_busy: Option<WakeDelays>,
}

/// perf's default ring buffer per CPU: `kernel.perf_event_mlock_kb` less a page, rounded
/// down to a power of two pages (512 KiB with the kernel's default of 516).
pub fn default_ring_bytes() -> f64 {
    let kb: f64 = std::fs::read_to_string("/proc/sys/kernel/perf_event_mlock_kb")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(516.0);
    let pages = ((kb - 4.0) / 4.0).max(1.0);
    2f64.powf(pages.log2().floor()) * 4096.0
}

/// The share of samples lost to wake-up delays: the kernel wakes perf when a CPU's ring is
/// half full; the other half fills in `refill_ms`, and whatever arrives while perf still waits
/// for a CPU after that is dropped. Per wake-up, a ring takes in its half plus what arrives
/// during the wait; it loses what arrives during the part of the wait beyond the refill:
/// E[max(0, D - refill)] / (refill + E[D]) of the delays D.
pub fn latency_loss(refill_ms: f64, delays: &WakeDelays) -> f64 {
    if refill_ms <= 0.0 || delays.count == 0 {
        return 0.0;
    }
    (delays.excess_ms(refill_ms) / (refill_ms + delays.mean_ms)).clamp(0.0, 1.0)
}

/// The model's figures for one recording, each from the price list's intervals.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Prediction {
    /// The kernel's price per sample at this workload's stacks (ns).
    pub kernel_ns: Option<Interval>,
    /// The recorder's price per sample (ns).
    pub recorder_ns: Option<Interval>,
    /// Extra workload CPU per I/O the sampling interrupts add (fraction), against the
    /// recording's own CPU without them.
    pub cpu_per_io: Option<Interval>,
    /// perf's CPU time as a share of the machine.
    pub perf_cpu: Option<Interval>,
    pub lost: Option<LostPrediction>,
}

/// Where `x` lies between `a` and `b`, clamped to 0..=1 (0 when they coincide).
fn position(x: f64, a: f64, b: f64) -> f64 {
    if (b - a).abs() < f64::EPSILON {
        0.0
    } else {
        ((x - a) / (b - a)).clamp(0.0, 1.0)
    }
}

fn lerp(a: Interval, b: Interval, t: f64) -> Interval {
    let l = |x: f64, y: f64| x + (y - x) * t;
    Interval {
        estimate: l(a.estimate, b.estimate),
        low: l(a.low, b.low),
        high: l(a.high, b.high),
    }
}

/// A price between the shallow and the deep stack's: by the callchain length for frame
/// pointers (the walk's cost grows with it), by the bytes copied for DWARF (the copy's cost
/// grows with them), the shallow stack's for the rest.
fn price_at(
    list: &PriceList,
    mode: UnwindMode,
    sampling: &Sampling,
    pick: fn(&ModePrice) -> Option<Interval>,
) -> Option<Interval> {
    let name = mode.to_string();
    let shallow = list.price(&name, Variant::Shallow);
    let deep = list.price(&name, Variant::Deep);
    let (s, d) = match (shallow, deep) {
        (Some(s), Some(d)) => (s, d),
        (Some(one), None) | (None, Some(one)) => return pick(one),
        (None, None) => return None,
    };
    let t = match mode {
        UnwindMode::Fp => sampling
            .chain_per_sample
            .zip(s.chain_per_sample.zip(d.chain_per_sample))
            .map(|(x, (a, b))| position(x, a, b)),
        UnwindMode::Dwarf { .. } => sampling
            .copied_per_sample
            .zip(s.copied_per_sample.zip(d.copied_per_sample))
            .map(|(x, (a, b))| position(x, a, b)),
        _ => None,
    }
    .unwrap_or(0.0);
    Some(lerp(pick(s)?, pick(d)?, t))
}

/// The model's figures for a recording of `mode` that sampled as `sampling` says.
///
/// - *CPU per I/O*: every workload sample taken (kept, or lost in the same share as all)
///   costs the sampled thread the kernel's price, so the workload's CPU grows by
///   samples × price over what it would have used: predicted overhead = extra / (CPU - extra).
/// - *perf CPU*: every kept sample costs perf the recorder's price.
/// - *lost share*: the bytes per second asked against what perf can write ([`predict_lost`]).
pub fn predict(list: &PriceList, mode: UnwindMode, sampling: &Sampling) -> Prediction {
    let kernel_ns = price_at(list, mode, sampling, |p| p.kernel_ns);
    let recorder_ns = price_at(list, mode, sampling, |p| p.recorder_ns);
    let taken = sampling.kept + sampling.lost;
    let kept_share = if taken > 0.0 {
        sampling.kept / taken
    } else {
        1.0
    };
    let workload_taken = if kept_share > 0.0 {
        sampling.workload_samples / kept_share
    } else {
        0.0
    };
    let cpu_per_io = kernel_ns.and_then(|k| {
        let overhead = |ns: f64| {
            let extra = workload_taken * ns / 1e9;
            let without = sampling.workload_cpu_s - extra;
            (without > 0.0).then(|| extra / without)
        };
        Some(Interval {
            estimate: overhead(k.estimate)?,
            low: overhead(k.low)?,
            high: overhead(k.high)?,
        })
    });
    let machine_s = sampling.window_s * sampling.cpus.max(1) as f64;
    let perf_cpu = recorder_ns
        .filter(|_| machine_s > 0.0)
        .map(|r| r.scaled(sampling.kept / 1e9 / machine_s));
    let lost = (sampling.kept > 0.0 && sampling.window_s > 0.0)
        .then(|| {
            let asked = taken * (sampling.data_bytes / sampling.kept) / 1e6 / sampling.window_s;
            let sink = list.capacity.as_ref().and_then(|c| {
                predict_lost(
                    asked,
                    sampling.window_s,
                    sampling.dirty_at_start_mb.unwrap_or(c.dirty_at_start_mb),
                    c,
                )
            });
            with_perf_cpu(asked, sink, perf_cpu_limit(sampling))
        })
        .flatten();
    Prediction {
        kernel_ns,
        recorder_ns,
        cpu_per_io,
        perf_cpu,
        lost,
    }
}

/// What a recording asked of the sink and what the capacity says it could get.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LostPrediction {
    /// Bytes per second the sampling asked for (MB/s).
    pub asked_mb_per_s: f64,
    /// What perf could write per second over the recording, by the two regimes (MB/s).
    pub writable_mb_per_s: f64,
    /// When the page cache's dirty data should reach its plateau (s), if within the recording.
    pub throttled_after_s: Option<f64>,
    /// 1 - writable / asked, or 0; with perf's CPU limit, the larger of the two shares.
    pub lost_share: f64,
    /// What the samples ask of perf's CPU against what it gets under the workload.
    #[serde(default)]
    pub perf_cpu: Option<CpuLimit>,
}

/// perf's CPU as a limit, in its two physical forms: on average (the samples taken per
/// second times perf's CPU per sample it wrote, against the CPU it gets under the workload:
/// above 1, the excess is lost), and at each wake-up (the ring's second half against how long
/// a woken thread waits for a CPU under the workload, [`latency_loss`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CpuLimit {
    pub asked_cpus: f64,
    pub budget_cpus: f64,
    pub load: f64,
    /// 1 - 1/load above a load of 1: what perf's CPU cannot take on average.
    #[serde(default)]
    pub overload_share: f64,
    /// Samples one CPU's ring holds, and how long the half after the wake-up takes to fill.
    #[serde(default)]
    pub ring_samples: f64,
    #[serde(default)]
    pub refill_ms: f64,
    /// What wake-up delays longer than that lose (None without measured delays).
    #[serde(default)]
    pub latency_share: Option<f64>,
    /// The larger of the two.
    pub lost_share: f64,
}

/// perf's CPU limit of a recording (with kept samples and a window), when its CPU time and
/// the workload's budget are known.
fn perf_cpu_limit(sampling: &Sampling) -> Option<CpuLimit> {
    let budget = sampling.perf_budget_cpus.filter(|b| *b > 0.0)?;
    let cpu_s = sampling.perf_cpu_s?;
    let taken_per_s = (sampling.kept + sampling.lost) / sampling.window_s;
    let asked_cpus = taken_per_s * (cpu_s / sampling.kept);
    let load = asked_cpus / budget;
    let overload_share = (1.0 - 1.0 / load).max(0.0);
    let bytes_per_sample = sampling.data_bytes / sampling.kept;
    let per_cpu = taken_per_s / sampling.cpus.max(1) as f64;
    let ring_samples = sampling.ring_bytes / bytes_per_sample.max(1.0);
    let refill_ms = if per_cpu > 0.0 {
        ring_samples / 2.0 / per_cpu * 1e3
    } else {
        f64::INFINITY
    };
    let latency_share = sampling
        .wake_delays
        .as_ref()
        .map(|d| latency_loss(refill_ms, d));
    Some(CpuLimit {
        asked_cpus,
        budget_cpus: budget,
        load,
        overload_share,
        ring_samples,
        refill_ms,
        latency_share,
        lost_share: overload_share.max(latency_share.unwrap_or(0.0)),
    })
}

/// The sink's prediction with perf's CPU limit beside it: the larger loss is the one that
/// binds (the budget was measured over the same length, so it already holds the time perf
/// spent throttled by writeback).
fn with_perf_cpu(
    asked: f64,
    sink: Option<LostPrediction>,
    cpu: Option<CpuLimit>,
) -> Option<LostPrediction> {
    let Some(cpu) = cpu else { return sink };
    let mut p = sink.unwrap_or(LostPrediction {
        asked_mb_per_s: asked,
        writable_mb_per_s: asked,
        throttled_after_s: None,
        lost_share: 0.0,
        perf_cpu: None,
    });
    if cpu.lost_share > p.lost_share {
        p.lost_share = cpu.lost_share;
        p.writable_mb_per_s = asked * (1.0 - cpu.lost_share);
    }
    p.perf_cpu = Some(cpu);
    Some(p)
}

/// Predicts the lost share of a recording of `duration_s` asking `asked_mb_per_s`, started
/// with `dirty_at_start_mb` of dirty data, from the measured capacity:
///
/// - while the dirty data is below its plateau, perf writes `min(asked, cache rate)`, and the
///   dirty data grows by that minus what the disk drains (the throttled rate);
/// - after it, perf writes `min(asked, throttled rate)`;
/// - whatever was asked and not written was lost.
///
/// None when the capacity has no rate at all.
pub fn predict_lost(
    asked_mb_per_s: f64,
    duration_s: f64,
    dirty_at_start_mb: f64,
    capacity: &SinkCapacity,
) -> Option<LostPrediction> {
    let cache = capacity.cache_mb_per_s?;
    if asked_mb_per_s <= 0.0 || duration_s <= 0.0 {
        return Some(LostPrediction {
            asked_mb_per_s,
            writable_mb_per_s: 0.0,
            throttled_after_s: None,
            lost_share: 0.0,
            perf_cpu: None,
        });
    }
    let first = asked_mb_per_s.min(cache);
    let (switch, second) = match (capacity.throttled_mb_per_s, capacity.dirty_plateau_mb) {
        (Some(drain), Some(plateau)) if first > drain => {
            let t = (plateau - dirty_at_start_mb).max(0.0) / (first - drain);
            (Some(t), asked_mb_per_s.min(drain))
        }
        _ => (None, first),
    };
    let written = match switch {
        Some(t) if t < duration_s => first * t + second * (duration_s - t),
        _ => first * duration_s,
    };
    let writable = written / duration_s;
    Some(LostPrediction {
        asked_mb_per_s,
        writable_mb_per_s: writable,
        throttled_after_s: switch.filter(|t| *t < duration_s),
        lost_share: (1.0 - writable / asked_mb_per_s).max(0.0),
        perf_cpu: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::memory::DirtyLimits;

    fn capacity() -> SinkCapacity {
        SinkCapacity {
            mode: "dwarf:65528".into(),
            freq: 16000,
            duration_s: 20.0,
            asked_mb_per_s: 1000.0,
            written_mb_per_s: 300.0,
            lost_share: 0.7,
            cache_mb_per_s: Some(400.0),
            throttled_mb_per_s: Some(160.0),
            dirty_plateau_mb: Some(2400.0),
            plateau_after_s: Some(10.0),
            dirty_at_start_mb: 0.0,
            limits: DirtyLimits::default(),
            notes: vec![],
            series: vec![],
        }
    }

    fn interval(x: f64) -> Option<Interval> {
        Some(Interval {
            estimate: x,
            low: x * 0.9,
            high: x * 1.1,
        })
    }

    fn price(mode: &str, variant: Variant, kernel: f64, chain: f64, copied: f64) -> ModePrice {
        ModePrice {
            mode: mode.into(),
            variant,
            depth: variant.depth(),
            kernel_ns: interval(kernel),
            recorder_ns: interval(1000.0),
            total_ns: interval(kernel + 1000.0),
            recorder_ms_per_mb: None,
            intercept_ns: Some(0.0),
            bytes_per_sample: Some(100.0),
            copied_per_sample: Some(copied),
            chain_per_sample: Some(chain),
            rounds: 10,
            samples: 1000,
            lost: 0,
        }
    }

    fn list() -> PriceList {
        use super::super::list::Variant::{Deep, Shallow};
        PriceList {
            schema_version: 1,
            tool: String::new(),
            started_at: String::new(),
            finished_at: None,
            machine: Default::default(),
            work_cpu: 0,
            perf_cpu: 1,
            freqs: vec![1000],
            pairs: 10,
            round_ms: 25.0,
            iterations: 1,
            seed: 1,
            prices: vec![
                price("fp", Shallow, 16_000.0, 7.0, 0.0),
                price("fp", Deep, 26_000.0, 107.0, 0.0),
                price("none", Shallow, 15_000.0, 0.0, 0.0),
                price("none", Deep, 15_500.0, 0.0, 0.0),
            ],
            capacity: Some(capacity()),
            notes: vec![],
            sessions_raw: vec![],
        }
    }

    #[test]
    fn prices_follow_the_workloads_stacks() {
        // A frame-pointer walk of 57 entries is halfway between the shallow and deep stacks.
        let s = Sampling {
            window_s: 10.0,
            cpus: 2,
            kept: 80_000.0,
            lost: 0.0,
            data_bytes: 8e6,
            workload_samples: 40_000.0,
            workload_cpu_s: 5.0,
            chain_per_sample: Some(57.0),
            copied_per_sample: None,
            dirty_at_start_mb: None,
            perf_cpu_s: None,
            perf_budget_cpus: None,
            ring_bytes: 512.0 * 1024.0,
            wake_delays: None,
        };
        let p = predict(&list(), UnwindMode::Fp, &s);
        let k = p.kernel_ns.unwrap();
        assert!((k.estimate - 21_000.0).abs() < 1e-9, "{k:?}");
        // 40,000 samples x 21 us = 0.84 s of the 5 s: overhead 0.84 / 4.16.
        let o = p.cpu_per_io.unwrap();
        assert!((o.estimate - 0.84 / 4.16).abs() < 1e-9, "{o:?}");
        assert!(o.low < o.estimate && o.estimate < o.high);
        // perf: 80,000 samples x 1 us over 10 s x 2 CPUs.
        assert!((p.perf_cpu.unwrap().estimate - 0.004).abs() < 1e-12);
        // 10 MB/s asked: nothing lost.
        assert_eq!(p.lost.unwrap().lost_share, 0.0);
        // Walks longer than the deep stack's are priced as the deep stack's, not beyond.
        let long = Sampling {
            chain_per_sample: Some(500.0),
            ..s.clone()
        };
        assert_eq!(
            predict(&list(), UnwindMode::Fp, &long)
                .kernel_ns
                .unwrap()
                .estimate,
            26_000.0
        );
        // No call graph: the shallow stack's price, whatever the stacks.
        assert_eq!(
            predict(&list(), UnwindMode::None, &s)
                .kernel_ns
                .unwrap()
                .estimate,
            15_000.0
        );
        // Lost samples were taken too: they count for the workload's extra CPU.
        let lossy = Sampling {
            lost: 80_000.0,
            ..s
        };
        let o2 = predict(&list(), UnwindMode::Fp, &lossy).cpu_per_io.unwrap();
        assert!(o2.estimate > o.estimate * 1.9, "{o2:?} vs {o:?}");
        assert!(
            predict(&list(), UnwindMode::Dwarf { stack_bytes: 8192 }, &lossy)
                .kernel_ns
                .is_none()
        );
    }

    #[test]
    fn the_issue_example_by_hand() {
        // 262 MB/s asked for 60 s: the cache takes all of it, dirty data grows at 102 MB/s and
        // reaches 2,400 MB after 23.5 s; then 160 MB/s. Written: 262 × 23.5 + 160 × 36.5.
        let p = predict_lost(262.0, 60.0, 0.0, &capacity()).unwrap();
        let t = 2400.0 / 102.0;
        let written = 262.0 * t + 160.0 * (60.0 - t);
        assert!((p.throttled_after_s.unwrap() - t).abs() < 1e-9);
        assert!((p.lost_share - (1.0 - written / (262.0 * 60.0))).abs() < 1e-12);
        assert!((0.2..0.3).contains(&p.lost_share), "{p:?}");
    }

    #[test]
    fn below_the_disk_rate_nothing_is_lost() {
        let p = predict_lost(100.0, 60.0, 0.0, &capacity()).unwrap();
        assert_eq!(p.lost_share, 0.0);
        assert_eq!(p.throttled_after_s, None);
        // A short recording never reaches the plateau: only the cache's rate limits it.
        let p = predict_lost(262.0, 5.0, 0.0, &capacity()).unwrap();
        assert_eq!(p.lost_share, 0.0);
        let p = predict_lost(800.0, 5.0, 0.0, &capacity()).unwrap();
        assert!((p.lost_share - 0.5).abs() < 1e-12);
        // Dirty data left by an earlier recording brings the plateau closer.
        let fresh = predict_lost(262.0, 30.0, 0.0, &capacity()).unwrap();
        let dirty = predict_lost(262.0, 30.0, 2000.0, &capacity()).unwrap();
        assert!(dirty.lost_share > fresh.lost_share);
    }

    #[test]
    fn latency_loss_is_the_wait_beyond_the_refill() {
        // Nine wake-ups served at once (0.05 ms), one after 10 ms; the ring's second half
        // fills in 2 ms: that one wait loses 8 ms of arrivals in ten cycles of about 2.1 ms.
        let mut d = vec![0.05; 9];
        d.push(10.0);
        let delays = WakeDelays::from_delays(1000, &mut d);
        let l = latency_loss(2.0, &delays);
        // The histogram holds the 10 ms wait at its bin's middle (10 to 12.1 ms): within a
        // bin's width (21%) of the exact figure.
        let expected = 0.8 / (2.0 + delays.mean_ms);
        assert!((l / expected - 1.0).abs() < 0.21, "{l} vs {expected}");
        // A ring that takes longer to refill than any wait loses nothing.
        assert_eq!(latency_loss(50.0, &delays), 0.0);
        // No delays measured: no loss claimed.
        assert_eq!(latency_loss(2.0, &WakeDelays::default()), 0.0);
    }

    fn busy_recording() -> Sampling {
        // 8,000 samples/s taken on 2 CPUs, 6,000 kept; perf spent 0.4 CPU on the 6,000 (66.7 us
        // each), so all 8,000 ask 0.533 CPUs of a budget of 0.49: load 1.09.
        Sampling {
            window_s: 10.0,
            cpus: 2,
            kept: 60_000.0,
            lost: 20_000.0,
            data_bytes: 60_000.0 * 33_000.0,
            workload_samples: 40_000.0,
            workload_cpu_s: 15.0,
            chain_per_sample: None,
            copied_per_sample: None,
            dirty_at_start_mb: Some(0.0),
            perf_cpu_s: Some(4.0),
            perf_budget_cpus: Some(0.49),
            ring_bytes: 512.0 * 1024.0,
            wake_delays: Some(WakeDelays::from_delays(1000, &mut [0.05; 100])),
        }
    }

    #[test]
    fn perf_short_of_cpu_loses_even_when_the_sink_keeps_up() {
        let s = busy_recording();
        let lost = predict(&list(), UnwindMode::None, &s).lost.unwrap();
        let cpu = lost.perf_cpu.clone().unwrap();
        assert!(
            (cpu.asked_cpus - 8_000.0 * 4.0 / 60_000.0).abs() < 1e-9,
            "{cpu:?}"
        );
        assert!((cpu.load - cpu.asked_cpus / 0.49).abs() < 1e-12);
        // On average perf can take 1/load of what is asked; the rest is lost.
        assert!((cpu.overload_share - (1.0 - 1.0 / cpu.load)).abs() < 1e-12);
        assert!((lost.lost_share - cpu.overload_share).abs() < 1e-12);
        // The ring holds 15.9 samples of 33 KB; its second half fills in 7.9 / 4,000 s.
        assert!((cpu.ring_samples - 524_288.0 / 33_000.0).abs() < 1e-9);
        assert!((cpu.refill_ms - cpu.ring_samples / 2.0 / 4000.0 * 1e3).abs() < 1e-9);
        // 264 MB/s asked for 10 s: the sink alone would have taken it all.
        let sink_only = predict(
            &list(),
            UnwindMode::None,
            &Sampling {
                perf_budget_cpus: None,
                ..s.clone()
            },
        );
        assert_eq!(sink_only.lost.unwrap().lost_share, 0.0);
        // A generous budget and waits far shorter than the refill: nothing lost.
        let rich = Sampling {
            perf_budget_cpus: Some(4.0),
            ..s
        };
        assert_eq!(
            predict(&list(), UnwindMode::None, &rich)
                .lost
                .unwrap()
                .lost_share,
            0.0
        );
    }

    #[test]
    fn long_waits_lose_below_the_cpu_limit_and_a_larger_ring_keeps_them() {
        // Perf has CPU to spare (budget 4 CPUs), but one wake-up in five waits 6 ms: longer
        // than the 2 ms the default ring's second half takes to fill at this rate.
        let mut d = vec![0.05; 80];
        d.extend([6.0; 20]);
        let s = Sampling {
            perf_budget_cpus: Some(4.0),
            wake_delays: Some(WakeDelays::from_delays(1000, &mut d)),
            ..busy_recording()
        };
        let small = predict(&list(), UnwindMode::None, &s).lost.unwrap();
        let c = small.perf_cpu.clone().unwrap();
        assert_eq!(c.overload_share, 0.0);
        // A fifth of the cycles lose about 4.4 of their 3.3 ms: about a quarter.
        assert!(c.latency_share.unwrap() > 0.2, "{c:?}");
        assert_eq!(small.lost_share, c.latency_share.unwrap());
        // `--mmap-pages 2048`: 8 MiB per CPU refills in 32 ms; no wait is that long.
        let large = Sampling {
            ring_bytes: 8.0 * 1024.0 * 1024.0,
            ..s
        };
        let large = predict(&list(), UnwindMode::None, &large).lost.unwrap();
        assert_eq!(large.lost_share, 0.0);
    }
}
