//! What a comparison records: every mode with every sink asked for, each knob on every DWARF
//! mode, and the sweep's largest-copy recording; with the reason for whatever cannot run here.

use crate::mode::UnwindMode;
use crate::preflight;
use crate::record::{Knob, Recording, Sink};

/// The largest stack copy perf allows: the sweep's recording.
pub const SWEEP_COPY: u32 = crate::mode::MAX_DWARF_STACK;

/// Recordings in the order the results list them; skipped ones carry their reason.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub entries: Vec<(Recording, Option<String>)>,
}

impl Plan {
    /// The recordings that will run.
    pub fn recorded(&self) -> Vec<Recording> {
        self.entries
            .iter()
            .filter(|(_, skip)| skip.is_none())
            .map(|(r, _)| *r)
            .collect()
    }
}

/// Builds the plan. `perf_build` is `perf version --build-options` (knobs need zstd/aio).
pub fn plan(
    modes: &[UnwindMode],
    sinks: &[Sink],
    knobs: &[Knob],
    sweep: Option<Sink>,
    perf_build: &str,
) -> Plan {
    let mut p = Plan::default();
    let mut add = |rec: Recording, skip: Option<String>| {
        if !p.entries.iter().any(|(r, _)| *r == rec) {
            p.entries.push((rec, skip));
        }
    };
    let lbr_skip = modes
        .contains(&UnwindMode::Lbr)
        .then(preflight::lbr_supported)
        .flatten();
    let sinks = if sinks.is_empty() {
        &[Sink::File][..]
    } else {
        sinks
    };
    for &mode in modes {
        for &sink in sinks {
            let skip = if mode == UnwindMode::Lbr {
                lbr_skip.clone()
            } else if mode.is_online() && sink == Sink::Pipe {
                Some("the online recorder keeps only frames and writes them to a file; the pipe sink is perf's".into())
            } else {
                None
            };
            add(
                Recording {
                    mode,
                    sink,
                    knob: None,
                },
                skip,
            );
        }
    }
    for &knob in knobs {
        for &mode in modes.iter().filter(|m| m.is_dwarf()) {
            let skip = knob.build_option().and_then(|opt| {
                let on = perf_build
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{opt}:")) && l.contains("on"));
                (!on).then(|| format!("this perf is built without {opt}"))
            });
            add(
                Recording {
                    mode,
                    sink: Sink::File,
                    knob: Some(knob),
                },
                skip,
            );
        }
    }
    if let Some(sink) = sweep {
        add(
            Recording {
                mode: UnwindMode::Dwarf {
                    stack_bytes: SWEEP_COPY,
                },
                sink,
                knob: None,
            },
            None,
        );
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_times_sinks_then_knobs_then_sweep() {
        let d8 = UnwindMode::Dwarf { stack_bytes: 8192 };
        let build = "                  zstd: [ on  ]  # HAVE_ZSTD_SUPPORT\n                   aio: [ OFF ]  # HAVE_AIO_SUPPORT\n";
        let p = plan(
            &[UnwindMode::Fp, d8],
            &[Sink::File, Sink::Pipe],
            &[Knob::Zstd, Knob::Aio, Knob::MmapPages(2048)],
            Some(Sink::Pipe),
            build,
        );
        let labels: Vec<String> = p.entries.iter().map(|(r, _)| r.label()).collect();
        assert_eq!(
            labels,
            [
                "fp",
                "fp+pipe",
                "dwarf:8k",
                "dwarf:8k+pipe",
                "dwarf:8k+zstd",
                "dwarf:8k+aio",
                "dwarf:8k+mmap=2048",
                "dwarf:65528+pipe"
            ]
        );
        let aio = &p.entries[5];
        assert_eq!(aio.1.as_deref(), Some("this perf is built without aio"));
        assert_eq!(p.recorded().len(), 7);
    }
}
