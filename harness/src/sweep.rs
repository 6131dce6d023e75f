//! How large must the DWARF copy be? From one recording with the largest copy perf allows
//! (65528 bytes), every sample tells at which copy size N its stack would have been complete:
//! the bytes above the sampled stack pointer the unwinder had read when it reached a real
//! bottom (the end of the stack by the unwind tables, or a bottom function such as
//! `start_thread`). A recording made with `dwarf:N` sees exactly the first N bytes, so the
//! share of samples complete at N is what that recording would measure, barring the
//! perturbation a larger copy causes and the data it loses.
//!
//! Per process, two histograms in 8-byte steps (perf's copy sizes are multiples of 8): the
//! smallest complete size, and the bytes a complete unwind needed. Memory is bounded by the
//! copy size, not by the recording.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fasthash::FxHashMap;
use crate::unwind::UserEnd;

const STEP: u32 = 8;

#[derive(Default)]
struct Histograms {
    user_samples: u64,
    /// Samples by smallest complete copy size (index = bytes / STEP, rounded up).
    complete_at: Vec<u64>,
    /// Samples by bytes their complete unwind needed.
    needed: Vec<u64>,
    /// Unwinds that ran out of the copy before the end of the stack.
    beyond_copy: u64,
    unwind_errors: u64,
}

fn bump(h: &mut Vec<u64>, bytes: u32) {
    let i = bytes.div_ceil(STEP) as usize;
    if h.len() <= i {
        h.resize(i + 1, 0);
    }
    h[i] += 1;
}

/// Accumulates the sweep while records stream by.
pub struct SweepCollector {
    copy_bytes: u32,
    per_comm: FxHashMap<String, Histograms>,
}

impl SweepCollector {
    pub fn new(copy_bytes: u32) -> SweepCollector {
        SweepCollector {
            copy_bytes,
            per_comm: FxHashMap::default(),
        }
    }

    /// One DWARF sample: how its unwind ended, the bytes read per frame (leaf first), whether
    /// frame k is a bottom function, and the bytes read in all.
    pub fn add(
        &mut self,
        comm: &str,
        end: UserEnd,
        frame_bytes: &[u32],
        mut is_bottom: impl FnMut(usize) -> bool,
        bytes_used: u64,
    ) {
        if end == UserEnd::NoUser || frame_bytes.is_empty() {
            return;
        }
        let h = match self.per_comm.get_mut(comm) {
            Some(h) => h,
            None => self.per_comm.entry(comm.to_string()).or_default(),
        };
        h.user_samples += 1;
        let at_bottom_fn = (0..frame_bytes.len())
            .find(|&k| is_bottom(k))
            .map(|k| frame_bytes[k]);
        let at_end = (end == UserEnd::Bottom).then_some(bytes_used.min(u64::from(u32::MAX)) as u32);
        if let Some(at) = match (at_bottom_fn, at_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        } {
            bump(&mut h.complete_at, at);
        }
        match end {
            UserEnd::Bottom => bump(&mut h.needed, bytes_used.min(u64::from(u32::MAX)) as u32),
            UserEnd::OutOfStack => h.beyond_copy += 1,
            UserEnd::Error => h.unwind_errors += 1,
            UserEnd::Ended | UserEnd::NoUser => {}
        }
    }

    /// Adds what another collector saw (another pass's share of the samples).
    pub fn merge(&mut self, other: SweepCollector) {
        fn add(mine: &mut Vec<u64>, theirs: &[u64]) {
            if mine.len() < theirs.len() {
                mine.resize(theirs.len(), 0);
            }
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        }
        for (comm, h) in other.per_comm {
            let mine = self.per_comm.entry(comm).or_default();
            mine.user_samples += h.user_samples;
            add(&mut mine.complete_at, &h.complete_at);
            add(&mut mine.needed, &h.needed);
            mine.beyond_copy += h.beyond_copy;
            mine.unwind_errors += h.unwind_errors;
        }
    }

    pub fn finish(self) -> SweepResult {
        let copy = self.copy_bytes;
        let processes = self
            .per_comm
            .into_iter()
            .map(|(comm, h)| (comm, summarize(&h, copy)))
            .collect();
        SweepResult {
            copy_bytes: copy,
            processes,
        }
    }
}

/// What the sweep found for one process.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SweepProcess {
    pub user_samples: u64,
    /// Stack bytes a complete unwind needed: percentiles over the samples, None meaning "more
    /// than the copy" (the percentile falls among unwinds that ran out of it).
    pub needed_p50: Option<u32>,
    pub needed_p90: Option<u32>,
    pub needed_p99: Option<u32>,
    pub needed_max: Option<u32>,
    /// Samples whose stack needed more than the copy, and unwinds that failed.
    pub beyond_copy: u64,
    pub unwind_errors: u64,
    /// Completeness against copy size: `[N, share]` from 512 bytes to the copy, in 512-byte
    /// steps (monotone by construction).
    pub curve: Vec<[f64; 2]>,
    /// Smallest copy sizes giving 90%, 99% and 100% complete stacks; None: not reached even
    /// with the whole copy.
    pub smallest_90: Option<u32>,
    pub smallest_99: Option<u32>,
    pub smallest_100: Option<u32>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SweepResult {
    /// The copy size the recording used (the largest N the sweep can speak for).
    pub copy_bytes: u32,
    pub processes: BTreeMap<String, SweepProcess>,
}

impl SweepProcess {
    /// Completeness at copy size `n`, read off the curve (the step at or below `n`).
    pub fn completeness_at(&self, n: u32) -> Option<f64> {
        self.curve
            .iter()
            .rev()
            .find(|p| p[0] <= f64::from(n))
            .map(|p| p[1])
    }
}

/// Cumulative share at each histogram index.
fn cumulative(h: &[u64], total: u64) -> Vec<f64> {
    let mut acc = 0u64;
    h.iter()
        .map(|n| {
            acc += n;
            acc as f64 / total.max(1) as f64
        })
        .collect()
}

fn summarize(h: &Histograms, copy: u32) -> SweepProcess {
    let total = h.user_samples;
    let cum = cumulative(&h.complete_at, total);
    let share_at = |n: u32| -> f64 {
        let i = (n / STEP) as usize;
        if cum.is_empty() {
            0.0
        } else {
            cum[i.min(cum.len() - 1)]
        }
    };
    let smallest = |target: f64| -> Option<u32> {
        let i = cum.iter().position(|&c| c >= target - 1e-12)?;
        let n = i as u32 * STEP;
        (n <= copy).then_some(n)
    };
    let mut curve: Vec<[f64; 2]> = (1..=copy / 512)
        .map(|k| {
            let n = k * 512;
            [f64::from(n), share_at(n)]
        })
        .collect();
    if !copy.is_multiple_of(512) {
        curve.push([f64::from(copy), share_at(copy)]);
    }
    // Needed bytes over all samples that did not fail, those beyond the copy counting as
    // larger than any measured value.
    let measured: u64 = h.needed.iter().sum();
    let population = measured + h.beyond_copy;
    let needed_at = |q: f64| -> Option<u32> {
        if population == 0 {
            return None;
        }
        let target = ((q * population as f64).ceil() as u64).max(1);
        let mut acc = 0;
        for (i, n) in h.needed.iter().enumerate() {
            acc += n;
            if acc >= target {
                return Some(i as u32 * STEP);
            }
        }
        None
    };
    SweepProcess {
        user_samples: total,
        needed_p50: needed_at(0.50),
        needed_p90: needed_at(0.90),
        needed_p99: needed_at(0.99),
        needed_max: if h.beyond_copy > 0 {
            None
        } else {
            h.needed
                .iter()
                .rposition(|&n| n > 0)
                .map(|i| i as u32 * STEP)
        },
        beyond_copy: h.beyond_copy,
        unwind_errors: h.unwind_errors,
        curve,
        smallest_90: smallest(0.90),
        smallest_99: smallest(0.99),
        smallest_100: smallest(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_and_smallest_sizes() {
        let mut s = SweepCollector::new(4096);
        // 90 stacks complete at 1000 bytes, 9 at 3000, 1 never (ran out of the copy).
        for _ in 0..90 {
            s.add("p", UserEnd::Bottom, &[100, 500, 1000], |_| false, 1000);
        }
        for _ in 0..9 {
            s.add("p", UserEnd::Bottom, &[100, 3000], |_| false, 3000);
        }
        s.add("p", UserEnd::OutOfStack, &[100, 4000], |_| false, 4096);
        // a bottom function reached before the end counts at its own bytes
        s.add(
            "q",
            UserEnd::OutOfStack,
            &[100, 700, 4000],
            |k| k == 1,
            4096,
        );
        let r = s.finish();
        let p = &r.processes["p"];
        assert_eq!(p.user_samples, 100);
        assert_eq!(p.smallest_90, Some(1000));
        assert_eq!(p.smallest_99, Some(3000));
        assert_eq!(p.smallest_100, None);
        assert_eq!(p.needed_p50, Some(1000));
        assert_eq!(p.needed_p99, Some(3000));
        assert_eq!(p.needed_max, None, "one stack needed more than the copy");
        assert_eq!(p.beyond_copy, 1);
        assert!((p.completeness_at(1024).unwrap() - 0.90).abs() < 1e-12);
        assert!((p.completeness_at(4096).unwrap() - 0.99).abs() < 1e-12);
        assert!(p.curve.windows(2).all(|w| w[0][1] <= w[1][1]), "monotone");
        assert_eq!(r.processes["q"].smallest_100, Some(704));
    }
}

/// The sweep as a run reports it: the curve of the largest-copy recording for the
/// processes that matter, and the check against real recordings at smaller copy sizes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SweepReport {
    /// The recording the sweep comes from (e.g. `dwarf:65528+pipe`).
    pub recording: String,
    pub copy_bytes: u32,
    /// The server, the client, and any other process with at least 1% of the samples.
    pub processes: BTreeMap<String, SweepProcess>,
    /// Predicted completeness at each real recording's copy size against what it measured.
    pub check: Vec<SweepCheck>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SweepCheck {
    /// The real recording, e.g. `dwarf:8k`.
    pub mode: String,
    pub copy_bytes: u32,
    pub process: String,
    pub predicted: Option<f64>,
    pub measured: Option<f64>,
    /// measured - predicted, in percentage points.
    pub difference_points: Option<f64>,
}

/// Keeps the processes worth reporting out of a sweep: those named in `always`, and the
/// others with at least 1% of the sampled user stacks.
pub fn select(result: &SweepResult, always: &[&str]) -> BTreeMap<String, SweepProcess> {
    let total: u64 = result.processes.values().map(|p| p.user_samples).sum();
    result
        .processes
        .iter()
        .filter(|(comm, p)| {
            always.contains(&comm.as_str()) || p.user_samples as f64 >= 0.01 * total as f64
        })
        .map(|(c, p)| (c.clone(), p.clone()))
        .collect()
}

/// Formats a copy size the way modes are spelled: `17216 B (16.8K)`.
pub fn size_text(bytes: Option<u32>, copy: u32) -> String {
    match bytes {
        Some(b) => format!("{b} B ({:.1}K)", f64::from(b) / 1024.0),
        None => format!("more than {copy} B"),
    }
}
