//! Charts from run directories, for the sweep itself and for `xfer perf plot`.
//!
//! - [`load`](mod@load): reading a run directory (perf or sftp-bench) through the
//!   typed formats of `report::format`.
//! - [`sweep`]: a perf sweep's `latency.png` (response time vs clients: mean,
//!   p50, p90, p95, p99) and `throughput.png` (requests/s and MB/s vs
//!   clients), and their comparison.
//! - [`bench`](mod@bench): an sftp-bench run's `chunk_latency.png` (each chunk's write
//!   time over the run, per user), `latency_distribution.png` (the percentile
//!   spectrum of write times) and `user_throughput.png` (MB/s per user), and
//!   the comparison of two distributions.
//! - [`timeseries`](mod@timeseries): `timeseries.png` (throughput, p50/p99
//!   and active users over time) for any run directory with a time series.
//!
//! Two runs of the same kind compare on one chart each.

pub mod bench;
pub mod load;
pub mod sweep;
pub mod timeseries;

pub use bench::{sftp_bench_charts, sftp_bench_compare_charts};
pub use load::{load, RunDir, SftpBenchRun};
pub use sweep::{perf_charts, perf_compare_charts};
pub use timeseries::timeseries_charts;

use super::chart::{Axis, Chart, Scale};
use super::PerfError;
use chrono::{DateTime, Utc};
use std::path::Path;

/// A linear axis with a label: response times in ms, requests/s, MB/s, seconds.
fn value_axis(label: &str) -> Axis {
    Axis {
        label: label.into(),
        scale: Scale::Linear,
    }
}

fn date(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn run_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// The charts for one run directory.
pub fn charts_for(run: &RunDir) -> Vec<(String, Chart)> {
    match run {
        RunDir::Perf(r) => perf_charts(r),
        RunDir::SftpBench(r) => sftp_bench_charts(r),
    }
}

/// The comparison charts of two run directories of the same kind.
pub fn compare_charts(
    a: (&Path, &RunDir),
    b: (&Path, &RunDir),
) -> Result<Vec<(String, Chart)>, PerfError> {
    match (a.1, b.1) {
        (RunDir::Perf(ra), RunDir::Perf(rb)) => Ok(perf_compare_charts((a.0, ra), (b.0, rb))),
        (RunDir::SftpBench(ra), RunDir::SftpBench(rb)) => {
            Ok(sftp_bench_compare_charts((a.0, ra), (b.0, rb)))
        }
        _ => Err(load::input_err(
            b.0,
            format!(
                "cannot compare a {} run with a {} run",
                kind(a.1),
                kind(b.1)
            ),
        )),
    }
}

/// The target a run measured, for chart titles.
pub fn target_of(r: &RunDir) -> String {
    match r {
        RunDir::Perf(p) => p.target.clone(),
        RunDir::SftpBench(b) => b.target.clone(),
    }
}

fn kind(r: &RunDir) -> &'static str {
    match r {
        RunDir::Perf(_) => "perf",
        RunDir::SftpBench(_) => "sftp-bench",
    }
}
