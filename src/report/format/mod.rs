//! The run-directory formats, as one set of public serde types and column
//! constants. Every writer (sftp-bench, perf) and every reader (`perf plot`,
//! a future `xfer merge`) goes through these, so a field renamed in one place
//! is renamed for all, and a test round-trips each file.
//!
//! - [`bench`](mod@bench): sftp-bench's `run.json` ([`RunManifest`]) and `summary.json`
//!   ([`SummaryJson`]).
//! - [`perf`]: perf's `perf.json` ([`PerfReport`]) and `perf.csv` rows.
//! - [`tables`]: the sample CSVs (`chunks.csv`, perf's `samples/*.csv`) and
//!   `users.csv`.
//!
//! Each JSON file carries `format_version` ([`FORMAT_VERSION`]). Files
//! written before the field existed read as version 0, which has the same
//! fields; a file from a newer xfer is refused with a clear error rather than
//! half-read. CSV files are read by column name, so added columns do not
//! break older readers.

pub mod bench;
pub mod perf;
pub mod tables;

pub use bench::{RunManifest, SummaryJson};
pub use perf::{PerfReport, PointAggregate, PointRun, Spread, SweepSettings};
pub use tables::{SampleRow, SampleTable, UserRow};

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// The version of every JSON format this xfer writes.
pub const FORMAT_VERSION: u32 = 1;

/// sftp-bench: the configuration and the negotiated session.
pub const RUN_JSON: &str = "run.json";
/// sftp-bench: counts, throughput and per-phase latency with histograms.
pub const SUMMARY_JSON: &str = "summary.json";
/// sftp-bench: one row per attempt.
pub const CHUNKS_CSV: &str = "chunks.csv";
/// sftp-bench: one row per user.
pub const USERS_CSV: &str = "users.csv";
/// perf: settings, every run and the aggregates.
pub const PERF_JSON: &str = "perf.json";
/// perf: one row per client count and repeat.
pub const PERF_CSV: &str = "perf.csv";
/// sftp-bench (and each perf run): one row per `--interval`, flushed as
/// each closes.
pub const TIMESERIES_CSV: &str = "timeseries.csv";
/// The response phase per interval, as an HdrHistogram interval log.
pub const LATENCY_HLOG: &str = "latency.hlog";
/// perf: a directory of per-run time series, `c0004-r1.csv` and
/// `c0004-r1.hlog` (named by [`samples_file`] and [`hlog_file`]).
pub const TIMESERIES_DIR: &str = "timeseries";
/// perf `--samples`: a directory of per-run sample CSVs.
pub const SAMPLES_DIR: &str = "samples";

/// The name of perf's sample file for one run.
pub fn samples_file(clients: u32, repeat: u32) -> String {
    format!("c{clients:04}-r{repeat}.csv")
}

/// The name of perf's interval log for one run, beside its time series
/// (`samples_file`) in [`TIMESERIES_DIR`].
pub fn hlog_file(clients: u32, repeat: u32) -> String {
    format!("c{clients:04}-r{repeat}.hlog")
}

/// `format_version` of a file written before the field existed.
pub(crate) fn unversioned() -> u32 {
    0
}

/// A JSON format with a version.
pub trait Versioned {
    fn format_version(&self) -> u32;
}

/// Why a run-directory file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a valid {what}: {source}", path.display())]
    Json {
        path: PathBuf,
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("{}: line {line}: {what}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        what: String,
    },
    #[error("{}: format_version {version} is newer than this xfer reads ({FORMAT_VERSION}); use a newer xfer", path.display())]
    Newer { path: PathBuf, version: u32 },
}

/// Reads a versioned JSON file, refusing versions newer than this xfer's.
pub fn read_json<T: DeserializeOwned + Versioned>(
    path: &Path,
    what: &'static str,
) -> Result<T, FormatError> {
    let bytes = read(path)?;
    let value: T = serde_json::from_slice(&bytes).map_err(|source| FormatError::Json {
        path: path.to_path_buf(),
        what,
        source,
    })?;
    if value.format_version() > FORMAT_VERSION {
        return Err(FormatError::Newer {
            path: path.to_path_buf(),
            version: value.format_version(),
        });
    }
    Ok(value)
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, FormatError> {
    std::fs::read(path).map_err(|source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Pretty JSON of a value of these formats (they always serialize).
pub fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("run-directory formats serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_format_is_refused_and_a_missing_version_reads_as_0() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PERF_JSON);
        let mut report = perf::tests::report();
        report.format_version = FORMAT_VERSION + 1;
        std::fs::write(&path, to_json(&report)).unwrap();
        let e = read_json::<PerfReport>(&path, "perf.json").unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");

        let mut old: serde_json::Value = serde_json::from_slice(&to_json(&report)).unwrap();
        old.as_object_mut().unwrap().remove("format_version");
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        let back = read_json::<PerfReport>(&path, "perf.json").unwrap();
        assert_eq!(back.format_version, 0);
    }
}
