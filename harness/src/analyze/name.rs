//! Naming, the step between unwinding and folding: every distinct frame of the stack table
//! gets its name once, user frames from their module's file (one batch per module), kernel
//! frames from kallsyms on a second thread meanwhile.

use crate::binary::{FileFinder, FileOffset, ModuleId, ModuleTable};
use crate::fasthash::FxHashMap as HashMap;
use crate::fold::{FrameKey, StackTable};
use crate::symbolize::Symbolizer;

/// A name (or, with inlined functions, several) for every distinct frame of `table`, by
/// frame id: one batch per module, then the kernel.
pub fn name_frames(
    table: &StackTable,
    modules: &ModuleTable,
    finder: &FileFinder,
    symbolizer: &Symbolizer,
) -> Vec<Vec<String>> {
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
    let kernel_names = std::thread::scope(|scope| {
        let kernel_names = scope.spawn(|| symbolizer.kernel(&addrs));
        for (module, frames) in per_module {
            let m = modules.get(module);
            let offsets: Vec<FileOffset> = frames.iter().map(|&(_, o)| o).collect();
            let resolved = match m.elf(finder) {
                Ok(elf) => symbolizer.user(elf, &offsets),
                Err(_) => vec![None; offsets.len()],
            };
            for ((id, _), name) in frames.iter().zip(resolved) {
                names[*id as usize] = name.unwrap_or_else(|| vec![m.unknown_name.clone()]);
            }
        }
        kernel_names.join().expect("kernel symbolization panicked")
    });
    for ((id, _), name) in kernel.iter().zip(kernel_names) {
        names[*id as usize] = vec![name.unwrap_or_else(|| "[kernel.kallsyms]".to_string())];
    }
    names
}
