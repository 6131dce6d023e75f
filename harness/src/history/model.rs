//! history.json: the runs read, grouped by host and workload, a series per mode and
//! watched metric with its judgement, and the regressions flagged.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::detect::{Judgement, Thresholds};
use crate::record::Recording;
use crate::results::metric::{Metric, Worse};

/// A results.json that was not used, and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// When the run started (RFC 3339).
    pub time: String,
    pub value: f64,
    /// The run folder.
    pub run: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Series {
    pub mode: Recording,
    pub metric: Metric,
    pub label: String,
    pub worse: Worse,
    pub points: Vec<Point>,
    pub judgement: Option<Judgement>,
}

/// One host running one workload with the same settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub host: String,
    pub workload: String,
    pub runs: usize,
    pub series: Vec<Series>,
}

/// A flagged regression, in one line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Flag {
    pub host: String,
    pub workload: String,
    pub mode: Recording,
    pub metric: Metric,
    pub latest: f64,
    pub baseline: f64,
    pub change_relative: Option<f64>,
    /// latest - baseline (for shares, in points / 100).
    #[serde(default)]
    pub change: Option<f64>,
    pub run: PathBuf,
}

/// history.json.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct History {
    pub schema_version: u32,
    pub generated_at: String,
    pub thresholds: Thresholds,
    pub runs_read: usize,
    pub skipped: Vec<Skipped>,
    pub groups: Vec<Group>,
    pub regressions: Vec<Flag>,
}

impl History {
    /// Every host read, in the order of the groups, with the regressions flagged on it (an
    /// empty list for a host where nothing regressed).
    pub fn regressions_by_host(&self) -> Vec<(&str, Vec<&Flag>)> {
        let mut hosts: Vec<&str> = Vec::new();
        for g in &self.groups {
            if !hosts.contains(&g.host.as_str()) {
                hosts.push(&g.host);
            }
        }
        hosts
            .into_iter()
            .map(|h| (h, self.regressions.iter().filter(|f| f.host == h).collect()))
            .collect()
    }
}
