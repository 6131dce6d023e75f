//! From rounds to prices: Theil–Sen slopes of extra CPU time against samples taken, with
//! bootstrap intervals over the rounds of each (stack, mode, rate).

use super::list::{ModePrice, SessionRecord, Variant};
use super::rounds::PairedRound;
use crate::stats;

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
