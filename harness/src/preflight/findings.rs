//! What the doctor reports: a finding per check, with its status and the fix, and the
//! frame-pointer audits beside them.

use serde::{Deserialize, Serialize};

use crate::audit::BinaryAudit;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Info,
    Warn,
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pass => "pass",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        })
    }
}

/// One check's outcome.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// The command or step that fixes it (empty when nothing needs fixing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

/// A finding of `check`; `fix` is empty when nothing needs fixing.
pub(super) fn finding(
    check: &str,
    status: Status,
    detail: impl Into<String>,
    fix: &str,
) -> Finding {
    Finding {
        check: check.into(),
        status,
        detail: detail.into(),
        fix: fix.into(),
    }
}

/// The doctor's report: findings plus the binary audits.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
    pub audits: Vec<BinaryAudit>,
}

impl Diagnosis {
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status == Status::Fail)
    }

    /// A one-line summary of the failures with their fixes, for `compare` to stop on.
    pub fn failure_summary(&self) -> Option<String> {
        let parts: Vec<String> = self
            .failures()
            .map(|f| format!("{}: {} (fix: {})", f.check, f.detail, f.fix))
            .collect();
        (!parts.is_empty()).then(|| format!("doctor found problems: {}", parts.join("; ")))
    }
}

/// The doctor's findings as aligned text lines.
pub fn render(d: &Diagnosis) -> String {
    let width = d.findings.iter().map(|f| f.check.len()).max().unwrap_or(0);
    let mut out = String::new();
    for f in &d.findings {
        out.push_str(&format!(
            "[{:>4}] {:width$}  {}\n",
            f.status.to_string(),
            f.check,
            f.detail
        ));
        if !f.fix.is_empty() {
            out.push_str(&format!("       {:width$}  fix: {}\n", "", f.fix));
        }
    }
    out
}
