//! Binaries: the ELF files a recording's address spaces map, found by path, build id or
//! `--search`, checked against the build id perf recorded, and parsed once for every stage
//! that reads them (unwinding, naming, finding stack bottoms).
//!
//! - [`build_id`]: the id of one build of a file, and where files are kept by it.
//! - [`elf`]: one parsed file: code segments, unwind sections, entry point, build id.
//! - [`modules`]: the table of a recording's modules and the finder that loads their files.

pub mod build_id;
pub mod elf;
pub mod modules;

pub use self::build_id::{debuginfod_cache_dir, BuildId};
pub use self::elf::{Bytes, Elf, ExecSegment, FileOffset, Section};
pub use self::modules::{
    default_buildid_dir, FileFinder, Module, ModuleId, ModuleKind, ModuleTable,
};
