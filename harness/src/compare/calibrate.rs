//! `calibrate`: the price list on its own, written into a folder of its own
//! (`reports/prices-<UTC timestamp>/` unless told otherwise), and, when asked, the
//! switchback checked against it on the same fixed work ([`crate::switchback::fixed`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::options::CompareError;
use crate::price::{self, PriceList, PriceOptions, Variant};
use crate::progress::Progress;
use crate::switchback::fixed::{self, FixedCheck, FixedSpec};
use crate::switchback::SwitchbackOptions;
use crate::workload::ProjectDirs;

/// Measures the price list and writes prices.{json,md} and prices.svg into `out` (default:
/// `reports/prices-<UTC timestamp>/`), holding the machine meanwhile (`wait`: for a
/// measurement already running, else refuse). Returns the list and the folder.
pub fn calibrate(
    opts: &PriceOptions,
    out: Option<PathBuf>,
    wait: bool,
    progress: &mut dyn Progress,
) -> Result<(PriceList, PathBuf), CompareError> {
    // Bad options are refused at once, not after another measurement's wait.
    price::check_options(opts)?;
    let _machine = crate::exclusive::hold("unwindbench calibrate", wait)?;
    let dirs = ProjectDirs::locate();
    let out = out.unwrap_or_else(|| {
        dirs.reports().join(format!(
            "prices-{}",
            crate::timestamp::folder_stamp(SystemTime::now())
        ))
    });
    let list = price::run(opts, &dirs, &out, progress)?;
    crate::report::prices::write(&list, &out).map_err(|source| CompareError::OutDir {
        path: out.clone(),
        source,
    })?;
    Ok((list, out))
}

/// The switchback of every priced mode on the fixed work (deep stack, the highest rate),
/// `duration` each, against price × samples per second. Writes switchback-check.{json,md}
/// into `out`. A mode without a kernel price is left out with a line in the file.
pub fn check_switchback(
    list: &PriceList,
    duration: Duration,
    out: &Path,
    wait: bool,
    progress: &mut dyn Progress,
) -> Result<Vec<FixedCheck>, CompareError> {
    let _machine = crate::exclusive::hold("unwindbench calibrate --check-switchback", wait)?;
    let dirs = ProjectDirs::locate();
    let source = dirs.workloads().join("programs").join("pricework.c");
    let binary = price::build_program(&source, &dirs.build().join("programs"))?;
    let freq = list.freqs.iter().copied().max().unwrap_or(4000);
    let options = SwitchbackOptions {
        duration,
        ..Default::default()
    };
    let modes = list.modes();
    let mut checks = Vec::new();
    for (i, mode) in modes.iter().enumerate() {
        let Some(price_ns) = list.price(mode, Variant::Deep).and_then(|p| p.kernel_ns) else {
            continue;
        };
        let Ok(mode_parsed) = mode.parse() else {
            continue;
        };
        progress.start(
            i + 1,
            modes.len(),
            &format!("switchback on the fixed work · {mode} at {freq} Hz"),
            duration,
        );
        let scratch = out.join("switchback-scratch");
        let spec = FixedSpec {
            binary: &binary,
            depth: Variant::Deep.depth(),
            mode: mode_parsed,
            freq,
            options: &options,
            dir: &scratch,
        };
        let check = fixed::check(&spec, price_ns);
        let _ = std::fs::remove_dir_all(&scratch);
        let check = check?;
        progress.end(&check_line(&check));
        checks.push(check);
    }
    progress.finish();
    let io = |source| CompareError::OutDir {
        path: out.to_path_buf(),
        source,
    };
    let json = serde_json::to_vec_pretty(&checks)
        .map_err(std::io::Error::other)
        .map_err(io)?;
    crate::files::write_atomically(&out.join("switchback-check.json"), &json).map_err(io)?;
    crate::files::write_atomically(&out.join("switchback-check.md"), render(&checks).as_bytes())
        .map_err(io)?;
    Ok(checks)
}

fn check_line(c: &FixedCheck) -> String {
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    format!(
        "measured {} [{}–{}], predicted {} [{}–{}] ({:.0} samples/s × {:.2} µs): {}",
        pct(c.measured.overhead.estimate),
        pct(c.measured.overhead.low),
        pct(c.measured.overhead.high),
        pct(c.predicted.estimate),
        pct(c.predicted.low),
        pct(c.predicted.high),
        c.samples_per_s,
        c.price_ns.estimate / 1e3,
        if c.agrees { "agree" } else { "DISAGREE" }
    )
}

/// The checks as Markdown.
pub fn render(checks: &[FixedCheck]) -> String {
    let mut o = String::from("## The switchback on the fixed work\n\nThe price list's work (deep stack) on one CPU, the recorder on another, sampling switched on and off in rounds of the work: every sample costs the work the kernel's price and nothing else competes, so the throughput overhead must be the price times the samples per second.\n\n| mode | rate | measured overhead | blocks | predicted: price × samples/s | agree |\n|---|---|---|---|---|---|\n");
    let pct = |x: f64| format!("{:.1}%", x * 100.0);
    for c in checks {
        o.push_str(&format!(
            "| {} | {} Hz | {} [{}–{}] | {} | {} [{}–{}] ({:.0}/s × {:.2} µs) | {} |\n",
            c.mode,
            c.freq,
            pct(c.measured.overhead.estimate),
            pct(c.measured.overhead.low),
            pct(c.measured.overhead.high),
            c.measured.blocks,
            pct(c.predicted.estimate),
            pct(c.predicted.low),
            pct(c.predicted.high),
            c.samples_per_s,
            c.price_ns.estimate / 1e3,
            if c.agrees { "yes" } else { "no" }
        ));
    }
    o
}
