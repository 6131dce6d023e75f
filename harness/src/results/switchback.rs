//! A mode's switchback in results.json: what came of it (or why it failed), and its figures
//! beside those of the mode's repeats, so that tables, exports and `history` read them as
//! they read any figure.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::metric::Metric;
use super::run::MeasurementStatus;
use super::spread::Spread;
use crate::record::Recording;
use crate::stats::Interval;
use crate::switchback::SwitchbackSummary;

/// One mode's switchback.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SwitchbackRecord {
    pub recording: Recording,
    pub status: MeasurementStatus,
    #[serde(default)]
    pub error: Option<String>,
    pub started_at: String,
    /// Its folder in the run folder (rounds in `switchback.json`, logs).
    pub folder: PathBuf,
    #[serde(default)]
    pub summary: Option<SwitchbackSummary>,
    /// What to know to read it: an early stop, rounds left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A figure measured once with its interval.
fn figure(i: Interval) -> Option<Spread> {
    Some(Spread::of([i.estimate])?.with_interval(Some(i)))
}

/// The switchback's figures, keyed as the mode's other figures.
pub fn figures(s: &SwitchbackSummary) -> Vec<(Metric, Spread)> {
    let mut out = vec![
        (Metric::OverheadSwitchback, s.total),
        (Metric::OverheadSwitchbackImmediate, s.overhead),
    ];
    out.extend(s.cpu_per_io.map(|i| (Metric::CpuPerIoSwitchback, i)));
    out.extend(
        s.deferred
            .as_ref()
            .map(|d| (Metric::OverheadSwitchbackDeferred, d.overhead)),
    );
    out.extend(
        s.carry_over
            .as_ref()
            .map(|c| (Metric::CarryOver, c.into_on)),
    );
    out.into_iter()
        .filter_map(|(m, i)| Some((m, figure(i)?)))
        .collect()
}

/// The successful switchback of `rec`, if it has one.
pub fn of(records: &[SwitchbackRecord], rec: Recording) -> Option<&SwitchbackRecord> {
    records
        .iter()
        .rev()
        .find(|r| r.recording == rec && r.status == MeasurementStatus::Ok && r.summary.is_some())
}
