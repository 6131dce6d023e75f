//! Records for what existed before the recording started, read from /proc as perf does:
//! the kernel's mapping, and the name and executable mappings of every running process.
//! The kernel only reports what happens after the events are opened.

use super::writer::PerfDataWriter;

const MMAP: u32 = 1;
const COMM: u32 = 3;
const MMAP2: u32 = 10;
const MISC_KERNEL: u16 = 1;
const MISC_USER: u16 = 2;

/// The `sample_id_all` trailer of a synthesized record (pid, tid, time 0, cpu 0), for an
/// attribute sampling TID, TIME and CPU.
fn trailer(pid: i32, tid: i32) -> [u8; 24] {
    let mut t = [0u8; 24];
    t[..4].copy_from_slice(&pid.to_le_bytes());
    t[4..8].copy_from_slice(&tid.to_le_bytes());
    t
}

/// A NUL-terminated string padded to whole 8-byte words.
fn padded(text: &[u8]) -> Vec<u8> {
    let mut v = text.to_vec();
    v.push(0);
    v.resize(v.len().div_ceil(8) * 8, 0);
    v
}

/// One record as bytes: type, misc and body (without its header), for the recorder to apply
/// and write like a kernel record.
pub struct Synthesized {
    pub kind: u32,
    pub misc: u16,
    pub body: Vec<u8>,
}

/// The kernel's `[kernel.kallsyms]_text` mapping, from `_text` in /proc/kallsyms.
pub fn kernel_mapping() -> Option<Synthesized> {
    let text = std::fs::read_to_string("/proc/kallsyms").ok()?;
    let start = text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let addr = f.next()?;
        let _kind = f.next()?;
        (f.next()? == "_text").then(|| u64::from_str_radix(addr, 16).ok())?
    })?;
    if start == 0 {
        return None;
    }
    let mut body = Vec::new();
    body.extend_from_slice(&(-1i32).to_le_bytes());
    body.extend_from_slice(&0i32.to_le_bytes());
    body.extend_from_slice(&start.to_le_bytes());
    body.extend_from_slice(&(u64::MAX - start).to_le_bytes());
    body.extend_from_slice(&start.to_le_bytes());
    body.extend_from_slice(&padded(b"[kernel.kallsyms]_text"));
    body.extend_from_slice(&trailer(-1, 0));
    Some(Synthesized {
        kind: MMAP,
        misc: MISC_KERNEL,
        body,
    })
}

/// COMM records for every thread and MMAP2 records for every executable file mapping of
/// every process running now, the recorder included (its samples are its cost, named).
pub fn processes() -> Vec<Synthesized> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        // A process may end while it is read: whatever was read stays, the rest is skipped.
        threads(pid, &mut out);
        mappings(pid, &mut out);
    }
    out
}

fn threads(pid: i32, out: &mut Vec<Synthesized>) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read(format!("/proc/{pid}/task/{tid}/comm")) else {
            continue;
        };
        let name = comm.strip_suffix(b"\n").unwrap_or(&comm);
        let mut body = Vec::new();
        body.extend_from_slice(&pid.to_le_bytes());
        body.extend_from_slice(&tid.to_le_bytes());
        body.extend_from_slice(&padded(name));
        body.extend_from_slice(&trailer(pid, tid));
        out.push(Synthesized {
            kind: COMM,
            misc: 0,
            body,
        });
    }
}

fn mappings(pid: i32, out: &mut Vec<Synthesized>) {
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return;
    };
    for line in maps.lines() {
        if let Some(body) = mmap2_body(pid, line) {
            out.push(Synthesized {
                kind: MMAP2,
                misc: MISC_USER,
                body,
            });
        }
    }
}

/// The MMAP2 body of one executable line of /proc/PID/maps
/// (`start-end perms offset maj:min inode path`), None for other lines.
fn mmap2_body(pid: i32, line: &str) -> Option<Vec<u8>> {
    let mut f = line.split_whitespace();
    let (range, perms, offset, dev, inode) =
        (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
    let path = f.collect::<Vec<_>>().join(" ");
    if !perms.contains('x') || path.is_empty() {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let end = u64::from_str_radix(end, 16).ok()?;
    let (maj, min) = dev.split_once(':')?;
    let prot: u32 = perms
        .bytes()
        .zip([1u32, 2, 4])
        .filter(|(c, _)| *c != b'-')
        .map(|(_, bit)| bit)
        .sum();
    let flags: u32 = if perms.ends_with('s') { 1 } else { 2 };
    let mut body = Vec::new();
    body.extend_from_slice(&pid.to_le_bytes());
    body.extend_from_slice(&pid.to_le_bytes());
    body.extend_from_slice(&start.to_le_bytes());
    body.extend_from_slice(&end.checked_sub(start)?.to_le_bytes());
    body.extend_from_slice(&u64::from_str_radix(offset, 16).ok()?.to_le_bytes());
    body.extend_from_slice(&u32::from_str_radix(maj, 16).ok()?.to_le_bytes());
    body.extend_from_slice(&u32::from_str_radix(min, 16).ok()?.to_le_bytes());
    body.extend_from_slice(&inode.parse::<u64>().ok()?.to_le_bytes());
    body.extend_from_slice(&0u64.to_le_bytes());
    body.extend_from_slice(&prot.to_le_bytes());
    body.extend_from_slice(&flags.to_le_bytes());
    body.extend_from_slice(&padded(path.as_bytes()));
    body.extend_from_slice(&trailer(pid, pid));
    Some(body)
}

/// Writes `records` to `out`.
pub fn write_all(records: &[Synthesized], out: &mut PerfDataWriter) -> std::io::Result<()> {
    for r in records {
        out.record(r.kind, r.misc, &[&r.body])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_executable_file_lines_become_mappings() {
        let line = "7f12a000-7f12c000 r-xp 00002000 fe:01 1234 /usr/lib/libc.so.6";
        let body = mmap2_body(42, line).unwrap();
        let word = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().unwrap());
        assert_eq!((word(8), word(16), word(24)), (0x7f12a000, 0x2000, 0x2000));
        // device 254:1, inode 1234, then prot r-x = 5 and a private mapping
        assert_eq!(&body[32..40], &[254, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(word(40), 1234);
        assert_eq!(&body[56..64], &[5, 0, 0, 0, 2, 0, 0, 0]);
        assert!(body[64..].starts_with(b"/usr/lib/libc.so.6\0"));
        assert_eq!(body.len() % 8, 0);
        assert!(mmap2_body(1, "7f1-7f2 rw-p 00000000 00:00 0 [heap]").is_none());
        assert!(mmap2_body(1, "7f1-7f2 r-xp 00000000 00:00 0").is_none());
        assert!(mmap2_body(1, "garbage").is_none());
    }
}
