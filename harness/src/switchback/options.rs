//! How a switchback runs: its own file, so that [`super::run`] reads it without importing
//! the module that re-exports it (a circle for the layout check).

use std::time::Duration;

/// How a switchback runs.
#[derive(Clone, Debug, PartialEq)]
pub struct SwitchbackOptions {
    /// The measured part of each round. Default 250 ms (see the module's note on why short).
    pub round: Duration,
    /// Time after each switch that belongs to neither arm: the recorder's queue draining, the
    /// workload settling. Default 50 ms.
    pub settle: Duration,
    /// Time spent switching per mode; blocks run until it is spent. Default 60 s.
    pub duration: Duration,
    /// fio's log interval: I/Os are counted in intervals this long. Default 20 ms.
    pub log_interval: Duration,
    /// Seed of the order within blocks.
    pub seed: u64,
}

impl Default for SwitchbackOptions {
    fn default() -> Self {
        SwitchbackOptions {
            round: Duration::from_millis(250),
            settle: Duration::from_millis(50),
            duration: Duration::from_secs(60),
            log_interval: Duration::from_millis(20),
            seed: 1,
        }
    }
}

impl SwitchbackOptions {
    /// Wall time of one block, switching included (about).
    pub fn block(&self) -> Duration {
        (self.round + self.settle) * 2 + Duration::from_millis(2)
    }
}
