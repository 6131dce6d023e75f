//! One pass over a recording's records in time order: statistics, address spaces, unwinding,
//! and interning of stacks as they come.
//!
//! A finished file can be read by several passes at once, one per thread (see
//! [`PerfData::sibling`]). Every pass reads every record and keeps its own address spaces and
//! unwinders in step with them, but unwinds only its share of the samples (sample k goes to
//! pass k mod n); only the first pass counts the statistics. The passes' stacks are then
//! merged: the result is the same whatever the number of passes, because each sample is
//! unwound with the address space of its own time, and modules get the same ids in every
//! pass (they are numbered in the order of the mapping records, which all passes read alike).

use linux_perf_data::linux_perf_event_reader::{CpuMode, EventRecord, RecordType, SampleRecord};
use linux_perf_data::{Endianness, PerfFileRecord};

use super::profile::SampleRef;
use crate::binary::{FileFinder, ModuleTable};
use crate::fold::{FrameKey, StackTable};
use crate::perfdata::stats::StatsCollector;
use crate::perfdata::{self, PerfData, PerfDataError, Recorded};
use crate::sweep::SweepCollector;
use crate::unwind::bottoms::{BottomIndex, ModuleBottoms};
use crate::unwind::callchain;
use crate::unwind::dwarf::at_entry_point;
use crate::unwind::tracker::Tracker;
use crate::unwind::{Frames, UserEnd};

/// Which samples a pass unwinds: those whose number (in time order) is `index` mod `count`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Share {
    pub index: u64,
    pub count: u64,
}

impl Share {
    /// The first pass also counts records and samples for the statistics.
    fn keeps_stats(self) -> bool {
        self.index == 0
    }
}

/// What every pass of one analysis shares.
pub(super) struct Context<'a> {
    pub recorded: Recorded,
    pub endian: Endianness,
    pub finder: &'a FileFinder,
    /// Stack bottoms of the files met, found once for all passes (the sweep's).
    pub bottoms: &'a BottomIndex,
    /// Only samples of these process names go into the stacks; empty: all.
    pub processes: &'a [String],
    /// Stop at damage with its description instead of failing (--partial).
    pub partial: bool,
    /// Keep every sample's time, thread and stack, for the profile (--profile).
    pub keep_samples: bool,
}

impl Context<'_> {
    fn wanted(&self, comm: &str) -> bool {
        self.processes.is_empty() || self.processes.iter().any(|p| p == comm)
    }
}

/// One pass's state and findings.
pub(super) struct Pass {
    share: Share,
    pub tracker: Tracker,
    pub stats: StatsCollector,
    pub table: StackTable,
    pub sweep: Option<SweepCollector>,
    /// Every sample of this pass, with `Context::keep_samples`.
    pub samples: Vec<SampleRef>,
    frames: Frames,
    frame_bytes: Vec<u32>,
    bottoms: ModuleBottoms,
}

/// The kernel's callchain of `sample` split into its kernel and user parts (both empty
/// without one).
fn split_callchain(sample: &SampleRecord, frames: &mut Frames) {
    match &sample.callchain {
        Some(chain) => callchain::split(chain, frames),
        None => {
            frames.kernel.clear();
            frames.user.clear();
        }
    }
}

/// What the profile keeps of a sample: its time, thread and stack number.
fn sample_ref(sample: &SampleRecord, number: u64, stack: u32) -> SampleRef {
    SampleRef {
        time: sample.timestamp.unwrap_or(0),
        number,
        pid: sample.pid.unwrap_or(-1),
        tid: sample.tid.unwrap_or(-1),
        stack,
    }
}

impl Pass {
    pub fn new(
        share: Share,
        modules: ModuleTable,
        stats: StatsCollector,
        recorded: Recorded,
    ) -> Pass {
        Pass {
            share,
            tracker: Tracker::new(modules),
            stats,
            table: StackTable::default(),
            sweep: match recorded {
                Recorded::Dwarf { stack_bytes } => Some(SweepCollector::new(stack_bytes)),
                _ => None,
            },
            samples: Vec::new(),
            frames: Frames::default(),
            frame_bytes: Vec::new(),
            bottoms: ModuleBottoms::default(),
        }
    }

    /// Reads `data` to its end. Ok(Some(error)): damage met with `partial` set; the records
    /// before it were taken in.
    pub fn run(
        &mut self,
        data: &mut PerfData,
        ctx: &Context,
    ) -> Result<Option<String>, PerfDataError> {
        let mut sample_number: u64 = 0;
        let path = data.path.clone();
        let interrupted = || PerfDataError::Interrupted { path: path.clone() };
        loop {
            // A stop signal ends the pass, whatever the input (the flag is one atomic load).
            if crate::process::interrupted().is_some() {
                return Err(interrupted());
            }
            let record = match data.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(None),
                Err(_) if crate::process::interrupted().is_some() => return Err(interrupted()),
                Err(e) if ctx.partial => return Ok(Some(e.to_string())),
                Err(e) => return Err(e),
            };
            let mine = match &record {
                PerfFileRecord::EventRecord { record, .. }
                    if record.record_type == RecordType::SAMPLE =>
                {
                    sample_number += 1;
                    (sample_number - 1) % self.share.count == self.share.index
                }
                _ => true,
            };
            if !mine && !self.share.keeps_stats() {
                // Another pass's sample: not even parsed here.
                continue;
            }
            if !self.stats.count(&record, ctx.endian) {
                continue;
            }
            let PerfFileRecord::EventRecord { record, .. } = &record else {
                continue;
            };
            let Some(event) = perfdata::parse_record(record) else {
                self.stats.stats.unparsable_records += 1;
                continue;
            };
            self.stats.event(&event);
            match &event {
                EventRecord::Sample(sample) if mine => self.sample(sample, ctx, sample_number),
                _ => self.tracker.apply(&event, ctx.finder),
            }
        }
    }

    fn sample(&mut self, sample: &SampleRecord, ctx: &Context, number: u64) {
        let tid = sample.tid.unwrap_or(-1);
        let pid = sample.pid.unwrap_or(-1);
        let main_thread = pid == tid && pid > 0;
        let comm = self.stats.threads.name(tid);
        if !ctx.wanted(comm) {
            return;
        }
        let frames = &mut self.frames;
        let space = self.tracker.spaces.space(pid);
        let end = match ctx.recorded {
            Recorded::Dwarf { .. } => {
                split_callchain(sample, frames);
                // Field by field: `space` above borrows the address spaces.
                let user = self.tracker.dwarf.unwind(
                    sample,
                    &self.tracker.spaces,
                    &self.tracker.modules,
                    ctx.finder,
                    &mut frames.user,
                    &mut self.frame_bytes,
                );
                if let Some(sweep) = self.sweep.as_mut() {
                    let bottoms = &mut self.bottoms;
                    let shared = (&self.tracker.modules, ctx.finder, ctx.bottoms);
                    let user_frames = &frames.user;
                    let is_bottom = |k: usize| {
                        let addr = user_frames[k];
                        space.and_then(|s| s.find(addr)).is_some_and(|m| {
                            bottoms.is_bottom(m.module, m.file_offset(addr), main_thread, shared)
                        })
                    };
                    sweep.add(
                        comm,
                        user.end,
                        &self.frame_bytes,
                        is_bottom,
                        user.bytes_used,
                    );
                }
                if frames.user.is_empty() && sample.cpu_mode == CpuMode::User {
                    // No stack copy (e.g. mid-exec): at least the sampled address.
                    frames.user.extend(sample.ip);
                }
                user.end
            }
            Recorded::Callchain => {
                split_callchain(sample, frames);
                match frames.user.last() {
                    None => UserEnd::NoUser,
                    // A chain that reaches the program's entry point (`_start`, which has no
                    // name in a stripped binary) is whole: the online recorder's chains do.
                    Some(&last)
                        if at_entry_point(last, space, &self.tracker.modules, ctx.finder) =>
                    {
                        UserEnd::Bottom
                    }
                    Some(_) => UserEnd::Ended,
                }
            }
            Recorded::None => {
                frames.kernel.clear();
                frames.user.clear();
                let ip = sample.ip.unwrap_or(0);
                if sample.cpu_mode == CpuMode::Kernel {
                    frames.kernel.push(ip);
                } else {
                    frames.user.push(ip);
                }
                UserEnd::NoUser
            }
        };
        let user_keys = frames
            .user
            .iter()
            .map(|&a| match space.and_then(|s| s.find(a)) {
                Some(m) => FrameKey::User {
                    module: m.module,
                    offset: m.file_offset(a),
                },
                None => FrameKey::Unmapped,
            });
        let kernel_keys = frames.kernel.iter().map(|&addr| FrameKey::Kernel { addr });
        let stack = self.table.add(
            comm,
            main_thread,
            user_keys,
            kernel_keys,
            end,
            sample.period.unwrap_or(1),
        );
        if ctx.keep_samples {
            self.samples.push(sample_ref(sample, number, stack));
        }
    }

    /// Takes in what another pass over the same records found: its stacks, its sweep, and
    /// the module files it loaded (so naming need not load them again).
    pub fn absorb(&mut self, other: Pass) {
        let module_ids = self.tracker.modules.absorb(other.tracker.modules);
        let stack_ids = self.table.merge(other.table, &module_ids);
        self.samples
            .extend(other.samples.into_iter().map(|s| SampleRef {
                stack: stack_ids[s.stack as usize],
                ..s
            }));
        if let (Some(mine), Some(theirs)) = (self.sweep.as_mut(), other.sweep) {
            mine.merge(theirs);
        }
    }
}
