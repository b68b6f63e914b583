//! Turning samples into numbers people can trust, and writing them down.
//!
//! - [`histogram`]: the one place percentiles are computed (HDR histograms,
//!   microsecond resolution, mergeable across machines).
//! - [`recorder`]: folds engine events into a [`RunSummary`].
//! - [`csv_out`]: `chunks.csv` rows written as samples arrive; `users.csv`.
//! - [`console`]: the summary table on stdout.
//! - [`progress`]: the progress bar on stderr, and printing above it.
//! - [`run_dir`]: unique run ids; run directories never shared by two runs.
//! - [`mod@format`]: the public types and column names of every run-directory file.
//! - [`timeseries`], [`hlog`]: a run over time (per-interval rows, HdrHistogram interval log);
//!   [`series_out`] writes both as a run goes.
//! - [`threshold`], [`junit`]: `--fail-if` thresholds and their JUnit report.
//!
//! Exporters are pure where they can be (`render`, `row`), so that tests can
//! check them without files or terminals.

pub mod console;
pub mod csv_out;
pub mod format;
pub mod histogram;
pub mod hlog;
pub mod junit;
pub mod progress;
pub mod recorder;
pub mod run_dir;
pub mod series_out;
pub mod threshold;
pub mod timeseries;

pub use histogram::{LatencyHistogram, LatencySummary};
pub use recorder::{PhaseSummary, Recorder, RunSummary, ThroughputSummary, UserSummary};

use std::path::Path;

/// Writes `bytes` to `path` atomically (temp file + rename), so a reader never
/// sees half a `summary.json`, even after a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
