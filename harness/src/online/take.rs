//! Records taken out of the rings: a sample reduced to what unwinding and the output need
//! (the stack copy only as far as the kernel filled it), any other record as its bytes.

use linux_perf_data::linux_perf_event_reader::{
    EventRecord, RawData, RawEventRecord, RecordParseInfo, RecordType,
};

/// A record taken out of a ring: samples reduced to what unwinding and the output need (the
/// stack copy only as far as the kernel filled it), other records as their bytes.
pub(super) enum Taken {
    Sample(TakenSample),
    Other {
        kind: u32,
        misc: u16,
        time: u64,
        body: Vec<u8>,
    },
}

pub(super) struct TakenSample {
    pub(super) misc: u16,
    pub(super) ip: u64,
    pub(super) pid: i32,
    pub(super) tid: i32,
    pub(super) time: u64,
    pub(super) cpu: u32,
    pub(super) period: u64,
    /// The kernel callchain's entries, context markers included.
    pub(super) kernel: Vec<u64>,
    /// BP, SP, IP as little-endian words, in the mask's bit order.
    pub(super) regs: Option<[u8; 24]>,
    pub(super) stack: Vec<u8>,
}

impl Taken {
    pub(super) fn time(&self) -> u64 {
        match self {
            Taken::Sample(s) => s.time,
            Taken::Other { time, .. } => *time,
        }
    }
}

/// Takes one raw record (possibly split at the ring's end) out of its ring.
pub(super) fn take(kind: u32, misc: u16, parts: &[&[u8]], info: &RecordParseInfo) -> Option<Taken> {
    let data = match parts {
        [a] => RawData::Single(a),
        [a, b] => RawData::Split(a, b),
        _ => return None,
    };
    let raw = RawEventRecord::new(RecordType(kind), misc, data, *info);
    if raw.record_type != RecordType::SAMPLE {
        let mut body = Vec::with_capacity(data.len());
        for p in parts {
            body.extend_from_slice(p);
        }
        return Some(Taken::Other {
            kind,
            misc,
            time: raw.timestamp().unwrap_or(0),
            body,
        });
    }
    let Ok(EventRecord::Sample(s)) = raw.parse() else {
        return None;
    };
    let regs = s.user_regs.as_ref().and_then(|r| {
        let mut bytes = [0u8; 24];
        for (k, reg) in [6u64, 7, 8].into_iter().enumerate() {
            bytes[k * 8..k * 8 + 8].copy_from_slice(&r.get(reg)?.to_le_bytes());
        }
        Some(bytes)
    });
    let stack = match &s.user_stack {
        Some((data, dyn_size)) => {
            let n = (*dyn_size as usize).min(data.len());
            let mut v = Vec::with_capacity(n);
            let mut rest = n;
            for part in match data {
                RawData::Single(a) => vec![*a],
                RawData::Split(a, b) => vec![*a, *b],
            } {
                let k = rest.min(part.len());
                v.extend_from_slice(&part[..k]);
                rest -= k;
            }
            v
        }
        None => Vec::new(),
    };
    let kernel = s
        .callchain
        .as_ref()
        .map(|c| (0..c.len()).filter_map(|i| c.get(i)).collect())
        .unwrap_or_default();
    Some(Taken::Sample(TakenSample {
        misc,
        ip: s.ip.unwrap_or(0),
        pid: s.pid.unwrap_or(-1),
        tid: s.tid.unwrap_or(-1),
        time: s.timestamp.unwrap_or(0),
        cpu: s.cpu.unwrap_or(0),
        period: s.period.unwrap_or(1),
        kernel,
        regs,
        stack,
    }))
}
