//! Time order, round by round, the way perf (and linux-perf-data) restores it.
//!
//! perf writes records per CPU buffer, so they arrive roughly, not strictly, in time
//! order; every FINISHED_ROUND record promises that nothing after it is older than what
//! came before the *previous* one. So at each round's end, the records not later than the
//! previous round's latest are released, in order, and the rest wait for the next round.
//! Both readers of files use this sorter: records read in place ([`super::mapped`]) and
//! those salvaged from a damaged file ([`super::salvage`]).

use std::collections::VecDeque;

/// A record's place in time order: its timestamp (None first: records without one), then
/// its offset in the file, which keeps records of equal time in file order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortKey {
    pub timestamp: Option<u64>,
    pub offset: u64,
}

/// Records of the current and the previous round, released in time order.
pub struct RoundSorter<T> {
    /// Released, in order.
    outgoing: VecDeque<T>,
    /// Read, not yet released.
    incoming: Vec<(SortKey, T)>,
    /// The latest key of the previous round and of this one.
    prev_max: SortKey,
    cur_max: SortKey,
    /// How many of `incoming` are not later than `prev_max`: released at the round's end.
    incoming_lte_prev_max: usize,
}

impl<T> Default for RoundSorter<T> {
    fn default() -> Self {
        RoundSorter {
            outgoing: VecDeque::new(),
            incoming: Vec::new(),
            prev_max: SortKey::default(),
            cur_max: SortKey::default(),
            incoming_lte_prev_max: 0,
        }
    }
}

impl<T> RoundSorter<T> {
    /// Takes in a record read in this round.
    pub fn insert(&mut self, key: SortKey, record: T) {
        if key <= self.prev_max {
            self.incoming_lte_prev_max += 1;
        } else if key > self.cur_max {
            self.cur_max = key;
        }
        self.incoming.push((key, record));
    }

    /// A FINISHED_ROUND: releases every record that no later round can precede (key <= the
    /// previous round's latest), in order.
    pub fn finish_round(&mut self) {
        let n = self.incoming_lte_prev_max;
        if n > 0 {
            self.incoming.select_nth_unstable_by_key(n - 1, |(k, _)| *k);
            self.incoming[..n].sort_unstable_by_key(|(k, _)| *k);
            self.outgoing
                .extend(self.incoming.drain(..n).map(|(_, r)| r));
        }
        self.prev_max = self.cur_max;
        self.incoming_lte_prev_max = self.incoming.len();
    }

    /// The end of the records: whatever is left comes out in order.
    pub fn finish(&mut self) {
        self.incoming.sort_unstable_by_key(|(k, _)| *k);
        self.outgoing
            .extend(self.incoming.drain(..).map(|(_, r)| r));
        self.incoming_lte_prev_max = 0;
    }

    /// The next released record.
    pub fn pop(&mut self) -> Option<T> {
        self.outgoing.pop_front()
    }

    /// Whether a released record is waiting.
    pub fn has_released(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Every record held, released or not (to see which bytes are still needed).
    pub fn held(&self) -> impl Iterator<Item = &T> {
        self.incoming
            .iter()
            .map(|(_, r)| r)
            .chain(self.outgoing.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: u64, offset: u64) -> SortKey {
        SortKey {
            timestamp: Some(t),
            offset,
        }
    }

    #[test]
    fn a_record_waits_until_no_later_round_can_precede_it() {
        let mut s = RoundSorter::default();
        s.insert(key(10, 0), "a");
        s.insert(key(30, 1), "c");
        s.finish_round();
        // Nothing is known to be final after the first round.
        assert!(!s.has_released());
        s.insert(key(20, 2), "b");
        s.insert(key(40, 3), "d");
        s.finish_round();
        // Up to 30 (the first round's latest) is final, in time order.
        assert_eq!(
            [s.pop(), s.pop(), s.pop()],
            [Some("a"), Some("b"), Some("c")]
        );
        s.finish();
        assert_eq!(s.pop(), Some("d"));
        assert_eq!(s.pop(), None);
    }

    #[test]
    fn equal_times_keep_file_order() {
        let mut s = RoundSorter::default();
        s.insert(key(5, 9), "second");
        s.insert(key(5, 1), "first");
        s.finish();
        assert_eq!([s.pop(), s.pop()], [Some("first"), Some("second")]);
    }
}
