//! Record statistics of one recording: what perf wrote and what it lost.
//!
//! Lost data is counted from the records themselves, never from perf's messages:
//! - *lost chunks*: the number of PERF_RECORD_LOST records (perf's "lost N chunks");
//! - *lost events*: how many records the kernel dropped. LOST records carry that count. perf
//!   6.x also writes, at the end of a recording, one PERF_RECORD_LOST_SAMPLES per event with
//!   the event's `PERF_FORMAT_LOST` counter; that counter counts the *same* drops (measured
//!   here: 175,324 in LOST records against 175,564 in the end-of-run LOST_SAMPLES), so adding
//!   the two would double-count. The kernel also emits LOST_SAMPLES of its own, with a
//!   timestamp, for samples it could not take at all (PEBS, for instance); those are extra.
//!   So: lost events = max(LOST sum, end-of-run LOST_SAMPLES sum) + timestamped LOST_SAMPLES.

use std::collections::BTreeMap;

use linux_perf_data::linux_perf_event_reader::{EventRecord, RecordType};
use linux_perf_data::PerfFileRecord;
use serde::{Deserialize, Serialize};

use super::records::{leading_u64, parse_record};
use super::threads::ThreadNames;
use super::{PerfData, PerfDataError, SamplingEvent};

/// Counts from one perf.data.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RecordStats {
    /// Records by type name (`SAMPLE`, `MMAP2`, `LOST`, ...), user records included.
    pub records_by_type: BTreeMap<String, u64>,
    pub samples: u64,
    /// PERF_RECORD_LOST records.
    pub lost_chunks: u64,
    /// Sum of the `lost` fields of the LOST records.
    pub lost_in_chunks: u64,
    /// Sum of perf's end-of-run LOST_SAMPLES (the events' lost counters).
    pub lost_samples_counter: u64,
    /// Sum of LOST_SAMPLES the kernel emitted during the run.
    pub lost_samples_kernel: u64,
    /// Lost events without double counting (see the module documentation).
    pub lost_events: u64,
    /// Samples per thread name (comm) at the time of the sample.
    pub samples_per_comm: BTreeMap<String, u64>,
    /// Time of the first and last sample (ns, perf clock).
    pub first_sample_ns: Option<u64>,
    pub last_sample_ns: Option<u64>,
    pub sampling_event: Option<SamplingEvent>,
    pub perf_version: Option<String>,
    /// Bytes read from the stream.
    pub bytes: u64,
    /// Records whose contents could not be parsed (corrupt): skipped, never guessed at.
    #[serde(default)]
    pub unparsable_records: u64,
    /// What the kernel gathered per sample, per thread name: the callchain entries it
    /// walked (frame pointers) and the user-stack bytes it copied (DWARF). The price of a
    /// sample depends on both, so the model places a workload's price by them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stacks_per_comm: BTreeMap<String, StackWork>,
}

/// Sums over a thread name's samples of the work the kernel did for their stacks.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StackWork {
    /// Callchain entries (kernel and user, context markers included).
    pub callchain_entries: u64,
    /// User-stack bytes copied (`dyn_size` of PERF_SAMPLE_STACK_USER).
    pub stack_bytes_copied: u64,
}

impl RecordStats {
    /// Share of the samples perf took that were lost: lost / (samples + lost), as perf's own
    /// "lost N%" warning computes it.
    pub fn lost_share(&self) -> f64 {
        let taken = self.samples + self.lost_events;
        if taken == 0 {
            0.0
        } else {
            self.lost_events as f64 / taken as f64
        }
    }

    /// Share of samples whose thread is named `comm` (e.g. `perf` for the sample-share
    /// overhead the reference used).
    pub fn sample_share(&self, comm: &str) -> f64 {
        if self.samples == 0 {
            return 0.0;
        }
        *self.samples_per_comm.get(comm).unwrap_or(&0) as f64 / self.samples as f64
    }

    /// Measured window covered by samples, in seconds.
    pub fn sampled_seconds(&self) -> Option<f64> {
        Some((self.last_sample_ns? - self.first_sample_ns?) as f64 / 1e9)
    }
}

/// Accumulates [`RecordStats`] from records as they stream by. Kept separate from the loop so
/// the analyzer can feed it the same records it unwinds.
#[derive(Default)]
pub struct StatsCollector {
    pub stats: RecordStats,
    pub threads: ThreadNames,
}

impl StatsCollector {
    pub fn new(data: &PerfData) -> StatsCollector {
        let mut c = StatsCollector::default();
        c.stats.sampling_event = Some(data.sampling_event());
        c.stats.perf_version = data.perf_version();
        c
    }

    /// Counts a record by type (and decodes LOST_SAMPLES, which the crate leaves raw).
    /// Returns false for records [`StatsCollector::event`] need not see.
    pub fn count(
        &mut self,
        record: &PerfFileRecord<'_>,
        endian: linux_perf_data::Endianness,
    ) -> bool {
        let s = &mut self.stats;
        match record {
            PerfFileRecord::UserRecord(user) => {
                *s.records_by_type
                    .entry(format!("{:?}", user.record_type))
                    .or_insert(0) += 1;
                false
            }
            PerfFileRecord::EventRecord { record, .. } => {
                *s.records_by_type
                    .entry(record_type_name(record.record_type))
                    .or_insert(0) += 1;
                if record.record_type == RecordType::LOST_SAMPLES {
                    // { u64 lost; sample_id }
                    let lost = leading_u64(&record.data.as_slice(), endian).unwrap_or(0);
                    // perf's end-of-run counters carry no time; the kernel's own do.
                    if record.timestamp().unwrap_or(0) == 0 {
                        s.lost_samples_counter += lost;
                    } else {
                        s.lost_samples_kernel += lost;
                    }
                    return false;
                }
                true
            }
        }
    }

    /// Takes in a parsed kernel record: samples, LOST, and thread names.
    pub fn event(&mut self, event: &EventRecord<'_>) {
        let s = &mut self.stats;
        match event {
            EventRecord::Sample(sample) => {
                s.samples += 1;
                if let Some(t) = sample.timestamp {
                    s.first_sample_ns.get_or_insert(t);
                    s.last_sample_ns = Some(t);
                }
                let tid = sample.tid.or(sample.pid).unwrap_or(-1);
                let name = self.threads.name(tid);
                match s.samples_per_comm.get_mut(name) {
                    Some(n) => *n += 1,
                    None => {
                        s.samples_per_comm.insert(name.to_string(), 1);
                    }
                }
                let chain = sample.callchain.as_ref().map_or(0, |c| c.len() as u64);
                let copied = sample
                    .user_stack
                    .as_ref()
                    .map_or(0, |(_, dyn_size)| *dyn_size);
                if chain > 0 || copied > 0 {
                    let w = match s.stacks_per_comm.get_mut(name) {
                        Some(w) => w,
                        None => s.stacks_per_comm.entry(name.to_string()).or_default(),
                    };
                    w.callchain_entries += chain;
                    w.stack_bytes_copied += copied;
                }
            }
            EventRecord::Lost(lost) => {
                s.lost_chunks += 1;
                s.lost_in_chunks += lost.count;
            }
            EventRecord::Comm(comm) => self.threads.comm(comm.tid, &comm.name.as_slice()),
            EventRecord::Fork(fork) => self.threads.fork(fork.tid, fork.ptid),
            _ => {}
        }
    }

    /// [`StatsCollector::count`] and [`StatsCollector::event`] in one, for callers that need
    /// nothing else of the record.
    pub fn observe(&mut self, record: &PerfFileRecord<'_>, endian: linux_perf_data::Endianness) {
        if !self.count(record, endian) {
            return;
        }
        if let PerfFileRecord::EventRecord { record, .. } = record {
            match parse_record(record) {
                Some(event) => self.event(&event),
                None => self.stats.unparsable_records += 1,
            }
        }
    }

    pub fn finish(mut self, bytes: u64) -> RecordStats {
        let s = &mut self.stats;
        s.lost_events = s.lost_in_chunks.max(s.lost_samples_counter) + s.lost_samples_kernel;
        s.bytes = bytes;
        self.stats
    }
}

fn record_type_name(t: RecordType) -> String {
    let name = format!("{t:?}");
    // The crate prints unknown types as `RecordType(N)`; keep those readable and stable.
    name.strip_prefix("RecordType(")
        .and_then(|n| n.strip_suffix(')'))
        .map(|n| format!("TYPE_{n}"))
        .unwrap_or(name)
}

/// Reads every record of `data`. Returns the statistics and, if reading stopped early, why:
/// the figures then cover only the records before the error.
pub fn collect(mut data: PerfData) -> (RecordStats, Option<PerfDataError>) {
    let mut collector = StatsCollector::new(&data);
    let endian = data.endian();
    let error = loop {
        match data.next_record() {
            Ok(Some(record)) => collector.observe(&record, endian),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    let bytes = data.position();
    (collector.finish(bytes), error)
}
