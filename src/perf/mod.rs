//! `xfer perf`: sweeps the number of concurrent clients against a server and
//! draws how response time and throughput bend as clients are added.
//!
//! - [`clients`]: the `--clients` list syntax (`1,2,4`, `1-8`, `1..64x2`).
//! - [`target`]: a target URL made ready: the preflight, `tcp::workload` or
//!   sftp-bench's `ChunkTransfer`, and the one place where each target's
//!   driver is chosen.
//! - [`embedded`]: the tcp-serve swept when there is no target.
//! - [`sweep`]: runs the engine once per client count and repeat, writing
//!   `perf.csv` and `perf.json` after every run.
//! - [`results`]: min / median / max across repeats (the per-run types are
//!   the run-directory format's, `report::format::perf`).
//! - [`chart`]: pure PNG rendering (plotters, embedded font).
//! - [`plot`]: charts from a run directory: a perf sweep's (`latency.png`,
//!   `throughput.png`) or an sftp-bench run's (chunk write time over the run,
//!   latency distribution, throughput per user), one run or two compared.

pub mod chart;
pub mod clients;
pub mod embedded;
pub mod plot;
pub mod results;
pub mod sweep;
pub mod table;
pub mod target;

use std::path::{Path, PathBuf};

/// Errors of a sweep or a plot; each names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum PerfError {
    #[error("{}: {source}", path.display())]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Chart {
        path: PathBuf,
        source: chart::ChartError,
    },
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
    #[error(transparent)]
    Format(#[from] crate::report::format::FormatError),
}

/// Renders each chart and writes it to `dir/<name>` (atomically); returns the
/// paths written. The first chart that fails to render is an error.
pub fn write_charts(
    dir: &Path,
    charts: &[(String, chart::Chart)],
) -> Result<Vec<PathBuf>, PerfError> {
    std::fs::create_dir_all(dir).map_err(|source| PerfError::Output {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (name, c) in charts {
        let path = dir.join(name);
        let png = chart::render(c).map_err(|source| PerfError::Chart {
            path: path.clone(),
            source,
        })?;
        crate::report::write_atomic(&path, &png).map_err(|source| PerfError::Output {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
