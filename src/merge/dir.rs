//! The file layer of `xfer merge`: reads each shard's run directory through
//! [`crate::report::format`], hands the parsed pieces to the lossless core
//! (the sibling modules), and writes the merged directory with the same
//! writers a live run uses, so `perf plot` and every reader take it unchanged.
//!
//! This lives beside the core rather than in `src/cmd/` so that the merge
//! benchmark (`benches/merge.rs`) measures exactly what the subcommand runs,
//! files in and files out.

use super::config::{check_same_run, SHARD_FIELDS};
use super::rebuild::summary_from_chunks;
use super::rows::{concat_csv, CsvPart};
use super::series::{merge_series, ShardSeries};
use super::summary::{merge_summaries, start_skew, ShardSummary, Window};
use super::{MergeError, MergeWarning};
use crate::report::format::{
    self, bench::summary_json, tables, FormatError, RunManifest, SummaryJson, CHUNKS_CSV,
    PERF_JSON, RUN_JSON, SUMMARY_JSON, USERS_CSV,
};
use crate::report::hlog::{self, HlogWriter};
use crate::report::timeseries::{read_csv, IntervalClock, TimeSeriesCsv};
use crate::report::RunSummary;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `timeseries.csv` and `latency.hlog` of an sftp-bench run.
pub const TIMESERIES_CSV: &str = "timeseries.csv";
pub const LATENCY_HLOG: &str = "latency.hlog";
/// perf's per-run time series (`c0004-r0.csv` + `.hlog`), when written.
pub const TIMESERIES_DIR: &str = "timeseries";

/// Why a merge could not be done.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// The shards are not of one run, or not of one kind: a usage error.
    #[error(transparent)]
    Merge(#[from] MergeError),
    #[error("{0}")]
    NotARun(String),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {detail}", path.display())]
    Series { path: PathBuf, detail: String },
}

impl DirError {
    /// The user gave directories that cannot be merged (exit 2), as opposed
    /// to a file that could not be read or written.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            DirError::NotARun(_)
                | DirError::Merge(MergeError::DifferentRuns { .. })
                | DirError::Merge(MergeError::Empty)
                | DirError::Merge(MergeError::Mismatch { .. })
        )
    }
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DirError + '_ {
    move |source| DirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a merge did, for the subcommand to print.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `sftp-bench` or `perf`.
    pub kind: &'static str,
    pub shards: usize,
    /// Latest actual start minus earliest.
    pub start_skew: Duration,
    pub warnings: Vec<MergeWarning>,
    /// sftp-bench: the merged summary.
    pub summary: Option<RunSummary>,
    /// Sample rows copied (chunks.csv, or perf's samples/).
    pub rows: u64,
    /// Time-series intervals written.
    pub intervals: usize,
}

/// Merges the run directories `dirs` (all sftp-bench or all perf) into `out`,
/// which the caller has checked ([`crate::report::run_dir::check_out_dir`]).
pub fn merge_dirs(dirs: &[PathBuf], out: &Path) -> Result<Outcome, DirError> {
    let first = dirs.first().ok_or(MergeError::Empty)?;
    let kind_of = |d: &Path| -> Result<&'static str, DirError> {
        if d.join(RUN_JSON).is_file() {
            Ok("sftp-bench")
        } else if d.join(PERF_JSON).is_file() {
            Ok("perf")
        } else {
            Err(DirError::NotARun(format!(
                "{}: not a run directory (no run.json from sftp-bench, no perf.json from perf)",
                d.display()
            )))
        }
    };
    let kind = kind_of(first)?;
    for d in dirs {
        let k = kind_of(d)?;
        if k != kind {
            return Err(DirError::NotARun(format!(
                "{} is a {k} run and {} a {kind} run: merge shards of one run",
                d.display(),
                first.display()
            )));
        }
    }
    match kind {
        "sftp-bench" => merge_bench(dirs, out),
        _ => super::perf::merge_perf(dirs, out),
    }
}

pub(super) fn label(d: &Path) -> String {
    d.display().to_string()
}

pub(super) fn read_value(path: &Path) -> Result<Value, DirError> {
    serde_json::from_slice(&format::read(path)?)
        .map_err(|e| DirError::NotARun(format!("{}: not valid JSON: {e}", path.display())))
}

/// Each shard's index from its `run.json`/`perf.json` (`shard.index`), or its
/// position among the arguments for runs made without `--shard`. The same
/// shard given twice would count its samples twice: refused.
pub(super) fn shard_indexes(labels: &[String], values: &[Value]) -> Result<Vec<u32>, DirError> {
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, (l, v)) in labels.iter().zip(values).enumerate() {
        // Runs without --shard are told apart by what is their own (start,
        // run id, remote files): an identical run.json is the same shard.
        if let Some(j) = values[..i].iter().position(|w| w == v) {
            return Err(MergeError::Mismatch {
                label: l.clone(),
                detail: format!(
                    "is the same run as {}: the same shard given twice?",
                    labels[j]
                ),
            }
            .into());
        }
        let index = match (v["shard"]["index"].as_u64(), v["shard"]["count"].as_u64()) {
            (Some(x), Some(n)) if n > 1 => x as u32,
            _ => i as u32,
        };
        if let Some(other) = seen.insert(index, l) {
            return Err(MergeError::Mismatch {
                label: l.clone(),
                detail: format!("is shard {index} like {other}: the same shard given twice?"),
            }
            .into());
        }
        out.push(index);
    }
    Ok(out)
}

pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DirError> {
    std::fs::write(path, bytes).map_err(io_err(path))
}

/// Concatenates `file` of every shard that has it into `out/file`; a shard
/// without it is reported. Returns the rows copied.
pub(super) fn concat_file(
    dirs: &[PathBuf],
    labels: &[String],
    indexes: &[u32],
    file: &str,
    out: &Path,
    warnings: &mut Vec<MergeWarning>,
) -> Result<u64, DirError> {
    let mut bytes = Vec::new();
    let mut owners = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let p = d.join(file);
        if p.is_file() {
            bytes.push(format::read(&p)?);
            owners.push(i);
        } else {
            warnings.push(MergeWarning::MissingFile {
                label: labels[i].clone(),
                file: file.to_string(),
            });
        }
    }
    if owners.is_empty() {
        return Ok(0);
    }
    let parts: Vec<CsvPart> = owners
        .iter()
        .zip(&bytes)
        .map(|(&i, b)| CsvPart {
            label: &labels[i],
            shard: indexes[i],
            bytes: b,
        })
        .collect();
    let path = out.join(file);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(io_err(&path))?);
    let stats = concat_csv(&mut w, file, &parts)?;
    w.flush().map_err(io_err(&path))?;
    warnings.extend(stats.warnings);
    Ok(stats.rows)
}

/// Merges time series `(label, csv, hlog)` into `out_csv` + `out_hlog`.
/// Returns the intervals written (0 when no shard has a series).
pub(super) fn merge_series_files(
    parts: &[(String, PathBuf, PathBuf)],
    out_csv: &Path,
    out_hlog: &Path,
    origin: DateTime<Utc>,
    what: &str,
) -> Result<usize, DirError> {
    let mut read = Vec::new();
    for (l, csv, hl) in parts.iter().filter(|(_, c, _)| c.is_file()) {
        let intervals = if hl.is_file() {
            hlog::read(&format::read(hl)?).map_err(|e| DirError::Series {
                path: hl.clone(),
                detail: e.to_string(),
            })?
        } else {
            Vec::new()
        };
        let (kinds, rows) =
            read_csv(&format::read(csv)?, intervals).map_err(|e| DirError::Series {
                path: csv.clone(),
                detail: e.to_string(),
            })?;
        read.push((l.as_str(), kinds, rows));
    }
    if read.is_empty() {
        return Ok(0);
    }
    let series: Vec<ShardSeries> = read
        .iter()
        .map(|(l, k, r)| ShardSeries {
            label: l,
            kinds: k,
            rows: r,
        })
        .collect();
    let (kinds, rows) = merge_series(&series)?;
    let interval = rows
        .first()
        .and_then(|r| (r.end - r.start).to_std().ok())
        .unwrap_or(Duration::from_secs(1));
    let clock = IntervalClock::new(origin, interval);
    let mut csv = TimeSeriesCsv::new(
        BufWriter::new(File::create(out_csv).map_err(io_err(out_csv))?),
        &kinds,
    )
    .map_err(io_err(out_csv))?;
    let hlog_file = BufWriter::new(File::create(out_hlog).map_err(io_err(out_hlog))?);
    let series_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: hlog::HlogError| DirError::Series {
            path,
            detail: e.to_string(),
        }
    };
    let mut hl = HlogWriter::new(hlog_file, &clock, origin, what).map_err(series_err(out_hlog))?;
    for r in &rows {
        csv.write(r).map_err(io_err(out_csv))?;
        hl.write(r).map_err(series_err(out_hlog))?;
    }
    csv.into_inner().map_err(io_err(out_csv))?;
    hl.into_inner().flush().map_err(io_err(out_hlog))?;
    Ok(rows.len())
}

/// One sftp-bench shard, read.
struct BenchShard {
    value: Value,
    manifest: RunManifest,
    summary: Option<RunSummary>,
    rates: Vec<f64>,
}

fn merge_bench(dirs: &[PathBuf], out: &Path) -> Result<Outcome, DirError> {
    let labels: Vec<String> = dirs.iter().map(|d| label(d)).collect();
    let mut shards = Vec::new();
    for d in dirs {
        let run = d.join(RUN_JSON);
        let value = read_value(&run)?;
        let manifest: RunManifest = format::read_json(&run, "run.json")?;
        let sum_path = d.join(SUMMARY_JSON);
        let summary = if sum_path.is_file() {
            Some(format::read_json::<SummaryJson>(&sum_path, "summary.json")?.summary)
        } else {
            None
        };
        let users_path = d.join(USERS_CSV);
        let rates = if users_path.is_file() {
            tables::read_users(&format::read(&users_path)?, &users_path)?
                .iter()
                .filter(|u| !u.start.is_empty())
                .map(|u| u.mb_per_s)
                .collect()
        } else {
            Vec::new()
        };
        shards.push(BenchShard {
            value,
            manifest,
            summary,
            rates,
        });
    }
    let configs: Vec<(&str, &Value)> = labels
        .iter()
        .zip(&shards)
        .map(|(l, s)| (l.as_str(), &s.value))
        .collect();
    check_same_run(&configs, SHARD_FIELDS)?;
    let values: Vec<Value> = shards.iter().map(|s| s.value.clone()).collect();
    let indexes = shard_indexes(&labels, &values)?;

    let mut warnings = Vec::new();
    let response_phase = shards
        .iter()
        .find_map(|s| s.summary.as_ref().map(|x| x.response_phase.clone()))
        .unwrap_or_else(|| "write".to_string());
    // Incomplete shards: rebuilt from their rows.
    let mut windows = Vec::new();
    for (i, s) in shards.iter_mut().enumerate() {
        let start = s.manifest.started_at;
        match &s.summary {
            Some(x) => windows.push(Window::new(
                start,
                Duration::from_secs_f64(x.elapsed_s.max(0.0)),
            )),
            None => {
                let chunks = dirs[i].join(CHUNKS_CSV);
                let r = summary_from_chunks(&labels[i], &format::read(&chunks)?, &response_phase)?;
                warnings.push(MergeWarning::IncompleteShard {
                    label: labels[i].clone(),
                    rows: r.rows,
                });
                windows.push(Window::new(start, r.elapsed));
                s.summary = Some(r.summary);
                s.rates = r.per_user_mb_per_s;
            }
        }
    }
    let parts: Vec<ShardSummary> = shards
        .iter()
        .zip(&labels)
        .zip(&windows)
        .map(|((s, l), w)| ShardSummary {
            label: l,
            window: *w,
            summary: s
                .summary
                .as_ref()
                .expect("every shard has a summary by now"),
            per_user_mb_per_s: &s.rates,
        })
        .collect();
    let merged = merge_summaries(&parts)?;
    let starts: Vec<DateTime<Utc>> = shards.iter().map(|s| s.manifest.started_at).collect();
    let skew = start_skew(&starts);
    let origin = *starts.iter().min().expect("at least one shard");

    // Everything is checked and read: only now is OUT made.
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let rows = concat_file(dirs, &labels, &indexes, CHUNKS_CSV, out, &mut warnings)?;
    concat_file(dirs, &labels, &indexes, USERS_CSV, out, &mut warnings)?;
    let series_parts: Vec<(String, PathBuf, PathBuf)> = dirs
        .iter()
        .zip(&labels)
        .map(|(d, l)| (l.clone(), d.join(TIMESERIES_CSV), d.join(LATENCY_HLOG)))
        .collect();
    let intervals = merge_series_files(
        &series_parts,
        &out.join(TIMESERIES_CSV),
        &out.join(LATENCY_HLOG),
        origin,
        &response_phase,
    )?;

    // run.json: the whole run's configuration (the shards agree on it), as
    // one unsharded run that started with its first shard, plus where it
    // came from. Edited as JSON so that fields this xfer does not know (a
    // newer shard's) pass through.
    let mut run = shards[0].value.clone();
    run["started_at"] = json!(origin);
    let remote: Vec<Value> = shards
        .iter()
        .flat_map(|s| s.manifest.remote_files.iter().map(|f| json!(f)))
        .collect();
    run["remote_files"] = Value::Array(remote);
    if run.get("shard").is_some() {
        run["shard"] = json!({"index": 0, "count": 1});
    }
    if run.get("shard_users").is_some() {
        run["shard_users"] = json!([0, shards[0].manifest.users]);
    }
    run["merged"] = json!({
        "shards": shards.iter().zip(&labels).zip(&indexes).map(|((s, l), i)| json!({
            "dir": l,
            "shard": i,
            "started_at": s.manifest.started_at,
            "complete": s.value.get("interrupted").is_none() && !warnings.iter().any(|w| matches!(w, MergeWarning::IncompleteShard { label, .. } if label == l)),
        })).collect::<Vec<_>>(),
        "start_skew_ms": skew.as_secs_f64() * 1e3,
    });
    write_file(&out.join(RUN_JSON), &format::to_json(&run))?;
    write_file(&out.join(SUMMARY_JSON), &summary_json(&merged))?;
    Ok(Outcome {
        kind: "sftp-bench",
        shards: dirs.len(),
        start_skew: skew,
        warnings,
        summary: Some(merged),
        rows,
        intervals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("s{i}")).collect()
    }

    #[test]
    fn shards_are_numbered_from_run_json_or_by_position_and_never_twice() {
        let sharded = |i: u32| json!({"started_at": i, "shard": {"index": i, "count": 3}});
        let v = [sharded(2), sharded(0)];
        assert_eq!(shard_indexes(&labels(2), &v).unwrap(), vec![2, 0]);
        // Unsharded runs (0/1, or no field): their order among the arguments.
        let v = [
            json!({"started_at": 5}),
            json!({"started_at": 6, "shard": {"index": 0, "count": 1}}),
        ];
        assert_eq!(shard_indexes(&labels(2), &v).unwrap(), vec![0, 1]);
        let e = shard_indexes(
            &labels(2),
            &[
                sharded(1),
                json!({"started_at": 9, "shard": {"index": 1, "count": 3}}),
            ],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "s1: is shard 1 like s0: the same shard given twice?");
        let e = shard_indexes(&labels(2), &[json!({"a": 1}), json!({"a": 1})])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "s1: is the same run as s0: the same shard given twice?");
    }
}
