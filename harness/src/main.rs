//! The `unwindbench` binary: arguments in, the library's work, errors out. The only place
//! that exits.

use std::process::ExitCode;

use clap::Parser;

use unwindbench::cli::{Cli, Command};
use unwindbench::compare::{self, compare};
use unwindbench::machine::Machine;
use unwindbench::preflight::{self, DoctorOptions};
use unwindbench::process;
use unwindbench::progress;
use unwindbench::report::results::RunStatus;
use unwindbench::report::table;

/// Exit codes: 0 all measured; 1 error before or instead of measuring; 3 some measurements
/// failed (the others are reported); 130 interrupted (what finished is kept).
const EXIT_ERROR: u8 = 1;
const EXIT_PARTIAL: u8 = 3;
const EXIT_INTERRUPTED: u8 = 130;
/// `history --fail-on-regression` found a regression.
const EXIT_REGRESSION: u8 = 4;

fn main() -> ExitCode {
    let cli = Cli::parse();
    process::install_interrupt_handler();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // One line: the error and its causes.
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            if process::interrupted().is_some() {
                ExitCode::from(EXIT_INTERRUPTED)
            } else {
                ExitCode::from(EXIT_ERROR)
            }
        }
    }
}

/// `compare` and `sweep`: run, print the table (and the sweep), say where the run folder is.
fn run_compare(opts: compare::CompareOptions, json: bool, quiet: bool) -> anyhow::Result<u8> {
    let command: Vec<String> = std::env::args().collect();
    let outcome = compare(&opts, command, &|total| progress::for_stderr(quiet, total))?;
    let r = &outcome.results;
    let mut text = table::render(r, false);
    if let Some(s) = &r.sweep {
        text.push('\n');
        text.push_str(&unwindbench::report::sweep_text(s));
    }
    if json {
        eprint!("{text}");
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        println!("{text}");
        if !r.machine.hardware_pmu {
            println!(
                "Sampled with the software cpu-clock event: this machine has no hardware PMU."
            );
        }
    }
    eprintln!("run folder: {}", outcome.run_dir.display());
    Ok(match r.status {
        RunStatus::Complete => 0,
        RunStatus::Interrupted => {
            eprintln!("interrupted: the measurements that finished are in the run folder");
            EXIT_INTERRUPTED
        }
        RunStatus::Partial | RunStatus::Running => {
            eprintln!("some measurements failed; see report.md in the run folder");
            EXIT_PARTIAL
        }
    })
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Compare(args) => run_compare(args.options(), args.json, args.quiet),
        Command::Sweep(args) => run_compare(args.options(), args.json, args.quiet),
        Command::History(args) => {
            let opts = args.options();
            let h = unwindbench::history::run(&opts)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&h)?);
            }
            for s in &h.skipped {
                eprintln!("skipped {}: {}", s.path.display(), s.reason);
            }
            eprintln!(
                "{} runs, {} regression(s); wrote {}/history.{{md,html,json}}",
                h.runs_read,
                h.regressions.len(),
                opts.out.display()
            );
            if args.fail_on_regression && !h.regressions.is_empty() {
                for r in &h.regressions {
                    eprintln!("{}", r.line());
                }
                return Ok(EXIT_REGRESSION);
            }
            Ok(0)
        }
        Command::Report(args) => {
            let r = compare::rerender(&args.run_dir)?;
            print!("{}", table::render(&r, false));
            eprintln!(
                "rendered {}/{{report.md,report.html,charts/}} again",
                args.run_dir.display()
            );
            Ok(0)
        }
        Command::Analyze(args) => {
            let opts = args.options().map_err(anyhow::Error::msg)?;
            let a = unwindbench::analyze::analyze(&opts)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&a)?);
            } else {
                print!(
                    "{}",
                    unwindbench::report::analysis_summary(&a, &opts.out_dir)
                );
            }
            if let Some(e) = &a.partial_error {
                eprintln!("warning: read up to the damage only (--partial): {e}");
            }
            Ok(0)
        }
        Command::Doctor(args) => {
            if args.fp_built {
                compare::use_fp_builds(&unwindbench::workload::ProjectDirs::locate())?;
            }
            let workload = compare::load_workload(&args.workload)?;
            let machine = Machine::probe();
            // The disk check is against the largest recording of a default comparison.
            let predicted = args
                .unwind
                .0
                .iter()
                .map(|m| {
                    compare::predict_recording_bytes(
                        *m,
                        machine.perf_event_max_sample_rate.unwrap_or(4000).min(4000),
                        machine.online_cpus,
                        workload.runtime,
                    )
                })
                .max()
                .unwrap_or(0);
            let diagnosis = preflight::diagnose(
                &DoctorOptions {
                    workload: Some(&workload),
                    // A program workload is built (into build/) so its binaries are audited.
                    programs: match &workload.kind {
                        unwindbench::workload::WorkloadKind::Program { spec, source } => {
                            unwindbench::workload::program::build(
                                spec,
                                source,
                                &unwindbench::workload::ProjectDirs::locate()
                                    .build()
                                    .join("programs"),
                            )?
                            .into_iter()
                            .map(|p| (p.comm, p.path))
                            .collect()
                        }
                        unwindbench::workload::WorkloadKind::Nbd { .. } => Vec::new(),
                    },
                    modes: args.unwind.0.clone(),
                    out_dir: Some(unwindbench::workload::ProjectDirs::locate().reports()),
                    predicted_bytes: predicted,
                    predicted_min_bytes: 0,
                    audit: true,
                },
                &machine,
            );
            if args.json {
                println!("{}", serde_json::to_string_pretty(&diagnosis)?);
            } else {
                print!("{}", preflight::render(&diagnosis));
            }
            Ok(if diagnosis.failure_summary().is_some() {
                EXIT_ERROR
            } else {
                0
            })
        }
    }
}
