//! Medians with their spread, the way every figure of results.json is kept and of a report
//! is given, and the verdict on an overhead against the baseline's noise.

use serde::{Deserialize, Serialize};

use crate::stats::Interval;

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
    /// The 95% confidence interval of the effect, for the figures that have one (overheads:
    /// see [`super::metric::Ci`]), with the estimate it is centred on. Absent with fewer than
    /// two repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
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
            interval: None,
        })
    }

    /// The same figure in another unit (`k` times every value).
    pub fn scaled(&self, k: f64) -> Spread {
        let (a, b) = (self.min * k, self.max * k);
        Spread {
            median: self.median * k,
            min: a.min(b),
            max: a.max(b),
            n: self.n,
            interval: self.interval.map(|i| i.scaled(k)),
        }
    }

    /// The figure with its 95% interval.
    pub fn with_interval(self, interval: Option<Interval>) -> Spread {
        Spread { interval, ..self }
    }

    /// The value a report shows: the interval's estimate where there is one, else the median.
    pub fn value(&self) -> f64 {
        self.interval.map_or(self.median, |i| i.estimate)
    }

    /// (max - min) / median: how far repeats of the same thing scatter.
    pub fn relative_range(&self) -> Option<f64> {
        (self.n >= 2 && self.median != 0.0).then(|| (self.max - self.min) / self.median.abs())
    }
}

/// Whether an overhead is told apart from zero.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Its 95% interval excludes zero.
    Measured,
    /// Its 95% interval holds zero: the repeats cannot tell it from no overhead at all.
    WithinNoise,
    /// No interval (fewer than two paired repeats): no way to tell.
    NoiseUnknown,
}

/// Judges an overhead by its 95% interval: within noise exactly when the interval holds 0.
/// (Files written before intervals existed judged against the baseline's min–max range;
/// their stored verdicts are read as they are.)
pub fn verdict(overhead: &Spread) -> Verdict {
    match overhead.interval {
        None => Verdict::NoiseUnknown,
        Some(i) if i.contains(0.0) => Verdict::WithinNoise,
        Some(_) => Verdict::Measured,
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
    fn verdicts_follow_the_interval() {
        let at = |low: f64, high: f64| {
            Spread::of([0.1]).unwrap().with_interval(Some(Interval {
                estimate: (low + high) / 2.0,
                low,
                high,
            }))
        };
        assert_eq!(verdict(&at(0.02, 0.30)), Verdict::Measured);
        assert_eq!(verdict(&at(-0.30, -0.02)), Verdict::Measured);
        assert_eq!(verdict(&at(-0.05, 0.30)), Verdict::WithinNoise);
        assert_eq!(verdict(&at(0.0, 0.30)), Verdict::WithinNoise);
        assert_eq!(verdict(&Spread::of([0.3]).unwrap()), Verdict::NoiseUnknown);
        // Scaling keeps the interval with the figure, in order.
        let s = at(0.02, 0.30).scaled(-100.0);
        let i = s.interval.unwrap();
        assert_eq!((i.low, i.high), (-30.0, -2.0));
        assert_eq!(s.value(), -16.0);
    }
}
