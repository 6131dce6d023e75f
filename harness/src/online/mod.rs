//! The online recorder (`online:SIZE` modes): DWARF-quality stacks at frame-pointer size.
//!
//! perf's DWARF mode writes every sample's raw stack copy to disk and unwinds later. This
//! recorder samples system-wide like `perf record -a` (one event per CPU, [`ring`]), takes
//! the same copy of the user stack, and unwinds each sample as it arrives with the tracker and
//! framehop unwinder `analyze` uses ([`crate::unwind::tracker`]). It keeps only the frames:
//! its output is a perf.data whose samples carry callchains ([`writer`]), so `perf report`,
//! `perf script` and `unwindbench analyze` read it as they read a frame-pointer recording.
//!
//! Records are taken from all rings in rounds; each round is put in time order before it is
//! applied, so a process mapped on one CPU and sampled on another is unwound with the mapping.
//! Back-pressure is measured: how far behind the sample clock each sample was unwound, and the
//! kernel's LOST records (written through to the output, counted as perf's are).

pub mod control;
pub mod deferred;
pub mod ring;
pub mod synth;
mod take;
pub mod writer;

use std::path::PathBuf;
use std::time::Duration;

use linux_perf_data::linux_perf_event_reader::constants::PERF_CONTEXT_USER;
use linux_perf_data::linux_perf_event_reader::{
    CpuMode, RawData, RawDataU64, RawEventRecord, RecordType, Regs, SampleRecord,
};

use crate::binary::{FileFinder, ModuleTable};
use crate::process;
use crate::unwind::tracker::Tracker;
use ring::{Rings, USER_REGS_MASK};
use take::{take, Taken, TakenSample};
use writer::{PerfDataWriter, FINISHED_ROUND};

/// The recorder's process name: its samples are its own cost, as `perf`'s are perf's.
pub const RECORDER_COMM: &str = "unwindbench";

/// What `unwindbench online-record` is asked to do.
#[derive(Clone, Debug)]
pub struct OnlineOptions {
    pub output: PathBuf,
    /// Bytes of user stack copied per sample (as perf's `--call-graph dwarf,SIZE`).
    pub stack_bytes: u32,
    /// Samples per second per CPU; None: perf's default of 4000 Hz (capped as perf caps it).
    pub freq: Option<u32>,
    /// Time before the events are enabled (perf's `--delay`).
    pub delay: Duration,
    /// perf's control FIFOs (`--control fifo:CTL,ACK`): sampling starts off and follows the
    /// harness's `enable` and `disable` ([`control`]).
    pub control: Option<(PathBuf, PathBuf)>,
    /// Sample only these threads (perf's `-t`); empty: every process (`-a`).
    pub tids: Vec<i32>,
}

/// What a recording did.
#[derive(Clone, Debug, Default)]
pub struct OnlineSummary {
    pub event: &'static str,
    pub samples: u64,
    /// Samples whose user stack was unwound to a frame the unwinder itself calls the bottom.
    pub unwound_to_bottom: u64,
    pub lost_chunks: u64,
    pub lost_events: u64,
    /// Samples the recorder itself could not read (written as one LOST_SAMPLES record, so
    /// they count among the lost events as the kernel's do).
    pub unreadable: u64,
    /// How long after it was taken each sample was unwound: the median and the worst.
    pub lag_median_s: f64,
    pub lag_max_s: f64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    #[error(transparent)]
    Ring(#[from] ring::RingError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot enable the sampling events: {0}")]
    Enable(std::io::Error),
}

/// perf's default frequency, capped by the kernel's maximum as perf caps it.
fn frequency(asked: Option<u32>) -> u64 {
    u64::from(crate::machine::capped_frequency(
        asked,
        crate::machine::max_sample_rate(),
    ))
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The recording's state between rounds.
struct Recorder {
    rings: Rings,
    out: PerfDataWriter,
    tracker: Tracker,
    finder: FileFinder,
    summary: OnlineSummary,
    lags_ms: Vec<u32>,
    user: Vec<u64>,
    frame_bytes: Vec<u32>,
    chain: Vec<u8>,
}

impl Recorder {
    fn new(rings: Rings, out: PerfDataWriter, tracker: Tracker, finder: FileFinder) -> Recorder {
        Recorder {
            rings,
            out,
            tracker,
            finder,
            summary: OnlineSummary::default(),
            lags_ms: Vec::new(),
            user: Vec::new(),
            frame_bytes: Vec::new(),
            chain: Vec::new(),
        }
    }

    fn write_error(&self, source: std::io::Error) -> OnlineError {
        OnlineError::Write {
            path: self.out.path().to_path_buf(),
            source,
        }
    }

    /// Applies a non-sample record to the address spaces and writes it through.
    fn other(&mut self, kind: u32, misc: u16, body: &[u8]) -> Result<(), OnlineError> {
        let info = self.rings.parse_info;
        let raw = RawEventRecord::new(RecordType(kind), misc, RawData::Single(body), info);
        if raw.record_type == RecordType::LOST {
            self.summary.lost_chunks += 1;
            // id, lost
            if let Some(lost) = body.get(8..16) {
                self.summary.lost_events += u64::from_le_bytes(lost.try_into().unwrap_or([0; 8]));
            }
        }
        if let Ok(event) = raw.parse() {
            self.tracker.apply(&event, &self.finder);
        }
        self.out
            .record(kind, misc, &[body])
            .map_err(|e| self.write_error(e))
    }

    /// Unwinds one sample's user stack and writes it with a callchain.
    fn sample(&mut self, s: &TakenSample) -> Result<(), OnlineError> {
        self.summary.samples += 1;
        self.user.clear();
        if let Some(regs) = &s.regs {
            let view = SampleRecord {
                id: None,
                addr: None,
                stream_id: None,
                raw: None,
                ip: Some(s.ip),
                timestamp: Some(s.time),
                pid: Some(s.pid),
                tid: Some(s.tid),
                cpu: Some(s.cpu),
                period: Some(s.period),
                user_regs: Some(Regs::new(
                    USER_REGS_MASK,
                    RawDataU64::from_raw_data::<byteorder::LittleEndian>(RawData::Single(regs)),
                )),
                user_stack: Some((RawData::Single(&s.stack), s.stack.len() as u64)),
                callchain: None,
                phys_addr: None,
                data_page_size: None,
                code_page_size: None,
                intr_regs: None,
                cpu_mode: CpuMode::from_misc(s.misc),
            };
            let unwound = self.tracker.unwind_user(
                &view,
                &self.finder,
                &mut self.user,
                &mut self.frame_bytes,
            );
            if unwound.end == crate::unwind::UserEnd::Bottom {
                self.summary.unwound_to_bottom += 1;
            }
        }
        if self.user.is_empty() && CpuMode::from_misc(s.misc) == CpuMode::User {
            self.user.push(s.ip);
        }
        let lag_ns = monotonic_ns().saturating_sub(s.time);
        self.lags_ms
            .push((lag_ns / 1_000_000).min(u64::from(u32::MAX)) as u32);
        self.summary.lag_max_s = self.summary.lag_max_s.max(lag_ns as f64 / 1e9);
        // The callchain: the kernel's part as it came, then the user part. The unwinder gives
        // lookup addresses (return address - 1 after the first frame); perf.data holds return
        // addresses, so readers subtract the 1 as they do for frame-pointer chains.
        let chain = &mut self.chain;
        chain.clear();
        let n = s.kernel.len()
            + if self.user.is_empty() {
                0
            } else {
                1 + self.user.len()
            };
        chain.extend_from_slice(&(n as u64).to_le_bytes());
        for v in &s.kernel {
            chain.extend_from_slice(&v.to_le_bytes());
        }
        if !self.user.is_empty() {
            chain.extend_from_slice(&PERF_CONTEXT_USER.to_le_bytes());
            for (k, a) in self.user.iter().enumerate() {
                let addr = if k == 0 { *a } else { a + 1 };
                chain.extend_from_slice(&addr.to_le_bytes());
            }
        }
        let mut head = [0u8; 40];
        head[..8].copy_from_slice(&s.ip.to_le_bytes());
        head[8..12].copy_from_slice(&s.pid.to_le_bytes());
        head[12..16].copy_from_slice(&s.tid.to_le_bytes());
        head[16..24].copy_from_slice(&s.time.to_le_bytes());
        head[24..28].copy_from_slice(&s.cpu.to_le_bytes());
        head[32..40].copy_from_slice(&s.period.to_le_bytes());
        let result = self.out.record(9, s.misc, &[&head, &self.chain]);
        result.map_err(|e| self.write_error(e))
    }

    /// Takes everything the rings hold now, in time order, and writes a round.
    fn round(&mut self) -> Result<usize, OnlineError> {
        let info = self.rings.parse_info;
        let mut taken = Vec::new();
        for s in self
            .rings
            .samplers
            .iter_mut()
            .chain(&mut self.rings.trackers)
        {
            while let Some(r) = s.next_record() {
                match take(r.ty(), r.misc(), r.data(), &info) {
                    Some(t) => taken.push(t),
                    None => self.summary.unreadable += 1,
                }
            }
        }
        taken.sort_by_key(Taken::time);
        let n = taken.len();
        for t in taken {
            match t {
                Taken::Sample(s) => self.sample(&s)?,
                Taken::Other {
                    kind, misc, body, ..
                } => self.other(kind, misc, &body)?,
            }
        }
        if n > 0 {
            self.out
                .record(FINISHED_ROUND, 0, &[])
                .map_err(|e| self.write_error(e))?;
        }
        Ok(n)
    }
}

/// Records until SIGINT, SIGTERM or SIGHUP, then finishes the file. Prints perf's
/// milestones on stderr ("Events disabled", "Captured and wrote") so the harness drives it
/// as it drives perf.
pub fn record(opts: &OnlineOptions) -> Result<OnlineSummary, OnlineError> {
    // The harness interrupts it, then stops it as it stops perf: a second signal is normal.
    crate::process::finish_despite_repeated_signals();
    // Its samples are counted by this name, however it was started (/proc/self/exe: `exe`).
    let name = std::ffi::CString::new(RECORDER_COMM).unwrap_or_default();
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
    let freq = frequency(opts.freq);
    let rings = ring::open(opts.stack_bytes, freq, &opts.tids)?;
    let write_error = |source| OnlineError::Write {
        path: opts.output.clone(),
        source,
    };
    let mut out =
        PerfDataWriter::create(&opts.output, &output_attr(&rings.attr)).map_err(write_error)?;
    let mut tracker = Tracker::new(ModuleTable::new(Default::default()));
    let finder = FileFinder::new(None, Vec::new());
    // What runs already: written first, applied like the kernel's records.
    let mut existing: Vec<synth::Synthesized> = synth::kernel_mapping().into_iter().collect();
    existing.extend(synth::processes());
    synth::write_all(&existing, &mut out).map_err(write_error)?;
    for r in &existing {
        let raw = RawEventRecord::new(
            RecordType(r.kind),
            r.misc,
            RawData::Single(&r.body),
            rings.parse_info,
        );
        if let Ok(event) = raw.parse() {
            tracker.apply(&event, &finder);
        }
    }
    let mut rec = Recorder::new(rings, out, tracker, finder);
    let mut control = match &opts.control {
        Some(fifos) => {
            Some(
                control::Control::open(fifos).map_err(|source| OnlineError::Write {
                    path: fifos.0.clone(),
                    source,
                })?,
            )
        }
        None => None,
    };
    if control.is_some() {
        eprintln!("Events disabled: sampling follows the control FIFO");
    } else {
        if !opts.delay.is_zero() {
            eprintln!("Events disabled");
            if process::sleep_interruptibly(opts.delay).is_err() {
                // Ended during the delay: an empty but valid file.
                return conclude(rec);
            }
        }
        rec.rings.enable().map_err(OnlineError::Enable)?;
        eprintln!(
            "Events enabled: {} at {freq} Hz on {} CPUs, {}-byte user stack copy, unwound online",
            rec.rings.event,
            rec.rings.samplers.len(),
            opts.stack_bytes
        );
    }
    while process::interrupted().is_none() {
        if let Some(c) = control.as_mut() {
            rec.obey(c)?;
        }
        if rec.round()? == 0 {
            rec.rings
                .wait(100, control.as_ref().map(control::Control::fd));
        }
    }
    rec.rings.disable();
    while rec.round()? > 0 {}
    conclude(rec)
}

impl Recorder {
    /// Carries out the harness's commands, each acknowledged once done: `disable` and `ping`
    /// only after every sample taken before them has been unwound and written, as perf
    /// answers only once it has read its buffers.
    fn obey(&mut self, c: &mut control::Control) -> Result<(), OnlineError> {
        for cmd in c.commands() {
            match cmd {
                control::Command::Enable => self.rings.enable().map_err(OnlineError::Enable)?,
                control::Command::Disable => {
                    self.rings.disable();
                    while self.round()? > 0 {}
                }
                control::Command::Ping => while self.round()? > 0 {},
                control::Command::Other(_) => {}
            }
            c.ack().map_err(|e| self.write_error(e))?;
        }
        Ok(())
    }
}

fn conclude(mut rec: Recorder) -> Result<OnlineSummary, OnlineError> {
    let path = rec.out.path().to_path_buf();
    if rec.summary.unreadable > 0 {
        // PERF_RECORD_LOST_SAMPLES: the count, then the sample_id trailer (pid, tid, time, cpu).
        const LOST_SAMPLES: u32 = 13;
        let mut body = [0u8; 32];
        body[..8].copy_from_slice(&rec.summary.unreadable.to_le_bytes());
        rec.out
            .record(LOST_SAMPLES, 0, &[&body])
            .map_err(|e| rec.write_error(e))?;
    }
    let bytes = rec.out.finish().map_err(|source| OnlineError::Write {
        path: path.clone(),
        source,
    })?;
    let mut summary = rec.summary;
    summary.event = rec.rings.event;
    summary.bytes = bytes;
    rec.lags_ms.sort_unstable();
    summary.lag_median_s = rec
        .lags_ms
        .get(rec.lags_ms.len() / 2)
        .map_or(0.0, |&ms| f64::from(ms) / 1e3);
    Ok(summary)
}

/// The output's attribute: the kernel's, with the user stack copy and registers taken out of
/// the samples (they now carry the user part in the callchain), and user callchains allowed.
fn output_attr(kernel: &[u8]) -> Vec<u8> {
    const SAMPLE_TYPE: usize = 24;
    const FLAGS: usize = 40;
    const SAMPLE_REGS_USER: usize = 80;
    const SAMPLE_STACK_USER: usize = 88;
    const REGS_USER: u64 = 1 << 12;
    const STACK_USER: u64 = 1 << 13;
    const EXCLUDE_CALLCHAIN_USER: u64 = 1 << 22;
    // perf before 6.3 refuses attributes larger than its own (128 bytes, up to sig_data);
    // what lies beyond (config3) is zero for these events, so the file keeps the first 128.
    const PERF_ATTR_SIZE_VER7: usize = 128;
    let mut attr = kernel[..kernel.len().min(PERF_ATTR_SIZE_VER7)].to_vec();
    let size = attr.len() as u32;
    attr[4..8].copy_from_slice(&size.to_le_bytes());
    let word = |a: &[u8], at: usize| u64::from_le_bytes(a[at..at + 8].try_into().unwrap_or([0; 8]));
    let sample_type = word(&attr, SAMPLE_TYPE) & !(REGS_USER | STACK_USER);
    attr[SAMPLE_TYPE..SAMPLE_TYPE + 8].copy_from_slice(&sample_type.to_le_bytes());
    let flags = word(&attr, FLAGS) & !EXCLUDE_CALLCHAIN_USER;
    attr[FLAGS..FLAGS + 8].copy_from_slice(&flags.to_le_bytes());
    attr[SAMPLE_REGS_USER..SAMPLE_REGS_USER + 8].fill(0);
    attr[SAMPLE_STACK_USER..SAMPLE_STACK_USER + 4].fill(0);
    attr
}

/// perf's closing line, with what the online unwinding did: "Captured and wrote" is what the
/// harness waits for, as it does for perf.
pub fn summary_line(s: &OnlineSummary, output: &std::path::Path) -> String {
    format!(
        "[ online-record: Captured and wrote {:.3} MB {} ({} samples, {} unwound to the stack bottom by CFI; event {}; unwound {:.3} s after the sample at the median, {:.3} s at worst; {} dropped by the kernel in {} records, {} unreadable) ]",
        s.bytes as f64 / 1e6,
        output.display(),
        s.samples,
        s.unwound_to_bottom,
        s.event,
        s.lag_median_s,
        s.lag_max_s,
        s.lost_events,
        s.lost_chunks,
        s.unreadable,
    )
}

/// A warning line when unwinding could not keep up: the kernel dropped samples, or samples
/// waited more than a second for their unwinding.
pub fn back_pressure_warning(s: &OnlineSummary) -> Option<String> {
    (s.lost_events > 0 || s.unreadable > 0 || s.lag_max_s > 1.0).then(|| {
        format!(
            "Warning: online unwinding fell behind: up to {:.2} s after the sample, {} samples lost by the kernel in {} chunks",
            s.lag_max_s, s.lost_events, s.lost_chunks
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorder's own attribute, as the kernel took it, turned into the file's.
    #[test]
    fn the_file_attribute_drops_the_stack_copy_and_fits_perf_6_1() {
        let rings_attr = {
            let mut a = vec![0u8; 136];
            a[4..8].copy_from_slice(&136u32.to_le_bytes());
            // IP | TID | TIME | CPU | PERIOD | CALLCHAIN | REGS_USER | STACK_USER
            let st: u64 = 1 | 2 | 4 | 128 | 256 | 32 | (1 << 12) | (1 << 13);
            a[24..32].copy_from_slice(&st.to_le_bytes());
            // sample_id_all (18) and exclude_callchain_user (22)
            a[40..48].copy_from_slice(&((1u64 << 18) | (1 << 22)).to_le_bytes());
            a[80..88].copy_from_slice(&USER_REGS_MASK.to_le_bytes());
            a[88..92].copy_from_slice(&65528u32.to_le_bytes());
            a
        };
        let out = output_attr(&rings_attr);
        let word = |at: usize| u64::from_le_bytes(out[at..at + 8].try_into().unwrap());
        assert_eq!(out.len(), 128);
        assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 128);
        assert_eq!(word(24), 1 | 2 | 4 | 128 | 256 | 32);
        assert_eq!(word(40), 1 << 18);
        assert_eq!(word(80), 0);
        assert_eq!(&out[88..92], &[0; 4]);
    }

    #[test]
    fn frequency_defaults_to_perfs_and_respects_the_kernel_cap() {
        let max = std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate")
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok());
        if let Some(max) = max {
            assert_eq!(frequency(None), 4000.min(max));
            assert_eq!(frequency(Some(u32::MAX)), max);
        }
        assert_eq!(frequency(Some(1)), 1);
    }
}
