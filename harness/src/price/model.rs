//! Predictions from the price list: what a workload's recording should lose and cost, given
//! how many samples it took and how many bytes each carried. They stand beside the measured
//! figures so that a disagreement beyond the interval is seen, and so that every lost chunk
//! has an explanation a person can check with a calculator.

use serde::{Deserialize, Serialize};

use super::capacity::SinkCapacity;

/// What a recording asked of the sink and what the capacity says it could get.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LostPrediction {
    /// Bytes per second the sampling asked for (MB/s).
    pub asked_mb_per_s: f64,
    /// What perf could write per second over the recording, by the two regimes (MB/s).
    pub writable_mb_per_s: f64,
    /// When the page cache's dirty data should reach its plateau (s), if within the recording.
    pub throttled_after_s: Option<f64>,
    /// 1 - writable / asked, or 0.
    pub lost_share: f64,
}

/// Predicts the lost share of a recording of `duration_s` asking `asked_mb_per_s`, started
/// with `dirty_at_start_mb` of dirty data, from the measured capacity:
///
/// - while the dirty data is below its plateau, perf writes `min(asked, cache rate)`, and the
///   dirty data grows by that minus what the disk drains (the throttled rate);
/// - after it, perf writes `min(asked, throttled rate)`;
/// - whatever was asked and not written was lost.
///
/// None when the capacity has no rate at all.
pub fn predict_lost(
    asked_mb_per_s: f64,
    duration_s: f64,
    dirty_at_start_mb: f64,
    capacity: &SinkCapacity,
) -> Option<LostPrediction> {
    let cache = capacity.cache_mb_per_s?;
    if asked_mb_per_s <= 0.0 || duration_s <= 0.0 {
        return Some(LostPrediction {
            asked_mb_per_s,
            writable_mb_per_s: 0.0,
            throttled_after_s: None,
            lost_share: 0.0,
        });
    }
    let first = asked_mb_per_s.min(cache);
    let (switch, second) = match (capacity.throttled_mb_per_s, capacity.dirty_plateau_mb) {
        (Some(drain), Some(plateau)) if first > drain => {
            let t = (plateau - dirty_at_start_mb).max(0.0) / (first - drain);
            (Some(t), asked_mb_per_s.min(drain))
        }
        _ => (None, first),
    };
    let written = match switch {
        Some(t) if t < duration_s => first * t + second * (duration_s - t),
        _ => first * duration_s,
    };
    let writable = written / duration_s;
    Some(LostPrediction {
        asked_mb_per_s,
        writable_mb_per_s: writable,
        throttled_after_s: switch.filter(|t| *t < duration_s),
        lost_share: (1.0 - writable / asked_mb_per_s).max(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::price::capacity::DirtyLimits;

    fn capacity() -> SinkCapacity {
        SinkCapacity {
            mode: "dwarf:65528".into(),
            freq: 16000,
            duration_s: 20.0,
            asked_mb_per_s: 1000.0,
            written_mb_per_s: 300.0,
            lost_share: 0.7,
            cache_mb_per_s: Some(400.0),
            throttled_mb_per_s: Some(160.0),
            dirty_plateau_mb: Some(2400.0),
            plateau_after_s: Some(10.0),
            dirty_at_start_mb: 0.0,
            limits: DirtyLimits::default(),
            notes: vec![],
            series: vec![],
        }
    }

    #[test]
    fn the_issue_example_by_hand() {
        // 262 MB/s asked for 60 s: the cache takes all of it, dirty data grows at 102 MB/s and
        // reaches 2,400 MB after 23.5 s; then 160 MB/s. Written: 262 × 23.5 + 160 × 36.5.
        let p = predict_lost(262.0, 60.0, 0.0, &capacity()).unwrap();
        let t = 2400.0 / 102.0;
        let written = 262.0 * t + 160.0 * (60.0 - t);
        assert!((p.throttled_after_s.unwrap() - t).abs() < 1e-9);
        assert!((p.lost_share - (1.0 - written / (262.0 * 60.0))).abs() < 1e-12);
        assert!((0.2..0.3).contains(&p.lost_share), "{p:?}");
    }

    #[test]
    fn below_the_disk_rate_nothing_is_lost() {
        let p = predict_lost(100.0, 60.0, 0.0, &capacity()).unwrap();
        assert_eq!(p.lost_share, 0.0);
        assert_eq!(p.throttled_after_s, None);
        // A short recording never reaches the plateau: only the cache's rate limits it.
        let p = predict_lost(262.0, 5.0, 0.0, &capacity()).unwrap();
        assert_eq!(p.lost_share, 0.0);
        let p = predict_lost(800.0, 5.0, 0.0, &capacity()).unwrap();
        assert!((p.lost_share - 0.5).abs() < 1e-12);
        // Dirty data left by an earlier recording brings the plateau closer.
        let fresh = predict_lost(262.0, 30.0, 0.0, &capacity()).unwrap();
        let dirty = predict_lost(262.0, 30.0, 2000.0, &capacity()).unwrap();
        assert!(dirty.lost_share > fresh.lost_share);
    }
}
