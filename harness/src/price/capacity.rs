//! What perf can write before the kernel drops samples: the sink's capacity, in its two
//! regimes.
//!
//! A recording that asks for more bytes per second than perf can move loses the rest. How much
//! perf moves is not one constant: its file's pages first go to the page cache as fast as perf
//! can copy them, until the dirty data reaches the level where the kernel throttles writers
//! (between `vm.dirty_background_ratio` and `vm.dirty_ratio` of memory); from then on perf
//! writes only as fast as the disk takes the data. So a short DWARF recording may lose
//! nothing and a long one a third of its samples. This step records the largest DWARF copy at
//! a high rate on the busy CPU for long enough to pass into the second regime, watching the
//! file and `Dirty` in /proc/meminfo, and gives both rates and where the change came.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::mode::{UnwindMode, MAX_DWARF_STACK};
use crate::process;
use crate::record::memory::{dirty_mb, DirtyLimits};

use super::control::Worker;
use super::error::PriceError;

/// How the capacity is measured; defaults in `Default`.
#[derive(Clone, Debug)]
pub struct CapacityOptions {
    /// Recording length. Default 20 s: long enough on most machines for the page cache's
    /// dirty data to reach the throttling level (about 8 s on the development VM).
    pub duration: Duration,
    /// Default: dwarf:65528, the most bytes per sample perf allows.
    pub mode: UnwindMode,
    /// Default 16000 Hz (capped by the kernel's maximum).
    pub freq: u32,
    /// Largest file written. Default 8 GB; less when the disk has less to spare.
    pub max_bytes: u64,
}

impl Default for CapacityOptions {
    fn default() -> Self {
        CapacityOptions {
            duration: Duration::from_secs(20),
            mode: UnwindMode::Dwarf {
                stack_bytes: MAX_DWARF_STACK,
            },
            freq: 16000,
            max_bytes: 8_000_000_000,
        }
    }
}

/// One look at the recording while it runs.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Point {
    pub t_s: f64,
    pub file_mb: f64,
    pub dirty_mb: f64,
}

/// The measured capacity.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SinkCapacity {
    pub mode: String,
    pub freq: u32,
    pub duration_s: f64,
    /// Bytes per second the sampling asked for: samples taken (kept + lost) × bytes per kept
    /// sample, over the recording.
    pub asked_mb_per_s: f64,
    /// What perf wrote per second over the whole recording.
    pub written_mb_per_s: f64,
    pub lost_share: f64,
    /// The page-cache regime: perf's rate before the dirty data reached its plateau.
    pub cache_mb_per_s: Option<f64>,
    /// The throttled regime: perf's rate once the kernel held it to the disk's pace.
    pub throttled_mb_per_s: Option<f64>,
    /// Where the dirty data levelled off (MB) and when (s from the start).
    pub dirty_plateau_mb: Option<f64>,
    pub plateau_after_s: Option<f64>,
    /// Dirty data when the recording started (MB).
    pub dirty_at_start_mb: f64,
    pub limits: DirtyLimits,
    /// Why the recording ended before its time, or why a regime is missing.
    pub notes: Vec<String>,
    pub series: Vec<Point>,
}

impl SinkCapacity {
    /// One line for progress output.
    pub fn summary(&self) -> String {
        let rate = |r: Option<f64>| r.map_or("–".to_string(), |r| format!("{r:.0} MB/s"));
        format!(
            "asked {:.0} MB/s; wrote {} into the page cache, {} once throttled",
            self.asked_mb_per_s,
            rate(self.cache_mb_per_s),
            rate(self.throttled_mb_per_s)
        )
    }
}

/// How many bytes the recording may write in `dir`: the asked maximum, less when the disk
/// has less to spare (with a note); an error when it has almost nothing.
fn budget(dir: &Path, max_bytes: u64, notes: &mut Vec<String>) -> Result<u64, PriceError> {
    let Some((free, total)) = crate::preflight::disk_space(dir) else {
        return Err(PriceError::Options(format!(
            "cannot tell the free space of {}: not recording gigabytes blind",
            dir.display()
        )));
    };
    let room = free.saturating_sub(crate::preflight::disk_margin(total));
    if room < max_bytes {
        notes.push(format!(
            "the recording was held to {:.1} GB: the disk has no more to spare",
            room as f64 / 1e9
        ));
    }
    let budget = room.min(max_bytes);
    if (budget as f64) < 2e8 {
        return Err(PriceError::Options(format!(
            "only {:.0} MB of disk to spare in {}; free some space for the capacity recording",
            budget as f64 / 1e6,
            dir.display()
        )));
    }
    Ok(budget)
}

/// `perf record` of the busy CPU only, on `perf_cpu`: what it asks for is then known, and
/// perf does not record itself.
fn start_perf(
    opts: &CapacityOptions,
    (work_cpu, perf_cpu): (usize, usize),
    output: &Path,
    log: &Path,
) -> Result<process::Child, PriceError> {
    let mut args: Vec<String> = vec![
        "record".into(),
        "-C".into(),
        work_cpu.to_string(),
        "-F".into(),
        opts.freq.to_string(),
        "--buildid-all".into(),
        "-o".into(),
        output.display().to_string(),
    ];
    args.extend(opts.mode.perf_args());
    let mut cmd = process::command("perf", &args);
    cmd.stderr(process::to_file(log).map_err(|source| PriceError::Io {
        path: log.to_path_buf(),
        source,
    })?);
    cmd.stdout(std::process::Stdio::null());
    Ok(process::spawn(
        "perf",
        super::control::pinned(cmd, perf_cpu),
    )?)
}

/// Looks at the file and the dirty data every 250 ms until the recording's time is up or
/// its file reaches `budget`.
fn watch(
    perf: &mut process::Child,
    output: &Path,
    log: &Path,
    duration: Duration,
    budget: u64,
    notes: &mut Vec<String>,
) -> Result<Vec<Point>, PriceError> {
    let start = Instant::now();
    let mut series = Vec::new();
    loop {
        process::sleep_interruptibly(Duration::from_millis(250))?;
        let t = start.elapsed().as_secs_f64();
        let size = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
        series.push(Point {
            t_s: t,
            file_mb: size as f64 / 1e6,
            dirty_mb: dirty_mb(),
        });
        if perf.try_wait()?.is_some() {
            return Err(PriceError::PerfStart {
                message: "perf stopped during the capacity recording".into(),
                log: log.to_path_buf(),
            });
        }
        if size >= budget {
            notes.push(format!(
                "stopped after {t:.1} s at the {:.1} GB budget",
                budget as f64 / 1e9
            ));
            return Ok(series);
        }
        if t >= duration.as_secs_f64() {
            return Ok(series);
        }
    }
}

/// Runs the capacity recording in `dir`: the work program at `depth` on the first of `cpus`,
/// perf on the second.
pub fn measure(
    opts: &CapacityOptions,
    binary: &Path,
    depth: u32,
    cpus: (usize, usize),
    dir: &Path,
) -> Result<SinkCapacity, PriceError> {
    let mut notes = Vec::new();
    let limits = DirtyLimits::read();
    let budget = budget(dir, opts.max_bytes, &mut notes)?;
    let output = dir.join("capacity.data");
    let log = dir.join("capacity.log");
    let dirty_at_start = dirty_mb();
    let mut perf = start_perf(opts, cpus, &output, &log)?;
    let mut worker = Worker::start(binary, depth, cpus.0)?;
    let start = Instant::now();
    // One round far longer than the recording: the work stays busy until it is killed.
    let watched = worker
        .start_round(u64::MAX / 2)
        .and_then(|_| watch(&mut perf, &output, &log, opts.duration, budget, &mut notes));
    let elapsed = start.elapsed().as_secs_f64();
    drop(worker);
    let stopped = perf.stop(libc::SIGINT, Duration::from_secs(300));
    let stats = watched.and_then(|series| {
        stopped?;
        let data = crate::perfdata::open(&output, false)?;
        match crate::perfdata::stats::collect(data) {
            (stats, None) => Ok((series, stats)),
            (_, Some(e)) => Err(PriceError::PerfData(e)),
        }
    });
    let _ = std::fs::remove_file(&output);
    let (series, stats) = stats?;
    let kept = stats.samples as f64;
    let taken = kept + stats.lost_events as f64;
    let bytes = stats.bytes as f64;
    let regimes = regimes(&series, &limits);
    if regimes.throttled.is_none() {
        notes.push(format!(
            "the dirty data did not level off within {elapsed:.0} s: the throttled rate is unknown (a longer --capacity-duration finds it)"
        ));
    }
    Ok(SinkCapacity {
        mode: opts.mode.to_string(),
        freq: opts.freq,
        duration_s: elapsed,
        asked_mb_per_s: if kept > 0.0 {
            taken * bytes / kept / 1e6 / elapsed
        } else {
            0.0
        },
        written_mb_per_s: bytes / 1e6 / elapsed,
        lost_share: if taken > 0.0 {
            stats.lost_events as f64 / taken
        } else {
            0.0
        },
        cache_mb_per_s: regimes.cache,
        throttled_mb_per_s: regimes.throttled,
        dirty_plateau_mb: regimes.plateau_mb,
        plateau_after_s: regimes.plateau_s,
        dirty_at_start_mb: dirty_at_start,
        limits,
        notes,
        series,
    })
}

/// The two regimes found in a series.
#[derive(Debug, Default, PartialEq)]
pub struct Regimes {
    pub cache: Option<f64>,
    pub throttled: Option<f64>,
    pub plateau_mb: Option<f64>,
    pub plateau_s: Option<f64>,
}

/// Splits the series where the dirty data levels off: the first point at 90% of the highest
/// level seen, provided that level is at least half the background threshold (otherwise the
/// page cache never filled and there is one regime) and that the dirty data stays within 15%
/// of it from there on (a level still climbing at the end has not levelled off). Each regime's
/// rate is the Theil–Sen slope of the file's size over time, the first half second (perf's
/// start) left out.
pub fn regimes(series: &[Point], limits: &DirtyLimits) -> Regimes {
    let slope = |pts: &[Point]| {
        let xy: Vec<(f64, f64)> = pts.iter().map(|p| (p.t_s, p.file_mb)).collect();
        (xy.len() >= 3)
            .then(|| crate::stats::theil_sen(&xy).map(|l| l.slope))
            .flatten()
    };
    let body: Vec<Point> = series.iter().copied().filter(|p| p.t_s >= 0.5).collect();
    let top = body.iter().map(|p| p.dirty_mb).fold(0.0, f64::max);
    let filled = top > 0.0 && top >= 0.5 * limits.background_threshold_mb;
    let split = filled
        .then(|| body.iter().position(|p| p.dirty_mb >= 0.9 * top))
        .flatten()
        .filter(|&i| {
            let rest = &body[i..];
            let low = rest
                .iter()
                .map(|p| p.dirty_mb)
                .fold(f64::INFINITY, f64::min);
            low >= 0.85 * top
        });
    match split {
        // Levelled off with at least a second of the throttled regime after it.
        Some(i) if body.last().is_some_and(|l| l.t_s - body[i].t_s >= 1.0) => Regimes {
            cache: slope(&body[..=i]),
            throttled: slope(&body[i..]),
            plateau_mb: Some(top),
            plateau_s: Some(body[i].t_s),
        },
        _ => Regimes {
            cache: slope(&body),
            ..Regimes::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> DirtyLimits {
        DirtyLimits {
            ratio: 20,
            background_ratio: 10,
            threshold_mb: 4000.0,
            background_threshold_mb: 2000.0,
        }
    }

    #[test]
    fn two_regimes_split_where_dirty_data_levels_off() {
        // 500 MB/s into the cache with 100 MB/s drained until 2,400 MB are dirty (6 s), then
        // 150 MB/s with dirty data flat.
        let mut series = Vec::new();
        for i in 0..=48 {
            let t = f64::from(i) * 0.25;
            let (file, dirty) = if t <= 6.0 {
                (500.0 * t, 400.0 * t)
            } else {
                (3000.0 + 150.0 * (t - 6.0), 2400.0)
            };
            series.push(Point {
                t_s: t,
                file_mb: file,
                dirty_mb: dirty,
            });
        }
        let r = regimes(&series, &limits());
        assert!((r.cache.unwrap() - 500.0).abs() < 1e-6, "{r:?}");
        assert!((r.throttled.unwrap() - 150.0).abs() < 1e-6, "{r:?}");
        assert_eq!(r.plateau_mb, Some(2400.0));
        assert!((r.plateau_s.unwrap() - 5.5).abs() < 0.3, "{r:?}");
    }

    #[test]
    fn one_regime_when_the_cache_never_fills() {
        let series: Vec<Point> = (0..20)
            .map(|i| Point {
                t_s: f64::from(i) * 0.25,
                file_mb: 100.0 * f64::from(i),
                dirty_mb: 50.0,
            })
            .collect();
        let r = regimes(&series, &limits());
        assert!(r.throttled.is_none() && r.plateau_mb.is_none());
        assert!((r.cache.unwrap() - 400.0).abs() < 1e-6);
    }
}
