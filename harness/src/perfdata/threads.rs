//! Thread names over time, from COMM and FORK records.
//!
//! perf's `-a` recording starts with synthesized COMM records for every live thread; after
//! that, FORK gives a new thread its parent's name and COMM renames a thread (at exec, or by
//! prctl). A sample is named after its thread at the sample's time, which is what streaming
//! the records in time order gives for free.

use crate::fasthash::FxHashMap as HashMap;

/// The current name of every thread seen so far.
#[derive(Debug, Default)]
pub struct ThreadNames {
    names: HashMap<i32, Box<str>>,
}

impl ThreadNames {
    /// A thread got a name (COMM record).
    pub fn comm(&mut self, tid: i32, name: &[u8]) {
        let name = String::from_utf8_lossy(name);
        self.names.insert(tid, name.into_owned().into_boxed_str());
    }

    /// A thread was created (FORK record): it starts with its parent's name. A reused tid
    /// thereby drops the name of the thread that had it before.
    pub fn fork(&mut self, tid: i32, parent_tid: i32) {
        match self.names.get(&parent_tid).cloned() {
            Some(name) => {
                self.names.insert(tid, name);
            }
            None => {
                self.names.remove(&tid);
            }
        }
    }

    /// The thread's name; tid 0 is the idle task, which perf calls `swapper`.
    pub fn name(&self, tid: i32) -> &str {
        match self.names.get(&tid) {
            Some(name) => name,
            None if tid == 0 => "swapper",
            None => "[unknown]",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fork_inherits_and_comm_renames() {
        let mut t = ThreadNames::default();
        t.comm(10, b"perf");
        t.fork(11, 10);
        assert_eq!(t.name(11), "perf");
        t.comm(11, b"nbdkit");
        assert_eq!(t.name(11), "nbdkit");
        assert_eq!(t.name(10), "perf");
        assert_eq!(t.name(0), "swapper");
        assert_eq!(t.name(99), "[unknown]");
        // tid reuse by a child of an unknown parent forgets the old name
        t.fork(11, 500);
        assert_eq!(t.name(11), "[unknown]");
    }
}
