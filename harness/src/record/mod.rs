//! Recording: `perf record` around the measured window of a workload.
//!
//! A [`Recording`] is an unwinding mode plus how perf writes (a file, or a pipe read by the
//! analyzer while it is written) and, optionally, one knob that changes lost data (a larger
//! ring buffer, zstd compression, asynchronous writes). Each has a label of its own in the
//! results: `dwarf:8k`, `dwarf:8k+pipe`, `dwarf:8k+mmap=2048`, `dwarf:8k+zstd`. A
//! measurement's [`Subject`] is the unprofiled baseline or a recording.
//!
//! [`measure`] runs one measurement, [`profiler`] is perf's side of it, [`perf`] perf's
//! command line, [`measured`] what a measurement gives, [`cpu`] the CPU accounting,
//! [`memory`] the page cache's dirty data a recording fills.

pub mod control;
pub mod cpu;
pub mod measure;
pub mod measured;
pub mod memory;
pub mod perf;
pub mod profiler;
pub mod wakeup;

use std::fmt;
use std::str::FromStr;

use crate::mode::UnwindMode;
use crate::serde_text::serde_as_text;

/// Where perf's output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Sink {
    /// A perf.data file (the reference's setup: its overhead includes writing).
    #[default]
    File,
    /// `perf record -o -` streamed into the analyzer: nothing large touches the disk.
    Pipe,
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sink::File => "file",
            Sink::Pipe => "pipe",
        })
    }
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

serde_as_text!(Sink);

/// The sinks a run recorded every mode with, as its settings name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkChoice {
    File,
    Pipe,
    /// Every mode twice, once through each.
    FileAndPipe,
}

impl SinkChoice {
    /// The choice `sinks` make; none at all means the default, a file.
    pub fn of(sinks: &[Sink]) -> SinkChoice {
        match (sinks.contains(&Sink::File), sinks.contains(&Sink::Pipe)) {
            (true, true) => SinkChoice::FileAndPipe,
            (false, true) => SinkChoice::Pipe,
            _ => SinkChoice::File,
        }
    }
}

impl fmt::Display for SinkChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SinkChoice::File => "file",
            SinkChoice::Pipe => "pipe",
            SinkChoice::FileAndPipe => "file+pipe",
        })
    }
}

impl FromStr for SinkChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "file" => Ok(SinkChoice::File),
            "pipe" => Ok(SinkChoice::Pipe),
            "file+pipe" => Ok(SinkChoice::FileAndPipe),
            _ => Err(format!("bad sink setting `{s}`: file, pipe or file+pipe")),
        }
    }
}

serde_as_text!(SinkChoice);

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

    /// The label in results and folder names: the mode, then `+pipe` / `+KNOB` (the
    /// recording's text form).
    pub fn label(&self) -> String {
        self.to_string()
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

impl fmt::Display for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.mode)?;
        if self.sink == Sink::Pipe {
            f.write_str("+pipe")?;
        }
        if let Some(k) = self.knob {
            write!(f, "+{k}")?;
        }
        Ok(())
    }
}

impl FromStr for Recording {
    type Err = String;
    /// A label as [`Recording::label`] writes it: the mode, then `+pipe`, then `+KNOB`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('+');
        let mode = parts
            .next()
            .unwrap_or_default()
            .parse::<UnwindMode>()
            .map_err(|e| e.to_string())?;
        let mut rec = Recording::plain(mode);
        for part in parts {
            match part {
                "pipe" if rec.sink == Sink::File && rec.knob.is_none() => rec.sink = Sink::Pipe,
                _ if rec.knob.is_none() => rec.knob = Some(part.parse()?),
                _ => return Err(format!("bad recording `{s}`: at most one knob")),
            }
        }
        Ok(rec)
    }
}

serde_as_text!(Recording);

/// What one measurement measured: the unprofiled baseline, or a recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    Baseline,
    /// The unprofiled baseline through fio's nbd engine, beside a run on a kernel block
    /// device: what the device's hops cost the workload, measured in the same rounds.
    EngineBaseline,
    Recording(Recording),
}

impl Subject {
    pub fn recording(&self) -> Option<Recording> {
        match self {
            Subject::Baseline | Subject::EngineBaseline => None,
            Subject::Recording(r) => Some(*r),
        }
    }

    /// The measurement's folder inside the run folder: `r2-dwarf-8k`.
    pub fn folder_name(&self, repeat: usize) -> String {
        format!("r{repeat}-{}", self.to_string().replace(':', "-"))
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Baseline => f.write_str("baseline"),
            Subject::EngineBaseline => f.write_str("baseline:nbd-engine"),
            Subject::Recording(r) => r.fmt(f),
        }
    }
}

impl FromStr for Subject {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "baseline" => Ok(Subject::Baseline),
            "baseline:nbd-engine" => Ok(Subject::EngineBaseline),
            _ => s.parse().map(Subject::Recording),
        }
    }
}

serde_as_text!(Subject);

/// Bytes a recording of `mode` may write in `window`: an upper bound from the sampling rate
/// (every CPU sampled at the full frequency) and the record size the mode implies.
pub fn predict_recording_bytes(
    mode: UnwindMode,
    freq: u32,
    cpus: usize,
    window: std::time::Duration,
) -> u64 {
    // header + ip/tid/time/addr/id/cpu/period
    let base = 72u64;
    // A callchain at its largest: its length, perf's default limit of 127 frames
    // (kernel.perf_event_max_stack) and the kernel/user context markers. Typical stacks are
    // a quarter of that, but the guard needs an upper bound.
    let callchain = 8 * (1 + 127 + 2);
    let per_sample = base
        + match mode {
            UnwindMode::None => 0,
            UnwindMode::Fp => callchain,
            // kernel callchain, 20 user registers, stack size + copy + dynamic size
            UnwindMode::Dwarf { stack_bytes } => 8 * 18 + 8 + 20 * 8 + 16 + u64::from(stack_bytes),
            // callchain plus 32 branch entries of 24 bytes
            UnwindMode::Lbr => callchain + 8 + 32 * 24,
            // kernel and unwound user frames: deep stacks reach a hundred or more
            UnwindMode::Online { .. } => 8 * 130,
        };
    let samples = u64::from(freq) * cpus as u64 * window.as_secs().max(1);
    // Non-sample records (mmap, comm, ...) and perf's header: 10% on top.
    samples * per_sample * 11 / 10
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

    #[test]
    fn recordings_and_subjects_round_trip_through_their_text() {
        for label in [
            "fp",
            "dwarf:8k",
            "dwarf:65528+pipe",
            "dwarf:8k+zstd",
            "dwarf:8k+pipe+mmap=2048",
            "lbr",
        ] {
            let r: Recording = label.parse().unwrap();
            assert_eq!(r.to_string(), label);
            let s: Subject = label.parse().unwrap();
            assert_eq!(s, Subject::Recording(r));
            assert_eq!(s.to_string(), label);
        }
        assert_eq!("baseline".parse(), Ok(Subject::Baseline));
        assert_eq!(Subject::Baseline.to_string(), "baseline");
        for bad in [
            "",
            "dwarf:8k+",
            "fp+zstd+aio",
            "fp+zstd+pipe",
            "dwarf:100",
            "basline",
        ] {
            assert!(bad.parse::<Subject>().is_err(), "{bad}");
        }
        let r = "dwarf:8k+pipe".parse::<Subject>().unwrap();
        assert_eq!(r.folder_name(2), "r2-dwarf-8k+pipe");
        assert_eq!(Subject::Baseline.folder_name(1), "r1-baseline");
        assert_eq!(
            Subject::EngineBaseline.folder_name(2),
            "r2-baseline-nbd-engine"
        );
        let engine = Subject::EngineBaseline.to_string();
        assert_eq!(engine.parse(), Ok(Subject::EngineBaseline));
        // As JSON: the same strings.
        let json = serde_json::to_string(&[Subject::Baseline, r]).unwrap();
        assert_eq!(json, r#"["baseline","dwarf:8k+pipe"]"#);
        let back: Vec<Subject> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, [Subject::Baseline, r]);
    }

    #[test]
    fn sinks_round_trip_through_their_text() {
        for (sinks, text) in [
            (vec![], "file"),
            (vec![Sink::File], "file"),
            (vec![Sink::Pipe], "pipe"),
            (vec![Sink::Pipe, Sink::File], "file+pipe"),
        ] {
            let c = SinkChoice::of(&sinks);
            assert_eq!(c.to_string(), text);
            assert_eq!(text.parse(), Ok(c));
        }
        assert_eq!(serde_json::to_string(&Sink::Pipe).unwrap(), r#""pipe""#);
        assert_eq!(
            serde_json::from_str::<Sink>(r#""file""#).unwrap(),
            Sink::File
        );
        assert!(serde_json::from_str::<Sink>(r#""tape""#).is_err());
    }

    #[test]
    fn predictions_grow_with_the_stack_copy() {
        let w = std::time::Duration::from_secs(60);
        let fp = predict_recording_bytes(UnwindMode::Fp, 4000, 2, w);
        let d4 = predict_recording_bytes(UnwindMode::Dwarf { stack_bytes: 4096 }, 4000, 2, w);
        let d32 = predict_recording_bytes(UnwindMode::Dwarf { stack_bytes: 32768 }, 4000, 2, w);
        assert!(fp < d4 && d4 < d32);
        // Frame pointers at their largest: every sample a full 127-frame chain (perf's
        // default limit) with its context markers, on every CPU at the full rate.
        assert!(fp >= 4000 * 2 * 60 * (72 + 8 * 130), "{fp}");
        // Upper bound for 60 s of DWARF 32K on 2 CPUs: above the ~12 GB measured here.
        assert!(d32 > 12_000_000_000 && d32 < 20_000_000_000, "{d32}");
    }
}
