//! Medians with their spread, the way every figure of results.json is kept and of a report
//! is given, and the verdict on an overhead against the baseline's noise.

use serde::{Deserialize, Serialize};

/// Median, min and max of a figure over repeats: how every figure of results.json is kept.
///
/// Fields added later must be optional with `#[serde(default)]` (and skipped when empty),
/// so that files written before them still load and files written after them stay readable
/// by a reader that ignores them. Build spreads with [`Spread::of`] and [`Spread::scaled`]
/// rather than field by field, so that a new field is filled in one place.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// None for no values; NaNs are ignored.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }

    /// The same figure in another unit (`k` times every value).
    pub fn scaled(&self, k: f64) -> Spread {
        Spread {
            median: self.median * k,
            min: self.min * k,
            max: self.max * k,
            n: self.n,
        }
    }

    /// (max - min) / median: how far repeats of the same thing scatter.
    pub fn relative_range(&self) -> Option<f64> {
        (self.n >= 2 && self.median != 0.0).then(|| (self.max - self.min) / self.median.abs())
    }
}

/// Whether an overhead stands out from the run-to-run noise of the baseline.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Outside the baseline's spread, and every repeat agrees on the sign.
    Measured,
    /// Inside the baseline's own spread, or repeats disagree on the sign.
    WithinNoise,
    /// Fewer than two baseline repeats: no spread to compare with.
    NoiseUnknown,
}

/// Judges an overhead (paired per repeat, as a fraction) against the baseline's relative
/// range: within noise when its median is no larger than that range, or when the repeats
/// straddle zero.
pub fn verdict(overhead: &Spread, baseline: &Spread) -> Verdict {
    let Some(noise) = baseline.relative_range() else {
        return Verdict::NoiseUnknown;
    };
    let straddles = overhead.n >= 2 && overhead.min <= 0.0 && overhead.max >= 0.0;
    if overhead.median.abs() <= noise || straddles {
        Verdict::WithinNoise
    } else {
        Verdict::Measured
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(Spread::of([1.0, 4.0]).unwrap().median, 2.5);
        assert!(Spread::of([]).is_none());
        assert!(Spread::of([f64::NAN]).is_none());
    }

    #[test]
    fn verdicts() {
        let baseline = Spread::of([90.0, 100.0, 110.0]).unwrap(); // 20% range
        let big = Spread::of([0.30, 0.35, 0.40]).unwrap();
        assert_eq!(verdict(&big, &baseline), Verdict::Measured);
        let small = Spread::of([0.05, 0.10, 0.12]).unwrap();
        assert_eq!(verdict(&small, &baseline), Verdict::WithinNoise);
        let tight = Spread::of([100.0, 100.5, 101.0]).unwrap();
        let mixed = Spread::of([-0.2, 0.3, 0.4]).unwrap();
        assert_eq!(verdict(&mixed, &tight), Verdict::WithinNoise);
        let single = Spread::of([100.0]).unwrap();
        assert_eq!(verdict(&big, &single), Verdict::NoiseUnknown);
    }
}
