//! Where the measured overheads rank two modes against their prices, and why.
//!
//! The price list says which mode's sample costs more. When a workload's measured overhead
//! says the opposite, the table must not leave the reader to believe it: each such pair gets
//! a sentence with the reason the figures allow, in this order:
//!
//! 1. the two overheads' 95% intervals overlap: the ranking is within noise;
//! 2. the mode that looks cheaper lost samples: the kernel skipped the work for them, so it
//!    did less (its cost per sample *taken* is the fair comparison, and it is given);
//! 3. neither: the ranking contradicts the price list beyond both intervals, said as such.

use super::metric::Metric;
use super::mode::ModeSummary;
use crate::stats::Interval;

/// A lost share above this is reason enough for a mode to look cheaper than it is.
const LOSSY: f64 = 0.01;

/// The overheads whose ranking is checked.
const RANKED: [(Metric, &str); 3] = [
    (Metric::OverheadThroughput, "throughput overhead"),
    (Metric::OverheadCpuPerIo, "CPU per I/O"),
    (Metric::CostPerSampleUs, "cost per sample"),
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

/// One sentence per pair of measured modes whose overhead ranks them against their prices.
pub fn explain(modes: &[ModeSummary]) -> Vec<String> {
    let priced: Vec<(&ModeSummary, Interval)> = modes
        .iter()
        .filter(|m| m.measured())
        .filter_map(|m| Some((m, price(m)?)))
        .collect();
    let mut out = Vec::new();
    for (cheap, cheap_price) in &priced {
        for (dear, dear_price) in &priced {
            // Only pairs the price list tells apart: the cheap one's whole interval below.
            if cheap_price.high >= dear_price.low {
                continue;
            }
            for (metric, what) in RANKED {
                let (Some(a), Some(b)) = (figure(cheap, metric), figure(dear, metric)) else {
                    continue;
                };
                if a.estimate <= b.estimate {
                    continue;
                }
                let head = format!(
                    "{} shows a higher {what} than {} ({} against {}) although its sample costs less ({:.1} against {:.1} µs)",
                    cheap.mode,
                    dear.mode,
                    pct(&a, metric),
                    pct(&b, metric),
                    cheap_price.estimate / 1e3,
                    dear_price.estimate / 1e3
                );
                let lost = dear.median(Metric::LostShare).unwrap_or(0.0);
                let why = if a.overlaps(&b) {
                    "their intervals overlap: within noise, not a ranking".to_string()
                } else if lost > LOSSY && metric != Metric::CostPerSampleUs {
                    format!(
                        "{} lost {:.1}% of its samples, so the kernel did less work for it; per sample taken it cost {}",
                        dear.mode,
                        lost * 100.0,
                        figure(dear, Metric::CostPerSampleUs)
                            .map_or("–".into(), |c| pct(&c, Metric::CostPerSampleUs))
                    )
                } else {
                    "beyond both intervals and without lost samples to explain it: the workload contradicts the price list here (see the model table)".to_string()
                };
                out.push(format!("{head}: {why}."));
            }
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
        assert!(
            e[0].starts_with("fp shows a higher throughput overhead than dwarf:32k"),
            "{e:?}"
        );
        assert!(e[0].contains("within noise"), "{e:?}");

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
}
