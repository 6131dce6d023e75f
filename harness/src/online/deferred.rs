//! Deferred user callchains (Linux 6.19): the kernel walks the user stack by frame pointers
//! (later SFrame) on the way back to user space instead of in the interrupt, and writes it
//! as a PERF_RECORD_CALLCHAIN_DEFERRED record. Asked for with `perf_event_attr.defer_callchain`,
//! the bit after `sigtrap`. Older kernels refuse any set bit in the reserved area with EINVAL,
//! so one perf_event_open with the bit, beside one without it, tells whether this kernel has
//! them.

use perf_event::events::Software;
use perf_event::{Builder, SampleFlag};

/// Bit of `defer_callchain` in the attribute's flags word (byte offset 40).
const DEFER_CALLCHAIN_BIT: u32 = 38;
const FLAGS_OFFSET: usize = 40;

/// What the probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deferred {
    Supported,
    /// The kernel refused the bit (and accepted the same event without it).
    Unsupported {
        kernel: String,
    },
    /// Even the event without the bit could not be opened.
    Unknown(String),
}

fn open(defer: bool) -> std::io::Result<()> {
    let mut b = Builder::new(Software::CPU_CLOCK);
    b.observe_self()
        .any_cpu()
        .sample_period(1_000_000)
        .sample(SampleFlag::IP | SampleFlag::TID | SampleFlag::CALLCHAIN)
        .exclude_kernel(true);
    if defer {
        let attr = b.attrs_mut();
        // SAFETY: perf_event_attr is a plain C struct at least 48 bytes long; the flags word
        // at byte 40 is a u64 of bitfields, written here as its bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut((attr as *mut _) as *mut u8, std::mem::size_of_val(attr))
        };
        let mut flags = [0u8; 8];
        flags.copy_from_slice(&bytes[FLAGS_OFFSET..FLAGS_OFFSET + 8]);
        let flags = u64::from_le_bytes(flags) | (1u64 << DEFER_CALLCHAIN_BIT);
        bytes[FLAGS_OFFSET..FLAGS_OFFSET + 8].copy_from_slice(&flags.to_le_bytes());
    }
    b.build().map(drop)
}

/// Opens a sampling event on this process with and without `defer_callchain`.
pub fn probe() -> Deferred {
    if let Err(e) = open(false) {
        return Deferred::Unknown(format!("perf_event_open fails even without the bit: {e}"));
    }
    match open(true) {
        Ok(()) => Deferred::Supported,
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Deferred::Unsupported {
            kernel: kernel_release(),
        },
        Err(e) => Deferred::Unknown(format!("perf_event_open with the bit: {e}")),
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel decides; the probe must come back with a verdict, and on a kernel older
    /// than 6.19 that verdict is "unsupported".
    #[test]
    fn the_probe_gives_a_verdict_that_matches_the_kernel_version() {
        let verdict = probe();
        let release = kernel_release();
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        match verdict {
            // Without permission to sample this process at all there is nothing to check.
            Deferred::Unknown(why) => eprintln!("probe could not run: {why}"),
            Deferred::Supported => assert!((major, minor) >= (6, 19), "{release}"),
            Deferred::Unsupported { kernel } => {
                assert_eq!(kernel, release);
                assert!((major, minor) < (6, 19), "{release} has them since 6.19");
            }
        }
    }
}
