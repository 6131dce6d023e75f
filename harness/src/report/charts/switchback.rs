//! The switchback's blocks, a strip of points per mode: every block's overhead (1 − sampled
//! / unsampled throughput) jittered sideways so that equal values stay visible, the paired
//! estimate and its 95% interval drawn over them, the table's total beside them where it is
//! another figure, and the zero line. The reader sees how far single blocks scatter and how
//! much narrower the estimate over all of them is.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{Draw, PALETTE};
use crate::results::switchback;
use crate::results::{ModeSummary, Results};
use crate::stats::{Interval, SplitMix64};

/// One mode's strip: its label, its blocks' overheads and the estimate, in percent.
pub(super) struct Strip {
    pub label: String,
    pub points: Vec<f64>,
    pub estimate: Interval,
    /// The total the table gives, where it is not the paired estimate: the steady figure
    /// after a significant carry-over, or the deferred part added.
    pub total: Option<f64>,
}

/// The strips of the measured modes that have a switchback, in the table's order.
pub(super) fn strips(results: &Results, modes: &[&ModeSummary]) -> Vec<Strip> {
    modes
        .iter()
        .filter_map(|m| {
            let s = switchback::of(&results.switchbacks, m.mode)?
                .summary
                .as_ref()?;
            Some(Strip {
                label: m.mode.to_string(),
                // The blocks' log-ratios as the overhead they each measured; the estimate is
                // the paired one, the mean of these points (not the total, which adds what
                // the blocks cannot show: the deferred part, or the steady figure).
                points: s
                    .log_ratios
                    .iter()
                    .map(|lr| (1.0 - lr.exp()) * 100.0)
                    .filter(|p| p.is_finite())
                    .collect(),
                estimate: s.overhead.scaled(100.0),
                total: (s.total != s.overhead).then_some(s.total.estimate * 100.0),
            })
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// How far a point may stray sideways from its strip's centre (a strip is 1 wide).
const JITTER: f64 = 0.28;
/// Half the width of the estimate's box.
const BOX: f64 = 0.36;

/// The y range: every point, every interval and zero, with a margin.
fn y_range(strips: &[Strip]) -> (f64, f64) {
    let values = strips.iter().flat_map(|s| {
        let ends = [s.estimate.low, s.estimate.high];
        s.points.iter().copied().chain(ends).chain(s.total)
    });
    let (lo, hi) = values.fold((0f64, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = ((hi - lo) * 0.08).max(1.0);
    (lo - pad, hi + pad)
}

pub(super) fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, strips: &[Strip]) -> Draw
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let n = strips.len().max(1);
    let (lo, hi) = y_range(strips);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "overhead of each switchback block, and the paired estimate",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                strips
                    .get(i as usize)
                    .map(|s| s.label.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("% throughput lost while sampling (box: 95% interval)")
        .draw()?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(-0.5, 0.0), (n as f64 - 0.5, 0.0)],
        BLACK.mix(0.6).stroke_width(1),
    )))?;
    for (k, strip) in strips.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let x = k as f64;
        // The same jitter every time the report is rendered.
        let mut rng = SplitMix64::new(k as u64 + 1);
        chart.draw_series(strip.points.iter().map(|&y| {
            let dx = (rng.below(1001) as f64 / 1000.0 - 0.5) * 2.0 * JITTER;
            Circle::new((x + dx, y), 3, color.mix(0.55).filled())
        }))?;
        let e = strip.estimate;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x - BOX, e.low), (x + BOX, e.high)],
            BLACK.stroke_width(2),
        )))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x - BOX, e.estimate), (x + BOX, e.estimate)],
            BLACK.stroke_width(3),
        )))?;
    }
    let totals: Vec<(f64, f64)> = strips
        .iter()
        .enumerate()
        .filter_map(|(k, s)| Some((k as f64 + BOX + 0.06, s.total?)))
        .collect();
    if !totals.is_empty() {
        // Explained in the chart's title on the page: a legend box would hide points.
        let mark = RGBColor(200, 0, 0);
        chart.draw_series(
            totals
                .into_iter()
                .map(|p| Cross::new(p, 6, mark.stroke_width(2))),
        )?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Results {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results/switchback/results.json");
        Results::read(&path).unwrap()
    }

    #[test]
    fn strips_hold_every_block_and_the_total_where_it_differs() {
        let r = fixture();
        let modes: Vec<&ModeSummary> = r.modes.iter().collect();
        let strips = strips(&r, &modes);
        let labels: Vec<&str> = strips.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["none", "fp", "dwarf:8k"]);
        for s in &strips {
            // The estimate is the mean log-ratio's overhead: inside the points' range.
            let (lo, hi) = s
                .points
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), &p| (a.min(p), b.max(p)));
            assert!(lo < s.estimate.estimate && s.estimate.estimate < hi);
        }
        // dwarf:8k's total is its steady figure plus the deferred part; the others' is the
        // paired estimate itself.
        assert!(strips[0].total.is_none() && strips[1].total.is_none());
        assert!(strips[2].total.unwrap() < 0.0);
        let (lo, hi) = y_range(&strips);
        assert!(strips
            .iter()
            .flat_map(|s| s.points.iter().copied().chain(s.total))
            .all(|p| lo < p && p < hi));
        assert!(lo < 0.0 && hi > 0.0);
    }
}
