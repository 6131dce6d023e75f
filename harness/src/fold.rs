//! Folding: identical stacks counted once, then, given a name per frame, merged and written in
//! Brendan Gregg's folded format (`comm;root;...;leaf count`), with the stack figures per
//! process. Data only: it reads no file and names nothing itself.
//!
//! Stacks are interned by where their frames are (module + file offset, or kernel address)
//! while records stream by; the caller names each distinct frame once (see
//! `analyze::name`), and [`StackTable::finish`] folds with those names. Memory grows with the
//! number of distinct stacks, not with the file.

use std::collections::BTreeMap;

use crate::fasthash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};

use crate::binary::{FileOffset, ModuleId};
use crate::unwind::bottoms::is_bottom_name;
use crate::unwind::UserEnd;

/// Where a frame is, before it has a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKey {
    User {
        module: ModuleId,
        offset: FileOffset,
    },
    /// A user address outside every known mapping.
    Unmapped,
    Kernel {
        addr: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct StackKey {
    comm: u32,
    end: UserEnd,
    main_thread: bool,
    /// Root first: user frames outermost to innermost, then kernel frames.
    frames: Box<[u32]>,
    user_len: u16,
}

#[derive(Clone, Copy, Debug, Default)]
struct Weight {
    samples: u64,
    period: u64,
    /// The stack's number, in the order stacks were first seen (what [`StackTable::add`]
    /// returns, and the index of [`StackTable::stacks`]).
    id: u32,
}

/// One distinct stack, for writers that need every stack by its number (the profile).
pub struct StackView<'a> {
    pub comm: &'a str,
    /// Frame ids, root first: user frames outermost to innermost, then kernel frames.
    pub frames: &'a [u32],
    /// How many of `frames` are user frames.
    pub user_len: usize,
    pub end: UserEnd,
    /// The completeness verdict the figures count: None when there is no user part to judge.
    pub complete: Option<bool>,
}

/// What the folded counts are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// One per sample (default).
    #[default]
    Samples,
    /// Sum of sample periods (what inferno-collapse-perf sums).
    Period,
}

/// Stack figures of one process name (or of all).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StackFigures {
    pub samples: u64,
    /// Samples with a user part to judge (kernel threads and idle have none).
    pub user_samples: u64,
    pub complete: u64,
    /// DWARF: the stack copy ended before the unwind did.
    pub out_of_stack: u64,
    pub unwind_errors: u64,
    /// complete / user_samples.
    pub completeness: Option<f64>,
    /// 1 - completeness: stacks ending before a real bottom ("unattached frames").
    pub truncated_share: Option<f64>,
    pub out_of_stack_share: Option<f64>,
    pub error_share: Option<f64>,
    /// Frames per sample (kernel + user).
    pub depth_p50: Option<u32>,
    pub depth_p99: Option<u32>,
    pub depth_max: Option<u32>,
    /// Samples by number of frames.
    #[serde(default)]
    pub depth_histogram: BTreeMap<u32, u64>,
}

/// Distinct stacks seen so far.
#[derive(Default)]
pub struct StackTable {
    frame_ids: HashMap<FrameKey, u32>,
    frames: Vec<FrameKey>,
    comm_ids: HashMap<String, u32>,
    comms: Vec<String>,
    stacks: HashMap<StackKey, Weight>,
    scratch: Vec<u32>,
}

impl StackTable {
    fn frame(&mut self, key: FrameKey) -> u32 {
        if let Some(&id) = self.frame_ids.get(&key) {
            return id;
        }
        let id = self.frames.len() as u32;
        self.frames.push(key);
        self.frame_ids.insert(key, id);
        id
    }

    fn comm(&mut self, comm: &str) -> u32 {
        if let Some(&id) = self.comm_ids.get(comm) {
            return id;
        }
        let id = self.comms.len() as u32;
        self.comms.push(comm.to_string());
        self.comm_ids.insert(comm.to_string(), id);
        id
    }

    /// Adds one sample. `user` and `kernel` are leaf first, as unwound. Returns the stack's
    /// number.
    pub fn add(
        &mut self,
        comm: &str,
        main_thread: bool,
        user: impl DoubleEndedIterator<Item = FrameKey>,
        kernel: impl DoubleEndedIterator<Item = FrameKey>,
        end: UserEnd,
        period: u64,
    ) -> u32 {
        let comm = self.comm(comm);
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for f in user.rev() {
            let id = self.frame(f);
            scratch.push(id);
        }
        let user_len = scratch.len().min(u16::MAX as usize) as u16;
        for f in kernel.rev() {
            let id = self.frame(f);
            scratch.push(id);
        }
        let key = StackKey {
            comm,
            end,
            main_thread,
            frames: scratch.as_slice().into(),
            user_len,
        };
        self.scratch = scratch;
        let id = self.stacks.len() as u32;
        let w = self.stacks.entry(key).or_insert(Weight {
            id,
            ..Weight::default()
        });
        w.samples += 1;
        w.period += period;
        w.id
    }

    /// Adds the stacks of another table (another pass's share of the samples); its module
    /// ids become `module_ids[id]`. Returns, by the other table's stack number, the number
    /// the stack has here.
    pub fn merge(&mut self, other: StackTable, module_ids: &[ModuleId]) -> Vec<u32> {
        let frame_ids: Vec<u32> = other
            .frames
            .iter()
            .map(|&f| {
                self.frame(match f {
                    FrameKey::User { module, offset } => FrameKey::User {
                        module: module_ids[module as usize],
                        offset,
                    },
                    other => other,
                })
            })
            .collect();
        let comm_ids: Vec<u32> = other.comms.iter().map(|c| self.comm(c)).collect();
        let mut stack_ids = vec![0; other.stacks.len()];
        for (key, w) in other.stacks {
            let key = StackKey {
                comm: comm_ids[key.comm as usize],
                frames: key.frames.iter().map(|&f| frame_ids[f as usize]).collect(),
                ..key
            };
            let id = self.stacks.len() as u32;
            let mine = self.stacks.entry(key).or_insert(Weight {
                id,
                ..Weight::default()
            });
            mine.samples += w.samples;
            mine.period += w.period;
            stack_ids[w.id as usize] = mine.id;
        }
        stack_ids
    }

    /// Every distinct stack, by its number, with its completeness verdict.
    pub fn stacks<'a>(&'a self, names: &[Vec<String>]) -> Vec<StackView<'a>> {
        let mut views: Vec<Option<StackView>> = Vec::new();
        views.resize_with(self.stacks.len(), || None);
        for (key, w) in &self.stacks {
            views[w.id as usize] = Some(StackView {
                comm: &self.comms[key.comm as usize],
                frames: &key.frames,
                user_len: usize::from(key.user_len),
                end: key.end,
                complete: verdict(key, names),
            });
        }
        views.into_iter().flatten().collect()
    }

    pub fn distinct_stacks(&self) -> usize {
        self.stacks.len()
    }

    pub fn distinct_frames(&self) -> usize {
        self.frames.len()
    }

    /// Whether any stack has a kernel frame.
    pub fn has_kernel_frames(&self) -> bool {
        self.frames
            .iter()
            .any(|f| matches!(f, FrameKey::Kernel { .. }))
    }

    /// Every distinct frame, by id (the index).
    pub fn frames(&self) -> &[FrameKey] {
        &self.frames
    }

    /// The folded stacks (sorted, merged after naming) and the figures per process name.
    pub fn finish(
        &self,
        names: &[Vec<String>],
        weighting: Weighting,
    ) -> (BTreeMap<String, u64>, BTreeMap<String, StackFigures>) {
        let mut folded: BTreeMap<String, u64> = BTreeMap::new();
        let mut depth: BTreeMap<String, BTreeMap<u32, u64>> = BTreeMap::new();
        let mut figures: BTreeMap<String, StackFigures> = BTreeMap::new();
        let mut line = String::new();
        for (key, w) in &self.stacks {
            let comm = &self.comms[key.comm as usize];
            line.clear();
            line.push_str(&comm.replace(' ', "_").replace(';', ":"));
            let mut count = 0u32;
            for &f in key.frames.iter() {
                for n in &names[f as usize] {
                    line.push(';');
                    line.push_str(n);
                    count += 1;
                }
            }
            *folded.entry(line.clone()).or_insert(0) += match weighting {
                Weighting::Samples => w.samples,
                Weighting::Period => w.period,
            };

            let complete = verdict(key, names);
            for who in [comm.as_str(), ALL] {
                let f = figures.entry(who.to_string()).or_default();
                f.samples += w.samples;
                if let Some(complete) = complete {
                    f.user_samples += w.samples;
                    if complete {
                        f.complete += w.samples;
                    } else if key.end == UserEnd::OutOfStack {
                        f.out_of_stack += w.samples;
                    } else if key.end == UserEnd::Error {
                        f.unwind_errors += w.samples;
                    }
                }
                *depth
                    .entry(who.to_string())
                    .or_default()
                    .entry(count)
                    .or_insert(0) += w.samples;
            }
        }
        for (who, f) in figures.iter_mut() {
            if f.user_samples > 0 {
                let n = f.user_samples as f64;
                f.completeness = Some(f.complete as f64 / n);
                f.truncated_share = Some(1.0 - f.complete as f64 / n);
                f.out_of_stack_share = Some(f.out_of_stack as f64 / n);
                f.error_share = Some(f.unwind_errors as f64 / n);
            }
            if let Some(h) = depth.remove(who) {
                f.depth_p50 = percentile(&h, 0.50);
                f.depth_p99 = percentile(&h, 0.99);
                f.depth_max = h.keys().next_back().copied();
                f.depth_histogram = h;
            }
        }
        (folded, figures)
    }
}

impl StackTable {
    /// Scores the stacks of each truth's process against it (user frames only: kernel frames
    /// of an interrupt are not part of the program's chain).
    pub fn score(
        &self,
        names: &[Vec<String>],
        truths: &[crate::accuracy::GroundTruth],
    ) -> Vec<crate::accuracy::Accuracy> {
        let mut scorers: Vec<crate::accuracy::Scorer> = truths
            .iter()
            .cloned()
            .map(crate::accuracy::Scorer::new)
            .collect();
        let mut user: Vec<&str> = Vec::new();
        for (key, w) in &self.stacks {
            let comm = &self.comms[key.comm as usize];
            let Some(s) = scorers.iter_mut().find(|s| &s.truth.comm == comm) else {
                continue;
            };
            if key.end == UserEnd::NoUser {
                continue;
            }
            user.clear();
            for &f in &key.frames[..usize::from(key.user_len)] {
                user.extend(names[f as usize].iter().map(String::as_str));
            }
            s.add(&user, w.samples);
        }
        scorers
            .into_iter()
            .map(crate::accuracy::Scorer::finish)
            .collect()
    }
}

/// Whether a stack reaches a real bottom: the unwinder found it, or the outermost frame is a
/// stack-bottom function. None when there is no user part to judge.
fn verdict(key: &StackKey, names: &[Vec<String>]) -> Option<bool> {
    if key.end == UserEnd::NoUser || key.user_len == 0 {
        return None;
    }
    let outermost = names[key.frames[0] as usize].first();
    let at_bottom = outermost.is_some_and(|n| is_bottom_name(n, key.main_thread));
    Some(key.end == UserEnd::Bottom || at_bottom)
}

/// The key under which figures over all processes are kept.
pub const ALL: &str = "*";

/// The value below which a share `q` of the weight lies, from a histogram.
pub fn percentile(hist: &BTreeMap<u32, u64>, q: f64) -> Option<u32> {
    let total: u64 = hist.values().sum();
    if total == 0 {
        return None;
    }
    let target = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (&value, &n) in hist {
        seen += n;
        if seen >= target {
            return Some(value);
        }
    }
    hist.keys().next_back().copied()
}

/// Writes folded lines, `stack count` each.
pub fn write_folded(
    folded: &BTreeMap<String, u64>,
    mut w: impl std::io::Write,
) -> std::io::Result<()> {
    for (stack, count) in folded {
        writeln!(w, "{stack} {count}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(offset: u64) -> FrameKey {
        FrameKey::User {
            module: 0,
            offset: FileOffset::new(offset),
        }
    }

    #[test]
    fn folds_root_first_and_scores_bottoms() {
        let mut t = StackTable::default();
        // leaf first: spin <- main <- __libc_start_call_main
        t.add(
            "prog",
            true,
            [u(3), u(2), u(1)].into_iter(),
            std::iter::empty(),
            UserEnd::Ended,
            10,
        );
        t.add(
            "prog",
            true,
            [u(3), u(2), u(1)].into_iter(),
            std::iter::empty(),
            UserEnd::Ended,
            10,
        );
        // truncated: spin <- worker (no bottom)
        t.add(
            "prog",
            false,
            [u(3), u(4)].into_iter(),
            [FrameKey::Kernel { addr: 9 }].into_iter(),
            UserEnd::OutOfStack,
            10,
        );
        // kernel thread
        t.add(
            "kworker/0:1",
            false,
            std::iter::empty(),
            [FrameKey::Kernel { addr: 9 }].into_iter(),
            UserEnd::NoUser,
            10,
        );
        let mut names = vec![Vec::new(); t.distinct_frames()];
        for (key, id) in &t.frame_ids {
            names[*id as usize] = vec![match key {
                FrameKey::User { offset, .. } if offset.get() == 1 => {
                    "__libc_start_call_main".into()
                }
                FrameKey::User { offset, .. } if offset.get() == 2 => "main".into(),
                FrameKey::User { offset, .. } if offset.get() == 3 => "spin".into(),
                FrameKey::User { offset, .. } if offset.get() == 4 => "worker".into(),
                _ => "irq_handler".into(),
            }];
        }
        let (folded, figures) = t.finish(&names, Weighting::Samples);
        assert_eq!(folded["prog;__libc_start_call_main;main;spin"], 2);
        assert_eq!(folded["prog;worker;spin;irq_handler"], 1);
        assert_eq!(folded["kworker/0:1;irq_handler"], 1);
        let p = &figures["prog"];
        assert_eq!(
            (p.samples, p.user_samples, p.complete, p.out_of_stack),
            (3, 3, 2, 1)
        );
        assert!((p.completeness.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(p.depth_p50, Some(3));
        assert_eq!(figures[ALL].samples, 4);
        assert_eq!(figures["kworker/0:1"].completeness, None);
        let (by_period, _) = t.finish(&names, Weighting::Period);
        assert_eq!(by_period["prog;__libc_start_call_main;main;spin"], 20);
    }

    #[test]
    fn main_is_a_bottom_only_on_the_main_thread() {
        let mut t = StackTable::default();
        t.add(
            "p",
            false,
            [u(3), u(2)].into_iter(),
            std::iter::empty(),
            UserEnd::Ended,
            1,
        );
        let mut names = vec![Vec::new(); t.distinct_frames()];
        for (key, id) in &t.frame_ids {
            names[*id as usize] = vec![if *key == u(2) { "main" } else { "spin" }.to_string()];
        }
        let (_, figures) = t.finish(&names, Weighting::Samples);
        assert_eq!(figures["p"].complete, 0);
    }

    #[test]
    fn percentiles() {
        let h: BTreeMap<u32, u64> = [(1, 50), (10, 49), (100, 1)].into_iter().collect();
        assert_eq!(percentile(&h, 0.5), Some(1));
        assert_eq!(percentile(&h, 0.99), Some(10));
        assert_eq!(percentile(&h, 1.0), Some(100));
        assert_eq!(percentile(&BTreeMap::new(), 0.5), None);
    }
}
