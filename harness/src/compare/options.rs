//! What a comparison is asked to do, and how it can fail.

use std::path::PathBuf;
use std::time::Duration;

use crate::mode::UnwindMode;
use crate::record::{Knob, Sink};
use crate::workload::target::{self, TargetChoice};

/// Options of `compare`; defaults are those of the reference experiment.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// Workload name under `workloads/` or a path to a TOML file. Default: `nbd-null`.
    pub workload: String,
    /// Modes to record besides the baseline. Default: fp, dwarf 4K/8K/16K/32K.
    pub modes: Vec<UnwindMode>,
    /// Measured time per recording. Default: the workload's (60 s, as in the reference).
    pub runtime: Option<Duration>,
    /// Warm-up before each measured window. Default: the workload's.
    pub ramp: Option<Duration>,
    /// Rounds of baseline + every mode. Default: 3.
    pub repeat: usize,
    /// Sampling frequency in Hz. Default: perf's own (4000 Hz).
    pub freq: Option<u32>,
    /// Run folder. Default: `reports/<UTC timestamp>/`.
    pub out: Option<PathBuf>,
    /// Keep the perf.data files after analysis. Default: delete them.
    pub keep_data: bool,
    /// Raw-device path. Default: auto (the first of kernel NBD, loop over nbdfuse, fio's nbd
    /// engine that the machine has).
    pub target: TargetChoice,
    /// Sinks every mode is recorded with. Default: a file (the reference's setup).
    pub sinks: Vec<Sink>,
    /// Knobs tried on every DWARF mode, each as a variant of its own. Default: none.
    pub knobs: Vec<Knob>,
    /// Add the stack-size sweep: a dwarf:65528 recording through this sink. Default: none.
    pub sweep: Option<Sink>,
    /// Run the frame-pointer builds of nbdkit, libnbd and fio from
    /// scripts/build-fp-workloads.sh instead of the system's. Default: no.
    pub fp_built: bool,
    /// Stop any file-sink recording whose perf.data grows past this. Default: no limit.
    pub max_data: Option<u64>,
    /// Also record `none` (sampling without a call graph), whatever `modes` says, so that
    /// every mode's overhead over sampling alone can be given. Default: yes.
    pub sampling_only: bool,
    /// Where the price list comes from. Default: measured at the start of the run.
    pub prices: PriceSource,
    /// Keep repeating (beyond `repeat`, the minimum) until every throughput overhead's 95%
    /// interval is narrower than asked, up to a maximum. Default: off (exactly `repeat`).
    pub auto_repeat: Option<AutoRepeat>,
    /// How the overhead on the workload is measured. Default: switchback (the only way that
    /// stays precise on a noisy VM; see the README).
    pub overhead: OverheadMethod,
    /// The switchback's rounds, settle time and time per mode. Default: 250 ms, 50 ms, 60 s.
    pub switchback: crate::switchback::SwitchbackOptions,
    /// When another measurement holds the machine (see [`crate::exclusive`]): wait for it
    /// (true) or refuse at once, naming it (`--no-wait`). Default: wait.
    pub wait_for_machine: bool,
}

/// How the overhead of a mode on the workload is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OverheadMethod {
    /// Sampling switched on and off in short random rounds inside one run per mode
    /// ([`crate::switchback`]); the recordings then run without baseline runs.
    #[default]
    Switchback,
    /// Separate runs: each mode's throughput against unprofiled baseline runs of the same
    /// rounds.
    Runs,
    /// Both.
    Both,
    /// Neither: only the recordings (sizes, losses, stacks), no overhead measured.
    None,
}

impl OverheadMethod {
    pub fn switchback(self) -> bool {
        matches!(self, OverheadMethod::Switchback | OverheadMethod::Both)
    }

    /// Whether the unprofiled baseline runs are measured.
    pub fn runs(self) -> bool {
        matches!(self, OverheadMethod::Runs | OverheadMethod::Both)
    }
}

impl std::str::FromStr for OverheadMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "switchback" => Ok(OverheadMethod::Switchback),
            "runs" => Ok(OverheadMethod::Runs),
            "both" => Ok(OverheadMethod::Both),
            "none" => Ok(OverheadMethod::None),
            _ => Err(format!(
                "bad --overhead `{s}`: use switchback, runs, both or none"
            )),
        }
    }
}

impl std::fmt::Display for OverheadMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OverheadMethod::Switchback => "switchback",
            OverheadMethod::Runs => "runs",
            OverheadMethod::Both => "both",
            OverheadMethod::None => "none",
        })
    }
}

/// Where a comparison's price list comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum PriceSource {
    /// Measured before the first measurement, for the modes of the run: `pairs` pairs of
    /// rounds per stack, mode and rate, and the sink's capacity over `capacity` (None: not).
    Measure {
        pairs: usize,
        capacity: Option<Duration>,
    },
    /// Read from a prices.json (`unwindbench calibrate`, or an earlier run's `prices/`).
    File(PathBuf),
    /// No price list: no model, no check of the rankings.
    Off,
}

impl Default for PriceSource {
    fn default() -> Self {
        PriceSource::Measure {
            pairs: 20,
            capacity: Some(Duration::from_secs(20)),
        }
    }
}

/// `--repeat auto`: how precise the overheads must get, and how many rounds it may take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoRepeat {
    /// Largest half-width of a throughput overhead's 95% interval that is good enough
    /// (0.02: ±2 points). Default 0.02.
    pub precision: f64,
    /// Rounds at the most. Default 10.
    pub max: usize,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            workload: "nbd-null".into(),
            modes: crate::mode::parse_mode_list(crate::mode::DEFAULT_MODES)
                .expect("default modes parse"),
            runtime: None,
            ramp: None,
            repeat: 3,
            freq: None,
            out: None,
            keep_data: false,
            target: TargetChoice::Auto,
            sinks: vec![Sink::File],
            knobs: Vec::new(),
            sweep: None,
            fp_built: false,
            max_data: None,
            sampling_only: true,
            prices: PriceSource::default(),
            auto_repeat: None,
            overhead: OverheadMethod::default(),
            switchback: crate::switchback::SwitchbackOptions::default(),
            wait_for_machine: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Workload(#[from] crate::workload::WorkloadError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Doctor(String),
    #[error(transparent)]
    Target(#[from] target::TargetError),
    #[error(transparent)]
    Program(#[from] crate::workload::program::ProgramError),
    #[error("cannot use --out {path}: {source}; choose a writable folder")]
    OutDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Results(#[from] crate::results::ResultsError),
    #[error("price list: {0}")]
    Price(#[from] crate::price::PriceError),
    #[error(transparent)]
    Lock(#[from] crate::exclusive::LockError),
}
