//! The price list itself (prices.json): what a sample costs per mode and stack, the sink's
//! capacity, and the rounds behind them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::capacity::SinkCapacity;
use super::error::PriceError;
use super::rounds::PairedRound;
use crate::stats::Interval;

/// The modes `calibrate` prices unless told otherwise: sampling alone, frame pointers, and the
/// two DWARF sizes of the default comparison.
pub const DEFAULT_PRICED_MODES: &str = "none,fp,dwarf:8k,dwarf:32k";

/// Bumped when a field of prices.json changes meaning.
pub const PRICES_SCHEMA_VERSION: u32 = 1;

/// A stack the work runs at.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// 4 levels: a frame-pointer walk of a few frames, a DWARF copy cut short by the stack's
    /// end.
    Shallow,
    /// 100 levels of 704 bytes: a walk of about 100 frames, a full DWARF copy at any size.
    Deep,
}

impl Variant {
    pub fn depth(self) -> u32 {
        match self {
            Variant::Shallow => 4,
            Variant::Deep => 100,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Variant::Shallow => "shallow",
            Variant::Deep => "deep",
        }
    }
}

/// The price of one mode at one stack.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModePrice {
    /// Canonical mode spelling (`fp`, `dwarf:8k`).
    pub mode: String,
    pub variant: Variant,
    /// Levels of the work's stack.
    pub depth: u32,
    /// Kernel-side cost: extra CPU time of the sampled thread per sample it took (ns).
    pub kernel_ns: Option<Interval>,
    /// Recorder-side cost: perf's extra CPU time per sample written, all CPUs (ns).
    pub recorder_ns: Option<Interval>,
    /// The two together: what one sample costs the machine (ns).
    pub total_ns: Option<Interval>,
    /// perf's extra CPU time per MB written (ms per MB).
    pub recorder_ms_per_mb: Option<Interval>,
    /// The fitted extra time per round when no sample is taken (ns): should be near 0.
    pub intercept_ns: Option<f64>,
    /// Mean bytes of the working thread's samples on disk.
    pub bytes_per_sample: Option<f64>,
    /// Mean stack bytes the kernel copied per sample (DWARF), and callchain entries per
    /// sample (frame pointers; kernel and user).
    pub copied_per_sample: Option<f64>,
    pub chain_per_sample: Option<f64>,
    /// Paired rounds behind the figures, the working thread's samples in them, and events
    /// lost during sampled rounds (which would make the price too low).
    pub rounds: usize,
    pub samples: u64,
    pub lost: u64,
}

/// The rounds of one stack, mode and rate, kept so the figures can be recomputed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    pub mode: String,
    pub variant: Variant,
    pub freq: u32,
    pub rounds: Vec<PairedRound>,
}

/// prices.json.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PriceList {
    pub schema_version: u32,
    pub tool: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub machine: crate::machine::Machine,
    /// CPUs of the work and of perf (the same one on a single-CPU machine).
    pub work_cpu: usize,
    pub perf_cpu: usize,
    pub freqs: Vec<u32>,
    pub pairs: usize,
    pub round_ms: f64,
    /// Iterations of the work per round.
    pub iterations: u64,
    pub seed: u64,
    pub prices: Vec<ModePrice>,
    #[serde(default)]
    pub capacity: Option<SinkCapacity>,
    /// Things the reader must know (rates dropped, losses, single CPU...).
    pub notes: Vec<String>,
    pub sessions_raw: Vec<SessionRecord>,
}

impl PriceList {
    /// The stacks measured, in order.
    pub fn variants(&self) -> Vec<Variant> {
        let mut v: Vec<Variant> = self.prices.iter().map(|p| p.variant).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The modes priced, in the list's order.
    pub fn modes(&self) -> Vec<String> {
        let mut modes: Vec<String> = Vec::new();
        for p in &self.prices {
            if !modes.contains(&p.mode) {
                modes.push(p.mode.clone());
            }
        }
        modes
    }

    /// The price of `mode` at `variant`.
    pub fn price(&self, mode: &str, variant: Variant) -> Option<&ModePrice> {
        self.prices
            .iter()
            .find(|p| p.mode == mode && p.variant == variant)
    }
}

/// Reads a prices.json (written by [`crate::report::prices::write`]).
pub fn load(path: &Path) -> Result<PriceList, PriceError> {
    let text = std::fs::read_to_string(path).map_err(|source| PriceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let list: PriceList = serde_json::from_str(&text).map_err(|e| {
        PriceError::Options(format!(
            "{} is not a prices.json this version reads: {e}",
            path.display()
        ))
    })?;
    if list.schema_version > PRICES_SCHEMA_VERSION {
        return Err(PriceError::Options(format!(
            "{} has schema_version {}; this build reads up to {PRICES_SCHEMA_VERSION}",
            path.display(),
            list.schema_version
        )));
    }
    Ok(list)
}
