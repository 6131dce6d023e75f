//! The comparison's price list: measured on fixed work before the first measurement (same
//! machine, same boot, same hour as the figures it explains), or read from a file. It goes
//! into `prices/` of the run folder and, without its raw rounds, into results.json. A price
//! list that cannot be had is a note, never the end of the comparison.

use std::path::Path;
use std::time::Duration;

use super::options::{CompareError, CompareOptions, PriceSource};
use super::plan::Plan;
use crate::mode::UnwindMode;
use crate::price::{self, PriceList, PriceOptions};
use crate::progress::Progress;
use crate::results::Results;
use crate::workload::ProjectDirs;

/// The unwinding modes the plan records, each once (sinks and knobs change what perf writes,
/// not what a sample costs the kernel).
fn priced_modes(plan: &Plan) -> Vec<UnwindMode> {
    let mut modes: Vec<UnwindMode> = Vec::new();
    for rec in plan.recorded() {
        if !modes.contains(&rec.mode) {
            modes.push(rec.mode);
        }
    }
    modes
}

/// Measures or reads the price list into `results.prices`; writes it into `run_dir/prices/`.
/// Returns whether the run was interrupted while measuring.
pub(super) fn price_step(
    opts: &CompareOptions,
    plan: &Plan,
    run_dir: &Path,
    results: &mut Results,
    make_progress: &dyn Fn(Duration) -> Box<dyn Progress>,
) -> Result<bool, CompareError> {
    let list = match &opts.prices {
        PriceSource::Off => return Ok(false),
        PriceSource::File(path) => match price::load(path) {
            Ok(list) => list,
            Err(e) => {
                results.notes.push(format!(
                    "no price list: {e}; the model and the check of the rankings are left out"
                ));
                return Ok(false);
            }
        },
        PriceSource::Measure { pairs, capacity } => {
            let mut o = PriceOptions::new(priced_modes(plan));
            o.pairs = *pairs;
            o.capacity = capacity.map(|duration| price::capacity::CapacityOptions {
                duration,
                ..Default::default()
            });
            let mut progress = make_progress(price::expected_duration(&o));
            let dir = run_dir.join("prices");
            match price::run(&o, &ProjectDirs::locate(), &dir, progress.as_mut()) {
                Ok(list) => list,
                // An interrupt ends the run as any other; a failure leaves a note.
                Err(_) if crate::process::interrupted().is_some() => return Ok(true),
                Err(e) => {
                    results.notes.push(format!(
                        "the price list could not be measured ({e}); the model and the check of the rankings are left out"
                    ));
                    return Ok(false);
                }
            }
        }
    };
    let missing: Vec<String> = priced_modes(plan)
        .iter()
        .map(UnwindMode::to_string)
        .filter(|m| !list.prices.iter().any(|p| &p.mode == m))
        .collect();
    if !missing.is_empty() {
        results.notes.push(format!(
            "the price list has no price for {}: no model for {}",
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" }
        ));
    }
    crate::report::prices::write(&list, &run_dir.join("prices")).map_err(|source| {
        CompareError::OutDir {
            path: run_dir.join("prices"),
            source,
        }
    })?;
    results.prices = Some(without_rounds(list));
    Ok(false)
}

/// The list as results.json keeps it: the prices, the capacity and the notes; the raw
/// rounds stay in prices/prices.json.
fn without_rounds(list: PriceList) -> PriceList {
    PriceList {
        sessions_raw: Vec::new(),
        ..list
    }
}
