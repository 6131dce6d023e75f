//! perf's callchain: return addresses in context blocks separated by markers.

use linux_perf_data::linux_perf_event_reader::constants::{
    PERF_CONTEXT_KERNEL, PERF_CONTEXT_MAX, PERF_CONTEXT_USER,
};
use linux_perf_data::linux_perf_event_reader::RawDataU64;

use super::{Frames, MAX_FRAMES};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Kernel,
    User,
    /// Hypervisor or guest frames: not ours to name, dropped.
    Other,
}

/// Splits a callchain into its kernel and user parts (leaf first), as lookup addresses: the
/// first entry of each context is where execution was (an instruction pointer), the rest are
/// return addresses looked up at address - 1.
pub fn split(chain: &RawDataU64<'_>, out: &mut Frames) {
    out.kernel.clear();
    out.user.clear();
    let mut context = Context::Kernel;
    let mut first_in_context = true;
    for i in 0..chain.len() {
        let Some(value) = chain.get(i) else { break };
        if value >= PERF_CONTEXT_MAX {
            context = match value {
                PERF_CONTEXT_KERNEL => Context::Kernel,
                PERF_CONTEXT_USER => Context::User,
                _ => Context::Other,
            };
            first_in_context = true;
            continue;
        }
        let lookup = if first_in_context {
            value
        } else {
            value.saturating_sub(1)
        };
        first_in_context = false;
        let part = match context {
            Context::Kernel => &mut out.kernel,
            Context::User => &mut out.user,
            Context::Other => continue,
        };
        if part.len() < MAX_FRAMES {
            part.push(lookup);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linux_perf_data::linux_perf_event_reader::RawData;

    fn chain(values: &[u64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn splits_at_markers_and_adjusts_return_addresses() {
        let bytes = chain(&[
            PERF_CONTEXT_KERNEL,
            0xffff_ffff_8100_0010,
            0xffff_ffff_8100_0020,
            PERF_CONTEXT_USER,
            0x40_1000,
            0x40_2000,
            0x40_3000,
        ]);
        let raw = RawDataU64::from_raw_data::<byteorder::LittleEndian>(RawData::Single(&bytes));
        let mut f = Frames::default();
        split(&raw, &mut f);
        assert_eq!(f.kernel, vec![0xffff_ffff_8100_0010, 0xffff_ffff_8100_001f]);
        assert_eq!(f.user, vec![0x40_1000, 0x40_1fff, 0x40_2fff]);
    }
}
