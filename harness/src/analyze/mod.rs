//! `analyze`: one perf.data (file or pipe stream) to folded stacks, a flame graph and
//! `stats.json`, without `perf script`.
//!
//! In stages: [`unwind`] reads the records in time order (in one pass, or several in
//! parallel, see [`pass`]) for statistics, address spaces, unwinding and interning of stacks
//! as they come; [`Unwound::name_frames`] names each distinct frame once ([`name`]); the
//! stack table is folded ([`crate::fold`]); then the outputs, with `--profile` also a
//! profile for the Firefox Profiler ([`profile`]). [`summary`] is what the command prints.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::binary::{FileFinder, ModuleTable};
use crate::fold::{self, StackFigures, StackTable, Weighting};
use crate::perfdata::stats::{RecordStats, StatsCollector};
use crate::perfdata::{self, PerfData, PerfDataError};
use crate::report::flamegraph;
use crate::sweep::{SweepCollector, SweepResult};
use crate::symbolize::Symbolizer;
use crate::unwind::bottoms::BottomIndex;
use crate::unwind::tracker::Tracker;

pub mod confine;
mod name;
mod pass;
pub mod profile;
pub mod summary;

pub use crate::perfdata::Recorded;
use pass::{Context, Pass, Share};

/// The running kernel's symbols.
pub const DEFAULT_KALLSYMS: &str = "/proc/kallsyms";

/// Options of `analyze`.
#[derive(Clone, Debug)]
pub struct AnalyzeOptions {
    /// The perf.data file, or `-` for a pipe-format stream on stdin.
    pub input: PathBuf,
    /// Output folder. Default: beside the input, `<input>.analysis/`.
    pub out_dir: PathBuf,
    /// Only samples of these process names (comm) go into the stacks; empty: all.
    pub processes: Vec<String>,
    /// Folded counts: samples (default) or summed periods.
    pub weighting: Weighting,
    /// Read a truncated or corrupt file up to the damage instead of failing.
    pub partial: bool,
    /// Inlined functions as frames of their own. Default: off (what perf script prints).
    pub inline: bool,
    /// Folders searched for binaries that moved or were rebuilt since recording.
    pub search: Vec<PathBuf>,
    /// perf's build-id cache, where it keeps the vDSO, copies of recorded binaries and the
    /// recorded kernel's kallsyms. Default: `~/.debug`, as perf's.
    pub buildid_dir: Option<PathBuf>,
    /// Kernel symbols of this boot. Default: /proc/kallsyms.
    pub kallsyms: PathBuf,
    /// Title of the flame graph. Default: the input's name and the unwinding mode.
    pub title: Option<String>,
    /// Write flamegraph.svg. Default: yes.
    pub flamegraph: bool,
    /// Known stacks to score against (program workloads). Default: none.
    pub truths: Vec<crate::accuracy::GroundTruth>,
    /// Threads that unwind (files read in place only; the result does not depend on it).
    /// Default: the processors available.
    pub threads: usize,
    /// Never ask debuginfod servers (`DEBUGINFOD_URLS`) for debug files. Default: ask.
    pub offline: bool,
    /// Also write [`profile::PROFILE_FILE`] for the Firefox Profiler. Default: no (it keeps
    /// every sample in memory until the end).
    pub profile: bool,
    /// Folders the confined analysis may read besides the system's trees and the ones named
    /// above (see [`confine`]): binaries a recording mapped from elsewhere. Default: none.
    pub allow_read: Vec<PathBuf>,
    /// Whether the `analyze` command confines itself before reading (see [`confine`]; the
    /// library functions never do). Default: yes.
    pub sandbox: bool,
}

impl AnalyzeOptions {
    pub fn new(input: PathBuf, out_dir: PathBuf) -> AnalyzeOptions {
        AnalyzeOptions {
            input,
            out_dir,
            processes: Vec::new(),
            weighting: Weighting::Samples,
            partial: false,
            inline: false,
            search: Vec::new(),
            buildid_dir: crate::binary::default_buildid_dir(),
            kallsyms: PathBuf::from(DEFAULT_KALLSYMS),
            title: None,
            flamegraph: true,
            truths: Vec::new(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            offline: false,
            profile: false,
            allow_read: Vec::new(),
            sandbox: true,
        }
    }
}

/// Everything `analyze` found: `stats.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Analysis {
    pub input: String,
    pub format: perfdata::Format,
    pub recorded: Recorded,
    pub records: RecordStats,
    /// Stack figures per process name; `*` is all processes together.
    pub stacks: BTreeMap<String, StackFigures>,
    pub distinct_stacks: usize,
    pub distinct_frames: usize,
    pub weighting: Weighting,
    /// Modules whose files could not be used, and why (their frames are `[name]`).
    pub missing_modules: BTreeMap<String, String>,
    /// Modules with frames no symbol named (stripped, no debug file found), named by the
    /// function `.eh_frame` says contains them: `nbdkit+0x1a2b0`.
    #[serde(default)]
    pub named_by_boundaries: Vec<String>,
    /// Whether kernel frames could be named (kallsyms of this boot readable); true when the
    /// stacks have no kernel frames to name (a user-only recording).
    pub kernel_symbols: bool,
    /// Set when the input was damaged and read with --partial up to the damage.
    pub partial_error: Option<String>,
    /// Wall seconds of the analysis, and input bytes per second.
    pub wall_s: f64,
    pub mb_per_s: f64,
    /// Where the time went: reading and unwinding, naming frames, writing the outputs.
    #[serde(default)]
    pub phases: Phases,
    /// DWARF recordings: the copy size each sample's stack needed (see [`crate::sweep`]).
    #[serde(default)]
    pub sweep: Option<SweepResult>,
    /// Against known stacks (--truth), per process.
    #[serde(default)]
    pub accuracy: Vec<crate::accuracy::Accuracy>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Phases {
    pub read_unwind_s: f64,
    pub symbolize_s: f64,
    pub write_s: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    PerfData(#[from] PerfDataError),
    #[error("an unwinding thread failed (a bug: please report it with the perf.data); rerun with --threads 1")]
    Thread,
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot confine the analysis: {0} (pass --no-sandbox to run it unconfined)")]
    Sandbox(crate::sandbox::SandboxError),
}

/// Opens the input: a path, or stdin for `-`.
pub fn open_input(input: &Path, partial: bool) -> Result<PerfData, PerfDataError> {
    let opened = if input == Path::new("-") {
        let stdin: Box<dyn Read + Send> = Box::new(crate::process::Interruptible(std::io::stdin()));
        perfdata::open_pipe(Path::new("<stdin>"), stdin, partial)
    } else {
        perfdata::open(input, partial)
    };
    // A header cut short by Ctrl-C is not an empty or damaged input.
    opened.map_err(|e| match crate::process::interrupted() {
        Some(_) => PerfDataError::Interrupted {
            path: input.to_path_buf(),
        },
        None => e,
    })
}

/// What reading and unwinding a recording gives: its distinct stacks, not yet named.
pub struct Unwound {
    pub recorded: Recorded,
    pub format: perfdata::Format,
    pub records: RecordStats,
    /// Distinct stacks with their weights, frames as (module, file offset) or kernel address.
    pub table: StackTable,
    pub modules: ModuleTable,
    pub finder: FileFinder,
    /// Every sample's time, thread and stack, with `--profile` (empty otherwise).
    pub samples: Vec<profile::SampleRef>,
    sweep: Option<SweepCollector>,
    /// The kernel's `_text` at recording time, from perf's kernel mapping.
    recorded_text: Option<u64>,
    /// perf's copy of the recorded kernel's kallsyms, where its build-id cache has one.
    recorded_kallsyms: Option<PathBuf>,
    /// Damage met and read up to (--partial).
    partial_error: Option<String>,
    started: Instant,
    read_unwind_s: f64,
}

/// The first stage: reads `opts.input` to its end (or its damage, with `partial`), keeps
/// address spaces in step, unwinds every sample and interns the stacks.
pub fn unwind(opts: &AnalyzeOptions) -> Result<Unwound, AnalyzeError> {
    let started = Instant::now();
    let mut data = open_input(&opts.input, opts.partial)?;
    let recorded = data.recorded();
    let finder = FileFinder::new(opts.buildid_dir.clone(), opts.search.clone());
    let bottoms = BottomIndex::default();
    let ctx = Context {
        recorded,
        endian: data.endian(),
        finder: &finder,
        bottoms: &bottoms,
        processes: &opts.processes,
        partial: opts.partial,
        keep_samples: opts.profile,
    };
    let build_ids = data.build_ids();
    // Threads beyond the first each read the file again through a sibling reader and unwind
    // their share of the samples (see [`pass`]); pipes and files not read in place get one.
    let siblings: Vec<PerfData> = (1..opts.threads.max(1))
        .map_while(|_| data.sibling())
        .collect();
    let count = siblings.len() as u64 + 1;
    let mut main = Pass::new(
        Share { index: 0, count },
        ModuleTable::new(build_ids.clone()),
        StatsCollector::new(&data),
        recorded,
    );
    let (outcome, helped) = std::thread::scope(|scope| {
        let running: Vec<_> = siblings
            .into_iter()
            .zip(1..)
            .map(|(mut sibling, index)| {
                let modules = ModuleTable::new(build_ids.clone());
                let ctx = &ctx;
                scope.spawn(move || {
                    let share = Share { index, count };
                    let mut pass = Pass::new(share, modules, StatsCollector::default(), recorded);
                    // Its outcome is the first pass's: the same records, the same damage.
                    let _ = pass.run(&mut sibling, ctx);
                    pass
                })
            })
            .collect();
        let outcome = main.run(&mut data, &ctx);
        let helped: Result<Vec<Pass>, _> = running.into_iter().map(|h| h.join()).collect();
        (outcome, helped)
    });
    // Every pass read the same records, so they met the same damage: the first pass's
    // outcome speaks for all.
    let partial_error = outcome?;
    for pass in helped.map_err(|_| AnalyzeError::Thread)? {
        main.absorb(pass);
    }
    let partial_error = data.damage().or(partial_error);
    let bytes = data.position();
    let Pass {
        tracker: Tracker {
            modules,
            recorded_text,
            ..
        },
        stats,
        table,
        sweep,
        samples,
        ..
    } = main;
    // perf's own copy of the recorded kernel's symbols, unless other symbols were asked for.
    let recorded_kallsyms = (opts.kallsyms == Path::new(DEFAULT_KALLSYMS))
        .then(|| {
            let id = build_ids.get(b"[kernel.kallsyms]".as_slice())?;
            crate::symbolize::recorded_kallsyms(finder.debug_dir.as_ref()?, id)
        })
        .flatten();
    Ok(Unwound {
        recorded,
        format: data.format,
        records: stats.finish(bytes),
        table,
        modules,
        finder,
        samples,
        sweep,
        recorded_text,
        recorded_kallsyms,
        partial_error,
        started,
        read_unwind_s: started.elapsed().as_secs_f64(),
    })
}

impl Unwound {
    /// The second stage: names every distinct frame (user frames from their module's symbols,
    /// kernel frames from kallsyms). Index: the frame ids of [`Unwound::table`].
    /// Also the modules whose unnamed frames were named by function boundaries.
    pub fn name_frames(
        &self,
        opts: &AnalyzeOptions,
    ) -> (Vec<Vec<String>>, Symbolizer, Vec<String>) {
        name::fetch_debug_files(&self.table, &self.modules, &self.finder, opts.offline);
        let symbolizer = Symbolizer::new(
            opts.inline,
            &opts.kallsyms,
            self.recorded_text,
            self.recorded_kallsyms.as_deref(),
        );
        let (names, by_boundaries) =
            name::name_frames(&self.table, &self.modules, &self.finder, &symbolizer);
        (names, symbolizer, by_boundaries)
    }
}

/// All stages: unwinding, naming, folding, and the outputs in `opts.out_dir`.
pub fn analyze(opts: &AnalyzeOptions) -> Result<Analysis, AnalyzeError> {
    let unwound = unwind(opts)?;
    let read_unwind_s = unwound.read_unwind_s;
    let (names, symbolizer, named_by_boundaries) = unwound.name_frames(opts);
    let Unwound {
        recorded,
        format,
        records,
        table,
        modules,
        sweep,
        partial_error,
        started,
        samples,
        ..
    } = unwound;
    let symbolize_s = started.elapsed().as_secs_f64() - read_unwind_s;
    let (folded, figures) = table.finish(&names, opts.weighting);
    let accuracy = table.score(&names, &opts.truths);

    std::fs::create_dir_all(&opts.out_dir).map_err(|source| AnalyzeError::Write {
        path: opts.out_dir.clone(),
        source,
    })?;
    let folded_path = opts.out_dir.join("stacks.folded");
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AnalyzeError::Write { path, source }
    };
    let file = std::fs::File::create(&folded_path).map_err(write_err(&folded_path))?;
    fold::write_folded(&folded, BufWriter::new(file)).map_err(write_err(&folded_path))?;

    let input_name = opts.input.display().to_string();
    if opts.flamegraph && !folded.is_empty() {
        let svg = opts.out_dir.join("flamegraph.svg");
        let title = opts
            .title
            .clone()
            .unwrap_or_else(|| format!("{input_name} — {}", describe(recorded)));
        let subtitle = format!(
            "{} samples, {} lost; sampled with {}",
            records.samples,
            records.lost_events,
            records
                .sampling_event
                .as_ref()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "unknown event".into())
        );
        flamegraph::write(&folded, &title, Some(&subtitle), opts.weighting, &svg)
            .map_err(write_err(&svg))?;
    }

    if opts.profile {
        let product = format!("{input_name} ({})", describe(recorded));
        let path = opts.out_dir.join(profile::PROFILE_FILE);
        let input = profile::ProfileInput::new(&product, &table, &names, &modules, samples);
        profile::write(&path, input).map_err(write_err(&path))?;
    }

    let missing_modules = modules
        .iter()
        .filter_map(|(_, m)| Some((m.path.clone(), m.load_error()?.to_string())))
        .collect();
    let wall_s = started.elapsed().as_secs_f64();
    let analysis = Analysis {
        input: input_name,
        format,
        recorded,
        mb_per_s: records.bytes as f64 / 1e6 / wall_s.max(1e-9),
        records,
        stacks: figures,
        distinct_stacks: table.distinct_stacks(),
        distinct_frames: table.distinct_frames(),
        weighting: opts.weighting,
        missing_modules,
        named_by_boundaries,
        kernel_symbols: !table.has_kernel_frames() || symbolizer.kernel_available(),
        partial_error,
        wall_s,
        sweep: sweep.map(SweepCollector::finish),
        accuracy,
        phases: Phases {
            read_unwind_s,
            symbolize_s,
            write_s: wall_s - read_unwind_s - symbolize_s,
        },
    };
    let stats_path = opts.out_dir.join("stats.json");
    let json = serde_json::to_vec_pretty(&analysis).map_err(|e| AnalyzeError::Write {
        path: stats_path.clone(),
        source: std::io::Error::other(e),
    })?;
    crate::files::write_atomically(&stats_path, &json).map_err(|source| AnalyzeError::Write {
        path: stats_path.clone(),
        source,
    })?;
    Ok(analysis)
}

fn describe(r: Recorded) -> String {
    match r {
        Recorded::None => "no call graph".into(),
        Recorded::Callchain => "kernel callchains (frame pointers)".into(),
        Recorded::Dwarf { stack_bytes } => format!("DWARF, {stack_bytes}-byte stack copies"),
    }
}
