//! The distribution of the server's stack depth, one line per mode, on an axis that ends
//! where the data does.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{legend, Draw, PALETTE};
use crate::results::ModeSummary;

/// Where the depth axis ends: past the depth that 99.9% of every mode's samples stay within,
/// with a little room. A few samples at perf's 127-frame limit would otherwise stretch the
/// axis to 127 while the data ends near 30.
fn depth_axis_end(modes: &[&ModeSummary]) -> u32 {
    let covered = |m: &ModeSummary| {
        let total: u64 = m.depth_histogram.values().sum();
        let mut seen = 0;
        for (&depth, &n) in &m.depth_histogram {
            seen += n;
            if seen as f64 >= total as f64 * 0.999 {
                return depth;
            }
        }
        0
    };
    let end = modes.iter().map(|m| covered(m)).max().unwrap_or(1);
    (end + end / 10 + 2).max(1)
}

/// The share of the server's samples at each stack depth, one line per mode.
pub(super) fn depth<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    modes: &[&ModeSummary],
) -> Draw
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let deepest = modes
        .iter()
        .filter_map(|m| m.depth_histogram.keys().next_back().copied())
        .max()
        .unwrap_or(1)
        .max(1);
    let max_depth = depth_axis_end(modes).min(deepest);
    let shares: Vec<Vec<(u32, f64)>> = modes
        .iter()
        .map(|m| {
            let total: u64 = m.depth_histogram.values().sum();
            (0..=max_depth)
                .map(|d| {
                    let n = *m.depth_histogram.get(&d).unwrap_or(&0);
                    (
                        d,
                        if total == 0 {
                            0.0
                        } else {
                            n as f64 / total as f64 * 100.0
                        },
                    )
                })
                .collect()
        })
        .collect();
    let top = shares
        .iter()
        .flatten()
        .map(|&(_, v)| v)
        .fold(1f64, f64::max);
    let caption = if max_depth < deepest {
        format!("stack depth of the server's samples (axis cut at {max_depth}: the deepest 0.1% reach {deepest})")
    } else {
        "stack depth of the server's samples".to_string()
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0u32..max_depth + 1, 0f64..top * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("frames per sample")
        .y_desc("% of samples")
        .draw()?;
    for (k, (m, pts)) in modes.iter().zip(shares).enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(m.mode.to_string())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The axis ends past 99.9% of the samples, not at the deepest one.
    #[test]
    fn a_few_samples_at_perfs_limit_do_not_stretch_the_axis() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results/results.json");
        let mut results = crate::results::Results::read(&path).unwrap();
        let m = &mut results.modes[1];
        m.depth_histogram.clear();
        for d in 5..=30 {
            m.depth_histogram.insert(d, 10_000);
        }
        m.depth_histogram.insert(127, 3);
        let end = depth_axis_end(&[&results.modes[1]]);
        assert!((30..40).contains(&end), "{end}");
        let svg = super::super::render_all(&results)
            .into_iter()
            .find(|c| c.name == "stack-depth")
            .expect("a depth chart")
            .svg;
        assert!(svg.contains("axis cut at"), "the cut is said");
    }
}
