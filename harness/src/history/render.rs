//! history.md, history.html and the trend charts (one per host, workload and metric; a line
//! per mode; regressions circled).

use std::fmt::Write as _;

use plotters::prelude::*;

use super::detect::Verdict;
use super::model::{Flag, History};
use crate::report::charts::legend;
use crate::report::html::esc;
use crate::results::metric::{self, Metric, Unit};

impl Flag {
    pub fn line(&self) -> String {
        format!(
            "REGRESSION {} / {} / {}: {} {} against a baseline of {}{} (run {})",
            self.host,
            self.workload,
            self.mode,
            self.metric,
            value(self.metric, self.latest),
            value(self.metric, self.baseline),
            change(self.metric, self.change, self.change_relative)
                .map(|c| format!(" ({c})"))
                .unwrap_or_default(),
            self.run.display()
        )
    }
}

/// A change as people read it: shares in points, everything else relative to its baseline.
pub fn change(metric: Metric, change: Option<f64>, relative: Option<f64>) -> Option<String> {
    match metric.def().unit {
        Unit::Share => change.map(|c| format!("{:+.1} points", c * 100.0)),
        _ => relative.map(|c| format!("{:+.1}%", c * 100.0)),
    }
}

/// A metric's value as people read it.
pub fn value(metric: Metric, v: f64) -> String {
    match metric.def().unit {
        Unit::Share => format!("{:.2}%", v * 100.0),
        Unit::MbPerS => format!("{v:.1} MB/s"),
        Unit::Seconds => format!("{v:.2} s"),
        Unit::Mib => format!("{v:.0} MiB"),
        Unit::Micros => format!("{v:.2} µs"),
        Unit::Rate => format!("{v:.0}/s"),
        Unit::Bytes | Unit::Count | Unit::Frames => format!("{v:.0}"),
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The chart name of a group's metric.
pub fn chart_name(host: &str, workload: &str, metric: &str) -> String {
    let host = slug(host.split(' ').next().unwrap_or(host));
    format!("{host}-{}-{}", slug(workload), slug(metric))
}

/// Regressions per host and across hosts: a headline (how many, on how many of the hosts)
/// and a line per host, `HOST: none` or `HOST: N — WORKLOAD: MODE METRIC, ...`.
pub fn by_host(h: &History) -> (String, Vec<String>) {
    let hosts = h.regressions_by_host();
    let hit = hosts.iter().filter(|(_, f)| !f.is_empty()).count();
    let headline = match h.regressions.len() {
        0 => format!("No regressions on any of the {} host(s).", hosts.len()),
        n => format!(
            "{n} regression(s) across {} host(s), on {hit} of them.",
            hosts.len()
        ),
    };
    let lines = hosts
        .iter()
        .map(|(host, flags)| {
            if flags.is_empty() {
                return format!("{host}: none");
            }
            // WORKLOAD -> "MODE METRIC" items, in the order flagged.
            let mut by_workload: Vec<(&str, Vec<String>)> = Vec::new();
            for f in flags {
                let item = format!("{} {}", f.mode, f.metric);
                match by_workload.iter_mut().find(|(w, _)| *w == f.workload) {
                    Some((_, items)) => items.push(item),
                    None => by_workload.push((&f.workload, vec![item])),
                }
            }
            let what: Vec<String> = by_workload
                .iter()
                .map(|(w, items)| format!("{w}: {}", items.join(", ")))
                .collect();
            format!("{host}: {} — {}", flags.len(), what.join("; "))
        })
        .collect();
    (headline, lines)
}

fn verdict_text(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Regressed) => "REGRESSED",
        Some(Verdict::Improved) => "improved",
        Some(Verdict::Steady) => "steady",
        Some(Verdict::Insufficient) | None => "too few runs",
    }
}

pub fn markdown(h: &History) -> String {
    let mut o = format!(
        "# unwindbench history — {}\n\n{} run(s) read, {} file(s) skipped. Baseline: median of the last {} runs on the same host; flagged when worse by more than {} MADs, {:.0}% (shares: in points only) and the metric's smallest step.\n\n",
        h.generated_at,
        h.runs_read,
        h.skipped.len(),
        h.thresholds.window,
        h.thresholds.mad_k,
        h.thresholds.min_relative * 100.0
    );
    if h.regressions.is_empty() {
        o.push_str("**No regressions.**\n");
    } else {
        let _ = writeln!(o, "## Regressions ({})\n", h.regressions.len());
        for r in &h.regressions {
            let _ = writeln!(o, "- {}", r.line().trim_start_matches("REGRESSION "));
        }
    }
    let (headline, hosts) = by_host(h);
    let _ = writeln!(o, "\n## By host\n\n{headline}\n");
    for line in hosts {
        let _ = writeln!(o, "- {line}");
    }
    for g in &h.groups {
        let _ = writeln!(o, "\n## {} — {} ({} runs)\n", g.host, g.workload, g.runs);
        o.push_str(
            "| mode | metric | latest | baseline | change | verdict |\n|---|---|---|---|---|---|\n",
        );
        for s in &g.series {
            let j = s.judgement.as_ref();
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                s.mode,
                s.label,
                j.map(|j| value(s.metric, j.latest)).unwrap_or_default(),
                j.and_then(|j| j.baseline)
                    .map(|b| format!(
                        "{} (of {})",
                        value(s.metric, b),
                        j.map_or(0, |j| j.runs_in_baseline)
                    ))
                    .unwrap_or_else(|| "–".into()),
                j.and_then(|j| change(s.metric, j.change, j.change_relative))
                    .unwrap_or_else(|| "–".into()),
                verdict_text(j.map(|j| j.verdict)),
            );
        }
    }
    if !h.skipped.is_empty() {
        o.push_str("\n## Skipped files\n\n");
        for s in &h.skipped {
            let _ = writeln!(o, "- {}: {}", s.path.display(), s.reason);
        }
    }
    o
}

pub fn html(h: &History, charts: &[(String, String)]) -> String {
    let mut o = String::from("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>unwindbench history</title><style>body{font-family:system-ui,sans-serif;max-width:1300px;margin:2rem auto;padding:0 1rem;color:#222}table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}th{background:#f3f3f3}.bad{color:#cf222e;font-weight:700}.good{color:#1a7f37}.charts{display:flex;flex-wrap:wrap;gap:.8rem}figure{margin:0;border:1px solid #eee}</style></head><body>");
    let _ = write!(
        o,
        "<h1>unwindbench history</h1><p>{} — {} run(s) read, {} file(s) skipped. Baseline: the median of the last {} runs on the same host; a change is flagged when it is worse by more than {} MADs of those runs, more than {:.0}% (overheads and other shares: judged in points only) and more than the metric's smallest step.</p>",
        esc(&h.generated_at),
        h.runs_read,
        h.skipped.len(),
        h.thresholds.window,
        h.thresholds.mad_k,
        h.thresholds.min_relative * 100.0
    );
    if h.regressions.is_empty() {
        o.push_str("<p class=\"good\"><b>No regressions.</b></p>");
    } else {
        o.push_str("<h2 class=\"bad\">Regressions</h2><ul>");
        for r in &h.regressions {
            let _ = write!(o, "<li>{}</li>", esc(&r.line()));
        }
        o.push_str("</ul>");
    }
    let (headline, hosts) = by_host(h);
    let _ = write!(o, "<h2>By host</h2><p>{}</p><ul>", esc(&headline));
    for line in hosts {
        let _ = write!(o, "<li>{}</li>", esc(&line));
    }
    o.push_str("</ul>");
    for g in &h.groups {
        let _ = write!(
            o,
            "<h2>{} — {} ({} runs)</h2><div class=\"charts\">",
            esc(&g.host),
            esc(&g.workload),
            g.runs
        );
        for (m, _) in metric::watched() {
            let name = chart_name(&g.host, &g.workload, m.name);
            if let Some((_, svg)) = charts.iter().find(|(n, _)| *n == name) {
                let _ = write!(o, "<figure>{svg}</figure>");
            }
        }
        o.push_str("</div><table><tr><th>mode</th><th>metric</th><th>latest</th><th>baseline</th><th>change</th><th>verdict</th></tr>");
        for s in &g.series {
            let j = s.judgement.as_ref();
            let verdict = verdict_text(j.map(|j| j.verdict));
            let class = if verdict == "REGRESSED" {
                " class=\"bad\""
            } else {
                ""
            };
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{class}>{verdict}</td></tr>",
                esc(&s.mode.to_string()),
                esc(&s.label),
                j.map(|j| value(s.metric, j.latest)).unwrap_or_default(),
                j.and_then(|j| j.baseline).map(|b| value(s.metric, b)).unwrap_or_else(|| "–".into()),
                j.and_then(|j| change(s.metric, j.change, j.change_relative)).unwrap_or_else(|| "–".into()),
            );
        }
        o.push_str("</table>");
    }
    if !h.skipped.is_empty() {
        o.push_str("<h2>Skipped files</h2><ul>");
        for s in &h.skipped {
            let _ = write!(
                o,
                "<li>{}: {}</li>",
                esc(&s.path.display().to_string()),
                esc(&s.reason)
            );
        }
        o.push_str("</ul>");
    }
    o.push_str("</body></html>\n");
    o
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];

/// One SVG per host, workload and metric: a line per mode over the runs.
pub fn charts(h: &History) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in &h.groups {
        for (m, _) in metric::watched() {
            let series: Vec<_> = g.series.iter().filter(|s| s.metric == m.metric).collect();
            if series.is_empty() {
                continue;
            }
            // Shares are drawn in percent, as the tables show them.
            let scale = if m.unit == Unit::Share { 100.0 } else { 1.0 };
            let mut svg = String::new();
            let drawn = (|| -> Result<(), Box<dyn std::error::Error>> {
                let root = SVGBackend::with_string(&mut svg, (620, 340)).into_drawing_area();
                root.fill(&WHITE)?;
                let n = series
                    .iter()
                    .map(|s| s.points.len())
                    .max()
                    .unwrap_or(1)
                    .max(2);
                let (lo, hi) = series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.value * scale))
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                        (a.min(v), b.max(v))
                    });
                let pad = ((hi - lo).abs() * 0.1).max(hi.abs() * 0.05).max(1e-6);
                let mut chart = ChartBuilder::on(&root)
                    .caption(m.label, ("sans-serif", 18))
                    .margin(10)
                    .x_label_area_size(30)
                    .y_label_area_size(60)
                    .build_cartesian_2d(0f64..(n - 1) as f64, (lo - pad)..(hi + pad))?;
                chart
                    .configure_mesh()
                    .x_desc("run (oldest first)")
                    .y_desc(if scale == 100.0 { "%" } else { "" })
                    .x_labels(n.min(12))
                    .x_label_formatter(&|x| {
                        if x.fract() == 0.0 {
                            format!("{x:.0}")
                        } else {
                            String::new()
                        }
                    })
                    .draw()?;
                for (k, s) in series.iter().enumerate() {
                    let color = COLORS[k % COLORS.len()];
                    let pts: Vec<(f64, f64)> = s
                        .points
                        .iter()
                        .enumerate()
                        .map(|(i, p)| (i as f64, p.value * scale))
                        .collect();
                    chart
                        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                        .label(s.mode.to_string())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                    chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
                    if s.judgement
                        .as_ref()
                        .is_some_and(|j| j.verdict == Verdict::Regressed)
                    {
                        if let Some(&last) = pts.last() {
                            chart.draw_series(std::iter::once(Circle::new(
                                last,
                                8,
                                RED.stroke_width(3),
                            )))?;
                        }
                    }
                }
                legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
                root.present()?;
                Ok(())
            })();
            if drawn.is_ok() {
                out.push((chart_name(&g.host, &g.workload, m.name), svg));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn chart_names_are_file_names() {
        assert_eq!(
            super::chart_name(
                "vm (Intel, 2 CPUs)",
                "nbd-null, 2 s, default rate",
                "lost_chunks"
            ),
            "vm-nbd-null-2-s-default-rate-lost-chunks"
        );
    }
}
