//! Recording: `perf record` around the measured window of a workload.
//!
//! A [`Recording`] is an unwinding mode plus how perf writes (a file, or a pipe read by the
//! analyzer while it is written) and, optionally, one knob that changes lost data (a larger
//! ring buffer, zstd compression, asynchronous writes). Each has a label of its own in the
//! results: `dwarf:8k`, `dwarf:8k+pipe`, `dwarf:8k+mmap=2048`, `dwarf:8k+zstd`.

pub mod cpu;
pub mod measure;
pub mod measured;
pub mod perf;
pub mod profiler;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::mode::UnwindMode;

/// Where perf's output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Sink {
    /// A perf.data file (the reference's setup: its overhead includes writing).
    #[default]
    File,
    /// `perf record -o -` streamed into the analyzer: nothing large touches the disk.
    Pipe,
}

impl FromStr for Sink {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "file" => Ok(Sink::File),
            "pipe" => Ok(Sink::Pipe),
            _ => Err(format!("bad sink `{s}`: use file or pipe")),
        }
    }
}

/// A recording option that changes how much perf loses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Knob {
    /// `--mmap-pages N`: the per-CPU ring buffer size (a power of two).
    MmapPages(u32),
    /// `-z`: zstd-compressed records.
    Zstd,
    /// `--aio`: asynchronous writes of the trace.
    Aio,
}

impl fmt::Display for Knob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Knob::MmapPages(n) => write!(f, "mmap={n}"),
            Knob::Zstd => f.write_str("zstd"),
            Knob::Aio => f.write_str("aio"),
        }
    }
}

impl FromStr for Knob {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "bad --knob `{s}`: use mmap=PAGES (a power of two, e.g. mmap=2048), zstd or aio"
            )
        };
        match s {
            "zstd" | "z" => Ok(Knob::Zstd),
            "aio" => Ok(Knob::Aio),
            _ => {
                let pages: u32 = s
                    .strip_prefix("mmap=")
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(bad)?;
                if pages == 0 || !pages.is_power_of_two() {
                    return Err(bad());
                }
                Ok(Knob::MmapPages(pages))
            }
        }
    }
}

impl Knob {
    pub fn perf_args(&self) -> Vec<String> {
        match self {
            Knob::MmapPages(n) => vec!["--mmap-pages".into(), n.to_string()],
            Knob::Zstd => vec!["-z".into()],
            Knob::Aio => vec!["--aio".into()],
        }
    }

    /// The perf build option the knob needs, if any (`perf version --build-options`).
    pub fn build_option(&self) -> Option<&'static str> {
        match self {
            Knob::MmapPages(_) => None,
            Knob::Zstd => Some("zstd"),
            Knob::Aio => Some("aio"),
        }
    }
}

/// One thing to record: a mode, a sink, and at most one knob.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Recording {
    pub mode: UnwindMode,
    pub sink: Sink,
    pub knob: Option<Knob>,
}

impl Recording {
    pub fn plain(mode: UnwindMode) -> Recording {
        Recording {
            mode,
            sink: Sink::File,
            knob: None,
        }
    }

    /// The label in results and folder names: the mode, then `+pipe` / `+KNOB`.
    pub fn label(&self) -> String {
        let mut s = self.mode.to_string();
        if self.sink == Sink::Pipe {
            s.push_str("+pipe");
        }
        if let Some(k) = self.knob {
            s.push_str(&format!("+{k}"));
        }
        s
    }

    /// The reference table's name, with the variant.
    pub fn title(&self) -> String {
        let mut s = self.mode.title();
        if self.sink == Sink::Pipe {
            s.push_str(", pipe");
        }
        if let Some(k) = self.knob {
            s.push_str(&format!(", {k}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_parse_and_label() {
        assert_eq!("mmap=2048".parse(), Ok(Knob::MmapPages(2048)));
        assert_eq!("zstd".parse(), Ok(Knob::Zstd));
        assert_eq!("aio".parse(), Ok(Knob::Aio));
        for bad in ["mmap=1000", "mmap=0", "mmap=", "lz4", ""] {
            assert!(bad.parse::<Knob>().is_err(), "{bad}");
        }
        let r = Recording {
            mode: UnwindMode::Dwarf { stack_bytes: 8192 },
            sink: Sink::Pipe,
            knob: Some(Knob::MmapPages(2048)),
        };
        assert_eq!(r.label(), "dwarf:8k+pipe+mmap=2048");
        assert_eq!(Recording::plain(UnwindMode::Fp).label(), "fp");
        assert_eq!(Knob::Zstd.perf_args(), ["-z"]);
    }
}
