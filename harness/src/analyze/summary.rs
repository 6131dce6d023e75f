//! The few lines `analyze` prints for people: what was read, how stacks were collected,
//! per process the samples, completeness and depth, and what could not be named.

use std::path::Path;

use super::Analysis;
use crate::perfdata::Recorded;

/// The human summary `analyze` prints.
pub fn analysis_summary(a: &Analysis, out: &Path) -> String {
    let mut s = String::new();
    let r = &a.records;
    s.push_str(&format!(
        "{}: {} samples, {} lost chunks ({} events lost), {:.1} MB read in {:.2} s ({:.0} MB/s)\n",
        a.input,
        r.samples,
        r.lost_chunks,
        r.lost_events,
        r.bytes as f64 / 1e6,
        a.wall_s,
        a.mb_per_s
    ));
    let mode = match a.recorded {
        Recorded::None => "no call graph".to_string(),
        Recorded::Callchain => "callchains".to_string(),
        Recorded::Dwarf { stack_bytes } => format!("DWARF {stack_bytes} B"),
    };
    s.push_str(&format!(
        "stacks: {mode}; {} distinct stacks, {} distinct frames\n",
        a.distinct_stacks, a.distinct_frames
    ));
    let mut rows: Vec<(&String, &crate::fold::StackFigures)> = a.stacks.iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.samples));
    s.push_str("  process            samples  complete  depth p50/p99\n");
    for (comm, f) in rows.iter().take(12) {
        let name = if comm.as_str() == crate::fold::ALL {
            "(all)"
        } else {
            comm.as_str()
        };
        s.push_str(&format!(
            "  {:<16} {:>9}  {:>8}  {}/{}\n",
            name,
            f.samples,
            f.completeness
                .map(|c| format!("{:.1}%", c * 100.0))
                .unwrap_or_else(|| "–".into()),
            f.depth_p50
                .map(|d| d.to_string())
                .unwrap_or_else(|| "–".into()),
            f.depth_p99
                .map(|d| d.to_string())
                .unwrap_or_else(|| "–".into()),
        ));
    }
    if !a.named_by_boundaries.is_empty() {
        s.push_str(&format!(
            "no symbols or debug file for {}: frames named by function boundaries (file+0xOFFSET of the function's start)\n",
            a.named_by_boundaries.join(", ")
        ));
    }
    if !a.missing_modules.is_empty() {
        s.push_str(&format!(
            "{} module(s) could not be read; their frames are named [file]: see stats.json\n",
            a.missing_modules.len()
        ));
    }
    if r.unparsable_records > 0 {
        s.push_str(&format!(
            "warning: {} record(s) were malformed and skipped (the file is damaged); their samples are not in the figures\n",
            r.unparsable_records
        ));
    }
    if !a.kernel_symbols {
        s.push_str("kernel frames are unnamed: kallsyms of this boot is unreadable or hidden (run as root)\n");
    }
    s.push_str(&format!(
        "wrote {}/{{stacks.folded,flamegraph.svg,stats.json}}\n",
        out.display()
    ));
    s
}
