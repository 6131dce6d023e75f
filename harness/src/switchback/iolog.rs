//! fio's per-interval I/O counts: each job writes an IOPS log (`write_iops_log`) averaged over
//! short intervals (`log_avg_msec`), stamped on CLOCK_MONOTONIC (`log_alternate_epoch` with
//! clock 1), the clock perf's samples and the harness's rounds use. A log line says how many
//! I/Os per second a job completed in one direction over the interval that ends at its time;
//! the interval starts where that job's previous line of the same direction ended. The I/Os of
//! a round are the sum over every job, direction and interval, each interval counted by the
//! share of it that lies inside the round (I/Os spread evenly within 20 ms).

use std::path::{Path, PathBuf};

/// fio options that make the logs this module reads, written into `dir` with `prefix`.
pub fn fio_options(dir: &Path, interval_ms: u32) -> Vec<(&'static str, String)> {
    vec![
        ("write_iops_log", dir.join(PREFIX).display().to_string()),
        ("log_avg_msec", interval_ms.to_string()),
        ("per_job_logs", "1".into()),
        ("log_alternate_epoch", "1".into()),
        // CLOCK_MONOTONIC
        ("log_alternate_epoch_clock_id", "1".into()),
    ]
}

/// The logs' file name prefix: fio appends `_iops.N.log`.
const PREFIX: &str = "fio";

/// The logs fio wrote into `dir`.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("fio_iops.") && n.ends_with(".log"))
        })
        .collect();
    v.sort();
    v
}

/// I/Os completed in one interval: `[start_ns, end_ns)` on CLOCK_MONOTONIC.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bucket {
    start_ns: u64,
    end_ns: u64,
    ios: f64,
}

/// Every job's intervals, merged and sorted by their start.
#[derive(Debug, Default)]
pub struct IoSeries {
    buckets: Vec<Bucket>,
    /// The longest interval seen: a round's I/Os are looked up that far before it.
    longest_ns: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IoLogError {
    #[error("fio wrote no per-interval log into {0}: this fio may lack log_alternate_epoch (fio 3.30 or later)")]
    Missing(PathBuf),
    #[error("{path} line {line}: {what}")]
    Bad {
        path: PathBuf,
        line: usize,
        what: String,
    },
}

impl IoSeries {
    /// Reads every log in `dir`.
    pub fn read(dir: &Path) -> Result<IoSeries, IoLogError> {
        let files = log_files(dir);
        if files.is_empty() {
            return Err(IoLogError::Missing(dir.to_path_buf()));
        }
        let mut series = IoSeries::default();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| IoLogError::Bad {
                path: f.clone(),
                line: 0,
                what: e.to_string(),
            })?;
            series
                .add_log(&text)
                .map_err(|(line, what)| IoLogError::Bad {
                    path: f.clone(),
                    line,
                    what,
                })?;
        }
        series.buckets.sort_by_key(|b| b.start_ns);
        Ok(series)
    }

    /// One job's log: `time_ms, iops, direction, block size, offset[, priority]` per line.
    fn add_log(&mut self, text: &str) -> Result<(), (usize, String)> {
        // The end of the previous interval, per direction (read, write, trim, sync).
        let mut previous: [Option<u64>; 4] = [None; 4];
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut f = line.split(',').map(str::trim);
            let (Some(t), Some(v), Some(d)) = (f.next(), f.next(), f.next()) else {
                return Err((i + 1, format!("not a log line: {line:?}")));
            };
            let parse_err = |_| (i + 1, format!("not a log line: {line:?}"));
            let t_ms: u64 = t.parse().map_err(parse_err)?;
            let iops: f64 = v.parse().map_err(|_| (i + 1, format!("bad value {v:?}")))?;
            let dir: usize = d.parse().map_err(parse_err)?;
            let slot = previous
                .get_mut(dir)
                .ok_or((i + 1, format!("unknown direction {dir}")))?;
            let end_ns = t_ms * 1_000_000;
            if let Some(start_ns) = slot.filter(|s| *s < end_ns) {
                let len = end_ns - start_ns;
                self.longest_ns = self.longest_ns.max(len);
                self.buckets.push(Bucket {
                    start_ns,
                    end_ns,
                    ios: iops * len as f64 / 1e9,
                });
            }
            *slot = Some(end_ns);
        }
        Ok(())
    }

    /// I/Os completed in `[from_ns, to_ns)`; None when the logs do not cover it (fio had
    /// ended, or had not yet begun logging).
    pub fn ios_between(&self, from_ns: u64, to_ns: u64) -> Option<f64> {
        let first = self.buckets.first()?;
        let last_end = self.buckets.iter().map(|b| b.end_ns).max()?;
        if from_ns < first.start_ns || to_ns > last_end || to_ns <= from_ns {
            return None;
        }
        let begin = self
            .buckets
            .partition_point(|b| b.start_ns + self.longest_ns < from_ns);
        let mut ios = 0.0;
        for b in self.buckets[begin..]
            .iter()
            .take_while(|b| b.start_ns < to_ns)
        {
            let overlap = b.end_ns.min(to_ns).saturating_sub(b.start_ns.max(from_ns));
            if overlap > 0 {
                ios += b.ios * overlap as f64 / (b.end_ns - b.start_ns) as f64;
            }
        }
        Some(ios)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two jobs, reads and writes, 20 ms intervals from t = 1000 ms on.
    fn series() -> IoSeries {
        let mut s = IoSeries::default();
        let mut log = String::new();
        for k in 0..=10u64 {
            log.push_str(&format!("{}, 1000, 0, 4096, 0\n", 1000 + 20 * k));
            log.push_str(&format!("{}, 500, 1, 4096, 0\n", 1000 + 20 * k));
        }
        s.add_log(&log).unwrap();
        s.add_log(&log.replace(", 1000, 0", ", 3000, 0")).unwrap();
        s.buckets.sort_by_key(|b| b.start_ns);
        s
    }

    #[test]
    fn a_round_counts_the_share_of_each_interval_inside_it() {
        let s = series();
        let ms = 1_000_000u64;
        // 100 ms fully covered: (1000 + 500 + 3000 + 500) I/Os per second x 0.1 s.
        let ios = s.ios_between(1020 * ms, 1120 * ms).unwrap();
        assert!((ios - 500.0).abs() < 1e-9, "{ios}");
        // Half an interval at each edge: 10 ms + 80 ms + 10 ms = 0.1 s.
        let ios = s.ios_between(1030 * ms, 1130 * ms).unwrap();
        assert!((ios - 500.0).abs() < 1e-9, "{ios}");
        // Outside what the logs cover: unknown, not zero.
        assert_eq!(s.ios_between(900 * ms, 1100 * ms), None);
        assert_eq!(s.ios_between(1100 * ms, 1300 * ms), None);
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let mut s = IoSeries::default();
        assert_eq!(s.add_log("1000, 5, 0, 4096, 0\nabc\n").unwrap_err().0, 2);
        assert!(s.add_log("1000, 5, 9, 4096, 0\n").is_err());
    }
}
