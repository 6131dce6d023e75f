//! Scoring stacks against ground truth: for a program whose call chain is known, how many
//! samples came out exactly right, how many were cut short, how many contain a frame that is
//! not on the chain.

use serde::{Deserialize, Serialize};

/// The stack a program's threads run, root first.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GroundTruth {
    /// The process (comm) it applies to.
    pub comm: String,
    /// Function names from the thread's bottom to the leaf.
    pub chain: Vec<String>,
    /// Frames that may sit below the chain's first one (the thread start's caller).
    pub optional_root: Vec<String>,
    /// Frames the leaf calls, which may sit above it (a clock read in the spin loop).
    pub leaf_extras: Vec<String>,
}

/// How one process's stacks compare with the truth.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Accuracy {
    pub comm: String,
    /// Samples with a user stack.
    pub samples: u64,
    /// The whole chain, from the thread's bottom to the leaf.
    pub exact: u64,
    /// The leaf end of the chain, missing frames at the bottom.
    pub truncated: u64,
    /// Anything else: a frame that is not on the chain, or frames out of order.
    pub wrong: u64,
    pub exact_share: f64,
    pub truncated_share: f64,
    pub wrong_share: f64,
}

/// The verdict on one stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Exact,
    Truncated,
    Wrong,
}

impl GroundTruth {
    /// Judges user frames given root first.
    pub fn judge(&self, frames: &[&str]) -> Verdict {
        let mut f = frames;
        while let [first, rest @ ..] = f {
            if self.optional_root.iter().any(|r| r == first) {
                f = rest;
            } else {
                break;
            }
        }
        // Drop the leaf's own callees above the leaf.
        let mut end = f.len();
        while end > 0 && self.leaf_extras.iter().any(|e| e == f[end - 1]) {
            end -= 1;
        }
        let core = &f[..end];
        let chain: Vec<&str> = self.chain.iter().map(String::as_str).collect();
        if core == chain.as_slice() {
            Verdict::Exact
        } else if !core.is_empty() && core.len() < chain.len() && chain.ends_with(core) {
            Verdict::Truncated
        } else {
            Verdict::Wrong
        }
    }
}

/// Accumulates verdicts for one truth.
#[derive(Clone, Debug)]
pub struct Scorer {
    pub truth: GroundTruth,
    acc: Accuracy,
}

impl Scorer {
    pub fn new(truth: GroundTruth) -> Scorer {
        let acc = Accuracy {
            comm: truth.comm.clone(),
            ..Accuracy::default()
        };
        Scorer { truth, acc }
    }

    /// Adds `n` samples of a stack of the truth's process.
    pub fn add(&mut self, frames: &[&str], n: u64) {
        if frames.is_empty() {
            return;
        }
        self.acc.samples += n;
        match self.truth.judge(frames) {
            Verdict::Exact => self.acc.exact += n,
            Verdict::Truncated => self.acc.truncated += n,
            Verdict::Wrong => self.acc.wrong += n,
        }
    }

    pub fn finish(mut self) -> Accuracy {
        let n = self.acc.samples.max(1) as f64;
        self.acc.exact_share = self.acc.exact as f64 / n;
        self.acc.truncated_share = self.acc.truncated as f64 / n;
        self.acc.wrong_share = self.acc.wrong as f64 / n;
        self.acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth() -> GroundTruth {
        GroundTruth {
            comm: "p".into(),
            chain: ["start_thread", "worker", "a", "b", "leaf"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            optional_root: vec!["clone3".into()],
            leaf_extras: vec!["now_ms".into(), "[vdso]".into()],
        }
    }

    #[test]
    fn verdicts() {
        let t = truth();
        assert_eq!(
            t.judge(&["start_thread", "worker", "a", "b", "leaf"]),
            Verdict::Exact
        );
        assert_eq!(
            t.judge(&[
                "clone3",
                "start_thread",
                "worker",
                "a",
                "b",
                "leaf",
                "now_ms",
                "[vdso]"
            ]),
            Verdict::Exact
        );
        assert_eq!(t.judge(&["a", "b", "leaf"]), Verdict::Truncated);
        assert_eq!(t.judge(&["leaf", "now_ms"]), Verdict::Truncated);
        assert_eq!(
            t.judge(&["start_thread", "worker", "b", "leaf"]),
            Verdict::Wrong,
            "a frame missing in the middle"
        );
        assert_eq!(
            t.judge(&["start_thread", "worker", "a", "x", "b", "leaf"]),
            Verdict::Wrong
        );
        assert_eq!(t.judge(&["[unknown]", "b", "leaf"]), Verdict::Wrong);
        assert_eq!(t.judge(&["main"]), Verdict::Wrong);
    }

    #[test]
    fn shares() {
        let mut s = Scorer::new(truth());
        s.add(&["start_thread", "worker", "a", "b", "leaf"], 8);
        s.add(&["b", "leaf"], 1);
        s.add(&["garbage", "leaf"], 1);
        s.add(&[], 5);
        let a = s.finish();
        assert_eq!((a.samples, a.exact, a.truncated, a.wrong), (10, 8, 1, 1));
        assert!((a.exact_share - 0.8).abs() < 1e-12);
    }
}
