//! The order of the arms: blocks of one sampled and one unsampled round, the order inside
//! each block drawn at random (seeded, so a run can be repeated), so that neither arm is
//! always first after a switch and a trend in the host reaches both alike.

use super::estimate::Arm;
use crate::stats::SplitMix64;

/// An endless sequence of blocks.
pub struct Schedule {
    rng: SplitMix64,
}

impl Schedule {
    pub fn new(seed: u64) -> Schedule {
        Schedule {
            rng: SplitMix64::new(seed),
        }
    }

    /// The next block's two arms, in the order they run.
    pub fn next_block(&mut self) -> [Arm; 2] {
        if self.rng.below(2) == 0 {
            [Arm::On, Arm::Off]
        } else {
            [Arm::Off, Arm::On]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_hold_both_arms_in_both_orders_reproducibly() {
        let blocks: Vec<[Arm; 2]> = {
            let mut s = Schedule::new(9);
            (0..200).map(|_| s.next_block()).collect()
        };
        assert!(blocks.iter().all(|b| b[0] != b[1]));
        let on_first = blocks.iter().filter(|b| b[0] == Arm::On).count();
        assert!((70..=130).contains(&on_first), "{on_first}");
        let mut again = Schedule::new(9);
        assert!(blocks.iter().all(|b| *b == again.next_block()));
    }
}
