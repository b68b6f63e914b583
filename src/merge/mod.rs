//! The lossless core of `xfer merge DIR... -o OUT`: combining the run
//! directories of the shards of one run (`--shard I/N`, see
//! [`crate::load::shard`]) into one directory with the same files as a single
//! run, so that `perf plot` and every other reader work on it unchanged.
//!
//! The core works on in-memory inputs (parsed `run.json` values, summaries,
//! CSV bytes, interval rows); [`dir`] is the file layer (finding the files,
//! writing the merged directory) that `xfer merge` calls. In the order it
//! calls them:
//!
//! 1. [`config::check_same_run`] on every shard's `run.json` value: refuses
//!    shards of different runs (another target, configuration or xfer
//!    version) with one line naming the first differing field. Exit 2.
//! 2. For a shard without `summary.json` (killed mid-run):
//!    [`rebuild::summary_from_chunks`] rebuilds its summary from its
//!    `chunks.csv` rows, and the subcommand prints
//!    [`MergeWarning::IncompleteShard`]; the shard's rows are kept.
//! 3. [`summary::merge_summaries`]: counts add, the HDR histograms of every
//!    phase add (merged percentiles are those of one histogram of all
//!    samples), throughput is over [`summary::union_length`] of the shards'
//!    windows; [`summary::start_skew`] is the spread of the actual starts
//!    recorded in each `run.json`.
//! 4. [`rows::concat_csv`] for `chunks.csv` and `users.csv`: rows copied
//!    byte for byte behind a leading `shard` column (global user ids already
//!    make them unique).
//! 5. [`series::merge_series`] for `timeseries.csv` + `latency.hlog` (read
//!    with [`crate::report::timeseries::read_csv`] and
//!    [`crate::report::hlog::read`]): rows aligned on their wall-clock
//!    interval, counts summed, interval histograms added; write the result
//!    with the same writers a live run uses.
//!
//! [`dir::merge_dirs`] is that file layer: it reads the shards' directories
//! through [`crate::report::format`] and writes the merged one.

pub mod config;
pub mod dir;
pub mod perf;
pub mod rebuild;
pub mod rows;
pub mod series;
pub mod summary;

use crate::report::histogram::HistogramDecodeError;
use std::fmt;

/// Why shards cannot be merged. Every message names the shard (by its label,
/// normally its directory) and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: give at least one shard directory")]
    Empty,
    #[error("{a} and {b} are not shards of one run: {field} differs ({value_a} vs {value_b})")]
    DifferentRuns {
        a: String,
        b: String,
        field: String,
        value_a: String,
        value_b: String,
    },
    #[error("{label}: {what} histogram: {source}")]
    Histogram {
        label: String,
        what: String,
        #[source]
        source: HistogramDecodeError,
    },
    #[error("{label}: {file} header differs from {first}'s: {detail}")]
    Header {
        label: String,
        first: String,
        file: String,
        detail: String,
    },
    #[error("{label}: chunks.csv record {record}: {detail}")]
    Row {
        label: String,
        record: u64,
        detail: String,
    },
    #[error("{label}: {detail}")]
    Mismatch { label: String, detail: String },
}

/// Something the user must know about a merge that still succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeWarning {
    /// A shard without `summary.json`: merged from its `chunks.csv` rows.
    IncompleteShard { label: String, rows: u64 },
    /// A last CSV line cut short (a writer killed mid-row) was left out.
    CutRow { label: String, file: String },
    /// A shard without one of the run's files (e.g. `users.csv`, written at
    /// the end): the merged file has the other shards' rows.
    MissingFile { label: String, file: String },
    /// perf: a shard without a run at a point the others measured.
    MissingPoint {
        label: String,
        clients: u32,
        repeat: u32,
    },
}

impl fmt::Display for MergeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeWarning::IncompleteShard { label, rows } => write!(
                f,
                "warning: incomplete shard {label}: no summary.json (killed mid-run?); merged from its {rows} chunks.csv rows"
            ),
            MergeWarning::CutRow { label, file } => write!(
                f,
                "warning: {label}: the last line of {file} was cut short and is left out"
            ),
            MergeWarning::MissingFile { label, file } => write!(
                f,
                "warning: {label}: no {file}; the merged {file} has the other shards' rows"
            ),
            MergeWarning::MissingPoint {
                label,
                clients,
                repeat,
            } => write!(
                f,
                "warning: {label}: no run at {clients} clients, repeat {repeat}; that point is merged from the other shards"
            ),
        }
    }
}
