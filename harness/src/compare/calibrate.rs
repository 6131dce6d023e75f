//! `calibrate`: the price list on its own, written into a folder of its own
//! (`reports/prices-<UTC timestamp>/` unless told otherwise).

use std::path::PathBuf;
use std::time::SystemTime;

use super::options::CompareError;
use crate::price::{self, PriceList, PriceOptions};
use crate::progress::Progress;
use crate::workload::ProjectDirs;

/// Measures the price list and writes prices.{json,md} and prices.svg into `out` (default:
/// `reports/prices-<UTC timestamp>/`), holding the machine meanwhile (`wait`: for a
/// measurement already running, else refuse). Returns the list and the folder.
pub fn calibrate(
    opts: &PriceOptions,
    out: Option<PathBuf>,
    wait: bool,
    progress: &mut dyn Progress,
) -> Result<(PriceList, PathBuf), CompareError> {
    let _machine = crate::exclusive::hold("unwindbench calibrate", wait)?;
    let dirs = ProjectDirs::locate();
    let out = out.unwrap_or_else(|| {
        dirs.reports().join(format!(
            "prices-{}",
            crate::timestamp::folder_stamp(SystemTime::now())
        ))
    });
    let list = price::run(opts, &dirs, &out, progress)?;
    crate::report::prices::write(&list, &out).map_err(|source| CompareError::OutDir {
        path: out.clone(),
        source,
    })?;
    Ok((list, out))
}
