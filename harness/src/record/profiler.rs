//! perf around a measured window: started before the workload (enabling its events after the
//! ramp, `--delay`), its CPU read at the window's edges, stopped after; for the pipe sink,
//! with the analyzer reading its stream as it is written.

use std::time::Duration;

use super::cpu;
use super::measured::{MeasureError, MeasurePaths, PerfCost, ReaderCost};
use super::perf::{self, PerfOptions};
use super::{Recording, Sink};
use crate::process::{self, Child};

/// perf (and the pipe's reader) over one measurement; does nothing for the baseline.
pub struct Profiler {
    recording: Option<(Recording, perf::Running)>,
    reader: Option<Child>,
    perf_cpu: [Option<f64>; 2],
    reader_cpu: [Option<f64>; 2],
    /// Set when the watch stopped the recording (--max-data, a filling disk): why, and
    /// after how many seconds.
    truncated: Option<(String, f64)>,
    /// When the watch last looked at the file and the disk.
    last_watch: Option<std::time::Instant>,
    /// Dirty page-cache data at the window's start (MB).
    dirty_at_start_mb: Option<f64>,
    /// perf's threads' scheduler figures at the window's edges.
    sched: [Option<cpu::ThreadTimes>; 2],
}

/// Starts `unwindbench analyze -` on the measurement's folder, reading stdin; returns it and
/// the pipe to give perf as stdout.
fn start_reader(paths: &MeasurePaths) -> Result<(Child, std::process::ChildStdin), MeasureError> {
    let exe = std::env::current_exe().map_err(|source| MeasureError::Io {
        path: "/proc/self/exe".into(),
        source,
    })?;
    let exe = exe.display().to_string();
    let mut args: Vec<std::ffi::OsString> = vec!["analyze".into(), "-".into()];
    args.extend(paths.analysis_args());
    let mut cmd = process::command(&exe, &args);
    let io = |source| MeasureError::Io {
        path: paths.analysis_log(),
        source,
    };
    cmd.stdout(process::to_file(&paths.analysis_log()).map_err(io)?);
    cmd.stderr(
        std::fs::OpenOptions::new()
            .append(true)
            .open(paths.analysis_log())
            .map_err(io)?,
    );
    Ok(process::spawn_with_stdin(&exe, cmd)?)
}

impl Profiler {
    /// Starts perf for `recording` (None: the baseline, nothing to start), waiting until it
    /// has set up so the workload started next is recorded from the end of its ramp on.
    pub fn start(
        recording: Option<Recording>,
        opts: &PerfOptions,
        ramp: Duration,
        paths: &MeasurePaths,
    ) -> Result<Profiler, MeasureError> {
        let mut p = Profiler {
            recording: None,
            reader: None,
            perf_cpu: [None; 2],
            reader_cpu: [None; 2],
            truncated: None,
            last_watch: None,
            dirty_at_start_mb: None,
            sched: [None; 2],
        };
        let Some(rec) = recording else {
            return Ok(p);
        };
        let opts = PerfOptions {
            delay: ramp,
            ..opts.clone()
        };
        let stdout = match rec.sink {
            Sink::Pipe => {
                let (child, pipe) = start_reader(paths)?;
                p.reader = Some(child);
                Some(std::process::Stdio::from(pipe))
            }
            Sink::File => None,
        };
        let running = perf::start(rec, &opts, &paths.perf_data(), &paths.perf_log(), stdout)?;
        p.recording = Some((rec, running));
        Ok(p)
    }

    fn sample(&self) -> (Option<f64>, Option<f64>) {
        (
            self.recording
                .as_ref()
                .and_then(|(_, r)| cpu::thread_run_seconds(r.pid())),
            self.reader
                .as_ref()
                .and_then(|r| cpu::thread_run_seconds(r.pid())),
        )
    }

    /// Stops a file-sink recording before it fills the disk: when the free space where it is
    /// written falls below the margin the disk guard keeps (or can no longer be read), or
    /// once it has grown past `max` bytes (--max-data). perf is interrupted, so it finalizes
    /// the file: what was written stays usable, and the other modes' results are untouched.
    /// Called on every tick of the window; looks at the disk every 100 ms.
    pub fn watch(&mut self, max: Option<u64>, since: std::time::Instant) {
        if self.truncated.is_some()
            || self
                .last_watch
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last_watch = Some(std::time::Instant::now());
        let Some((rec, running)) = &self.recording else {
            return;
        };
        if rec.sink != Sink::File {
            return;
        }
        let size = std::fs::metadata(&running.output)
            .map(|m| m.len())
            .unwrap_or(0);
        let dir = running.output.parent().unwrap_or(std::path::Path::new("."));
        let why = match (max, crate::disk::disk_space(dir)) {
            (Some(max), _) if size > max => format!(
                "recording stopped at {} (--max-data {})",
                crate::units::human_bytes(size),
                crate::units::human_bytes(max)
            ),
            (_, Some((free, total))) if free < crate::disk::disk_margin(total) => format!(
                "recording stopped at {} before the disk filled: {} free at {} (keeping {} spare)",
                crate::units::human_bytes(size),
                crate::units::human_bytes(free),
                dir.display(),
                crate::units::human_bytes(crate::disk::disk_margin(total))
            ),
            (None, None) => format!(
                "recording stopped at {}: the free space at {} can no longer be read (statvfs failed)",
                crate::units::human_bytes(size),
                dir.display()
            ),
            _ => return,
        };
        running.interrupt();
        let after = since.elapsed().as_secs_f64();
        self.truncated = Some((format!("{why} after {after:.1} s of the window"), after));
    }

    fn sched(&self) -> Option<cpu::ThreadTimes> {
        let (_, running) = self.recording.as_ref()?;
        Some(cpu::threads_of(&[running.pid()]))
    }

    pub fn window_start(&mut self) {
        self.dirty_at_start_mb = Some(super::memory::dirty_mb());
        self.sched[0] = self.sched();
        let (perf, reader) = self.sample();
        self.perf_cpu[0] = perf;
        self.reader_cpu[0] = reader;
    }

    pub fn window_end(&mut self) {
        self.sched[1] = self.sched();
        let (perf, reader) = self.sample();
        self.perf_cpu[1] = perf;
        self.reader_cpu[1] = reader;
    }

    /// Stops perf (SIGINT: it finalizes its output), lets the pipe's reader finish, and
    /// returns what the recording cost.
    pub fn finish(mut self, paths: &MeasurePaths) -> Result<Option<PerfCost>, MeasureError> {
        let Some((rec, running)) = self.recording.take() else {
            return Ok(None);
        };
        let output = running.output.clone();
        let exit = running.stop()?;
        let mut data_bytes = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
        let window = |edges: [Option<f64>; 2]| {
            (edges[1].unwrap_or_default() - edges[0].unwrap_or_default()).max(0.0)
        };
        // The reader ends when perf closes the pipe; its stats say how many bytes flowed.
        let reader = match self.reader.as_mut() {
            Some(r) => {
                let done = r.wait_interruptibly(Duration::from_secs(3 * 3600))?;
                if !done.status.success() {
                    let log = std::fs::read_to_string(paths.analysis_log()).unwrap_or_default();
                    return Err(MeasureError::Reader(
                        log.lines()
                            .rfind(|l| !l.trim().is_empty())
                            .unwrap_or("the reader failed without a message")
                            .trim_start_matches("error: ")
                            .to_string(),
                    ));
                }
                data_bytes = streamed_bytes(paths).unwrap_or(0);
                Some(ReaderCost {
                    window_cpu_s: window(self.reader_cpu),
                    total_cpu_s: done.cpu.total(),
                    peak_rss_mib: done.max_rss_kib as f64 / 1024.0,
                    wall_s: done.wall.as_secs_f64(),
                })
            }
            None => None,
        };
        Ok(Some(PerfCost {
            data_bytes,
            window_cpu_s: window(self.perf_cpu),
            total_cpu_s: exit.cpu.total(),
            max_rss_kib: exit.max_rss_kib,
            wall_s: exit.wall.as_secs_f64(),
            sink: rec.sink,
            reader,
            truncated: self.truncated.as_ref().map(|(why, _)| why.clone()),
            recorded_s: self.truncated.as_ref().map(|(_, s)| *s),
            dirty_at_start_mb: self.dirty_at_start_mb,
            sched: match self.sched {
                [Some(a), Some(b)] => Some(b.since(&a)),
                _ => None,
            },
        }))
    }
}

/// Bytes the pipe reader counted, from the stats.json it wrote.
fn streamed_bytes(paths: &MeasurePaths) -> Option<u64> {
    let text = std::fs::read_to_string(paths.dir.join("stats.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.pointer("/records/bytes")?.as_u64()
}
