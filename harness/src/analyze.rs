//! `analyze`: one perf.data (file or pipe stream) to folded stacks, a flame graph and
//! `stats.json`, without `perf script`.
//!
//! One pass over the records in time order: statistics, address spaces, unwinding and
//! interning of stacks as they come; then one naming pass over the distinct frames; then
//! the outputs.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use linux_perf_data::linux_perf_event_reader::{CpuMode, EventRecord, Mmap2FileId, SampleFormat};
use linux_perf_data::PerfFileRecord;
use serde::{Deserialize, Serialize};

use crate::fold::{self, FrameKey, StackFigures, StackTable, Weighting};
use crate::perfdata::address_space::{AddressSpaces, Mapping};
use crate::perfdata::stats::{RecordStats, StatsCollector};
use crate::perfdata::{self, PerfData, PerfDataError};
use crate::report::flamegraph;
use crate::sweep::{SweepCollector, SweepResult};
use crate::symbolize::Symbolizer;
use crate::unwind::callchain;
use crate::unwind::dwarf::DwarfUnwinder;
use crate::unwind::modules::{FileFinder, ModuleTable};
use crate::unwind::{Frames, UserEnd};

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
    /// Kernel symbols of this boot. Default: /proc/kallsyms.
    pub kallsyms: PathBuf,
    /// Title of the flame graph. Default: the input's name and the unwinding mode.
    pub title: Option<String>,
    /// Write flamegraph.svg. Default: yes.
    pub flamegraph: bool,
    /// Known stacks to score against (program workloads). Default: none.
    pub truths: Vec<crate::accuracy::GroundTruth>,
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
            kallsyms: PathBuf::from("/proc/kallsyms"),
            title: None,
            flamegraph: true,
            truths: Vec::new(),
        }
    }
}

/// How the recording collected stacks, read from its event attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recorded {
    /// No call graph.
    None,
    /// Kernel callchains (frame pointers, or LBR).
    Callchain,
    /// Registers and `stack_bytes` of user stack per sample.
    Dwarf { stack_bytes: u32 },
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
    /// Whether kernel frames could be named (kallsyms of this boot readable).
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
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What MMAP and MMAP2 records say alike; MMAP2 adds protection and a build id.
struct MapRecord<'a> {
    pid: i32,
    cpu_mode: CpuMode,
    path: std::borrow::Cow<'a, [u8]>,
    address: u64,
    length: u64,
    page_offset: u64,
    executable: bool,
    build_id: Option<&'a [u8]>,
}

impl<'a> MapRecord<'a> {
    fn of(event: &'a EventRecord<'a>) -> Option<MapRecord<'a>> {
        const PROT_EXEC: u32 = 4;
        match event {
            EventRecord::Mmap(m) => Some(MapRecord {
                pid: m.pid,
                cpu_mode: m.cpu_mode,
                path: m.path.as_slice(),
                address: m.address,
                length: m.length,
                page_offset: m.page_offset,
                executable: m.is_executable,
                build_id: None,
            }),
            EventRecord::Mmap2(m) => Some(MapRecord {
                pid: m.pid,
                cpu_mode: m.cpu_mode,
                path: m.path.as_slice(),
                address: m.address,
                length: m.length,
                page_offset: m.page_offset,
                executable: m.protection & PROT_EXEC != 0,
                build_id: match &m.file_id {
                    Mmap2FileId::BuildId(id) => Some(id.as_slice()),
                    _ => None,
                },
            }),
            _ => None,
        }
    }
}

fn recorded_mode(data: &PerfData) -> Recorded {
    let Some(attr) = data.first_attr() else {
        return Recorded::None;
    };
    let format = attr.sample_format;
    if format.contains(SampleFormat::STACK_USER) && format.contains(SampleFormat::REGS_USER) {
        Recorded::Dwarf {
            stack_bytes: attr.sample_stack_user,
        }
    } else if format.contains(SampleFormat::CALLCHAIN) {
        Recorded::Callchain
    } else {
        Recorded::None
    }
}

/// Opens the input: a path, or stdin for `-`.
pub fn open_input(input: &Path, partial: bool) -> Result<PerfData, PerfDataError> {
    if input == Path::new("-") {
        let stdin: Box<dyn Read + Send> = Box::new(std::io::stdin());
        perfdata::open_pipe(Path::new("<stdin>"), stdin, partial)
    } else {
        perfdata::open(input, partial)
    }
}

pub fn analyze(opts: &AnalyzeOptions) -> Result<Analysis, AnalyzeError> {
    let started = Instant::now();
    let mut data = open_input(&opts.input, opts.partial)?;
    let recorded = recorded_mode(&data);
    let endian = data.endian();
    let mut modules = ModuleTable::new(data.build_ids());
    let finder = FileFinder::from_env(opts.search.clone());
    let mut spaces = AddressSpaces::default();
    let mut dwarf = DwarfUnwinder::default();
    let mut stats = StatsCollector::new(&data);
    let mut table = StackTable::default();
    let mut frames = Frames::default();
    let mut frame_bytes: Vec<u32> = Vec::new();
    let mut sweep = match recorded {
        Recorded::Dwarf { stack_bytes } => Some(SweepCollector::new(stack_bytes)),
        _ => None,
    };
    let mut recorded_text: Option<u64> = None;
    let filter = |comm: &str| opts.processes.is_empty() || opts.processes.iter().any(|p| p == comm);

    let damage = data.damage();
    let partial_error = loop {
        let record = match data.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break None,
            Err(e) if opts.partial => break Some(e.to_string()),
            Err(e) => return Err(e.into()),
        };
        if !stats.count(&record, endian) {
            continue;
        }
        let PerfFileRecord::EventRecord { record, .. } = &record else {
            continue;
        };
        let Some(event) = perfdata::parse_record(record) else {
            stats.stats.unparsable_records += 1;
            continue;
        };
        stats.event(&event);
        match &event {
            EventRecord::Sample(sample) => {
                let tid = sample.tid.unwrap_or(-1);
                let pid = sample.pid.unwrap_or(-1);
                let comm = stats.threads.name(tid);
                if !filter(comm) {
                    continue;
                }
                let end = match recorded {
                    Recorded::Dwarf { .. } => {
                        match &sample.callchain {
                            Some(chain) => callchain::split(chain, &mut frames),
                            None => frames.kernel.clear(),
                        }
                        let user = dwarf.unwind(
                            sample,
                            &spaces,
                            &modules,
                            &finder,
                            &mut frames.user,
                            &mut frame_bytes,
                        );
                        if let Some(sweep) = sweep.as_mut() {
                            let space = spaces.space(pid);
                            let main_thread = pid == tid && pid > 0;
                            let is_bottom = |k: usize| {
                                let addr = frames.user[k];
                                space
                                    .and_then(|s| s.find(addr))
                                    .and_then(|m| {
                                        let elf = modules.get(m.module).elf(&finder).ok()?;
                                        Some(crate::unwind::bottoms::is_bottom(
                                            elf.bottoms(),
                                            m.file_offset(addr),
                                            main_thread,
                                        ))
                                    })
                                    .unwrap_or(false)
                            };
                            sweep.add(comm, user.end, &frame_bytes, is_bottom, user.bytes_used);
                        }
                        if frames.user.is_empty() && sample.cpu_mode == CpuMode::User {
                            // No stack copy (e.g. mid-exec): at least the sampled address.
                            frames.user.extend(sample.ip);
                        }
                        user.end
                    }
                    Recorded::Callchain => {
                        match &sample.callchain {
                            Some(chain) => callchain::split(chain, &mut frames),
                            None => {
                                frames.kernel.clear();
                                frames.user.clear();
                            }
                        }
                        if frames.user.is_empty() {
                            UserEnd::NoUser
                        } else {
                            UserEnd::Ended
                        }
                    }
                    Recorded::None => {
                        frames.kernel.clear();
                        frames.user.clear();
                        let ip = sample.ip.unwrap_or(0);
                        if sample.cpu_mode == CpuMode::Kernel {
                            frames.kernel.push(ip);
                        } else {
                            frames.user.push(ip);
                        }
                        UserEnd::NoUser
                    }
                };
                let space = spaces.space(pid);
                let user_keys = frames
                    .user
                    .iter()
                    .map(|&a| match space.and_then(|s| s.find(a)) {
                        Some(m) => FrameKey::User {
                            module: m.module,
                            offset: m.file_offset(a),
                        },
                        None => FrameKey::Unmapped,
                    });
                let kernel_keys = frames.kernel.iter().map(|&addr| FrameKey::Kernel { addr });
                table.add(
                    comm,
                    pid == tid && pid > 0,
                    user_keys,
                    kernel_keys,
                    end,
                    sample.period.unwrap_or(1),
                );
            }
            EventRecord::Mmap(_) | EventRecord::Mmap2(_) => {
                let Some(m) = MapRecord::of(&event) else {
                    continue;
                };
                let kernel = m.pid == -1 || m.cpu_mode == CpuMode::Kernel;
                if kernel && m.path.starts_with(b"[kernel.kallsyms]") {
                    recorded_text.get_or_insert(m.page_offset);
                }
                if !m.executable && !kernel {
                    continue;
                }
                let module = modules.intern(&m.path, m.build_id, kernel);
                let mapping = Mapping {
                    start: m.address,
                    end: m.address.saturating_add(m.length),
                    pgoff: m.page_offset,
                    module,
                };
                if let Some(ev) = spaces.map(if kernel { -1 } else { m.pid }, mapping) {
                    dwarf.apply(&ev, &modules, &finder);
                }
            }
            EventRecord::Fork(f) => {
                if let Some(ev) = spaces.fork(f.pid, f.ppid) {
                    dwarf.apply(&ev, &modules, &finder);
                }
            }
            EventRecord::Comm(c) if c.is_execve => {
                let ev = spaces.exec(c.pid);
                dwarf.apply(&ev, &modules, &finder);
            }
            EventRecord::Exit(e) => {
                if let Some(ev) = spaces.exit(e.pid, e.tid) {
                    dwarf.apply(&ev, &modules, &finder);
                }
            }
            _ => {}
        }
    };

    let partial_error = damage.or(partial_error);
    let bytes = data.position();
    let records = stats.finish(bytes);
    let read_unwind_s = started.elapsed().as_secs_f64();
    let symbolizer = Symbolizer::new(opts.inline, &opts.kallsyms, recorded_text);
    let names = table.name_frames(&modules, &finder, &symbolizer);
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

    let missing_modules = modules
        .iter()
        .filter_map(|(_, m)| Some((m.path.clone(), m.load_error()?.to_string())))
        .collect();
    let wall_s = started.elapsed().as_secs_f64();
    let analysis = Analysis {
        input: input_name,
        format: data.format,
        recorded,
        mb_per_s: bytes as f64 / 1e6 / wall_s.max(1e-9),
        records,
        stacks: figures,
        distinct_stacks: table.distinct_stacks(),
        distinct_frames: table.distinct_frames(),
        weighting: opts.weighting,
        missing_modules,
        kernel_symbols: symbolizer.kernel_available(),
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
    crate::report::results::write_atomically(&stats_path, &json).map_err(|e| {
        AnalyzeError::Write {
            path: stats_path.clone(),
            source: std::io::Error::other(e.to_string()),
        }
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
