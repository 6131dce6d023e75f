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
    /// perf's ring buffer per CPU and session (`-m`). Default 16M: more than a round's
    /// samples at 16 kHz with the largest copy, so none is lost.
    pub buffer: String,
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
            buffer: "16M".into(),
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
