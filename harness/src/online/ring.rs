//! The recorder's events: one sampling event per online CPU, each with its ring buffer,
//! opened with perf-event2 (the maintained perf-event fork, whose `Sampler` reads the ring
//! buffer; perf-event-open would serve too, but perf-event2 gives the raw attribute and the
//! raw records, which is what the rest of the harness parses).

use std::os::fd::AsRawFd;

use linux_perf_data::linux_perf_event_reader::{Endianness, PerfEventAttr, RecordParseInfo};
use perf_event::events::{Hardware, Software};
use perf_event::{Builder, Clock, SampleFlag, Sampler};

/// framehop needs the instruction, stack and frame pointers: bits 6 (BP), 7 (SP), 8 (IP)
/// of the x86-64 register mask; perf asks for all of them, which only costs bytes.
pub const USER_REGS_MASK: u64 = (1 << 6) | (1 << 7) | (1 << 8);

/// Ring buffer per CPU. At 4 kHz with a 64 KiB copy a CPU fills 256 MiB/s; 64 MiB absorb a
/// quarter of a second of unwinding falling behind before the kernel drops samples.
pub const RING_BYTES: usize = 64 << 20;
/// Mapping and task records are small and few.
const TRACKING_RING_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("cannot open the sampling event on CPU {cpu}: {source}; {fix}")]
    Open {
        cpu: usize,
        source: std::io::Error,
        fix: &'static str,
    },
    #[error("no online CPU found in /sys/devices/system/cpu/online")]
    NoCpus,
    #[error("the sampling attribute does not parse back: {0}")]
    Attr(std::io::Error),
}

pub struct Rings {
    /// One sampling event per CPU, enabled after the delay.
    pub samplers: Vec<Sampler>,
    /// One tracking event per CPU, enabled from the start.
    pub trackers: Vec<Sampler>,
    /// The kernel attribute's bytes, as perf.data stores them.
    pub attr: Vec<u8>,
    pub parse_info: RecordParseInfo,
    /// `cycles` where a hardware PMU exists, `cpu-clock` otherwise (as perf chooses).
    pub event: &'static str,
}

/// The CPUs listed in /sys/devices/system/cpu/online (`0-3,5`).
pub fn online_cpus() -> Vec<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
            cpus.extend(a..=b);
        }
    }
    cpus
}

/// Which event a builder opens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cycles,
    CpuClock,
    /// Never samples; carries the mapping, name and task records from the moment it opens,
    /// while the sampling events wait out the delay (what perf's tracking event does).
    Tracking,
}

/// The builder of one CPU's event: system-wide (any process), the kernel callchain and a
/// copy of `stack_bytes` of user stack with the registers per sample; the tracking event
/// adds the mapping, name and task records that keep address spaces current, with build
/// ids. Both sample the same fields, so their records parse alike.
fn builder(
    kind: Kind,
    cpu: usize,
    stack_bytes: u32,
    freq: u64,
    tid: Option<i32>,
) -> Builder<'static> {
    let mut b = match kind {
        Kind::Cycles => Builder::new(Hardware::CPU_CYCLES),
        Kind::CpuClock => Builder::new(Software::CPU_CLOCK),
        Kind::Tracking => Builder::new(Software::DUMMY),
    };
    let tracking = kind == Kind::Tracking;
    match tid {
        Some(t) => b.observe_pid(t),
        None => b.any_pid(),
    };
    b.one_cpu(cpu)
        .include_kernel()
        .sample_frequency(freq)
        .sample(
            SampleFlag::IP
                | SampleFlag::TID
                | SampleFlag::TIME
                | SampleFlag::CPU
                | SampleFlag::PERIOD
                | SampleFlag::CALLCHAIN
                | SampleFlag::REGS_USER
                | SampleFlag::STACK_USER,
        )
        .sample_regs_user(USER_REGS_MASK)
        .sample_stack_user(stack_bytes)
        .exclude_callchain_user(true)
        .mmap(tracking)
        .mmap2(tracking)
        .comm(tracking)
        .comm_exec(tracking)
        .task(tracking)
        .build_id(tracking)
        .enabled(tracking)
        .sample_id_all(true)
        .clockid(Clock::MONOTONIC)
        .wakeup_watermark(RING_BYTES / 8);
    b
}

/// The attribute's bytes: the kernel's `perf_event_attr` as the builder filled it.
fn attr_bytes(b: &Builder) -> Vec<u8> {
    let attr = b.attrs();
    let size = std::mem::size_of_val(attr);
    // SAFETY: perf_event_attr is a plain C struct of integers; reading its bytes is sound.
    let bytes = unsafe { std::slice::from_raw_parts((attr as *const _) as *const u8, size) };
    bytes.to_vec()
}

/// Ring buffer per CPU and thread when only given threads are sampled (the price list's
/// work): a round of 25 ms at 16 kHz with a 64 KiB copy is 26 MB.
const THREAD_RING_BYTES: usize = 32 << 20;

/// Opens the events on every online CPU, of every process (`tids` empty, as `perf record
/// -a`) or of the given threads only (as `perf record -t`). The hardware cycles event
/// first; without a PMU (a VM), the software cpu-clock, as perf does. Mapping and task
/// records are always taken of the whole system.
pub fn open(stack_bytes: u32, freq: u64, tids: &[i32]) -> Result<Rings, RingError> {
    let cpus = online_cpus();
    if cpus.is_empty() {
        return Err(RingError::NoCpus);
    }
    let who: Vec<Option<i32>> = if tids.is_empty() {
        vec![None]
    } else {
        tids.iter().copied().map(Some).collect()
    };
    let open_all = |kind: Kind,
                    who: &[Option<i32>],
                    bytes: usize|
     -> Result<Vec<Sampler>, (usize, std::io::Error)> {
        let mut out = Vec::new();
        for &cpu in &cpus {
            for &tid in who {
                out.push(
                    builder(kind, cpu, stack_bytes, freq, tid)
                        .build()
                        .and_then(|c| c.sampled(bytes))
                        .map_err(|e| (cpu, e))?,
                );
            }
        }
        Ok(out)
    };
    let ring = if tids.is_empty() {
        RING_BYTES
    } else {
        THREAD_RING_BYTES
    };
    let mut last = None;
    for kind in [Kind::Cycles, Kind::CpuClock] {
        match open_all(kind, &who, ring)
            .and_then(|s| Ok((s, open_all(Kind::Tracking, &[None], TRACKING_RING_BYTES)?)))
        {
            Ok((samplers, trackers)) => {
                let b = builder(kind, cpus[0], stack_bytes, freq, None);
                let attr = attr_bytes(&b);
                let (parsed, _) =
                    PerfEventAttr::parse::<_, byteorder::LittleEndian>(attr.as_slice())
                        .map_err(RingError::Attr)?;
                return Ok(Rings {
                    samplers,
                    trackers,
                    attr,
                    parse_info: RecordParseInfo::new(&parsed, Endianness::LittleEndian),
                    event: if kind == Kind::Cycles {
                        "cycles"
                    } else {
                        "cpu-clock"
                    },
                });
            }
            Err(f) => last = Some(f),
        }
    }
    let (cpu, source) = last.unwrap_or((0, std::io::Error::other("no CPU")));
    let fix = match source.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "system-wide sampling needs root or `sysctl kernel.perf_event_paranoid=-1`"
        }
        Some(libc::EINVAL) => {
            "the kernel refused the attribute: a lower -F (kernel.perf_event_max_sample_rate) or a smaller stack copy"
        }
        Some(libc::ENOMEM) | Some(libc::EMFILE) => {
            "raise `ulimit -l` (locked memory for ring buffers) or `ulimit -n`"
        }
        _ => "check `unwindbench doctor`",
    };
    Err(RingError::Open { cpu, source, fix })
}

impl Rings {
    pub fn enable(&mut self) -> std::io::Result<()> {
        for s in &mut self.samplers {
            s.enable()?;
        }
        Ok(())
    }

    pub fn disable(&mut self) {
        for s in &mut self.samplers {
            let _ = s.disable();
        }
    }

    /// Waits up to `timeout_ms` for a ring to pass its watermark, `also` to become readable
    /// (the control FIFO), or a signal.
    pub fn wait(&self, timeout_ms: i32, also: Option<std::os::fd::RawFd>) {
        let mut fds: Vec<libc::pollfd> = self
            .samplers
            .iter()
            .chain(&self.trackers)
            .map(|s| s.as_raw_fd())
            .chain(also)
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: fds is a valid array of pollfd for the call's duration.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    }
}
