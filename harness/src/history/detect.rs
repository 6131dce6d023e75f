//! Regression detection that respects noise.
//!
//! For one series (a metric of one mode, on one host, for one workload, in time order), the
//! latest value is compared with a baseline: the median of the K runs before it. Run-to-run
//! noise is the median absolute deviation (MAD) of those runs. The latest value is a
//! regression only when all of these hold:
//! - it moved in the metric's bad direction (more lost chunks, less completeness, ...);
//! - it lies outside median ± k × MAD (default k = 3): beyond the runs' own scatter;
//! - it changed by more than a minimum share of the baseline (default 10%), except for
//!   shares (overheads, lost share, completeness), which are judged in points only: an
//!   overhead near zero moves by hundreds of percent of itself within its noise, so a relative
//!   change says nothing there;
//! - it changed by more than the metric's smallest meaningful step (two points of overhead,
//!   ten lost chunks, ...), so that a flat-zero history does not flag a blip.
//!
//! With fewer than `min_runs` earlier runs there is no baseline to speak of and nothing is
//! judged.

use serde::{Deserialize, Serialize};

use crate::results::metric::Worse;
use crate::results::Spread;

/// The thresholds; their defaults are the README's.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Thresholds {
    /// Earlier runs the baseline is the median of (K). Default 7.
    pub window: usize,
    /// Fewest earlier runs before anything is judged. Default 3.
    pub min_runs: usize,
    /// Noise band half-width in MADs. Default 3.
    pub mad_k: f64,
    /// Smallest relative change that counts. Default 0.10.
    pub min_relative: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            window: 7,
            min_runs: 3,
            mad_k: 3.0,
            min_relative: 0.10,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the noise band or below the minimum change.
    Steady,
    Regressed,
    Improved,
    /// Not enough earlier runs.
    Insufficient,
}

/// The judgement of a series' latest value.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Judgement {
    pub latest: f64,
    /// Median of the baseline runs.
    pub baseline: Option<f64>,
    /// MAD of the baseline runs.
    pub mad: Option<f64>,
    /// latest - baseline.
    pub change: Option<f64>,
    /// change / |baseline| (None when the baseline is 0).
    pub change_relative: Option<f64>,
    pub runs_in_baseline: usize,
    pub verdict: Verdict,
}

fn median(v: &[f64]) -> Option<f64> {
    Spread::of(v.iter().copied()).map(|s| s.median)
}

/// How a change is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Against the baseline's size too (bytes, counts, times).
    Relative,
    /// In points only (shares: an overhead of 0.5% going to 1.5% is one point, not +200%).
    Points,
}

/// Judges `values` (oldest first; the last one is the latest).
pub fn judge(
    values: &[f64],
    worse: Worse,
    min_absolute: f64,
    scale: Scale,
    t: &Thresholds,
) -> Option<Judgement> {
    let (&latest, earlier) = values.split_last()?;
    let window = &earlier[earlier.len().saturating_sub(t.window)..];
    let mut j = Judgement {
        latest,
        baseline: None,
        mad: None,
        change: None,
        change_relative: None,
        runs_in_baseline: window.len(),
        verdict: Verdict::Insufficient,
    };
    if window.len() < t.min_runs.max(1) {
        return Some(j);
    }
    let base = median(window)?;
    let deviations: Vec<f64> = window.iter().map(|x| (x - base).abs()).collect();
    let mad = median(&deviations)?;
    let change = latest - base;
    j.baseline = Some(base);
    j.mad = Some(mad);
    j.change = Some(change);
    let relative = scale == Scale::Relative;
    j.change_relative = (relative && base != 0.0).then(|| change / base.abs());
    let outside_noise = change.abs() > t.mad_k * mad;
    let big_enough = change.abs() >= min_absolute
        && (!relative || base == 0.0 || change.abs() > t.min_relative * base.abs());
    let bad = match worse {
        Worse::Higher => change > 0.0,
        Worse::Lower => change < 0.0,
    };
    j.verdict = match (outside_noise && big_enough, bad) {
        (false, _) => Verdict::Steady,
        (true, true) => Verdict::Regressed,
        (true, false) => Verdict::Improved,
    };
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Thresholds {
        Thresholds::default()
    }

    #[test]
    fn a_clear_step_is_flagged_in_its_direction() {
        let lost = [10.0, 12.0, 9.0, 11.0, 10.0, 13.0, 10.0, 60.0];
        let j = judge(&lost, Worse::Higher, 5.0, Scale::Relative, &t()).unwrap();
        assert_eq!(j.verdict, Verdict::Regressed);
        assert_eq!(j.baseline, Some(10.0));
        assert_eq!(j.runs_in_baseline, 7);
        let fewer = [10.0, 12.0, 9.0, 11.0, 10.0, 13.0, 10.0, 2.0];
        assert_eq!(
            judge(&fewer, Worse::Higher, 5.0, Scale::Relative, &t())
                .unwrap()
                .verdict,
            Verdict::Improved
        );
        let completeness = [0.99, 0.98, 0.99, 0.99, 0.97, 0.60];
        assert_eq!(
            judge(&completeness, Worse::Lower, 0.01, Scale::Relative, &t())
                .unwrap()
                .verdict,
            Verdict::Regressed
        );
    }

    #[test]
    fn noise_alone_is_not_flagged() {
        // Scatter of +-30% around 100: a new value at the edge is within 3 MADs.
        let noisy = [70.0, 130.0, 100.0, 75.0, 125.0, 95.0, 110.0, 135.0];
        assert_eq!(
            judge(&noisy, Worse::Higher, 1.0, Scale::Relative, &t())
                .unwrap()
                .verdict,
            Verdict::Steady
        );
        // Flat zeros then a blip below the metric's smallest step.
        let zeros = [0.0, 0.0, 0.0, 0.0, 3.0];
        assert_eq!(
            judge(&zeros, Worse::Higher, 10.0, Scale::Relative, &t())
                .unwrap()
                .verdict,
            Verdict::Steady
        );
        // A tiny relative change on a tight series.
        let tight = [100.0, 100.0, 100.0, 100.0, 103.0];
        assert_eq!(
            judge(&tight, Worse::Higher, 0.0, Scale::Relative, &t())
                .unwrap()
                .verdict,
            Verdict::Steady
        );
    }

    #[test]
    fn overheads_are_judged_in_points_not_as_a_share_of_themselves() {
        // The history fixtures' fp throughput overhead: around 9%, then -18%. Relative to a
        // baseline near zero that reads as "-295%"; in points it is 27 points better.
        let overhead = [0.08, 0.10, 0.09, 0.11, 0.09, 0.10, 0.09, -0.18];
        let j = judge(&overhead, Worse::Higher, 0.02, Scale::Points, &t()).unwrap();
        assert_eq!(j.verdict, Verdict::Improved);
        assert_eq!(j.change_relative, None);
        assert!((j.change.unwrap() + 0.27).abs() < 1e-9, "{j:?}");
        // A move from 0.5% to 2.0%: +300% of itself, 1.5 points: below the two-point step.
        let small = [0.005, 0.004, 0.006, 0.005, 0.005, 0.020];
        assert_eq!(
            judge(&small, Worse::Higher, 0.02, Scale::Points, &t())
                .unwrap()
                .verdict,
            Verdict::Steady
        );
        // The same series judged relatively would have been flagged.
        assert_eq!(
            judge(&small, Worse::Higher, 0.01, Scale::Relative, &t())
                .unwrap()
                .verdict,
            Verdict::Regressed
        );
        // Three points worse on a tight series: a regression in points.
        let worse = [0.05, 0.05, 0.051, 0.049, 0.05, 0.08];
        assert_eq!(
            judge(&worse, Worse::Higher, 0.02, Scale::Points, &t())
                .unwrap()
                .verdict,
            Verdict::Regressed
        );
    }

    #[test]
    fn short_histories_are_not_judged() {
        let j = judge(&[1.0, 2.0, 50.0], Worse::Higher, 0.0, Scale::Relative, &t()).unwrap();
        assert_eq!(j.verdict, Verdict::Insufficient);
        assert!(judge(&[], Worse::Higher, 0.0, Scale::Relative, &t()).is_none());
    }
}
