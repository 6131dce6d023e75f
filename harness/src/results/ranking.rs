//! Where the measured overheads rank two modes against their prices, and why.
//!
//! The price list says which mode's sample costs more. When a workload's measured overhead
//! says the opposite, the table must not leave the reader to believe it: each such pair gets
//! a sentence with the reason the figures allow, in this order:
//!
//! 1. the two overheads' 95% intervals overlap: the ranking is within noise (these pairs are
//!    gathered into one sentence per overhead, since none of them is a ranking);
//! 2. the mode that looks cheaper lost samples: the kernel skipped the work for them, so it
//!    did less (its cost per sample *taken* is the fair comparison, and it is given);
//! 3. neither: the ranking contradicts the price list beyond both intervals, said as such.
//!
//! The overheads over `none` rank every mode against sampling alone by their sign: one below
//! zero beyond its interval gets the same reasons (2 or 3).

use super::metric::Metric;
use super::mode::ModeSummary;
use crate::mode::UnwindMode;
use crate::stats::Interval;

/// A lost share above this is reason enough for a mode to look cheaper than it is.
const LOSSY: f64 = 0.01;

/// The overheads whose ranking is checked.
const RANKED: [(Metric, &str); 3] = [
    (Metric::OverheadThroughput, "throughput overhead"),
    (Metric::OverheadCpuPerIo, "CPU per I/O"),
    (Metric::CostPerSampleUs, "cost per sample"),
];

/// The overheads over `none`, whose sign alone ranks a mode against sampling without unwinding.
const BELOW_NONE: [(Metric, &str); 2] = [
    (
        Metric::OverheadThroughputVsNone,
        "throughput overhead over none",
    ),
    (Metric::OverheadCpuPerIoVsNone, "CPU per I/O over none"),
];

/// The whole price of a sample at this workload's stacks, from the model (ns).
fn price(m: &ModeSummary) -> Option<Interval> {
    let p = &m.model.as_ref()?.prediction;
    let (k, r) = (p.kernel_ns?, p.recorder_ns?);
    Some(Interval {
        estimate: k.estimate + r.estimate,
        low: k.low + r.low,
        high: k.high + r.high,
    })
}

/// A figure with its interval, or its min–max where it has none.
fn figure(m: &ModeSummary, metric: Metric) -> Option<Interval> {
    let s = m.figure(metric)?;
    Some(s.interval.unwrap_or(Interval {
        estimate: s.median,
        low: s.min,
        high: s.max,
    }))
}

fn pct(i: &Interval, metric: Metric) -> String {
    if metric == Metric::CostPerSampleUs {
        format!("{:.1} µs [{:.1}–{:.1}]", i.estimate, i.low, i.high)
    } else {
        format!(
            "{:.1}% [{:.1}–{:.1}%]",
            i.estimate * 100.0,
            i.low * 100.0,
            i.high * 100.0
        )
    }
}

/// Why `dear` may look cheaper than it is: it lost samples (the figures that are not per
/// sample taken), or nothing: a contradiction.
fn reason(dear: &ModeSummary, metric: Metric) -> String {
    let lost = dear.median(Metric::LostShare).unwrap_or(0.0);
    if lost > LOSSY && metric != Metric::CostPerSampleUs {
        format!(
            "{} lost {:.1}% of its samples, so the kernel did less work for it; per sample taken it cost {}",
            dear.mode,
            lost * 100.0,
            figure(dear, Metric::CostPerSampleUs)
                .map_or("–".into(), |c| pct(&c, Metric::CostPerSampleUs))
        )
    } else {
        "beyond both intervals and without lost samples to explain it: the workload contradicts the price list here (see the model table)".to_string()
    }
}

/// The sentences for every pair of measured modes whose overhead ranks them against their
/// prices: one per pair with a reason (lost samples, or a contradiction), one per overhead
/// gathering the pairs whose intervals overlap (no ranking at all), and one per mode whose
/// overhead over `none` is below zero beyond its interval although its sample costs more.
pub fn explain(modes: &[ModeSummary]) -> Vec<String> {
    let priced: Vec<(&ModeSummary, Interval)> = modes
        .iter()
        .filter(|m| m.measured())
        .filter_map(|m| Some((m, price(m)?)))
        .collect();
    let mut out = Vec::new();
    let mut within_noise: Vec<(&str, Vec<String>)> =
        RANKED.iter().map(|(_, what)| (*what, Vec::new())).collect();
    for (cheap, cheap_price) in &priced {
        for (dear, dear_price) in &priced {
            // Only pairs the price list tells apart: the cheap one's whole interval below.
            if cheap_price.high >= dear_price.low {
                continue;
            }
            for (k, (metric, what)) in RANKED.iter().enumerate() {
                let (Some(a), Some(b)) = (figure(cheap, *metric), figure(dear, *metric)) else {
                    continue;
                };
                if a.estimate <= b.estimate {
                    continue;
                }
                if a.overlaps(&b) {
                    within_noise[k]
                        .1
                        .push(format!("{} above {}", cheap.mode, dear.mode));
                    continue;
                }
                out.push(format!(
                    "{} shows a higher {what} than {} ({} against {}) although its sample costs less ({:.1} against {:.1} µs): {}.",
                    cheap.mode,
                    dear.mode,
                    pct(&a, *metric),
                    pct(&b, *metric),
                    cheap_price.estimate / 1e3,
                    dear_price.estimate / 1e3,
                    reason(dear, *metric)
                ));
            }
        }
    }
    out.extend(below_none(&priced));
    for (what, pairs) in within_noise.into_iter().filter(|(_, p)| !p.is_empty()) {
        out.push(format!(
            "Not rankings, within noise (the two 95% intervals overlap): a higher {what} for {} than their prices say.",
            pairs.join(", ")
        ));
    }
    out
}

/// The overheads over `none` that say a mode costs less than sampling alone, beyond their
/// interval, although the mode's sample costs more than `none`'s. (An interval holding 0 is
/// already "within noise" in its cell.)
fn below_none(priced: &[(&ModeSummary, Interval)]) -> Vec<String> {
    let Some((_, none_price)) = priced.iter().find(|(m, _)| m.mode.mode == UnwindMode::None) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (m, p) in priced.iter().filter(|(_, p)| p.low > none_price.high) {
        for (metric, what) in BELOW_NONE {
            let Some(f) = figure(m, metric).filter(|f| f.high < 0.0) else {
                continue;
            };
            out.push(format!(
                "{} shows a {what} of {} although its sample costs more than none's ({:.1} against {:.1} µs): {}.",
                m.mode,
                pct(&f, metric),
                p.estimate / 1e3,
                none_price.estimate / 1e3,
                reason(m, metric)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::model::Prediction;
    use crate::record::Recording;
    use crate::results::model::ModelCheck;
    use crate::results::{ModeStatus, Spread};

    fn interval(estimate: f64, low: f64, high: f64) -> Interval {
        Interval {
            estimate,
            low,
            high,
        }
    }

    fn mode(label: &str, price_ns: f64, overhead: Interval, lost: f64) -> ModeSummary {
        let mut m = ModeSummary::pending(label.parse::<Recording>().unwrap());
        m.status = ModeStatus::Ok;
        let spread = |x: f64| Spread::of([x]).unwrap();
        m.figures.insert(
            Metric::OverheadThroughput,
            spread(overhead.estimate).with_interval(Some(overhead)),
        );
        m.figures.insert(Metric::LostShare, spread(lost));
        m.model = Some(ModelCheck {
            samples_taken_per_s: 8000.0,
            asked_mb_per_s: 0.0,
            written_mb_per_s: 0.0,
            perf_cpus: 0.0,
            limit: None,
            prediction: Prediction {
                kernel_ns: Some(interval(price_ns, price_ns * 0.95, price_ns * 1.05)),
                recorder_ns: Some(interval(0.0, 0.0, 0.0)),
                ..Prediction::default()
            },
            checks: vec![],
        });
        m
    }

    #[test]
    fn every_ranking_against_the_prices_gets_its_reason() {
        // fp is cheaper per sample than dwarf:32k, but shows more overhead.
        let overlapping = [
            mode("fp", 20_000.0, interval(0.16, -0.06, 0.22), 0.0),
            mode("dwarf:32k", 60_000.0, interval(0.05, 0.03, 0.17), 0.37),
        ];
        let e = explain(&overlapping);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("Not rankings, within noise"), "{e:?}");
        assert!(
            e[0].contains("a higher throughput overhead for fp above dwarf:32k"),
            "{e:?}"
        );

        let lossy = [
            mode("fp", 20_000.0, interval(0.16, 0.14, 0.18), 0.0),
            mode("dwarf:32k", 60_000.0, interval(0.05, 0.03, 0.07), 0.37),
        ];
        let e = explain(&lossy);
        assert!(
            e[0].contains("dwarf:32k lost 37.0% of its samples"),
            "{e:?}"
        );

        let contradiction = [
            mode("fp", 20_000.0, interval(0.16, 0.14, 0.18), 0.0),
            mode("dwarf:32k", 60_000.0, interval(0.05, 0.03, 0.07), 0.0),
        ];
        assert!(explain(&contradiction)[0].contains("contradicts the price list"));

        // In the order of the prices, or prices not told apart: nothing to explain.
        let in_order = [
            mode("fp", 20_000.0, interval(0.02, 0.01, 0.03), 0.0),
            mode("dwarf:32k", 60_000.0, interval(0.05, 0.03, 0.07), 0.0),
        ];
        assert!(explain(&in_order).is_empty());
        let close = [
            mode("fp", 20_000.0, interval(0.16, 0.14, 0.18), 0.0),
            mode("dwarf:8k", 20_500.0, interval(0.05, 0.03, 0.07), 0.0),
        ];
        assert!(explain(&close).is_empty());
    }

    #[test]
    fn a_mode_cheaper_than_sampling_alone_gets_its_reason() {
        let over_none = |m: &mut ModeSummary, x: Interval| {
            m.figures.insert(
                Metric::OverheadThroughputVsNone,
                Spread::of([x.estimate]).unwrap().with_interval(Some(x)),
            );
        };
        let none = mode("none", 13_000.0, interval(0.10, -0.24, 0.35), 0.0);
        // dwarf:32k below none beyond its interval, having lost a quarter of its samples.
        let mut lossy = mode("dwarf:32k", 90_000.0, interval(-0.16, -0.84, 0.27), 0.25);
        over_none(&mut lossy, interval(-0.29, -0.54, -0.077));
        let e = explain(&[none.clone(), lossy.clone()]);
        let line = e
            .iter()
            .find(|l| l.contains("throughput overhead over none"))
            .unwrap_or_else(|| panic!("{e:?}"));
        assert!(line.starts_with("dwarf:32k shows a throughput overhead over none of -29.0%"));
        assert!(
            line.contains("dwarf:32k lost 25.0% of its samples"),
            "{line}"
        );
        // Without lost samples it is a contradiction; with an interval holding 0, the cell's
        // "within noise" says it all.
        let mut clean = lossy.clone();
        clean
            .figures
            .insert(Metric::LostShare, Spread::of([0.0]).unwrap());
        let e = explain(&[none.clone(), clean]);
        assert!(
            e.iter().any(|l| l.contains("contradicts the price list")),
            "{e:?}"
        );
        over_none(&mut lossy, interval(-0.29, -0.54, 0.05));
        let e = explain(&[none, lossy]);
        assert!(!e.iter().any(|l| l.contains("over none")), "{e:?}");
    }
}
