//! Command-line arguments (clap derive), turned into the plain option structs of the library.
//! Nothing outside this file knows about clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::analyze::AnalyzeOptions;
use crate::compare::{AutoRepeat, CompareOptions, PriceSource};
use crate::fold::Weighting;
use crate::mode::{parse_mode_list, UnwindMode, DEFAULT_MODES};
use crate::record::{Knob, Sink};
use crate::units::parse_duration;
use crate::workload::target::TargetChoice;

#[derive(Parser, Debug)]
#[command(
    name = "unwindbench",
    version,
    about = "Measure what call-stack unwinding costs a profiler: perf record with frame pointers vs DWARF under an NBD + fio workload"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the baseline and one recording per unwinding mode; print the table, write a run folder.
    Compare(CompareArgs),
    /// Check that everything a comparison needs is here, with the fix for each problem.
    Doctor(DoctorArgs),
    /// Turn a perf.data into folded stacks, a flame graph and stats.json (no perf script).
    Analyze(AnalyzeArgs),
    /// Render a run folder's report again (report.md, report.html, charts, flame graphs)
    /// from its results.json and folded stacks, without recording anything.
    Report(ReportArgs),
    /// How large must the DWARF copy be? One dwarf:65528 recording (piped, no disk) tells,
    /// per process, the smallest copy giving 90/99/100% complete stacks; real recordings at
    /// smaller sizes check the prediction.
    Sweep(SweepArgs),
    /// Trends over many runs (nights, hosts): latest value against each metric's own past on
    /// the same host, regressions flagged beyond the noise; history.{md,html,json} + charts.
    History(HistoryArgs),
    /// What one sample costs, per unwinding mode: fixed work on one CPU, sampling switched on
    /// and off between rounds at several rates; the price list with 95% intervals, and what
    /// perf can write before the kernel drops samples. Writes prices.{json,md} and a chart.
    Calibrate(CalibrateArgs),
    /// The online recorder behind the `online:SIZE` modes, on its own: samples every CPU,
    /// unwinds each sample's user stack as it arrives and writes a perf.data of callchains.
    /// Runs until Ctrl-C (SIGINT/SIGTERM), like `perf record -a`.
    OnlineRecord(OnlineRecordArgs),
}

#[derive(Args, Debug)]
pub struct OnlineRecordArgs {
    /// Where the perf.data goes.
    #[arg(short = 'o', long = "output", default_value = "perf.data")]
    pub output: PathBuf,
    /// Bytes of user stack copied per sample, a multiple of 8 up to 65528, or with a k suffix.
    #[arg(long, default_value = "65528", value_parser = parse_stack_size)]
    pub stack: u32,
    /// Samples per second per CPU (default 4000, capped by kernel.perf_event_max_sample_rate).
    #[arg(short = 'F', long = "freq")]
    pub freq: Option<u32>,
    /// Milliseconds to wait before sampling (perf's --delay).
    #[arg(short = 'D', long = "delay", default_value = "0")]
    pub delay_ms: u64,
    /// perf's control FIFOs, fifo:CTL,ACK: sampling starts off and is switched by `enable`
    /// and `disable` lines (each answered with `ack`).
    #[arg(long, value_parser = crate::online::control::parse_spec)]
    pub control: Option<(PathBuf, PathBuf)>,
    /// Sample only these threads, comma-separated (perf's -t) [default: every process].
    #[arg(short = 't', long = "tid", value_delimiter = ',')]
    pub tids: Vec<i32>,
}

impl OnlineRecordArgs {
    pub fn options(&self) -> crate::online::OnlineOptions {
        crate::online::OnlineOptions {
            output: self.output.clone(),
            stack_bytes: self.stack,
            freq: self.freq,
            delay: std::time::Duration::from_millis(self.delay_ms),
            control: self.control.clone(),
            tids: self.tids.clone(),
        }
    }
}

/// A stack copy size as `online:SIZE` takes it (same rules as the modes).
fn parse_stack_size(text: &str) -> Result<u32, String> {
    match format!("online:{text}").parse::<UnwindMode>() {
        Ok(m) => Ok(m.stack_copy_bytes()),
        Err(e) => Err(e.reason),
    }
}

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Modes to price, comma-separated (none prices the sampling interrupt alone).
    #[arg(long, value_parser = parse_modes, default_value = crate::price::DEFAULT_PRICED_MODES)]
    pub unwind: ModeList,
    /// Sampling rates in Hz, comma-separated.
    #[arg(long, value_parser = parse_freqs, default_value = "1000,4000,16000")]
    pub freqs: FreqList,
    /// Pairs of rounds (one sampled, one not) per stack, mode and rate; the pairs of all of
    /// them are interleaved.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(2..=10000))]
    pub pairs: u32,
    /// CPU time of one round of the work, e.g. 25ms.
    #[arg(long, value_parser = parse_dur, default_value = "25ms")]
    pub round: std::time::Duration,
    /// Length of the sink-capacity recording (dwarf:65528 at 16 kHz), e.g. 20s; 0 skips it.
    #[arg(long, value_parser = parse_dur_or_zero, default_value = "20s")]
    pub capacity_duration: std::time::Duration,
    /// Seed of the rounds' order and the bootstrap.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Afterwards, check the switchback against the prices: each mode switched on and off on
    /// the same fixed work for this long (e.g. 20s) at the highest rate; 0 skips it.
    #[arg(long, value_parser = parse_dur_or_zero, default_value = "0s")]
    pub check_switchback: std::time::Duration,
    /// Output folder [default: reports/prices-<UTC timestamp>/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print prices.json on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// When another comparison or calibration is measuring on this machine, refuse at once
    /// (naming it) instead of waiting for it to finish.
    #[arg(long)]
    pub no_wait: bool,
}

/// Rates as `1000,4000,16000`.
#[derive(Clone, Debug, PartialEq)]
pub struct FreqList(pub Vec<u32>);

fn parse_freqs(s: &str) -> Result<FreqList, String> {
    s.split(',')
        .map(|f| {
            f.trim()
                .parse::<u32>()
                .ok()
                .filter(|f| *f > 0)
                .ok_or_else(|| format!("`{f}` is not a sampling rate in Hz (e.g. 1000,4000,16000)"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(FreqList)
}

fn parse_dur_or_zero(s: &str) -> Result<std::time::Duration, String> {
    if s.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    parse_dur(s)
}

impl CalibrateArgs {
    pub fn options(&self) -> crate::price::PriceOptions {
        let mut o = crate::price::PriceOptions::new(self.unwind.0.clone());
        o.freqs = self.freqs.0.clone();
        o.pairs = self.pairs as usize;
        o.round = self.round;
        o.seed = self.seed;
        o.capacity =
            (!self.capacity_duration.is_zero()).then(|| crate::price::capacity::CapacityOptions {
                duration: self.capacity_duration,
                ..Default::default()
            });
        o
    }
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Folders searched recursively for results.json (run folders, or their parent).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Output folder [default: FIRST_DIR/history].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only hosts whose name contains this.
    #[arg(long)]
    pub host: Option<String>,
    /// Earlier runs the baseline is the median of.
    #[arg(long, default_value_t = 7)]
    pub window: usize,
    /// Fewest earlier runs before a metric is judged.
    #[arg(long, default_value_t = 3)]
    pub min_runs: usize,
    /// Noise band half-width, in median absolute deviations of the baseline runs.
    #[arg(long, default_value_t = 3.0)]
    pub mad_k: f64,
    /// Smallest relative change that counts (0.10 = 10%).
    #[arg(long, default_value_t = 0.10)]
    pub min_change: f64,
    /// Exit with status 4 (one line per regression on stderr) when anything regressed.
    #[arg(long)]
    pub fail_on_regression: bool,
    /// Print history.json on stdout.
    #[arg(long)]
    pub json: bool,
}

impl HistoryArgs {
    pub fn options(&self) -> crate::history::HistoryOptions {
        crate::history::HistoryOptions {
            dirs: self.dirs.clone(),
            out: self
                .out
                .clone()
                .unwrap_or_else(|| self.dirs[0].join("history")),
            host: self.host.clone(),
            thresholds: crate::history::detect::Thresholds {
                window: self.window.max(1),
                min_runs: self.min_runs.max(1),
                mad_k: self.mad_k,
                min_relative: self.min_change,
            },
        }
    }
}

/// Sinks as `file`, `pipe` or `file,pipe`.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkList(pub Vec<Sink>);

fn parse_sinks(s: &str) -> Result<SinkList, String> {
    let mut v = Vec::new();
    for item in s.split(',') {
        let sink: Sink = item.trim().parse()?;
        if !v.contains(&sink) {
            v.push(sink);
        }
    }
    Ok(SinkList(v))
}

/// Knobs as `mmap=2048,zstd,aio`.
#[derive(Clone, Debug, PartialEq)]
pub struct KnobList(pub Vec<Knob>);

fn parse_knobs(s: &str) -> Result<KnobList, String> {
    s.split(',')
        .map(|k| k.trim().parse::<Knob>())
        .collect::<Result<Vec<_>, _>>()
        .map(KnobList)
}

/// `--check`: real DWARF recordings (perf's, or the online recorder's) to hold the sweep's
/// prediction against, or `none`.
fn parse_check(s: &str) -> Result<ModeList, String> {
    if s == "none" {
        return Ok(ModeList(Vec::new()));
    }
    let modes = parse_modes(s)?;
    if let Some(m) = modes.0.iter().find(|m| !m.is_dwarf() && !m.is_online()) {
        return Err(format!(
            "--check takes dwarf:SIZE and online:SIZE modes (or none), not `{m}`"
        ));
    }
    Ok(modes)
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Workload: a name under workloads/ or a path to a .toml file.
    #[arg(long, default_value = "nbd-null")]
    pub workload: String,
    /// Real DWARF recordings that check the prediction (`none` for none); online:SIZE
    /// recordings check it too.
    #[arg(long, value_parser = parse_check, default_value = "dwarf:4k,dwarf:8k,dwarf:16k,dwarf:32k")]
    pub check: ModeList,
    /// Sink of the dwarf:65528 recording: pipe (default: no disk) or file.
    #[arg(long, default_value = "pipe")]
    pub sink: Sink,
    /// Measured time per recording [default: the workload's].
    #[arg(long, value_parser = parse_dur)]
    pub runtime: Option<std::time::Duration>,
    /// Warm-up before each measured window [default: the workload's].
    #[arg(long, value_parser = parse_dur)]
    pub ramp: Option<std::time::Duration>,
    /// Rounds of baseline + every recording.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Sampling frequency in Hz [default: perf's].
    #[arg(long)]
    pub freq: Option<u32>,
    /// Run folder [default: reports/<UTC timestamp>/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep the perf.data files of file-sink recordings.
    #[arg(long)]
    pub keep_data: bool,
    /// Raw-device path: auto (the first of kernel-nbd, loop, nbd-engine the machine has),
    /// kernel-nbd, loop (a loop device over nbdfuse) or nbd-engine.
    #[arg(long, value_parser = parse_target, default_value = "auto")]
    pub target: TargetChoice,
    /// Print results.json on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run nbdkit, libnbd and fio rebuilt with frame pointers (scripts/build-fp-workloads.sh).
    #[arg(long)]
    pub fp_built: bool,
    /// Stop any file-sink recording whose perf.data grows past SIZE (e.g. 2G); it is marked
    /// truncated in the results.
    #[arg(long, value_parser = parse_size_arg)]
    pub max_data: Option<u64>,
    /// When another comparison or calibration is measuring on this machine, refuse at once
    /// (naming it) instead of waiting for it to finish.
    #[arg(long)]
    pub no_wait: bool,
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    crate::units::parse_size(s).map_err(|e| e.to_string())
}

impl SweepArgs {
    pub fn options(&self) -> CompareOptions {
        CompareOptions {
            workload: self.workload.clone(),
            modes: self.check.0.clone(),
            runtime: self.runtime,
            ramp: self.ramp,
            repeat: self.repeat,
            freq: self.freq,
            out: self.out.clone(),
            keep_data: self.keep_data,
            target: self.target,
            sinks: vec![Sink::File],
            knobs: Vec::new(),
            sweep: Some(self.sink),
            fp_built: self.fp_built,
            max_data: self.max_data,
            // The sweep asks how large the copy must be, not what a sample costs.
            sampling_only: false,
            prices: PriceSource::Off,
            auto_repeat: None,
            overhead: crate::compare::OverheadMethod::Runs,
            switchback: Default::default(),
            wait_for_machine: !self.no_wait,
        }
    }
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The run folder (holding results.json).
    pub run_dir: PathBuf,
    /// Also write the run's figures for benchmark trackers into the run folder: bmf
    /// (Bencher, bmf.json) and/or benchmark-action (github-action-benchmark,
    /// benchmark-action-{smaller,bigger}.json); repeatable or comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub export: Vec<crate::results::export::Format>,
}

/// Named sets of compare options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// The reference post: nbd-null, fp + DWARF 4K/8K/16K/32K, one minute each.
    Reference,
    /// Short enough for a nightly CI job (about 7 minutes with the price list): nbd-null, fp
    /// and DWARF 8K (and none), 20 s measured after a 3 s ramp, 3 repeats.
    Nightly,
}

fn default_modes() -> Vec<UnwindMode> {
    parse_mode_list(DEFAULT_MODES).unwrap_or_default()
}

/// A parsed `--unwind` list (one clap value, many modes).
#[derive(Clone, Debug, PartialEq)]
pub struct ModeList(pub Vec<UnwindMode>);

fn parse_modes(s: &str) -> Result<ModeList, String> {
    parse_mode_list(s).map(ModeList).map_err(|e| e.to_string())
}

fn parse_target(s: &str) -> Result<TargetChoice, String> {
    s.parse()
}

fn parse_dur(s: &str) -> Result<std::time::Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// `--repeat`: a number of rounds, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RepeatArg {
    Rounds(usize),
    Auto,
}

fn parse_repeat(s: &str) -> Result<RepeatArg, String> {
    if s.trim() == "auto" {
        return Ok(RepeatArg::Auto);
    }
    match s.trim().parse::<usize>() {
        Ok(n) => Ok(RepeatArg::Rounds(n)),
        _ => Err(format!(
            "`{s}` is neither a number of rounds (0 or more) nor `auto`"
        )),
    }
}

fn parse_precision(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    };
    match value {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a precision between 0 and 1 (e.g. 0.02 or 2%)"
        )),
    }
}

/// `--prices`: measure, none, or a prices.json.
#[derive(Clone, Debug, PartialEq)]
pub enum PriceArg {
    Measure,
    Off,
    File(PathBuf),
}

fn parse_prices(s: &str) -> Result<PriceArg, String> {
    Ok(match s.trim() {
        "measure" => PriceArg::Measure,
        "none" => PriceArg::Off,
        "" => return Err("--prices takes measure, none or the path of a prices.json".into()),
        path => PriceArg::File(PathBuf::from(path)),
    })
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Workload: a name under workloads/ or a path to a .toml file.
    #[arg(long, default_value = "nbd-null")]
    pub workload: String,
    /// Unwinding modes, comma-separated: none, fp, lbr, dwarf, dwarf:SIZE (e.g. dwarf:8k).
    #[arg(long, value_parser = parse_modes, default_value = DEFAULT_MODES)]
    pub unwind: ModeList,
    /// Measured time per recording, e.g. 60s [default: the workload's, 60s for nbd-null].
    #[arg(long, value_parser = parse_dur)]
    pub runtime: Option<std::time::Duration>,
    /// Warm-up before each measured window, at least 1s [default: the workload's].
    #[arg(long, value_parser = parse_dur)]
    pub ramp: Option<std::time::Duration>,
    /// Rounds of every mode's recording (and of the baseline with --overhead runs), modes
    /// interleaved across rounds; 0 records nothing but the switchback; `auto` repeats
    /// (3 at least) until every throughput overhead's 95% interval is narrower than
    /// --precision, up to --max-repeat.
    #[arg(long, value_parser = parse_repeat, default_value = "3")]
    pub repeat: RepeatArg,
    /// How each mode's overhead on the workload is measured: switchback (sampling switched
    /// on and off in short random rounds inside one run), runs (separate runs against
    /// unprofiled baseline runs), both, or none (only the recordings: sizes, losses, stacks).
    #[arg(long, default_value = "switchback")]
    pub overhead: crate::compare::OverheadMethod,
    /// Time each mode's switchback takes, e.g. 60s.
    #[arg(long, value_parser = parse_dur, default_value = "60s")]
    pub switchback_time: std::time::Duration,
    /// The measured part of one switchback round, e.g. 250ms.
    #[arg(long, value_parser = parse_dur, default_value = "250ms")]
    pub switchback_round: std::time::Duration,
    /// Time after each switch left out of both arms, e.g. 50ms.
    #[arg(long, value_parser = parse_dur_or_zero, default_value = "50ms")]
    pub switchback_settle: std::time::Duration,
    /// With --repeat auto: the largest half-width of a throughput overhead's interval that
    /// is good enough, as a fraction or in percent (0.02 or 2%).
    #[arg(long, value_parser = parse_precision, default_value = "2%")]
    pub precision: f64,
    /// With --repeat auto: rounds at the most.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(3..=1000))]
    pub max_repeat: u32,
    /// The price list the model uses: `measure` it before the first measurement (on fixed
    /// work, about a minute), read a prices.json (from `unwindbench calibrate`), or `none`.
    #[arg(long, value_parser = parse_prices, default_value = "measure")]
    pub prices: PriceArg,
    /// Pairs of rounds per stack, mode and rate when the price list is measured.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..=10000))]
    pub price_pairs: u32,
    /// Length of the sink-capacity recording of the price list, e.g. 20s; 0 skips it.
    #[arg(long, value_parser = parse_dur_or_zero, default_value = "20s")]
    pub capacity_duration: std::time::Duration,
    /// Record only the modes asked for: no `none` row (sampling without a call graph), so no
    /// overhead over sampling alone.
    #[arg(long)]
    pub without_none: bool,
    /// Sampling frequency in Hz [default: perf's, 4000].
    #[arg(long)]
    pub freq: Option<u32>,
    /// Run folder [default: reports/<UTC timestamp>/].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep the perf.data files (they are deleted after analysis otherwise).
    #[arg(long)]
    pub keep_data: bool,
    /// Print results.json on stdout instead of the table (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Raw-device path: auto (the first of kernel-nbd, loop, nbd-engine the machine has),
    /// kernel-nbd, loop (a loop device with direct I/O over nbdfuse's file: adds the loop
    /// and FUSE hops) or nbd-engine (fio's own NBD client).
    #[arg(long, value_parser = parse_target, default_value = "auto")]
    pub target: TargetChoice,
    /// No progress output.
    #[arg(long, short)]
    pub quiet: bool,
    /// Start from a named set of options (explicit options still override it).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Where perf writes: file (default, as in the reference), pipe (streamed into the
    /// analyzer, nothing large on disk), or file,pipe to have both side by side.
    #[arg(long, value_parser = parse_sinks, default_value = "file")]
    pub sink: SinkList,
    /// Recording knobs tried on every DWARF mode, each a variant of its own: mmap=PAGES
    /// (ring buffer size), zstd (-z), aio (--aio). E.g. --knob mmap=2048,zstd.
    #[arg(long, value_parser = parse_knobs)]
    pub knob: Option<KnobList>,
    /// Also run the stack-size sweep (a dwarf:65528 recording through a pipe).
    #[arg(long)]
    pub sweep: bool,
    /// Run nbdkit, libnbd and fio rebuilt with frame pointers (scripts/build-fp-workloads.sh).
    #[arg(long)]
    pub fp_built: bool,
    /// Stop any file-sink recording whose perf.data grows past SIZE (e.g. 2G); it is marked
    /// truncated in the results.
    #[arg(long, value_parser = parse_size_arg)]
    pub max_data: Option<u64>,
    /// After the run, also write its figures for benchmark trackers into the run folder: bmf
    /// (Bencher, bmf.json) and/or benchmark-action (github-action-benchmark,
    /// benchmark-action-{smaller,bigger}.json); repeatable or comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub export: Vec<crate::results::export::Format>,
    /// When another comparison or calibration is measuring on this machine, refuse at once
    /// (naming it) instead of waiting for it to finish.
    #[arg(long)]
    pub no_wait: bool,
}

impl CompareArgs {
    pub fn options(&self) -> CompareOptions {
        // The reference preset is the defaults made explicit: the workload, modes and one
        // minute of the post, whatever a workload file says.
        let runtime = match self.preset {
            Some(Preset::Reference) => self.runtime.or(Some(std::time::Duration::from_secs(60))),
            Some(Preset::Nightly) => self.runtime.or(Some(std::time::Duration::from_secs(20))),
            None => self.runtime,
        };
        let ramp = match self.preset {
            Some(Preset::Nightly) => self.ramp.or(Some(std::time::Duration::from_secs(3))),
            _ => self.ramp,
        };
        // The nightly modes, unless --unwind named others.
        let modes = match self.preset {
            Some(Preset::Nightly) if self.unwind.0 == default_modes() => {
                vec![UnwindMode::Fp, UnwindMode::Dwarf { stack_bytes: 8192 }]
            }
            _ => self.unwind.0.clone(),
        };
        let (repeat, auto_repeat) = match self.repeat {
            RepeatArg::Rounds(n) => (n, None),
            RepeatArg::Auto => (
                3,
                Some(AutoRepeat {
                    precision: self.precision,
                    max: self.max_repeat as usize,
                }),
            ),
        };
        let prices = match &self.prices {
            PriceArg::Measure => PriceSource::Measure {
                pairs: self.price_pairs as usize,
                capacity: (!self.capacity_duration.is_zero()).then_some(self.capacity_duration),
            },
            PriceArg::Off => PriceSource::Off,
            PriceArg::File(p) => PriceSource::File(p.clone()),
        };
        CompareOptions {
            workload: self.workload.clone(),
            modes,
            runtime,
            ramp,
            repeat,
            freq: self.freq,
            out: self.out.clone(),
            keep_data: self.keep_data,
            target: self.target,
            sinks: self.sink.0.clone(),
            knobs: self.knob.clone().map(|k| k.0).unwrap_or_default(),
            sweep: self.sweep.then_some(Sink::Pipe),
            fp_built: self.fp_built,
            max_data: self.max_data,
            sampling_only: !self.without_none,
            prices,
            auto_repeat,
            overhead: self.overhead,
            switchback: crate::switchback::SwitchbackOptions {
                round: self.switchback_round,
                settle: self.switchback_settle,
                duration: self.switchback_time,
                ..Default::default()
            },
            wait_for_machine: !self.no_wait,
        }
    }
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Also check this workload's needs (its nbdkit plugin).
    #[arg(long, default_value = "nbd-null")]
    pub workload: String,
    /// Modes to check support for (e.g. lbr).
    #[arg(long, value_parser = parse_modes, default_value = DEFAULT_MODES)]
    pub unwind: ModeList,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
    /// Check the frame-pointer builds of scripts/build-fp-workloads.sh instead of the system's.
    #[arg(long)]
    pub fp_built: bool,
    /// Where runs go: its free disk is checked, and what killed runs left there is cleaned
    /// [default: reports/].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl DoctorArgs {
    pub fn options(&self) -> crate::preflight::DoctorRequest {
        crate::preflight::DoctorRequest {
            workload: self.workload.clone(),
            modes: self.unwind.0.clone(),
            fp_built: self.fp_built,
            out: self.out.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// The perf.data file (file or pipe format), or `-` for a pipe-format stream on stdin.
    pub input: PathBuf,
    /// Output folder [default: INPUT.analysis/, or ./analysis for stdin].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only stacks of this process name (comm); repeatable.
    #[arg(long = "process", value_name = "COMM")]
    pub processes: Vec<String>,
    /// Weight folded stacks by sample period (as inferno-collapse-perf) instead of by sample.
    #[arg(long)]
    pub period: bool,
    /// Show inlined functions as frames of their own.
    #[arg(long)]
    pub inline: bool,
    /// Read a truncated or corrupt file up to the damage instead of failing.
    #[arg(long)]
    pub partial: bool,
    /// Also look for binaries here (by file name, checked by build id); repeatable.
    #[arg(long)]
    pub search: Vec<PathBuf>,
    /// perf's build-id cache (the vDSO, copies of recorded binaries, the recorded kernel's
    /// kallsyms), as perf's --buildid-dir [default: ~/.debug].
    #[arg(long, value_name = "DIR")]
    pub buildid_dir: Option<PathBuf>,
    /// Kernel symbols of the running kernel.
    #[arg(long, default_value = "/proc/kallsyms")]
    pub kallsyms: PathBuf,
    /// Print stats.json on stdout.
    #[arg(long)]
    pub json: bool,
    /// Known stacks to score against: a JSON list of {comm, chain, optional_root, leaf_extras}
    /// (compare writes one per measurement of a program workload).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Threads that read and unwind a finished file, each taking a share of the samples; the
    /// output is the same for any number [default: the processors available].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Do not ask the debuginfod servers of DEBUGINFOD_URLS for debug files of stripped
    /// binaries (frames without symbols are then named by function boundaries).
    #[arg(long)]
    pub offline: bool,
    /// Also write profile.json.gz for the Firefox Profiler (open it at profiler.firefox.com
    /// or with `samply load`): processes, threads, every sample at its time, the stacks as
    /// folded, incomplete stacks in the category "Incomplete stack".
    #[arg(long)]
    pub profile: bool,
    /// Let the confined analysis read this folder too (binaries a recording mapped from
    /// outside the system's trees, such as a home folder); repeatable.
    #[arg(long = "read", value_name = "DIR")]
    pub allow_read: Vec<PathBuf>,
    /// Run unconfined: no Landlock, seccomp or capability drop (see "What runs as root" in
    /// the README).
    #[arg(long)]
    pub no_sandbox: bool,
}

impl AnalyzeArgs {
    pub fn options(&self) -> Result<AnalyzeOptions, String> {
        let truths = match &self.truth {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read --truth {}: {e}", p.display()))?;
                serde_json::from_str(&text).map_err(|e| {
                    format!("--truth {} is not a list of known stacks: {e}", p.display())
                })?
            }
            None => Vec::new(),
        };
        let out = self.out.clone().unwrap_or_else(|| {
            if self.input == std::path::Path::new("-") {
                PathBuf::from("analysis")
            } else {
                let mut p = self.input.clone().into_os_string();
                p.push(".analysis");
                PathBuf::from(p)
            }
        });
        let mut o = AnalyzeOptions::new(self.input.clone(), out);
        o.processes = self.processes.clone();
        o.weighting = if self.period {
            Weighting::Period
        } else {
            Weighting::Samples
        };
        o.inline = self.inline;
        o.partial = self.partial;
        o.search = self.search.clone();
        if let Some(dir) = &self.buildid_dir {
            o.buildid_dir = Some(dir.clone());
        }
        o.kallsyms = self.kallsyms.clone();
        o.truths = truths;
        o.offline = self.offline;
        o.profile = self.profile;
        o.allow_read = self.allow_read.clone();
        o.sandbox = !self.no_sandbox;
        if let Some(n) = self.threads {
            o.threads = usize::from(n);
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn compare_defaults_are_the_reference() {
        let cli = Cli::try_parse_from(["unwindbench", "compare"]).unwrap();
        let Command::Compare(args) = cli.command else {
            panic!("not compare")
        };
        let opts = args.options();
        assert_eq!(opts.modes.len(), 5);
        assert_eq!(opts.repeat, 3);
        assert_eq!(opts.workload, "nbd-null");
        assert_eq!(opts.runtime, None);
    }

    #[test]
    fn reference_preset_is_the_post() {
        let cli = Cli::try_parse_from(["unwindbench", "compare", "--preset", "reference"]).unwrap();
        let Command::Compare(args) = cli.command else {
            panic!("not compare")
        };
        let o = args.options();
        assert_eq!(o.workload, "nbd-null");
        assert_eq!(o.runtime, Some(std::time::Duration::from_secs(60)));
        assert_eq!(
            o.modes.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
            ["fp", "dwarf:4k", "dwarf:8k", "dwarf:16k", "dwarf:32k"]
        );
    }

    #[test]
    fn nightly_preset_is_short() {
        let cli = Cli::try_parse_from(["unwindbench", "compare", "--preset", "nightly"]).unwrap();
        let Command::Compare(args) = cli.command else {
            panic!("not compare")
        };
        let o = args.options();
        assert_eq!(o.runtime, Some(std::time::Duration::from_secs(20)));
        assert_eq!(o.modes.len(), 2);
        let cli = Cli::try_parse_from([
            "unwindbench",
            "compare",
            "--preset",
            "nightly",
            "--unwind",
            "fp",
        ])
        .unwrap();
        let Command::Compare(args) = cli.command else {
            panic!("not compare")
        };
        assert_eq!(
            args.options().modes,
            vec![UnwindMode::Fp],
            "explicit options win"
        );
    }

    #[test]
    fn bad_unwind_is_a_one_line_error() {
        let err = Cli::try_parse_from(["unwindbench", "compare", "--unwind", "fp,dwarf:100"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a multiple of 8"), "{err}");
        assert!(err.contains("valid modes"), "{err}");
    }
}
