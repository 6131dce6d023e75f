//! The statistics behind every interval unwindbench reports.
//!
//! Two situations, two methods:
//!
//! - **Few paired repeats** (a comparison's overheads: 3 to 10 rounds, each mode paired with
//!   the baseline of its round). A bootstrap has almost nothing to resample at n = 3 and its
//!   percentile interval is too narrow there, so the interval is Student's t on the paired
//!   log-ratios ([`paired_ratio`]): exact for log-normal noise, which throughput noise
//!   roughly is (it scales with the level), honest about how little three repeats say
//!   (t = 4.30 at two degrees of freedom) and shrinking as repeats are added.
//! - **Many rounds** (the price list: dozens of paired rounds at several sampling rates). The
//!   price is the slope of extra CPU time against samples taken, estimated with Theil–Sen (the
//!   median of pairwise slopes: a round disturbed by the host moves it little) and given a
//!   95% interval by a bootstrap that resamples rounds within each session
//!   ([`bootstrap`]), which needs no assumption about the noise's shape or its growth with
//!   the sampling rate. The generator is seeded, so the same rounds give the same interval.

use serde::{Deserialize, Serialize};

/// An estimate with its 95% confidence interval.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// True when the interval holds `x` ("within noise" for an overhead means it holds 0).
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }

    /// True when the two intervals share a point.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.low <= other.high && other.low <= self.high
    }

    /// Half the interval's width.
    pub fn half_width(&self) -> f64 {
        (self.high - self.low) / 2.0
    }

    /// Every figure multiplied by `k` (k > 0 keeps the order).
    pub fn scaled(&self, k: f64) -> Interval {
        let (a, b) = (self.low * k, self.high * k);
        Interval {
            estimate: self.estimate * k,
            low: a.min(b),
            high: a.max(b),
        }
    }
}

/// The median of `values` (NaNs ignored); None when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// The `p` quantile with linear interpolation between order statistics (R's type 7);
/// None when `values` holds no number.
pub fn quantile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    Some(v[lo] + (h - lo as f64) * (v[hi] - v[lo]))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample standard deviation (n - 1 in the denominator).
fn std_dev(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt()
}

/// The 95% t-interval of the mean of `values`; None with fewer than two values.
pub fn mean_interval(values: &[f64]) -> Option<Interval> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 2 {
        return None;
    }
    let m = mean(&v);
    let half =
        student_t_quantile(0.975, (v.len() - 1) as f64) * std_dev(&v) / (v.len() as f64).sqrt();
    Some(Interval {
        estimate: m,
        low: m - half,
        high: m + half,
    })
}

/// The ratio `treated / control` over paired repeats: the geometric mean of the per-pair
/// ratios with the 95% t-interval of the mean log-ratio, mapped back. Pairs with a value that
/// is not positive are left out. None with fewer than two usable pairs.
pub fn paired_ratio(pairs: &[(f64, f64)]) -> Option<Interval> {
    let logs: Vec<f64> = pairs
        .iter()
        .filter(|(t, c)| *t > 0.0 && *c > 0.0 && t.is_finite() && c.is_finite())
        .map(|(t, c)| (t / c).ln())
        .collect();
    let i = mean_interval(&logs)?;
    Some(Interval {
        estimate: i.estimate.exp(),
        low: i.low.exp(),
        high: i.high.exp(),
    })
}

/// The 95% interval of the mean of a series in time order whose neighbours may move
/// together (a switchback's blocks: the host drifts over seconds), and the series' lag-1
/// autocorrelation. Student's t with n - 1 degrees of freedom on a Newey–West long-run
/// variance (Bartlett weights up to lag ⌊4 (n/100)^(2/9)⌋), never below the plain sample
/// variance: neighbours that drift together widen the interval, and neighbours that
/// alternate are not allowed to narrow it. None with fewer than three values.
pub fn series_mean_interval(values: &[f64]) -> Option<(Interval, f64)> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n < 3 {
        return None;
    }
    let m = mean(&v);
    let autocovariance = |lag: usize| -> f64 {
        (lag..n).map(|t| (v[t] - m) * (v[t - lag] - m)).sum::<f64>() / n as f64
    };
    let gamma0 = autocovariance(0);
    let lags = (4.0 * (n as f64 / 100.0).powf(2.0 / 9.0)).floor() as usize;
    let long_run = gamma0
        + 2.0
            * (1..=lags.min(n - 1))
                .map(|l| (1.0 - l as f64 / (lags as f64 + 1.0)) * autocovariance(l))
                .sum::<f64>();
    let variance = long_run.max(std_dev(&v).powi(2));
    let half = student_t_quantile(0.975, (n - 1) as f64) * (variance / n as f64).sqrt();
    let rho1 = if gamma0 > 0.0 {
        autocovariance(1) / gamma0
    } else {
        0.0
    };
    Some((
        Interval {
            estimate: m,
            low: m - half,
            high: m + half,
        },
        rho1,
    ))
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized incomplete beta function I_x(a, b), by its continued fraction (modified
/// Lentz), on the side of x where the fraction converges fast.
fn incomplete_beta(x: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x > (a + 1.0) / (a + b + 2.0) {
        return 1.0 - incomplete_beta(1.0 - x, b, a);
    }
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut f = d;
    for m in 1..300 {
        let m = f64::from(m);
        // Even step, then odd step of the fraction.
        for num in [
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ] {
            d = 1.0 + num * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + num / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            f *= c * d;
        }
        if (c * d - 1.0).abs() < 1e-15 {
            break;
        }
    }
    front * f / a
}

/// P(T <= t) for Student's t with `df` degrees of freedom.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let tail = 0.5 * incomplete_beta(df / (df + t * t), df / 2.0, 0.5);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (p in (0, 1)), by bisection
/// on the distribution function: slow next to a closed form, but a report needs a handful.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    if p == 0.5 {
        return 0.0;
    }
    if p < 0.5 {
        return -student_t_quantile(1.0 - p, df);
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while student_t_cdf(hi, df) < p {
        hi *= 2.0;
        if hi > 1e12 {
            return f64::INFINITY;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 * hi.max(1.0) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// A line fitted by Theil–Sen: the median of the slopes between every two points with
/// different x, and the median of the residual intercepts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
}

/// Theil–Sen over `points` (x, y); None when fewer than two distinct x values.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<Line> {
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, &(x1, y1)) in points.iter().enumerate() {
        for &(x2, y2) in &points[i + 1..] {
            if x1 != x2 {
                slopes.push((y2 - y1) / (x2 - x1));
            }
        }
    }
    let slope = median_in_place(&mut slopes)?;
    let mut residuals: Vec<f64> = points.iter().map(|(x, y)| y - slope * x).collect();
    let intercept = median_in_place(&mut residuals)?;
    Some(Line { slope, intercept })
}

/// The median, reordering `v` (linear time: Theil–Sen's slopes are many).
fn median_in_place(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let (_, &mut upper, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = v[..n / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lower + upper) / 2.0)
}

/// A small, fast, seedable generator (SplitMix64): resampling needs reproducible, not
/// cryptographic, numbers.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0), without modulo bias worth speaking of for n << 2^64.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Resamples drawn by [`bootstrap`]: enough for stable 2.5% and 97.5% percentiles.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The 95% percentile-bootstrap interval of `statistic` over `groups` of observations: each
/// resample draws, within every group, as many observations as it has, with replacement
/// (rounds of one session stay in that session, so each resample keeps the design's balance
/// of sampling rates). The estimate is the statistic of the data as they are. None when the
/// statistic is undefined on the data.
pub fn bootstrap<T: Copy>(
    groups: &[Vec<T>],
    seed: u64,
    statistic: impl Fn(&[T]) -> Option<f64>,
) -> Option<Interval> {
    let all: Vec<T> = groups.iter().flatten().copied().collect();
    let estimate = statistic(&all)?;
    let mut rng = SplitMix64::new(seed);
    let mut draws = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    let mut sample = Vec::with_capacity(all.len());
    for _ in 0..BOOTSTRAP_RESAMPLES {
        sample.clear();
        for g in groups.iter().filter(|g| !g.is_empty()) {
            for _ in 0..g.len() {
                sample.push(g[rng.below(g.len())]);
            }
        }
        if let Some(s) = statistic(&sample) {
            draws.push(s);
        }
    }
    // A statistic undefined on most resamples has no interval worth giving.
    if draws.len() < BOOTSTRAP_RESAMPLES / 2 {
        return None;
    }
    Some(Interval {
        estimate,
        low: quantile(&draws, 0.025)?,
        high: quantile(&draws, 0.975)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn t_quantiles_match_the_tables() {
        // Two-sided 95% critical values of Student's t, as printed in every table.
        for (df, t) in [
            (1.0, 12.706_205),
            (2.0, 4.302_653),
            (3.0, 3.182_446),
            (5.0, 2.570_582),
            (9.0, 2.262_157),
            (10.0, 2.228_139),
            (30.0, 2.042_272),
            (1000.0, 1.962_339),
        ] {
            let q = student_t_quantile(0.975, df);
            assert!(close(q, t, 1e-5), "df {df}: {q} vs {t}");
        }
        assert!(close(student_t_quantile(0.025, 4.0), -2.776_445, 1e-5));
        assert!(close(student_t_cdf(0.0, 7.0), 0.5, 1e-12));
    }

    #[test]
    fn paired_t_interval_of_students_sleep_data() {
        // Cushny & Peebles' hours of extra sleep, as in Student (1908) and R's `sleep`:
        // t.test(extra ~ group, data = sleep, paired = TRUE) gives a mean difference of 1.58
        // with the 95% interval 0.7001142 .. 2.4598858 (group 2 - group 1).
        let g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
        let g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];
        let d: Vec<f64> = g1.iter().zip(g2).map(|(a, b)| b - a).collect();
        let i = mean_interval(&d).unwrap();
        assert!(close(i.estimate, 1.58, 1e-12));
        assert!(close(i.low, 0.700_114_2, 1e-6), "{i:?}");
        assert!(close(i.high, 2.459_885_8, 1e-6), "{i:?}");
        assert!(!i.contains(0.0));
        assert!(mean_interval(&[1.0]).is_none());
    }

    #[test]
    fn paired_ratio_is_the_geometric_mean_with_its_interval() {
        // Ratios 0.5, 1 and 2: geometric mean 1, interval symmetric in log space.
        let i = paired_ratio(&[(50.0, 100.0), (100.0, 100.0), (200.0, 100.0)]).unwrap();
        assert!(close(i.estimate, 1.0, 1e-12));
        assert!(close(i.low * i.high, 1.0, 1e-9), "{i:?}");
        assert!(i.contains(1.0));
        // A steady 10% loss in every pair: the interval collapses onto 0.9.
        let i = paired_ratio(&[(90.0, 100.0), (45.0, 50.0), (180.0, 200.0)]).unwrap();
        assert!(
            close(i.estimate, 0.9, 1e-12) && close(i.low, 0.9, 1e-9) && close(i.high, 0.9, 1e-9)
        );
        assert!(
            paired_ratio(&[(1.0, 0.0), (2.0, 1.0)]).is_none(),
            "one usable pair"
        );
    }

    #[test]
    fn theil_sen_ignores_an_outlier() {
        let pts = [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (4.0, 4.0), (5.0, 100.0)];
        let l = theil_sen(&pts).unwrap();
        // Six of the ten pairwise slopes are 1: the median is 1 whatever the outlier says.
        assert_eq!(l.slope, 1.0);
        assert_eq!(l.intercept, 0.0);
        let line: Vec<(f64, f64)> = (0..20)
            .map(|i| (f64::from(i), 3.0 + 0.5 * f64::from(i)))
            .collect();
        let l = theil_sen(&line).unwrap();
        assert!(close(l.slope, 0.5, 1e-12) && close(l.intercept, 3.0, 1e-12));
        assert!(
            theil_sen(&[(1.0, 1.0), (1.0, 2.0)]).is_none(),
            "no two distinct x"
        );
    }

    #[test]
    fn quantiles_interpolate_like_r() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(median(&v), Some(2.5));
        assert_eq!(quantile(&v, 0.25), Some(1.75));
        assert_eq!(quantile(&[5.0], 0.9), Some(5.0));
        assert_eq!(median(&[]), None);
        let mut odd = vec![5.0, 1.0, 3.0];
        assert_eq!(median_in_place(&mut odd), Some(3.0));
        let mut even = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(median_in_place(&mut even), Some(2.5));
    }

    #[test]
    fn bootstrap_is_reproducible_and_honest() {
        // Points exactly on a line: every resample gives the same slope.
        let exact: Vec<(f64, f64)> = (1..30)
            .map(|i| (f64::from(i), 2.0 * f64::from(i)))
            .collect();
        let slope = |p: &[(f64, f64)]| theil_sen(p).map(|l| l.slope);
        let i = bootstrap(&[exact], 7, slope).unwrap();
        assert_eq!((i.estimate, i.low, i.high), (2.0, 2.0, 2.0));

        // Noisy data: the same seed gives the same interval, another seed a close one, and
        // the interval of a mean is about the t-interval's width.
        let mut rng = SplitMix64::new(1);
        let noisy: Vec<f64> = (0..200)
            .map(|_| {
                // Sum of 12 uniforms - 6: a cheap standard normal.
                (0..12)
                    .map(|_| rng.next_u64() as f64 / u64::MAX as f64)
                    .sum::<f64>()
                    - 6.0
            })
            .collect();
        let mean_of = |v: &[f64]| Some(mean(v));
        let a = bootstrap(std::slice::from_ref(&noisy), 42, mean_of).unwrap();
        let b = bootstrap(std::slice::from_ref(&noisy), 42, mean_of).unwrap();
        assert_eq!(a, b);
        let t = mean_interval(&noisy).unwrap();
        let ratio = a.half_width() / t.half_width();
        assert!((0.85..1.15).contains(&ratio), "bootstrap {a:?} vs t {t:?}");
        assert!(a.contains(t.estimate));
    }

    #[test]
    fn a_drifting_series_gets_a_wider_interval_than_independent_values() {
        // The same values, once alternating around the mean (independent-looking), once in
        // two long runs (neighbours move together): the mean is the same, the interval is
        // not.
        let alternating: Vec<f64> = (0..100)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let runs: Vec<f64> = (0..100).map(|i| if i < 50 { 1.0 } else { -1.0 }).collect();
        let (a, ra) = series_mean_interval(&alternating).unwrap();
        let (b, rb) = series_mean_interval(&runs).unwrap();
        assert!(close(a.estimate, 0.0, 1e-12) && close(b.estimate, 0.0, 1e-12));
        assert!(ra < -0.9 && rb > 0.9, "{ra} {rb}");
        // Alternation may not narrow it below the plain t-interval ...
        let plain = mean_interval(&alternating).unwrap();
        assert!(close(a.half_width(), plain.half_width(), 1e-12));
        // ... and drift widens it well beyond.
        assert!(
            b.half_width() > 2.0 * plain.half_width(),
            "{b:?} vs {plain:?}"
        );
        assert!(series_mean_interval(&[1.0, 2.0]).is_none());
    }

    #[test]
    fn intervals_compare() {
        let a = Interval {
            estimate: 1.0,
            low: 0.5,
            high: 1.5,
        };
        let b = Interval {
            estimate: 2.0,
            low: 1.4,
            high: 2.6,
        };
        let c = Interval {
            estimate: 3.0,
            low: 2.7,
            high: 3.3,
        };
        assert!(a.overlaps(&b) && !a.overlaps(&c));
        assert!(!a.contains(0.0));
        let s = a.scaled(-1.0);
        assert_eq!((s.low, s.high), (-1.5, -0.5));
    }
}
