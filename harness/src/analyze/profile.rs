//! `--profile`: the recording as a profile for the Firefox Profiler (profiler.firefox.com, or
//! `samply load`), in its processed format: processes by pid named by comm, threads by tid,
//! every sample at its perf time, its stack named exactly as the folded stacks name it, each
//! frame in its library (the module's file; kernel frames in `[kernel.kallsyms]`).
//!
//! Stacks that end before a real stack bottom (the verdict the completeness figures count,
//! [`StackView::complete`]) have every frame in the category "Incomplete stack", with why as
//! its subcategory, so the activity graph colours them and the call tree's sidebar gives their
//! share under any function, while the names stay those of the folded stacks.
//!
//! The profile is symbolicated here: a library's symbol table holds the names its frames got,
//! each at an address of its own, so the viewer never looks for the files. Those addresses are
//! handles, not file offsets: with inlined functions one offset has several names.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use fxprof_processed_profile::debugid::DebugId;
use fxprof_processed_profile::{
    CategoryColor, CategoryPairHandle, CpuDelta, Frame, FrameFlags, FrameInfo, LibraryInfo,
    Profile, ReferenceTimestamp, SamplingInterval, StackHandle, Symbol, SymbolTable, ThreadHandle,
    Timestamp,
};

use crate::binary::{ModuleId, ModuleKind, ModuleTable};
use crate::fasthash::FxHashMap as HashMap;
use crate::fold::{FrameKey, StackTable, StackView};
use crate::unwind::UserEnd;

/// The file `analyze --profile` writes into its output folder (defined beside the other
/// files the reports link).
pub use crate::report::flamegraph::PROFILE_FILE;

/// The library kernel frames belong to, named as perf names the kernel's mapping.
const KERNEL: &str = "[kernel.kallsyms]";

/// One sample as the profile needs it: when, whose, and which stack of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleRef {
    /// perf's sample time, in nanoseconds.
    pub time: u64,
    /// The sample's number in the recording, so that samples of equal time keep one order
    /// whatever the number of passes that unwound them.
    pub number: u64,
    pub pid: i32,
    pub tid: i32,
    /// The stack's number in the [`StackTable`].
    pub stack: u32,
}

/// What the profile is made of.
pub struct ProfileInput<'a> {
    /// Shown by the viewer as the profiled product.
    pub product: &'a str,
    pub table: &'a StackTable,
    /// A name (or, with inlined functions, several) per frame id, as the folded stacks use.
    pub names: &'a [Vec<String>],
    pub modules: &'a ModuleTable,
    pub samples: Vec<SampleRef>,
}

impl<'a> ProfileInput<'a> {
    pub fn new(
        product: &'a str,
        table: &'a StackTable,
        names: &'a [Vec<String>],
        modules: &'a ModuleTable,
        samples: Vec<SampleRef>,
    ) -> ProfileInput<'a> {
        ProfileInput {
            product,
            table,
            names,
            modules,
            samples,
        }
    }
}

/// Builds the profile and writes it gzipped to `path`, atomically.
pub fn write(path: &Path, input: ProfileInput) -> std::io::Result<()> {
    let profile = build(input);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    serde_json::to_writer(&mut gz, &profile).map_err(std::io::Error::other)?;
    crate::files::write_atomically(path, &gz.finish()?)
}

/// The profile of `input` (see the module's documentation).
pub fn build(input: ProfileInput) -> Profile {
    let ProfileInput {
        product,
        table,
        names,
        modules,
        mut samples,
    } = input;
    // Time order, ties by sample number: the same profile whatever the number of passes.
    samples.sort_unstable_by_key(|s| (s.time, s.number));
    let views = table.stacks(names);
    let mut by_thread: BTreeMap<(i32, i32), Vec<SampleRef>> = BTreeMap::new();
    for s in &samples {
        by_thread.entry((s.pid, s.tid)).or_default().push(*s);
    }
    drop(samples);
    let interval = typical_interval(&by_thread);
    // Sample times are perf's clock as they are, in nanoseconds from the reference: the
    // viewer shows times from the first sample on.
    let mut profile = Profile::new(
        product,
        ReferenceTimestamp::from_millis_since_unix_epoch(0.0),
        SamplingInterval::from_nanos(interval),
    );
    profile.set_os_name("Linux");
    profile.set_symbolicated(true);
    let categories = Categories::new(&mut profile);
    let frames = resolve_frames(&mut profile, table.frames(), names, modules);
    let threads = add_threads(&mut profile, &by_thread, &views);
    for (samples, thread) in by_thread.values().zip(threads) {
        let mut stacks: HashMap<u32, Option<StackHandle>> = HashMap::default();
        let mut previous: Option<u64> = None;
        for s in samples {
            let stack = *stacks.entry(s.stack).or_insert_with(|| {
                let view = &views[s.stack as usize];
                let infos = stack_frames(view, &frames, &categories);
                profile.intern_stack_frames(thread, infos.into_iter())
            });
            // A sample stands for one interval of the thread's CPU time, or less when the
            // previous one came sooner (the viewer needs it no larger than the time between).
            let gap = previous.map_or(interval, |p| s.time.saturating_sub(p));
            previous = Some(s.time);
            let cpu = CpuDelta::from_nanos(gap.min(interval));
            let at = Timestamp::from_nanos_since_reference(s.time);
            profile.add_sample(thread, at, stack, cpu, 1);
        }
    }
    profile
}

/// The sampling interval in nanoseconds: the median time between two samples of one thread
/// (a busy thread is sampled at the recording's rate); 1 ms when no thread has two samples.
fn typical_interval(by_thread: &BTreeMap<(i32, i32), Vec<SampleRef>>) -> u64 {
    let mut gaps: Vec<u64> = by_thread
        .values()
        .flat_map(|s| s.windows(2).map(|w| w[1].time.saturating_sub(w[0].time)))
        .filter(|&g| g > 0)
        .collect();
    if gaps.is_empty() {
        return 1_000_000;
    }
    let middle = gaps.len() / 2;
    *gaps.select_nth_unstable(middle).1
}

/// The frames' categories: user and kernel code, and the incomplete stacks by why they ended.
struct Categories {
    user: CategoryPairHandle,
    kernel: CategoryPairHandle,
    ended: CategoryPairHandle,
    out_of_stack: CategoryPairHandle,
    error: CategoryPairHandle,
}

impl Categories {
    fn new(profile: &mut Profile) -> Categories {
        let user = profile.add_category("User", CategoryColor::Yellow).into();
        let kernel = profile.add_category("Kernel", CategoryColor::Orange).into();
        let incomplete = profile.add_category("Incomplete stack", CategoryColor::Red);
        Categories {
            user,
            kernel,
            ended: profile.add_subcategory(incomplete, "ended before a stack bottom"),
            out_of_stack: profile.add_subcategory(incomplete, "beyond the copied stack"),
            error: profile.add_subcategory(incomplete, "unwinding failed"),
        }
    }

    /// The category of a stack's frame `index` (root first).
    fn of(&self, view: &StackView, index: usize) -> CategoryPairHandle {
        match (view.complete, view.end) {
            (Some(false), UserEnd::OutOfStack) => self.out_of_stack,
            (Some(false), UserEnd::Error) => self.error,
            (Some(false), _) => self.ended,
            _ if index < view.user_len => self.user,
            _ => self.kernel,
        }
    }
}

/// A stack's frames for the viewer, root first, one per name (as the folded line has them).
fn stack_frames(
    view: &StackView,
    frames: &[Vec<Frame>],
    categories: &Categories,
) -> Vec<FrameInfo> {
    let mut infos = Vec::with_capacity(view.frames.len());
    for (index, &f) in view.frames.iter().enumerate() {
        let category_pair = categories.of(view, index);
        infos.extend(frames[f as usize].iter().map(|frame| FrameInfo {
            frame: frame.clone(),
            category_pair,
            flags: FrameFlags::empty(),
        }));
    }
    infos
}

/// Which library a frame is in: a module's file, or the kernel; None outside every mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum LibKey {
    Module(ModuleId),
    Kernel,
}

/// Every frame id's frames for the viewer (one per name), after the libraries with their
/// symbol tables went into the profile. A library's names are sorted and numbered, so its
/// table is the same whatever order the frames were met in.
fn resolve_frames(
    profile: &mut Profile,
    keys: &[FrameKey],
    names: &[Vec<String>],
    modules: &ModuleTable,
) -> Vec<Vec<Frame>> {
    let lib_of = |key: &FrameKey| match *key {
        FrameKey::User { module, .. } => Some(LibKey::Module(module)),
        FrameKey::Kernel { .. } => Some(LibKey::Kernel),
        FrameKey::Unmapped => None,
    };
    let mut per_lib: BTreeMap<LibKey, BTreeMap<&str, u32>> = BTreeMap::new();
    for (key, names) in keys.iter().zip(names) {
        if let Some(lib) = lib_of(key) {
            let table = per_lib.entry(lib).or_default();
            table.extend(names.iter().map(|n| (n.as_str(), 0)));
        }
    }
    let mut handles = HashMap::default();
    for (lib, table) in per_lib.iter_mut() {
        let mut symbols = Vec::with_capacity(table.len());
        for (address, (name, slot)) in table.iter_mut().enumerate() {
            *slot = address as u32;
            symbols.push(Symbol {
                address: address as u32,
                size: Some(1),
                name: name.to_string(),
            });
        }
        let info = library_info(*lib, modules, SymbolTable::new(symbols));
        handles.insert(*lib, profile.add_lib(info));
    }
    keys.iter()
        .zip(names)
        .map(|(key, names)| {
            let lib = lib_of(key);
            let frame = |name: &String| match lib {
                Some(lib) => Frame::RelativeAddressFromInstructionPointer(
                    handles[&lib],
                    per_lib[&lib][name.as_str()],
                ),
                None => Frame::Label(profile.intern_string(name)),
            };
            names.iter().map(frame).collect()
        })
        .collect()
}

/// A library as the viewer lists it: the module's name, path and build id.
fn library_info(lib: LibKey, modules: &ModuleTable, symbols: SymbolTable) -> LibraryInfo {
    let (name, path, build_id) = match lib {
        LibKey::Module(id) => {
            let m = modules.get(id);
            (
                m.file_name().to_string(),
                m.path.clone(),
                m.build_id.as_ref(),
            )
        }
        LibKey::Kernel => {
            let kernel = modules
                .iter()
                .find(|(_, m)| m.kind == ModuleKind::Kernel && m.path == KERNEL);
            let build_id = kernel.and_then(|(_, m)| m.build_id.as_ref());
            (KERNEL.to_string(), KERNEL.to_string(), build_id)
        }
    };
    // Breakpad's id of an ELF file: the build id's first 16 bytes read as a GUID.
    let debug_id = build_id
        .and_then(|id| {
            let mut guid = [0u8; 16];
            let bytes = id.as_bytes();
            let n = bytes.len().min(16);
            guid[..n].copy_from_slice(&bytes[..n]);
            DebugId::from_guid_age(&guid, 0).ok()
        })
        .unwrap_or_default();
    LibraryInfo {
        debug_name: name.clone(),
        name,
        debug_path: path.clone(),
        path,
        debug_id,
        code_id: build_id.map(|id| id.to_string()),
        arch: None,
        symbol_table: Some(Arc::new(symbols)),
    }
}

/// The processes and threads of the samples, by (pid, tid) in the order of `by_thread`. A
/// process is named by its main thread's last comm (after an exec), or by the first comm
/// seen in it; a thread by its last comm.
fn add_threads(
    profile: &mut Profile,
    by_thread: &BTreeMap<(i32, i32), Vec<SampleRef>>,
    views: &[StackView],
) -> Vec<ThreadHandle> {
    let comm = |s: &SampleRef| views[s.stack as usize].comm;
    let mut processes: BTreeMap<i32, (&str, u64)> = BTreeMap::new();
    for (&(pid, tid), samples) in by_thread {
        let (first, last) = (&samples[0], &samples[samples.len() - 1]);
        let p = processes.entry(pid).or_insert((comm(first), first.time));
        p.1 = p.1.min(first.time);
        if tid == pid {
            p.0 = comm(last);
        }
    }
    let handles: BTreeMap<i32, _> = processes
        .into_iter()
        .map(|(pid, (name, start))| {
            let at = Timestamp::from_nanos_since_reference(start);
            (pid, profile.add_process(name, pid as u32, at))
        })
        .collect();
    by_thread
        .iter()
        .map(|(&(pid, tid), samples)| {
            let (first, last) = (&samples[0], &samples[samples.len() - 1]);
            let at = Timestamp::from_nanos_since_reference(first.time);
            let thread = profile.add_thread(handles[&pid], tid as u32, at, tid == pid);
            profile.set_thread_name(thread, comm(last));
            thread
        })
        .collect()
}
