//! How the price list is measured.

use std::time::Duration;

use super::capacity::CapacityOptions;
use super::list::Variant;
use crate::mode::UnwindMode;

/// How the price list is measured; defaults in [`PriceOptions::new`].
#[derive(Clone, Debug)]
pub struct PriceOptions {
    /// Modes priced. Default: none, fp, dwarf:8k, dwarf:32k.
    pub modes: Vec<UnwindMode>,
    /// Sampling rates (Hz). Default 1000, 4000, 16000; rates above the kernel's
    /// `perf_event_max_sample_rate` are dropped with a note.
    pub freqs: Vec<u32>,
    /// Default: shallow and deep.
    pub variants: Vec<Variant>,
    /// Cycles: pairs of rounds (one sampled, one not) per stack, mode and rate. Default 30.
    pub pairs: usize,
    /// CPU time of an unsampled round. Default 25 ms.
    pub round: Duration,
    /// perf's ring buffer per CPU and session (`-m`), in bytes. Default: None, sized per
    /// mode and rate by [`ring_buffer_bytes`] to hold two rounds' samples.
    pub buffer: Option<u64>,
    /// Seeds the order of rounds and the bootstrap. Default 1.
    pub seed: u64,
    /// Also measure what perf can write ([`capacity`]). Default: on.
    pub capacity: Option<CapacityOptions>,
}

impl PriceOptions {
    pub fn new(modes: Vec<UnwindMode>) -> PriceOptions {
        PriceOptions {
            modes,
            freqs: vec![1000, 4000, 16000],
            variants: vec![Variant::Shallow, Variant::Deep],
            pairs: 30,
            round: Duration::from_millis(25),
            buffer: None,
            seed: 1,
            capacity: Some(CapacityOptions::default()),
        }
    }

    /// Pairs of rounds this will run.
    pub fn pair_count(&self) -> usize {
        self.variants.len() * self.modes.len() * self.freqs.len() * self.pairs
    }
}

/// About how long [`measure`] takes: the rounds, perf's start and stop per session, the
/// capacity recording.
pub fn expected_duration(opts: &PriceOptions) -> Duration {
    // Each round pair: two rounds, their control round trips and some scheduling slack.
    let pair = opts.round * 2 + Duration::from_millis(12);
    pair * opts.pair_count() as u32
        + Duration::from_secs(2)
        + opts
            .capacity
            .as_ref()
            .map_or(Duration::ZERO, |c| c.duration + Duration::from_secs(5))
}

/// A ring buffer (per CPU) that holds two rounds' samples of `mode` at `freq` with room to
/// spare, so that none is lost while perf catches up: a lost sample would skip the very work
/// being priced. A power of two (perf's rule), 1 MiB to 64 MiB.
pub fn ring_buffer_bytes(mode: crate::mode::UnwindMode, freq: u32, round: Duration) -> u64 {
    let per_round =
        f64::from(freq) * round.as_secs_f64() * 1.5 * f64::from(mode.stack_copy_bytes() + 512);
    ((2.0 * per_round) as u64)
        .next_power_of_two()
        .clamp(1 << 20, 64 << 20)
}
