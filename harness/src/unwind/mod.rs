//! Unwinding: from a sample to its frames, kernel and user, leaf first.
//!
//! - Frame-pointer (and LBR) samples carry the stack already: the kernel's callchain, split
//!   at perf's context markers into a kernel and a user part ([`callchain`]).
//! - DWARF samples carry the kernel part in the callchain and, for the user part, registers
//!   and a copy of the top of the user stack, unwound here with framehop ([`dwarf`]).
//!
//! Every address is a lookup address: the first frame of each part is an instruction pointer,
//! the others are return addresses looked up at address - 1 (the call instruction), so a call
//! at the very end of a function is attributed to that function, not the next one. User
//! frames leave this stage as a module and a [`crate::binary::FileOffset`] in it, which is
//! what naming looks up. [`bottoms`] knows where stacks end, by name and by file offset.

pub mod bottoms;
pub mod callchain;
pub mod dwarf;
pub mod tracker;

/// How the user part of a stack ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserEnd {
    /// The unwinder itself found the end of the stack (DWARF CFI marks the outermost frame).
    Bottom,
    /// The chain simply stopped (frame-pointer chains always end this way); whether that is a
    /// real bottom is decided by the outermost frame's function name.
    Ended,
    /// DWARF: the next frame lies beyond the bytes perf copied: truncated by the copy size.
    OutOfStack,
    /// The unwinder failed (no unwind info, a corrupt frame, a loop).
    Error,
    /// No user part: a kernel thread, the idle task, or no call graph recorded.
    NoUser,
}

/// A sample's frames, leaf first, as lookup addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frames {
    pub kernel: Vec<u64>,
    pub user: Vec<u64>,
}

/// Frames beyond this are dropped (a loop in a corrupt chain must not run away).
pub const MAX_FRAMES: usize = 1024;
