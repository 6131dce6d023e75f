//! The steps of a comparison around each measurement: the disk guard before a recording, the
//! analysis after it, flame graphs at the end, and doubts about fio's figures.

use std::path::Path;
use std::time::Duration;

use crate::analyze::Analysis;
use crate::machine::Machine;
use crate::mode::UnwindMode;
use crate::perfdata::stats::RecordStats;
use crate::preflight;
use crate::process;
use crate::record::measured::{MeasurePaths, Measured};
use crate::record::{Recording, Subject};
use crate::report::flamegraph;
use crate::results::{MeasurementStatus, Metric, Results, RunAnalysis, RunRecord};
use crate::sweep::{SweepCheck, SweepReport};
use crate::units::human_bytes;

use super::plan::SWEEP_COPY;
use crate::record::predict_recording_bytes;

/// fio sums its jobs' rates; when the jobs did not run at the same time (on a busy 2-CPU
/// machine some start seconds late), that sum over-counts, and fio's elapsed time shows it.
pub fn fio_skew_warning(m: &Measured, planned: Duration) -> Option<String> {
    let planned = planned.as_secs_f64().ceil() as u64;
    (m.fio.elapsed_s > planned + 2).then(|| {
        format!(
            "fio ran {} s for a {planned} s job: its jobs did not run together (fio's own IOPS over-count; the window's I/O rate is used)",
            m.fio.elapsed_s
        )
    })
}

/// Refuses a recording that would leave less than the margin free. The prediction uses the
/// rate this mode actually wrote in an earlier repeat when there is one (x1.25), else the
/// upper-bound model. Where the free space cannot be read, only a recording bounded by
/// `--max-data` goes ahead (the watch during the recording could not see the disk either).
pub fn disk_guard(
    rec: Recording,
    runs: &[RunRecord],
    freq: u32,
    machine: &Machine,
    (runtime, max_data): (Duration, Option<u64>),
    run_dir: &Path,
) -> Option<String> {
    let (mode, label) = (rec.mode, rec.label());
    let measured_rate = runs
        .iter()
        .filter(|r| r.subject == Subject::Recording(rec))
        .filter_map(|r| {
            let m = r.measured.as_ref()?;
            Some(m.perf.as_ref()?.data_bytes as f64 / m.window_s.max(0.1))
        })
        .fold(None, |acc: Option<f64>, x| {
            Some(acc.map_or(x, |a| a.max(x)))
        });
    let window = runtime + Duration::from_secs(1);
    let predicted = match measured_rate {
        Some(rate) => (rate * window.as_secs_f64() * 1.25) as u64,
        None => predict_recording_bytes(mode, freq, machine.online_cpus, window),
    };
    let Some((free, total)) = preflight::disk_space(run_dir) else {
        return max_data.is_none().then(|| {
            format!(
                "cannot tell the free space at {} (statvfs failed), so {label} could fill the disk unseen; pass --max-data to bound each recording yourself",
                run_dir.display()
            )
        });
    };
    let margin = preflight::disk_margin(total);
    (predicted + margin > free).then(|| {
        format!(
            "not enough disk for {label}: predicted {} but only {} free at {} (keeping {} spare); free space, use --out on a larger disk or a shorter --runtime",
            human_bytes(predicted),
            human_bytes(free),
            run_dir.display(),
            human_bytes(margin)
        )
    })
}

/// Analyzes a recording in a child `unwindbench analyze`, so its wall time, CPU and peak
/// memory are measured on their own (wait4), and a crash in it cannot take the run down.
/// Writes stacks.folded, flamegraph.svg, stats.json, profile.json.gz and the server's flame
/// graph into the measurement's folder.
pub fn analyze_recording(
    paths: &MeasurePaths,
    focus: &[String],
) -> Result<(RecordStats, RunAnalysis), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let exe = exe.display().to_string();
    let mut args: Vec<std::ffi::OsString> = vec!["analyze".into(), paths.perf_data().into()];
    args.extend(paths.analysis_args());
    let mut cmd = process::command(&exe, &args);
    let log = paths.dir.join("analysis.log");
    cmd.stdout(process::to_file(&log).map_err(|e| e.to_string())?);
    cmd.stderr(
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .map_err(|e| e.to_string())?,
    );
    let mut child = process::spawn(&exe, cmd).map_err(|e| e.to_string())?;
    let exit = child
        .wait_interruptibly(Duration::from_secs(3 * 3600))
        .map_err(|e| e.to_string())?;
    if !exit.status.success() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(text
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("analysis failed without a message")
            .trim_start_matches("error: ")
            .to_string());
    }
    read_analysis(
        paths,
        focus,
        exit.wall.as_secs_f64(),
        exit.cpu.total(),
        exit.max_rss_kib as f64 / 1024.0,
    )
}

/// Reads the stats.json an analysis wrote into the measurement's folder, draws the server's
/// flame graph, and returns the record statistics and the analysis figures (its cost given).
pub fn read_analysis(
    paths: &MeasurePaths,
    focus: &[String],
    wall_s: f64,
    cpu_s: f64,
    peak_rss_mib: f64,
) -> Result<(RecordStats, RunAnalysis), String> {
    let stats_path = paths.dir.join("stats.json");
    let text = std::fs::read_to_string(&stats_path)
        .map_err(|e| format!("{}: {e}", stats_path.display()))?;
    let a: Analysis =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", stats_path.display()))?;
    let server_comm = focus.first().map(String::as_str).unwrap_or("nbdkit");
    let client_comm = focus.get(1).map(String::as_str).unwrap_or("fio");
    let folded = paths.dir.join("stacks.folded");
    let _ = flamegraph::write_from_file(
        &folded,
        Some(server_comm),
        &format!("{server_comm} — {}", a.input),
        Some("zoomed to the server process"),
        &paths.dir.join(format!("flamegraph-{server_comm}.svg")),
    );
    let analysis = RunAnalysis {
        wall_s,
        cpu_s,
        peak_rss_mib,
        mb_per_s: a.records.bytes as f64 / 1e6 / wall_s.max(1e-9),
        server: a.stacks.get(server_comm).cloned(),
        client: a.stacks.get(client_comm).cloned(),
        all: a.stacks.get(crate::fold::ALL).cloned(),
        distinct_stacks: a.distinct_stacks,
        missing_modules: a.missing_modules.len(),
        kernel_symbols: a.kernel_symbols,
        sweep: a.sweep.clone().filter(|s| s.copy_bytes >= SWEEP_COPY),
        accuracy: a.accuracy.clone(),
    };
    Ok((a.records, analysis))
}

/// The sweep of this run: the first successful recording with the largest copy, checked
/// against every plain DWARF recording at a smaller size, for the server and the client.
pub fn sweep_report(results: &Results) -> Option<SweepReport> {
    let (run, sweep) = results.runs.iter().find_map(|r| {
        let s = r.analysis.as_ref()?.sweep.as_ref()?;
        (r.status == MeasurementStatus::Ok).then_some((r, s))
    })?;
    let comms: Vec<&str> = results.workload.focus.iter().map(String::as_str).collect();
    let processes = crate::sweep::select(sweep, &comms);
    let mut check = Vec::new();
    for m in &results.modes {
        // The online recorder sees the same first N bytes as perf's DWARF mode.
        let (UnwindMode::Dwarf { stack_bytes } | UnwindMode::Online { stack_bytes }) = m.mode.mode
        else {
            continue;
        };
        if m.mode.knob.is_some() || stack_bytes >= sweep.copy_bytes {
            continue;
        }
        let pairs = [
            (results.workload.primary(), m.median(Metric::Completeness)),
            (
                results.workload.secondary().unwrap_or(""),
                m.median(Metric::ClientCompleteness),
            ),
        ];
        for (comm, measured) in pairs.into_iter().filter(|(c, _)| !c.is_empty()) {
            let predicted = processes
                .get(comm)
                .and_then(|p| p.completeness_at(stack_bytes));
            check.push(SweepCheck {
                mode: m.mode.to_string(),
                copy_bytes: stack_bytes,
                process: comm.to_string(),
                predicted,
                measured,
                difference_points: predicted.zip(measured).map(|(p, m)| (m - p) * 100.0),
            });
        }
    }
    Some(SweepReport {
        recording: run.subject.to_string(),
        copy_bytes: sweep.copy_bytes,
        processes,
        check,
    })
}
