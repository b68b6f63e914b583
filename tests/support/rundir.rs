//! Reading what a run left behind, for assertions: its JSON files, the
//! columns of its CSV tables by name, the response times of its completed
//! attempts, the files on the server; and the source files runs upload.
//!
//! Typed readers of the library (`xfer::report::format`) are used where a
//! test checks a format; these helpers read by column and key, as a user's
//! script would, so that a test checks the files as written.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use xfer::report::histogram::LatencyHistogram;

/// A JSON file as an untyped value.
pub fn json(path: &Path) -> Value {
    typed(path)
}

/// A JSON file read into a typed value (a library type such as
/// `RunSummary`), failing with the file's name.
pub fn typed<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `run.json` of run directory `out`.
pub fn run_json(out: &Path) -> Value {
    json(&out.join("run.json"))
}

/// `summary.json` of run directory `out`.
pub fn summary(out: &Path) -> Value {
    json(&out.join("summary.json"))
}

/// One CSV record, column name to value (empty cells stay empty strings).
pub type Row = BTreeMap<String, String>;

/// The records of a CSV file as column-name maps, in row order: what a
/// test that looks at several columns of one row reads.
pub fn rows(path: &Path) -> Vec<Row> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The rows of `chunks.csv` in run directory `out` (see [`rows`]).
pub fn chunks(out: &Path) -> Vec<Row> {
    rows(&out.join("chunks.csv"))
}

/// The values of column `name` of a CSV file, in row order.
pub fn column<T: FromStr>(path: &Path, name: &str) -> Vec<T>
where
    T::Err: Debug,
{
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("{}: no column {name}", path.display()));
    r.records()
        .map(|rec| rec.unwrap()[col].parse().unwrap())
        .collect()
}

/// The sum of a numeric column (a time series' `steps_ok`, `bytes`).
pub fn column_sum(path: &Path, name: &str) -> u64 {
    column::<u64>(path, name).into_iter().sum()
}

/// The records of a CSV file (its header left out).
pub fn record_count(path: &Path) -> usize {
    csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .records()
        .count()
}

/// Lines of `chunks.csv` in run directory `out` after its header, so far
/// (0 before the file exists): for polling a run that is still writing.
pub fn chunk_lines_so_far(out: &Path) -> usize {
    std::fs::read_to_string(out.join("chunks.csv"))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

/// The response times (`<phase>_us`) of the completed attempts of a sample
/// file (`chunks.csv`, perf's `samples/*.csv`), in one histogram.
pub fn completed_histogram(path: &Path, phase: &str) -> LatencyHistogram {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (t, kind) = (col(&format!("{phase}_us")), col("error_kind"));
    let mut hist = LatencyHistogram::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        if rec[kind].is_empty() {
            hist.record_us(rec[t].parse().unwrap());
        }
    }
    hist
}

/// Asserts that the merged `summary.json` counts (`steps_ok`,
/// `failed_attempts`, `users`) and bytes are the sums of the shards' run
/// directories'; returns the bytes.
pub fn assert_summary_is_the_sum(shards: &[PathBuf], merged: &Value) -> u64 {
    let sums: Vec<Value> = shards
        .iter()
        .map(|s| json(&s.join("summary.json")))
        .collect();
    for field in ["steps_ok", "failed_attempts", "users"] {
        let sum: u64 = sums.iter().map(|s| s[field].as_u64().unwrap()).sum();
        assert_eq!(merged[field].as_u64().unwrap(), sum, "{field}");
    }
    let bytes: u64 = sums
        .iter()
        .map(|s| s["throughput"]["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(merged["throughput"]["bytes"].as_u64().unwrap(), bytes);
    bytes
}

/// The entry for `name` in a summary.json's `phases`.
pub fn phase<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no phase {name} in {summary}"))
}

/// The names of a summary.json's `phases`, in order.
pub fn phase_names(summary: &Value) -> Vec<&str> {
    summary["phases"]
        .as_array()
        .unwrap_or_else(|| panic!("no phases in {summary}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

/// The entries of a directory, sorted.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The names of the entries of a directory.
pub fn names_in(dir: &Path) -> BTreeSet<String> {
    files_in(dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// How many `.png` files a directory holds.
pub fn png_count(dir: &Path) -> usize {
    files_in(dir)
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .count()
}

/// Writes a source file of `len` bytes named `name` into `dir`: a pattern
/// that does not repeat at any power of two, so a chunk written at the wrong
/// offset shows.
pub fn source_file(dir: &Path, name: &str, len: u32) -> (PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, &data).unwrap();
    (path, data)
}
