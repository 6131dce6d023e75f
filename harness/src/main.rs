//! The `unwindbench` binary: arguments in, the library's work, errors out. The only place
//! that exits.

use std::process::ExitCode;

use clap::Parser;

use unwindbench::cli::{CalibrateArgs, Cli, Command};
use unwindbench::compare::{self, compare};
use unwindbench::preflight;
use unwindbench::process;
use unwindbench::progress;
use unwindbench::report::table;
use unwindbench::results::export::{self, Format};
use unwindbench::results::RunStatus;

/// Exit codes: 0 all measured; 1 error before or instead of measuring; 3 some measurements
/// failed (the others are reported); 130 interrupted (what finished is kept).
const EXIT_ERROR: u8 = 1;
const EXIT_PARTIAL: u8 = 3;
const EXIT_INTERRUPTED: u8 = process::EXIT_INTERRUPTED;
/// `history --fail-on-regression` found a regression.
const EXIT_REGRESSION: u8 = 4;

fn main() -> ExitCode {
    let resources = unwindbench::resources::take_request();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    process::install_interrupt_handler();
    unwindbench::files::restrict_umask();
    let code = match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            if process::interrupted().is_some() {
                ExitCode::from(EXIT_INTERRUPTED)
            } else {
                ExitCode::from(EXIT_ERROR)
            }
        }
    };
    // Everything run() started is stopped and dropped by now: what is left is a leak.
    if let Some(path) = resources {
        unwindbench::resources::report(&path);
    }
    code
}

/// The error and its causes on one line. A cause whose text the message already quotes
/// (an error that prints its source) is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Bad arguments: clap's first line, which names the argument and (for our validators) the
/// valid forms; help and version output pass through unchanged.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        kind => {
            // clap's message, its list of missing arguments and its tip, without the usage
            // block that follows.
            let text = e.to_string();
            let parts: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                .filter(|l| !l.is_empty())
                .collect();
            let line = parts.join(" ").replace(" tip:", "; tip:");
            if kind == ErrorKind::ValueValidation {
                eprintln!("{line}");
            } else {
                eprintln!("{line} (see unwindbench --help)");
            }
            ExitCode::from(2)
        }
    }
}

/// `compare` and `sweep`: run, print the table (and the sweep), write the exports asked for,
/// say where the run folder is.
fn run_compare(
    opts: compare::CompareOptions,
    json: bool,
    quiet: bool,
    exports: &[Format],
) -> anyhow::Result<u8> {
    let command: Vec<String> = std::env::args().collect();
    let outcome = compare(&opts, command, &|total| progress::for_stderr(quiet, total))?;
    let r = &outcome.results;
    let text = unwindbench::report::terminal(r);
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
    // After the table, so that a failed export still leaves the run's figures on screen.
    write_exports(r, exports, &outcome.run_dir)?;
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

/// `--export`: the tracker files into the run folder, and what they leave out.
fn write_exports(
    r: &unwindbench::results::Results,
    formats: &[Format],
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    if formats.is_empty() {
        return Ok(());
    }
    let (written, notes) = export::write(r, formats, dir)?;
    for p in written {
        eprintln!("exported {}", p.display());
    }
    for n in notes {
        eprintln!("export note: {n}");
    }
    Ok(())
}

/// `calibrate`: the price list, then (if asked) the switchback on its fixed work.
fn run_calibrate(args: &CalibrateArgs) -> anyhow::Result<u8> {
    let opts = args.options();
    let expected = unwindbench::price::expected_duration(&opts);
    let mut progress = progress::for_stderr(args.quiet, expected);
    let (list, out) =
        compare::calibrate(&opts, args.out.clone(), !args.no_wait, progress.as_mut())?;
    let checks = if args.check_switchback.is_zero() {
        Vec::new()
    } else {
        let mut progress = progress::for_stderr(args.quiet, args.check_switchback);
        compare::check_switchback(
            &list,
            args.check_switchback,
            &out,
            !args.no_wait,
            progress.as_mut(),
        )?
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print!("{}", unwindbench::report::prices::render(&list));
        if !checks.is_empty() {
            print!("\n{}", compare::render_switchback_check(&checks));
        }
    }
    eprintln!("wrote {}/prices.{{json,md}} and prices.svg", out.display());
    Ok(0)
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Compare(args) => run_compare(args.options(), args.json, args.quiet, &args.export),
        Command::Sweep(args) => run_compare(args.options(), args.json, args.quiet, &[]),
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
            write_exports(&r, &args.export, &args.run_dir)?;
            Ok(0)
        }
        Command::Analyze(args) => {
            let opts = args.options().map_err(anyhow::Error::msg)?;
            // Before a byte of the recording is read (see unwindbench::sandbox).
            if opts.sandbox {
                if let Some(gap) = unwindbench::analyze::confine::apply(&opts)? {
                    eprintln!("unwindbench: {gap}");
                }
            }
            let a = unwindbench::analyze::analyze(&opts)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&a)?);
            } else {
                print!(
                    "{}",
                    unwindbench::analyze::summary::analysis_summary(&a, &opts.out_dir)
                );
            }
            if let Some(e) = &a.partial_error {
                eprintln!("warning: read up to the damage only (--partial): {e}");
            }
            Ok(0)
        }
        Command::Calibrate(args) => run_calibrate(&args),
        Command::OnlineRecord(args) => {
            let s = unwindbench::online::record(&args.options())?;
            eprintln!("{}", unwindbench::online::summary_line(&s, &args.output));
            if let Some(w) = unwindbench::online::back_pressure_warning(&s) {
                eprintln!("{w}");
            }
            Ok(0)
        }
        Command::Doctor(args) => {
            let diagnosis = preflight::doctor(&args.options())?;
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
