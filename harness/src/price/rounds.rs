//! From a session's perf.data to what each round cost: the samples that fell inside it, their
//! bytes, the samples lost, and the CPU time the round took with and without sampling.

use std::path::Path;

use linux_perf_data::linux_perf_event_reader::{EventRecord, RecordType};
use linux_perf_data::PerfFileRecord;
use serde::{Deserialize, Serialize};

use crate::perfdata;

use super::error::PriceError;

/// One sample of the session, as little as a round needs.
#[derive(Clone, Copy, Debug)]
struct Mark {
    time: u64,
    tid: i32,
    /// The record's size on disk (header included).
    bytes: u32,
    /// DWARF samples: the stack bytes the kernel actually copied (`dyn_size`).
    copied: u32,
    /// Frame-pointer samples: entries of the callchain (kernel and user, context markers
    /// included).
    chain: u32,
}

/// Samples and losses of one recording, in time order.
pub struct Marks {
    samples: Vec<Mark>,
    /// (time, events lost) of the kernel's LOST records.
    lost: Vec<(u64, u64)>,
}

impl Marks {
    pub fn read(path: &Path) -> Result<Marks, PriceError> {
        let mut data = perfdata::open(path, false)?;
        let endian = data.endian();
        let mut samples = Vec::new();
        let mut lost = Vec::new();
        while let Some(record) = data.next_record()? {
            let PerfFileRecord::EventRecord { record, .. } = record else {
                continue;
            };
            if record.record_type == RecordType::LOST_SAMPLES {
                let n = perfdata::leading_u64(&record.data.as_slice(), endian).unwrap_or(0);
                if let Some(t) = record.timestamp().filter(|t| *t > 0) {
                    lost.push((t, n));
                }
                continue;
            }
            let size = record.data.len() as u32 + 8;
            match perfdata::parse_record(&record) {
                Some(EventRecord::Sample(s)) => samples.push(Mark {
                    time: s.timestamp.unwrap_or(0),
                    tid: s.tid.or(s.pid).unwrap_or(-1),
                    bytes: size,
                    copied: s.user_stack.map_or(0, |(_, dyn_size)| dyn_size as u32),
                    chain: s.callchain.map_or(0, |c| c.len() as u32),
                }),
                Some(EventRecord::Lost(l)) => lost.push((record.timestamp().unwrap_or(0), l.count)),
                _ => {}
            }
        }
        samples.sort_by_key(|m| m.time);
        lost.sort_unstable();
        Ok(Marks { samples, lost })
    }

    fn between(&self, from: u64, to: u64) -> &[Mark] {
        let a = self.samples.partition_point(|m| m.time < from);
        let b = self.samples.partition_point(|m| m.time <= to);
        &self.samples[a..b.max(a)]
    }

    /// What sampling did in `[from, to]`: every CPU's samples, and the samples of thread
    /// `tid` in `[tid_from, tid_to]` (the round itself).
    pub fn window(&self, from: u64, to: u64, tid: i32, tid_from: u64, tid_to: u64) -> Window {
        let all = self.between(from, to);
        let own: Vec<&Mark> = self
            .between(tid_from, tid_to)
            .iter()
            .filter(|m| m.tid == tid)
            .collect();
        let lost = self
            .lost
            .iter()
            .filter(|(t, _)| (from..=to).contains(t))
            .map(|(_, n)| n)
            .sum();
        Window {
            samples: all.len() as u64,
            bytes: all.iter().map(|m| u64::from(m.bytes)).sum(),
            lost,
            own_samples: own.len() as u64,
            own_bytes: own.iter().map(|m| u64::from(m.bytes)).sum(),
            own_copied: own.iter().map(|m| u64::from(m.copied)).sum(),
            own_chain: own.iter().map(|m| u64::from(m.chain)).sum(),
        }
    }
}

/// Counts of one sampled round.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Window {
    /// Samples of every CPU between enable and disable, and their bytes.
    pub samples: u64,
    pub bytes: u64,
    /// Events the kernel lost in that time (should be 0: the buffer is sized for a round).
    pub lost: u64,
    /// Samples of the working thread during its round, their bytes, the stack bytes copied
    /// and the callchain entries (sums).
    pub own_samples: u64,
    pub own_bytes: u64,
    pub own_copied: u64,
    pub own_chain: u64,
}

/// A pair of rounds of the same work, one sampled and one not, in random order.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct PairedRound {
    /// CPU time of the working thread in the sampled and the unsampled round (ns).
    pub sampled_cpu_ns: u64,
    pub unsampled_cpu_ns: u64,
    /// perf's CPU time over each round, up to the point where it had read everything (ns).
    pub perf_sampled_ns: u64,
    pub perf_unsampled_ns: u64,
    pub window: Window,
}

impl PairedRound {
    /// Extra CPU time the sampled round took (may be negative: noise).
    pub fn work_extra_ns(&self) -> f64 {
        self.sampled_cpu_ns as f64 - self.unsampled_cpu_ns as f64
    }

    /// perf's extra CPU time for the sampled round.
    pub fn perf_extra_ns(&self) -> f64 {
        self.perf_sampled_ns as f64 - self.perf_unsampled_ns as f64
    }
}
