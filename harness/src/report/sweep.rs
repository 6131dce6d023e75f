//! The stack-size sweep as Markdown (the terminal and report.md).

/// The sweep as Markdown: the smallest copy sizes per process, then the check against real
/// recordings.
pub fn sweep_text(s: &crate::sweep::SweepReport) -> String {
    use crate::sweep::size_text;
    let mut out = format!(
        "Stack-size sweep from `{}` ({}-byte copies): the smallest DWARF copy giving complete stacks\n\n",
        s.recording, s.copy_bytes
    );
    out.push_str("| process | user stacks | needed p50 | p90 | p99 | 90% complete at | 99% at | 100% at |\n|---|---|---|---|---|---|---|---|\n");
    let mut rows: Vec<_> = s.processes.iter().collect();
    rows.sort_by_key(|(_, p)| std::cmp::Reverse(p.user_samples));
    for (comm, p) in rows {
        let bytes = |b: Option<u32>| match b {
            Some(b) => format!("{b} B"),
            None => format!("> {}", s.copy_bytes),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            comm.replace('|', "\\|"),
            p.user_samples,
            bytes(p.needed_p50),
            bytes(p.needed_p90),
            bytes(p.needed_p99),
            size_text(p.smallest_90, s.copy_bytes),
            size_text(p.smallest_99, s.copy_bytes),
            size_text(p.smallest_100, s.copy_bytes),
        ));
    }
    if !s.check.is_empty() {
        out.push_str("\nThe prediction against real recordings at those sizes (they differ only by the perturbation a larger copy causes and the data it loses):\n\n| recording | process | predicted complete | measured complete | measured - predicted |\n|---|---|---|---|---|\n");
        let pct = |x: Option<f64>| {
            x.map(|v| format!("{:.1}%", v * 100.0))
                .unwrap_or_else(|| "–".into())
        };
        for c in &s.check {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                c.mode,
                c.process,
                pct(c.predicted),
                pct(c.measured),
                c.difference_points
                    .map(|d| format!("{d:+.1} points"))
                    .unwrap_or_else(|| "–".into())
            ));
        }
    }
    out
}
