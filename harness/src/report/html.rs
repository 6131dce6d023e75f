//! `report.html`: one page with everything a reader needs, no network: CSS inline, charts
//! inline, flame graphs (inferno's interactive SVGs) embedded from the run folder and linked.
//! Every string that comes from the recording or the machine is escaped.

use std::fmt::Write as _;
use std::path::Path;

use super::charts::Chart;
use super::facts::{self, Value};
use super::footnotes::Footnotes;
use super::format::{megabytes, thousands};
use super::{switchback, table};
use crate::preflight::Status;
use crate::results::{MeasurementStatus, Results, RunStatus};

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1400px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #d6d6d6;padding:.3rem .5rem;text-align:right;vertical-align:top}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
table.kv td{text-align:left}table.kv td:first-child{font-weight:600;white-space:nowrap}
.banner{padding:.6rem .9rem;border-radius:4px;margin:1rem 0}
.warn{background:#fff4d6;border:1px solid #e6c25c}.bad{background:#fde2e1;border:1px solid #e39a97}
.note{background:#eef5fb;border:1px solid #a9c9e6}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.charts figure{margin:0;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555;padding:.2rem .5rem}
details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}
object.fg{width:100%;border:1px solid #ddd}
table.text td,table.text th{text-align:left}
.pass{color:#1a7f37}.info{color:#555}.warnst{color:#9a6700}.fail{color:#cf222e;font-weight:700}
code{background:#f4f4f4;padding:0 .2rem;border-radius:3px}
";

/// A table of text cells (escaped) under `headers`.
fn table(out: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", esc(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// The height inferno gave a flame graph (it grows with the deepest stack), so the embedded
/// view shows all of it: flame graphs grow upwards from the root at the bottom.
fn svg_height(run_dir: Option<&Path>, file: &Path) -> u32 {
    let Some(text) = run_dir.and_then(|d| std::fs::read(d.join(file)).ok()) else {
        return 600;
    };
    let head = String::from_utf8_lossy(&text[..text.len().min(2048)]).into_owned();
    head.split("<svg")
        .nth(1)
        .and_then(|tag| tag.split("height=\"").nth(1))
        .and_then(|v| v.split('"').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(600, |h| h.ceil() as u32 + 4)
}

/// What the page is made of.
struct Page<'a> {
    r: &'a Results,
    /// Inlined as they are (their SVG text comes from plotters, from our own labels).
    charts: &'a [Chart],
    /// Where the flame graphs are, to size their frames; None: a default height.
    run_dir: Option<&'a Path>,
}

/// The page, one section after the other.
pub fn render(r: &Results, charts: &[Chart], run_dir: Option<&Path>) -> String {
    let page = Page { r, charts, run_dir };
    let mut o = String::new();
    for section in [
        head,
        how_to_read,
        results_table,
        explanations,
        switchback_section,
        prices,
        model,
        accuracy,
        reference,
        sweep,
        charts_section,
        flamegraphs,
        machine,
        doctor,
        measurements,
        notes,
    ] {
        section(&mut o, &page);
    }
    o.push_str("</body></html>\n");
    o
}

fn head(o: &mut String, p: &Page) {
    let (r, w) = (p.r, &p.r.workload);
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>unwindbench: {} — {}</title><style>{STYLE}</style></head><body>",
        esc(&w.name),
        esc(&r.started_at)
    );
    let _ = write!(
        o,
        "<h1>What unwinding costs: {}</h1><p class=\"sub\">{} · {} · {}</p>",
        esc(&w.name),
        esc(&r.started_at),
        esc(&r.machine.hostname),
        esc(&r.tool)
    );
    match r.status {
        RunStatus::Complete => {}
        RunStatus::Interrupted => o.push_str("<div class=\"banner bad\"><b>Interrupted.</b> The figures are from the measurements that finished.</div>"),
        RunStatus::Partial => o.push_str("<div class=\"banner warn\"><b>Some measurements failed</b> (see below); the others are reported.</div>"),
        RunStatus::Running => o.push_str("<div class=\"banner warn\"><b>Still running.</b> This page shows what has been measured so far.</div>"),
    }
    if !r.machine.hardware_pmu {
        o.push_str("<div class=\"banner warn\">This machine has <b>no hardware PMU</b>: perf sampled with the software <code>cpu-clock</code> event. Compare ratios within this run, not absolute figures across machines.</div>");
    }
}

fn how_to_read(o: &mut String, p: &Page) {
    use super::columns::{available, Source};
    let (runs, switched) = (
        available(p.r, Source::SeparateRuns),
        available(p.r, Source::Switchback),
    );
    o.push_str("<div class=\"banner note\"><b>How to read this.</b> ");
    if runs {
        o.push_str("Each unwinding mode was recorded with <code>perf record -a</code> over the same workload as an unprofiled baseline, in the same run, modes interleaved over the repeats. ");
    } else {
        o.push_str("Each unwinding mode was recorded with <code>perf record -a</code> over the same workload, in the same run; there were no unprofiled baseline runs. ");
    }
    if available(p.r, Source::Repeats) {
        o.push_str("Sizes and counts are medians with [min–max] over the repeats. ");
    }
    if switched {
        o.push_str("<i>overhead (switchback)</i> is the throughput lost while sampling, measured inside one run of the workload with sampling switched on and off in short random rounds (see <a href=\"#switchback\">its section</a>), with its 95% interval from the rounds; <i>CPU per I/O (switchback)</i> likewise. ");
    }
    if runs {
        o.push_str("<i>overhead (separate runs)</i> is the throughput lost against the baseline, an estimate with its 95% interval from the paired repeats; <i>cost per sample</i> is the workload's and perf's extra CPU per sample taken, lost ones included; <i>CPU per I/O (separate runs)</i> is the extra CPU the workload spent per I/O. ");
    }
    o.push_str("An overhead is \"within noise\" exactly when its interval holds zero. ");
    if available(p.r, Source::Repeats) {
        o.push_str("<i>overhead over none</i> is what unwinding adds to sampling alone; <i>perf CPU</i> is perf's own CPU time as a share of the machine; <i>sample share</i> is perf's share of the samples (the reference post's measure). A stack is <i>complete</i> when it reaches a real bottom (<code>_start</code>, <code>__libc_start_call_main</code>, <code>start_thread</code>, <code>clone3</code>); incomplete stacks show up in the flame graphs as frames that are not attached to <code>main</code> or a thread start.");
    }
    o.push_str("</div>");
}

fn results_table(o: &mut String, p: &Page) {
    let (r, w) = (p.r, &p.r.workload);
    o.push_str("<h2>Results</h2><table><tr>");
    let shown = table::shown(r, true);
    for c in table::column_titles(r, &shown) {
        let _ = write!(o, "<th>{}</th>", esc(&c));
    }
    o.push_str("</tr>");
    let notes = Footnotes::of(r);
    for (row, mode) in r.modes.iter().enumerate() {
        o.push_str("<tr>");
        let cells = table::row(mode, row, &notes, &shown);
        for (&i, cell) in shown.iter().zip(cells) {
            if i == table::FLAMEGRAPH_COLUMN && mode.measured() {
                let links: Vec<String> = facts::flamegraph_links(mode)
                    .into_iter()
                    .map(|(label, p)| {
                        format!("<a href=\"{}\">{label}</a>", esc(&p.display().to_string()))
                    })
                    .collect();
                let _ = write!(
                    o,
                    "<td>{}</td>",
                    if links.is_empty() {
                        "–".into()
                    } else {
                        links.join(" · ")
                    }
                );
            } else {
                let _ = write!(o, "<td>{}</td>", esc(&cell));
            }
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
    if !notes.notes.is_empty() {
        o.push_str("<ol class=\"footnotes\">");
        for n in &notes.notes {
            let _ = write!(o, "<li>{}</li>", esc(n));
        }
        o.push_str("</ol>");
    }
    if let Some(s) = r.baseline.iops {
        let _ = write!(
            o,
            "<p>Baseline without perf: {} IOPS (median of {} run(s), {}–{}); {} s measured after a {} s ramp; target {}.</p>",
            thousands(s.median),
            s.n,
            thousands(s.min),
            thousands(s.max),
            w.runtime_s,
            w.ramp_s,
            esc(&w.target.to_string())
        );
    }
    if let Some(s) = super::facts::engine_baseline_sentence(p.r) {
        let _ = write!(o, "<p>{}</p>", esc(&s));
    }
}

fn explanations(o: &mut String, p: &Page) {
    if p.r.explanations.is_empty() {
        return;
    }
    o.push_str("<div class=\"banner warn\"><b>Where the overheads rank modes against their prices:</b><ul>");
    for e in &p.r.explanations {
        let _ = write!(o, "<li>{}</li>", esc(e));
    }
    o.push_str("</ul></div>");
}

/// Our own text with Markdown's `*emphasis*` and `` `code` `` as HTML, escaped first. For
/// the report's constant texts only: a stray mark in a recorded string would open a tag it
/// never closes.
fn marked_up(text: &str) -> String {
    let mut out = String::new();
    let (mut em, mut code) = (false, false);
    for c in esc(text).chars() {
        match c {
            '*' if !code => {
                out.push_str(if em { "</i>" } else { "<i>" });
                em = !em;
            }
            '`' if !em => {
                out.push_str(if code { "</code>" } else { "<code>" });
                code = !code;
            }
            c => out.push(c),
        }
    }
    out
}

/// How the switchback measured the overhead on the workload, and what it found per mode.
fn switchback_section(o: &mut String, p: &Page) {
    let Some(method) = switchback::method(p.r) else {
        return;
    };
    let _ = write!(
        o,
        "<h2 id=\"switchback\">{}</h2><p>{}</p>",
        esc(switchback::TITLE),
        esc(&method)
    );
    let rows = switchback::measured_rows(p.r);
    if !rows.is_empty() {
        table(o, &switchback::MEASURED_COLUMNS, &rows);
    }
    let model = switchback::model_rows(p.r);
    if !model.is_empty() {
        o.push_str("<p>The price list's account of the immediate overhead:</p>");
        table(o, &switchback::MODEL_COLUMNS, &model);
    }
    if !rows.is_empty() {
        let _ = write!(o, "<p>{}</p>", marked_up(switchback::LEGEND));
    }
    let notes = switchback::notes(p.r);
    if !notes.is_empty() {
        o.push_str("<ul>");
        for (rec, note) in notes {
            let _ = write!(o, "<li><code>{}</code>: {}</li>", esc(&rec), esc(&note));
        }
        o.push_str("</ul>");
    }
}

fn prices(o: &mut String, p: &Page) {
    let Some(list) = &p.r.prices else { return };
    let _ = write!(
        o,
        "<h2>What a sample costs</h2><p>{} Full list: <a href=\"prices/prices.md\">prices/prices.md</a>.</p>",
        esc(&super::prices::method(list))
    );
    table(o, &facts::PRICE_COLUMNS, &facts::price_rows(list));
    let _ = write!(o, "<p>{}</p><ul>", esc(super::prices::LEGEND));
    for pick in facts::PRICE_PICKS {
        for s in facts::price_separations(list, pick) {
            let _ = write!(o, "<li>{}</li>", esc(&s));
        }
    }
    o.push_str("</ul>");
    if let Some(line) = facts::capacity_line(list) {
        let _ = write!(o, "<p>What perf can write: {}</p>", esc(&line));
    }
}

fn model(o: &mut String, p: &Page) {
    let rows = facts::model_rows(p.r);
    if rows.is_empty() {
        return;
    }
    o.push_str("<h2>The model beside the measurement</h2><p>From the price list and what each recording sampled: the lost share from the bytes per second asked of the sink against what perf can write; perf's CPU from the recorder's price; the workload's extra CPU per I/O from the kernel's price for every workload sample taken. <i>agrees</i>: the predicted and measured intervals overlap (the lost share: within 5 points).</p>");
    if let Some(b) = facts::budget_sentence(p.r) {
        o.push_str(&format!("<p>{}</p>", esc(&b)));
    }
    table(o, &facts::MODEL_COLUMNS, &rows);
}

fn accuracy(o: &mut String, p: &Page) {
    let rows = facts::accuracy_rows(p.r);
    if rows.is_empty() {
        return;
    }
    o.push_str("<h2>Against the known stacks</h2><p>Every sample of the program is compared with the call chain it runs: <i>exact</i> is the whole chain from the thread's start to the leaf, <i>truncated</i> the leaf end of it with frames missing at the bottom, <i>wrong</i> anything with a frame that is not on the chain.</p>");
    table(o, &facts::ACCURACY_COLUMNS, &rows);
}

fn reference(o: &mut String, p: &Page) {
    let Some(c) = &p.r.reference else { return };
    o.push_str("<h2>Against the reference post</h2>");
    let _ = write!(o, "<p>{}. Absolute figures do not compare across machines; the ratios to frame pointers of the same run might.</p>", esc(&c.source));
    table(o, &facts::REFERENCE_COLUMNS, &facts::reference_rows(c));
}

/// The sweep: smallest copy sizes per process, and the check against real recordings.
fn sweep(o: &mut String, p: &Page) {
    let Some(s) = &p.r.sweep else { return };
    o.push_str("<h2>How large must the DWARF copy be?</h2>");
    let _ = write!(o, "<p>From the recording <code>{}</code> with {}-byte copies: for every sample, the stack bytes its unwind needed to reach a real bottom. A recording with a copy of N bytes sees exactly the first N, so the share complete at N is what it would measure.</p>", esc(&s.recording), s.copy_bytes);
    table(o, &facts::SWEEP_COLUMNS, &facts::sweep_rows(s));
    if s.check.is_empty() {
        return;
    }
    o.push_str("<p>Checked against real recordings at smaller copy sizes; they differ from the prediction only by the perturbation the larger copy causes and the data it loses.</p>");
    table(
        o,
        &[
            "recording",
            "process",
            "predicted complete",
            "measured complete",
            "difference",
        ],
        &facts::sweep_check_rows(s),
    );
}

fn charts_section(o: &mut String, p: &Page) {
    if p.charts.is_empty() {
        return;
    }
    o.push_str("<h2>Charts</h2><div class=\"charts\">");
    for c in p.charts {
        let svg = c.svg.trim_start();
        let svg = svg
            .strip_prefix("<?xml")
            .map_or(svg, |rest| rest.split_once("?>").map_or(rest, |(_, s)| s));
        let _ = write!(o, "<figure id=\"chart-{}\">{}<figcaption>{} — <a href=\"charts/{}.svg\">SVG</a></figcaption></figure>", c.name, svg, esc(c.title), c.name);
    }
    o.push_str("</div>");
}

fn flamegraphs(o: &mut String, p: &Page) {
    let graphs: Vec<_> =
        p.r.modes
            .iter()
            .filter(|m| m.flamegraphs.all.is_some())
            .collect();
    if graphs.is_empty() {
        return;
    }
    o.push_str("<h2>Flame graphs</h2><p>Interactive: click a frame to zoom, Ctrl-F to search. Each opens on its own from the links.</p>");
    for (i, mode) in graphs.iter().enumerate() {
        let f = &mode.flamegraphs;
        let _ = write!(
            o,
            "<details{}><summary>{}</summary>",
            if i == 0 { " open" } else { "" },
            esc(&mode.title)
        );
        for (label, file) in [
            ("all processes", &f.all),
            ("nbdkit only", &f.server),
            (
                "nbdkit against frame pointers (red: more samples, blue: fewer)",
                &f.diff_vs_fp,
            ),
            (
                "all processes against frame pointers (perf's own work shows here)",
                &f.diff_vs_fp_all,
            ),
        ] {
            if let Some(file) = file {
                let href = esc(&file.display().to_string());
                let height = svg_height(p.run_dir, file);
                let _ = write!(o, "<p><a href=\"{href}\">{}</a></p><object class=\"fg\" style=\"height:{height}px\" type=\"image/svg+xml\" data=\"{href}\"></object>", esc(label));
            }
        }
        o.push_str("</details>");
    }
}

/// The run's facts, as report.md's header gives them.
fn machine(o: &mut String, p: &Page) {
    o.push_str("<h2>Machine</h2><table class=\"kv\">");
    for (key, value) in facts::run_facts(p.r) {
        let value = match value {
            Value::Text(t) => esc(&t),
            Value::Code(c) => format!("<code>{}</code>", esc(&c)),
        };
        let _ = write!(o, "<tr><td>{}</td><td>{value}</td></tr>", esc(key));
    }
    o.push_str("</table>");
}

/// The doctor's findings, and the frame-pointer audit of the workload's binaries.
fn doctor(o: &mut String, p: &Page) {
    let r = p.r;
    o.push_str("<h2>Doctor</h2><table class=\"text\"><tr><th>status</th><th>check</th><th>finding</th><th>fix</th></tr>");
    for f in &r.doctor.findings {
        let class = match f.status {
            Status::Pass => "pass",
            Status::Info => "info",
            Status::Warn => "warnst",
            Status::Fail => "fail",
        };
        let _ = write!(o, "<tr><td class=\"{class}\">{}</td><td>{}</td><td style=\"text-align:left\">{}</td><td style=\"text-align:left\">{}</td></tr>", esc(&f.status.to_string()), esc(&f.check), esc(&f.detail), esc(&f.fix));
    }
    o.push_str("</table>");
    if !r.doctor.audits.is_empty() {
        o.push_str("<p>Frame-pointer audit of the workload's binaries: where functions do not keep frame pointers, <code>fp</code> stacks through them are cut short.</p><table class=\"text\"><tr><th>binary</th><th>path</th><th>functions with frame pointers</th><th>unwind tables</th><th>debug info</th></tr>");
        for a in &r.doctor.audits {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{:.0}% of {} ({})</td><td>{}</td><td>{}</td></tr>",
                esc(&a.role),
                esc(&a.path.display().to_string()),
                a.frame_pointer_share() * 100.0,
                a.functions,
                esc(&a.symbols),
                match (a.eh_frame, a.debug_frame) {
                    (true, true) => ".eh_frame, .debug_frame",
                    (true, false) => ".eh_frame",
                    (false, true) => ".debug_frame",
                    (false, false) => "none",
                },
                if a.debug_info { "yes" } else { "no" }
            );
        }
        o.push_str("</table>");
    }
}

/// Every measurement, raw: what the medians above come from.
fn measurements(o: &mut String, p: &Page) {
    let r = p.r;
    o.push_str("<h2>Every measurement</h2><table><tr><th>repeat</th><th>measurement</th><th>status</th><th>IOPS</th><th>window s</th><th>perf.data</th><th>samples</th><th>lost chunks</th><th>analysis</th><th>notes</th></tr>");
    for run in &r.runs {
        let ms = run.measured.as_ref();
        let status = match run.status {
            MeasurementStatus::Ok => "ok",
            MeasurementStatus::Failed => "failed",
            MeasurementStatus::Interrupted => "interrupted",
        };
        let mut notes: Vec<String> = run.error.iter().cloned().collect();
        notes.extend(run.warnings.iter().cloned());
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
            run.repeat,
            esc(&run.subject.to_string()),
            status,
            ms.map(|m| thousands(m.iops())).unwrap_or_default(),
            ms.map(|m| format!("{:.1}", m.window_s)).unwrap_or_default(),
            ms.and_then(|m| m.perf.as_ref()).map(|p| megabytes(p.data_bytes as f64)).unwrap_or_default(),
            run.stats.as_ref().map(|s| thousands(s.samples as f64)).unwrap_or_default(),
            run.stats.as_ref().map(|s| thousands(s.lost_chunks as f64)).unwrap_or_default(),
            run.analysis.as_ref().map(|a| format!("{:.1} s, {:.0} MiB", a.wall_s, a.peak_rss_mib)).unwrap_or_default(),
            esc(&notes.join("; ")),
        );
    }
    o.push_str("</table>");
}

fn notes(o: &mut String, p: &Page) {
    let r = p.r;
    if !r.notes.is_empty() {
        o.push_str("<h2>Notes</h2><ul>");
        for n in &r.notes {
            let _ = write!(o, "<li>{}</li>", esc(n));
        }
        o.push_str("</ul>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    }

    #[test]
    fn marked_up_text_is_escaped_first() {
        assert_eq!(
            marked_up("*carry-over* of `fp` <b>"),
            "<i>carry-over</i> of <code>fp</code> &lt;b&gt;"
        );
    }
}
