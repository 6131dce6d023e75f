//! Charts of a run with plotters, as SVG (no fonts needed; embedded in report.html as is):
//! perf.data size per mode (log scale), lost chunks, the overheads and stack completeness with
//! min–max whiskers, the switchback's blocks, and the distribution of the server's stack
//! depth.

use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::price::{ModePrice, PriceList};
use crate::results::{Metric, ModeSummary, Results, Spread};
use crate::stats::Interval;

mod depth;
mod style;
mod switchback;
use depth::depth;
pub use style::legend;
use style::{Draw, PALETTE};

/// One chart: a file stem, a title for the page, and the SVG text.
pub struct Chart {
    pub name: &'static str,
    pub title: &'static str,
    pub svg: String,
}

const SIZE: (u32, u32) = (660, 400);

/// One value per mode with its spread.
struct Bar {
    label: String,
    value: f64,
    spread: Option<Spread>,
}

fn bars<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    bars: &[Bar],
    log: bool,
) -> Draw
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let n = bars.len().max(1) as i32;
    let top = bars
        .iter()
        .map(|b| b.spread.map_or(b.value, |s| s.max).max(b.value))
        .fold(0f64, f64::max);
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70);
    let label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => bars
            .get(*i as usize)
            .map(|b| b.label.clone())
            .unwrap_or_default(),
        SegmentValue::Last => String::new(),
    };
    if log {
        let lo = bars
            .iter()
            .map(|b| b.spread.map_or(b.value, |s| s.min).min(b.value))
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let lo = if lo.is_finite() { lo / 2.0 } else { 0.1 };
        let mut chart = builder.build_cartesian_2d(
            (0..n - 1).into_segmented(),
            (lo..(top * 2.0).max(lo * 10.0)).log_scale(),
        )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len())
            .x_label_formatter(&label)
            .y_desc(y_desc)
            .draw()?;
        draw_bars(&mut chart, bars, lo)?;
    } else {
        let mut chart =
            builder.build_cartesian_2d((0..n - 1).into_segmented(), 0f64..(top * 1.15).max(1.0))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len())
            .x_label_formatter(&label)
            .y_desc(y_desc)
            .draw()?;
        draw_bars(&mut chart, bars, 0.0)?;
    }
    root.present()?;
    Ok(())
}

fn draw_bars<DB: DrawingBackend, Y>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<SegmentedCoord<plotters::coord::types::RangedCoordi32>, Y>,
    >,
    bars: &[Bar],
    base: f64,
) -> Draw
where
    DB::ErrorType: 'static,
    Y: Ranged<ValueType = f64>,
{
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let i = i as i32;
        let mut r = Rectangle::new(
            [
                (SegmentValue::Exact(i), base),
                (SegmentValue::Exact(i + 1), b.value),
            ],
            PALETTE[i as usize % PALETTE.len()].mix(0.75).filled(),
        );
        r.set_margin(0, 0, 14, 14);
        r
    }))?;
    chart.draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
        let s = b.spread?;
        (s.n >= 2).then(|| {
            PathElement::new(
                vec![
                    (SegmentValue::CenterOf(i as i32), s.min.max(base)),
                    (SegmentValue::CenterOf(i as i32), s.max),
                ],
                BLACK.stroke_width(2),
            )
        })
    }))?;
    Ok(())
}

fn to_svg(draw: impl FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> Draw) -> Option<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        draw(root).ok()?;
    }
    Some(svg)
}

/// A bar's height and its whisker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Whisker {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

/// Bars of one name, one per group (None where the group has none).
pub struct Series {
    pub name: String,
    pub bars: Vec<Option<Whisker>>,
}

/// Grouped bars with whiskers: one group per label, one bar per series in each.
pub struct Grouped<'a> {
    pub caption: &'a str,
    pub y_desc: &'a str,
    pub labels: Vec<String>,
    pub series: Vec<Series>,
}

impl Grouped<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Draw
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let whiskers = self.series.iter().flat_map(|s| s.bars.iter().flatten());
        let lo = whiskers
            .clone()
            .map(|w| w.low.min(w.value))
            .fold(0f64, f64::min);
        let hi = whiskers.map(|w| w.high.max(w.value)).fold(1f64, f64::max);
        let n = self.labels.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(self.caption, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (lo * 1.1)..(hi * 1.15))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    self.labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(self.y_desc)
            .draw()?;
        let width = 0.8 / self.series.len().max(1) as f64;
        for (k, series) in self.series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let offset = -0.4 + width * (k as f64 + 0.5);
            let placed: Vec<(f64, Whisker)> = series
                .bars
                .iter()
                .enumerate()
                .filter_map(|(i, w)| Some((i as f64 + offset, (*w)?)))
                .collect();
            chart
                .draw_series(placed.iter().map(|&(x, w)| {
                    Rectangle::new(
                        [(x - width * 0.45, 0.0), (x + width * 0.45, w.value)],
                        color.mix(0.8).filled(),
                    )
                }))?
                .label(series.name.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
            chart.draw_series(
                placed
                    .iter()
                    .filter(|(_, w)| w.low < w.high)
                    .map(|&(x, w)| {
                        PathElement::new(vec![(x, w.low), (x, w.high)], BLACK.stroke_width(1))
                    }),
            )?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present()?;
        Ok(())
    }

    /// The chart as SVG; None when no bar has a value.
    pub fn svg(&self) -> Option<String> {
        let any = self
            .series
            .iter()
            .any(|s| s.bars.iter().any(Option::is_some));
        any.then(|| to_svg(|root| self.draw(root)))?
    }
}

/// The overheads `series` of every mode, in percent: grouped bars with their 95% intervals
/// as whiskers (min–max for files made before intervals).
fn overheads(modes: &[&ModeSummary], series: &[(Metric, &str)]) -> Option<String> {
    let with_intervals = modes.iter().any(|m| {
        series
            .iter()
            .any(|(metric, _)| m.figure(*metric).is_some_and(|s| s.interval.is_some()))
    });
    Grouped {
        caption: "overheads against the unprofiled baseline",
        y_desc: if with_intervals {
            "% (95% intervals)"
        } else {
            "% (median, min–max)"
        },
        labels: modes.iter().map(|m| m.mode.to_string()).collect(),
        series: series
            .iter()
            .map(|(metric, name)| Series {
                name: name.to_string(),
                bars: modes
                    .iter()
                    .map(|m| {
                        let s = m.figure(*metric)?.scaled(100.0);
                        let (low, high) = s.interval.map_or((s.min, s.max), |i| (i.low, i.high));
                        Some(Whisker {
                            value: s.value(),
                            low,
                            high,
                        })
                    })
                    .collect(),
            })
            .collect(),
    }
    .svg()
}

/// prices.svg: what one sample costs per mode, the kernel's part and the whole (kernel and
/// recorder), a bar per stack with its 95% interval as whisker. None when nothing was priced.
pub fn prices(list: &PriceList) -> Option<String> {
    let modes = list.modes();
    let whisker = |i: Interval| Whisker {
        value: i.estimate / 1e3,
        low: i.low / 1e3,
        high: i.high / 1e3,
    };
    let mut series = Vec::new();
    for v in list.variants() {
        for (part, pick) in [
            (
                "kernel",
                (|p: &ModePrice| p.kernel_ns) as fn(&ModePrice) -> Option<Interval>,
            ),
            ("whole", |p: &ModePrice| p.total_ns),
        ] {
            series.push(Series {
                name: format!("{part}, {} stack", v.name()),
                bars: modes
                    .iter()
                    .map(|m| list.price(m, v).and_then(pick).map(whisker))
                    .collect(),
            });
        }
    }
    Grouped {
        caption: "what one sample costs (95% intervals)",
        y_desc: "µs per sample",
        labels: modes,
        series,
    }
    .svg()
}

/// Completeness against DWARF copy size, one line per process, from the sweep; the real
/// recordings' measurements as circles on the lines they check.
fn sweep_curve<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    sweep: &crate::sweep::SweepReport,
) -> Draw
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let max_kib = f64::from(sweep.copy_bytes) / 1024.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "complete stacks against DWARF copy size",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_kib, 0f64..105f64)?;
    chart
        .configure_mesh()
        .x_desc("copy size (KiB)")
        .y_desc("% of samples complete")
        .draw()?;
    let mut procs: Vec<_> = sweep.processes.iter().collect();
    procs.sort_by_key(|(_, p)| std::cmp::Reverse(p.user_samples));
    for (k, (comm, p)) in procs.iter().take(PALETTE.len()).enumerate() {
        let color = PALETTE[k];
        let pts: Vec<(f64, f64)> = p
            .curve
            .iter()
            .map(|c| (c[0] / 1024.0, c[1] * 100.0))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(comm.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
        let measured: Vec<(f64, f64)> = sweep
            .check
            .iter()
            .filter(|c| &c.process == *comm)
            .filter_map(|c| Some((f64::from(c.copy_bytes) / 1024.0, c.measured? * 100.0)))
            .collect();
        chart.draw_series(
            measured
                .into_iter()
                .map(|p| Circle::new(p, 5, color.stroke_width(2))),
        )?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    root.present()?;
    Ok(())
}

/// What a chart draws.
enum Kind {
    /// One bar per mode: a figure's median times `scale`, min–max whiskers.
    Bars {
        metric: Metric,
        scale: f64,
        caption: &'static str,
        axis: &'static str,
        log: bool,
    },
    /// These overheads side by side for every mode, in percent.
    Overheads(&'static [(Metric, &'static str)]),
    /// The switchback's blocks, a strip of points per mode, with the estimate.
    Switchback,
    /// The server's stack depth distribution, a line per mode.
    Depth,
    /// Completeness against DWARF copy size, from the sweep.
    Sweep,
    /// What one sample costs per mode, from the price list.
    Prices,
}

/// One chart: its file stem, its title on the page, and what it draws.
struct ChartDef {
    name: &'static str,
    title: &'static str,
    kind: Kind,
}

/// Every chart a run can have, in the order the reports show them.
const CHARTS: &[ChartDef] = &[
    ChartDef {
        name: "perf-data-size",
        title: "perf.data size",
        kind: Kind::Bars {
            metric: Metric::PerfDataBytes,
            scale: 1e-6,
            caption: "perf.data size per mode",
            axis: "MB (log scale)",
            log: true,
        },
    },
    ChartDef {
        name: "lost-chunks",
        title: "Lost chunks",
        kind: Kind::Bars {
            metric: Metric::LostChunks,
            scale: 1.0,
            caption: "lost chunks per mode",
            axis: "PERF_RECORD_LOST records",
            log: false,
        },
    },
    ChartDef {
        name: "overheads",
        title: "Overheads",
        kind: Kind::Overheads(&[
            (Metric::OverheadThroughput, "throughput"),
            (Metric::OverheadPerfCpu, "perf CPU"),
            (Metric::OverheadSampleShare, "sample share"),
            (Metric::OverheadCpuPerIo, "CPU per I/O"),
        ]),
    },
    ChartDef {
        name: "switchback",
        title: "The overhead of every switchback block (points), the paired estimate and its 95% interval (box), the table's total where it is another figure (×)",
        kind: Kind::Switchback,
    },
    ChartDef {
        name: "prices",
        title: "What one sample costs (price list)",
        kind: Kind::Prices,
    },
    ChartDef {
        name: "completeness",
        title: "Stack completeness",
        kind: Kind::Bars {
            metric: Metric::Completeness,
            scale: 100.0,
            caption: "server stacks reaching a real bottom",
            axis: "% of samples",
            log: false,
        },
    },
    ChartDef {
        name: "stack-depth",
        title: "Stack depth",
        kind: Kind::Depth,
    },
    ChartDef {
        name: "sweep",
        title: "Completeness against copy size (circles: real recordings)",
        kind: Kind::Sweep,
    },
];

impl ChartDef {
    /// The chart's SVG, or None when the run has nothing for it.
    fn draw(&self, results: &Results, modes: &[&ModeSummary]) -> Option<String> {
        match &self.kind {
            Kind::Bars {
                metric,
                scale,
                caption,
                axis,
                log,
            } => {
                let values: Vec<Bar> = modes
                    .iter()
                    .filter_map(|m| {
                        let s = m.figure(*metric)?.scaled(*scale);
                        Some(Bar {
                            label: m.mode.to_string(),
                            value: s.median,
                            spread: Some(s),
                        })
                    })
                    .collect();
                (!values.is_empty())
                    .then(|| to_svg(|root| bars(root, caption, axis, &values, *log)))?
            }
            Kind::Overheads(series) => overheads(modes, series),
            Kind::Switchback => {
                let strips = switchback::strips(results, modes);
                (!strips.is_empty()).then(|| to_svg(|root| switchback::draw(root, &strips)))?
            }
            Kind::Depth => {
                let with_depth: Vec<&ModeSummary> = modes
                    .iter()
                    .copied()
                    .filter(|m| !m.depth_histogram.is_empty())
                    .collect();
                (!with_depth.is_empty()).then(|| to_svg(|root| depth(root, &with_depth)))?
            }
            Kind::Sweep => {
                let sweep = results.sweep.as_ref()?;
                to_svg(|root| sweep_curve(root, sweep))
            }
            Kind::Prices => prices(results.prices.as_ref()?),
        }
    }
}

/// Every chart this run has data for.
pub fn render_all(results: &Results) -> Vec<Chart> {
    let modes: Vec<&ModeSummary> = results.modes.iter().filter(|m| m.measured()).collect();
    CHARTS
        .iter()
        .filter_map(|c| {
            Some(Chart {
                name: c.name,
                title: c.title,
                svg: c.draw(results, &modes)?,
            })
        })
        .collect()
}
