//! Naming, the step between unwinding and folding: every distinct frame of the stack table
//! gets its name once, user frames from their module's file (one batch per module), kernel
//! frames from kallsyms on a second thread meanwhile.

use crate::binary::{FileFinder, FileOffset, ModuleId, ModuleTable};
use crate::fasthash::FxHashMap as HashMap;
use crate::fold::{FrameKey, StackTable};
use crate::symbolize::boundaries::Boundaries;
use crate::symbolize::debuginfod::Fetcher;
use crate::symbolize::sources::{name_source, NameSource};
use crate::symbolize::Symbolizer;

/// The modules with frames in `table`.
fn modules_with_frames(table: &StackTable) -> Vec<ModuleId> {
    let mut ids: Vec<ModuleId> = table
        .frames()
        .iter()
        .filter_map(|k| match *k {
            FrameKey::User { module, .. } => Some(module),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Fetches from debuginfod (where configured) the debug file of every stripped module with
/// frames that has none installed, into the cache [`crate::binary::BuildId::debug_file`]
/// looks in.
pub fn fetch_debug_files(
    table: &StackTable,
    modules: &ModuleTable,
    finder: &FileFinder,
    offline: bool,
) {
    let Some(mut fetcher) = Fetcher::from_env(offline) else {
        return;
    };
    for id in modules_with_frames(table) {
        let m = modules.get(id);
        let (Some(build_id), Ok(elf)) = (&m.build_id, m.elf(finder)) else {
            continue;
        };
        // Only what has no names of its own nor a debug file here.
        if !matches!(name_source(&elf.file), Some(NameSource::Debuginfod(_))) {
            continue;
        }
        let name = m.file_name();
        fetcher.fetch(name, build_id);
    }
}

/// A name (or, with inlined functions, several) for every distinct frame of `table`, by
/// frame id: one batch per module, then the kernel. Also the modules some of whose frames
/// no symbol named, so their function boundaries did.
pub fn name_frames(
    table: &StackTable,
    modules: &ModuleTable,
    finder: &FileFinder,
    symbolizer: &Symbolizer,
) -> (Vec<Vec<String>>, Vec<String>) {
    let mut names: Vec<Vec<String>> = vec![Vec::new(); table.frames().len()];
    let mut per_module: HashMap<ModuleId, Vec<(u32, FileOffset)>> = HashMap::default();
    let mut kernel: Vec<(u32, u64)> = Vec::new();
    for (id, key) in table.frames().iter().enumerate() {
        match *key {
            FrameKey::User { module, offset } => per_module
                .entry(module)
                .or_default()
                .push((id as u32, offset)),
            FrameKey::Kernel { addr } => kernel.push((id as u32, addr)),
            FrameKey::Unmapped => names[id] = vec!["[unknown]".to_string()],
        }
    }
    // Kernel names (kallsyms: the kernel formats ~10 MB of text on read) come on a
    // second thread while the user modules are named on this one.
    let addrs: Vec<u64> = kernel.iter().map(|&(_, a)| a).collect();
    let mut by_boundaries = Vec::new();
    let kernel_names = std::thread::scope(|scope| {
        let kernel_names = scope.spawn(|| symbolizer.kernel(&addrs));
        for (module, frames) in per_module {
            let m = modules.get(module);
            let offsets: Vec<FileOffset> = frames.iter().map(|&(_, o)| o).collect();
            let elf = m.elf(finder).ok();
            let resolved = match elf {
                Some(elf) => symbolizer.user(elf, &offsets),
                None => vec![None; offsets.len()],
            };
            // Frames no symbol names: by the function that contains them, from the unwind
            // tables, loaded only when such a frame exists.
            let mut boundaries = None;
            let file = m.file_name();
            for ((id, offset), name) in frames.iter().zip(resolved) {
                names[*id as usize] = name.unwrap_or_else(|| {
                    let by_boundary = elf.and_then(|elf| {
                        boundaries
                            .get_or_insert_with(|| Boundaries::load(elf).unwrap_or_default())
                            .name(file, elf, *offset)
                    });
                    vec![by_boundary.unwrap_or_else(|| m.unknown_name.clone())]
                });
            }
            if boundaries.is_some() {
                by_boundaries.push(file.to_string());
            }
        }
        kernel_names.join().expect("kernel symbolization panicked")
    });
    for ((id, _), name) in kernel.iter().zip(kernel_names) {
        names[*id as usize] = vec![name.unwrap_or_else(|| "[kernel.kallsyms]".to_string())];
    }
    by_boundaries.sort();
    by_boundaries.dedup();
    (names, by_boundaries)
}
