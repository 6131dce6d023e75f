//! Facts about the machine a run happened on, stored with every result: figures are only
//! comparable within one machine, and the report says which one.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::process::Tools;
use crate::record::cpu::online_cpus;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    pub hostname: String,
    pub cpu_model: String,
    pub online_cpus: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub os: String,
    pub perf_version: Option<String>,
    pub nbdkit_version: Option<String>,
    pub fio_version: Option<String>,
    /// Whether a hardware PMU is available; without one perf samples with `cpu-clock`.
    pub hardware_pmu: bool,
    /// The event the recordings sampled with, as read back from a perf.data (filled in once a
    /// recording exists), e.g. `cpu-clock:pppH`.
    pub sampling_event: Option<String>,
    pub perf_event_paranoid: Option<i32>,
    pub perf_event_max_sample_rate: Option<u32>,
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// `kernel.perf_event_max_sample_rate`: the highest sampling frequency the kernel accepts.
pub fn max_sample_rate() -> Option<u32> {
    read_trim("/proc/sys/kernel/perf_event_max_sample_rate").and_then(|s| s.parse().ok())
}

/// perf's default frequency (4000 Hz) or the one asked for, capped by the kernel's maximum
/// as perf caps it.
pub fn capped_frequency(asked: Option<u32>, max: Option<u32>) -> u32 {
    let f = asked.unwrap_or(4000);
    max.map_or(f, |cap| f.min(cap))
}

/// First line of a command's output, if it runs.
pub fn version_of(tools: &Tools, program: &str, args: &[&str]) -> Option<String> {
    let (_, out, err) = tools.capture(program, args).ok()?;
    let text = if out.trim().is_empty() { err } else { out };
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// Whether the CPU exposes a hardware PMU to perf (core PMU in sysfs).
pub fn has_hardware_pmu() -> bool {
    ["cpu", "cpu_core", "armv8_pmuv3_0"]
        .iter()
        .any(|d| Path::new("/sys/bus/event_source/devices").join(d).exists())
}

impl Machine {
    /// The machine as it is now; the versions of nbdkit and fio are those `tools` run.
    pub fn probe(tools: &Tools) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse::<f64>()
                    .ok()
            })
            .map(|kib| (kib / (1024.0 * 1024.0) * 10.0).round() / 10.0)
            .unwrap_or(0.0);
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            hostname: read_trim("/proc/sys/kernel/hostname").unwrap_or_default(),
            cpu_model,
            online_cpus: online_cpus(),
            memory_gib,
            kernel: read_trim("/proc/sys/kernel/osrelease").unwrap_or_default(),
            os,
            perf_version: version_of(&Tools::system(), "perf", &["version"]),
            nbdkit_version: version_of(tools, "nbdkit", &["--version"]),
            fio_version: version_of(tools, "fio", &["--version"]),
            hardware_pmu: has_hardware_pmu(),
            sampling_event: None,
            perf_event_paranoid: read_trim("/proc/sys/kernel/perf_event_paranoid")
                .and_then(|s| s.parse().ok()),
            perf_event_max_sample_rate: max_sample_rate(),
        }
    }
}
