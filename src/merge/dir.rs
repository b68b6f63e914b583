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
    self, bench::summary_json, perf::csv_row, tables, FormatError, PerfReport, PointRun,
    RunManifest, SummaryJson, CHUNKS_CSV, PERF_CSV, PERF_JSON, RUN_JSON, SAMPLES_DIR, SUMMARY_JSON,
    USERS_CSV,
};
use crate::report::histogram::LatencyHistogram;
use crate::report::hlog::{self, HlogWriter};
use crate::report::timeseries::{read_csv, IntervalClock, TimeSeriesCsv};
use crate::report::{LatencySummary, RunSummary};
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DirError + '_ {
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
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    match kind {
        "sftp-bench" => merge_bench(dirs, out),
        _ => merge_perf(dirs, out),
    }
}

fn label(d: &Path) -> String {
    d.display().to_string()
}

fn read_value(path: &Path) -> Result<Value, DirError> {
    serde_json::from_slice(&format::read(path)?)
        .map_err(|e| DirError::NotARun(format!("{}: not valid JSON: {e}", path.display())))
}

/// Each shard's index from its `run.json`/`perf.json` (`shard.index`), or its
/// position among the arguments for runs made without `--shard`. The same
/// shard given twice would count its samples twice: refused.
fn shard_indexes(labels: &[String], values: &[Value]) -> Result<Vec<u32>, DirError> {
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

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DirError> {
    std::fs::write(path, bytes).map_err(io_err(path))
}

/// Concatenates `file` of every shard that has it into `out/file`; a shard
/// without it is reported. Returns the rows copied.
fn concat_file(
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
fn merge_series_files(
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

/// `perf.json` fields that differ between the shards of one sweep.
const PERF_SHARD_FIELDS: &[&str] = &[
    "shard",
    "shard_clients",
    "run_id",
    "started_at",
    "start_at",
    "out",
    "hostname",
    "interrupted",
    "runs",
    "points",
];

/// Adds the runs of one (clients, repeat) point measured by several shards.
/// Counts add and histograms add; the rates are over the longest shard's
/// elapsed time (the shards ran the point together). perf.json keeps no
/// schedule-true histogram, so that summary is an upper bound: the largest
/// of each figure, the counts summed.
fn merge_point(runs: &[&PointRun], label: &str) -> Result<PointRun, MergeError> {
    let mut m = runs[0].clone();
    let mut h = LatencyHistogram::new();
    let mut have_hist = true;
    for r in runs {
        if r.histogram.is_empty() {
            have_hist = false;
        } else {
            h.add(
                &LatencyHistogram::from_base64(&r.histogram).map_err(|source| {
                    MergeError::Histogram {
                        label: label.to_string(),
                        what: format!("c{}-r{}", r.clients, r.repeat),
                        source,
                    }
                })?,
            );
        }
    }
    if runs.len() == 1 {
        return Ok(m);
    }
    m.requests = runs.iter().map(|r| r.requests).sum();
    m.errors = runs.iter().map(|r| r.errors).sum();
    m.bytes = runs.iter().map(|r| r.bytes).sum();
    m.users_gave_up = runs.iter().map(|r| r.users_gave_up).sum();
    m.interrupted = runs.iter().any(|r| r.interrupted);
    m.error_kinds.clear();
    for r in runs {
        for (k, n) in &r.error_kinds {
            *m.error_kinds.entry(k.clone()).or_default() += n;
        }
    }
    m.elapsed_s = runs.iter().map(|r| r.elapsed_s).fold(0.0, f64::max);
    let elapsed = Duration::from_secs_f64(m.elapsed_s.max(0.0));
    m.requests_per_s = if m.elapsed_s > 0.0 {
        m.requests as f64 / m.elapsed_s
    } else {
        0.0
    };
    m.mb_per_s = crate::units::mb_per_sec(m.bytes, elapsed);
    if have_hist {
        m.latency = h.summary();
        m.histogram = h.to_base64();
    } else {
        m.histogram.clear();
    }
    let st: Vec<&LatencySummary> = runs.iter().map(|r| &r.schedule_true).collect();
    let count: u64 = st.iter().map(|l| l.count).sum();
    let mean = if count > 0 {
        st.iter().map(|l| l.mean_us * l.count as f64).sum::<f64>() / count as f64
    } else {
        0.0
    };
    let mut s = *st[0];
    for l in &st[1..] {
        s.min_us = s.min_us.min(l.min_us);
        s.p50_us = s.p50_us.max(l.p50_us);
        s.p90_us = s.p90_us.max(l.p90_us);
        s.p95_us = s.p95_us.max(l.p95_us);
        s.p99_us = s.p99_us.max(l.p99_us);
        s.p999_us = s.p999_us.max(l.p999_us);
        s.max_us = s.max_us.max(l.max_us);
    }
    s.count = count;
    s.mean_us = mean;
    m.schedule_true = s;
    Ok(m)
}

fn merge_perf(dirs: &[PathBuf], out: &Path) -> Result<Outcome, DirError> {
    let labels: Vec<String> = dirs.iter().map(|d| label(d)).collect();
    let mut values = Vec::new();
    let mut reports: Vec<PerfReport> = Vec::new();
    for d in dirs {
        let p = d.join(PERF_JSON);
        values.push(read_value(&p)?);
        reports.push(format::read_json(&p, "perf.json")?);
    }
    let configs: Vec<(&str, &Value)> = labels
        .iter()
        .zip(&values)
        .map(|(l, v)| (l.as_str(), v))
        .collect();
    check_same_run(&configs, PERF_SHARD_FIELDS)?;
    let indexes = shard_indexes(&labels, &values)?;
    let mut warnings = Vec::new();

    let mut points: BTreeMap<(u32, u32), Vec<(&str, &PointRun)>> = BTreeMap::new();
    for (l, r) in labels.iter().zip(&reports) {
        for run in &r.runs {
            points
                .entry((run.clients, run.repeat))
                .or_default()
                .push((l, run));
        }
    }
    let mut runs = Vec::new();
    for ((clients, repeat), rs) in &points {
        if rs.len() < dirs.len() {
            let missing: Vec<&str> = labels
                .iter()
                .map(String::as_str)
                .filter(|l| !rs.iter().any(|(x, _)| x == l))
                .collect();
            for l in missing {
                warnings.push(MergeWarning::MissingPoint {
                    label: l.to_string(),
                    clients: *clients,
                    repeat: *repeat,
                });
            }
        }
        let only: Vec<&PointRun> = rs.iter().map(|(_, r)| *r).collect();
        runs.push(merge_point(&only, rs[0].0)?);
    }
    let starts: Vec<DateTime<Utc>> = reports.iter().map(|r| r.started_at).collect();
    let skew = start_skew(&starts);
    let origin = *starts.iter().min().expect("at least one shard");
    let mut report = reports[0].clone();
    report.started_at = origin;
    report.interrupted = reports.iter().any(|r| r.interrupted);
    report.points = crate::perf::results::aggregate(&runs);
    report.runs = runs;
    let mut value = serde_json::to_value(&report).expect("perf.json serializes");
    // Fields of a newer shard this xfer does not know pass through.
    if let (Value::Object(m), Value::Object(first)) = (&mut value, &values[0]) {
        for (k, v) in first {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if m.contains_key("shard") {
            m.insert("shard".into(), json!({"index": 0, "count": 1}));
        }
        m.insert(
            "merged".into(),
            json!({
                "shards": labels.iter().zip(&indexes).zip(&starts).map(|((l, i), s)| json!({"dir": l, "shard": i, "started_at": s})).collect::<Vec<_>>(),
                "start_skew_ms": skew.as_secs_f64() * 1e3,
            }),
        );
    }
    write_file(&out.join(PERF_JSON), &format::to_json(&value))?;
    let csv_path = out.join(PERF_CSV);
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(crate::perf::results::PERF_CSV_COLUMNS)
        .and_then(|_| {
            report
                .runs
                .iter()
                .try_for_each(|r| w.write_record(csv_row(r)))
        })
        .map_err(|e| DirError::Io {
            path: csv_path.clone(),
            source: e.into(),
        })?;
    let bytes = w.into_inner().map_err(|e| DirError::Io {
        path: csv_path.clone(),
        source: e.into_error(),
    })?;
    write_file(&csv_path, &bytes)?;

    // samples/ and timeseries/: per run, by file name.
    let mut rows = 0;
    let mut intervals = 0;
    for r in &report.runs {
        let name = format::samples_file(r.clients, r.repeat);
        let rel = Path::new(SAMPLES_DIR).join(&name);
        if dirs.iter().any(|d| d.join(&rel).is_file()) {
            std::fs::create_dir_all(out.join(SAMPLES_DIR)).map_err(io_err(out))?;
            rows += concat_file(
                dirs,
                &labels,
                &indexes,
                &rel.display().to_string(),
                out,
                &mut warnings,
            )?;
        }
        let csv_rel = Path::new(TIMESERIES_DIR).join(&name);
        if dirs.iter().any(|d| d.join(&csv_rel).is_file()) {
            let hlog_rel = csv_rel.with_extension("hlog");
            std::fs::create_dir_all(out.join(TIMESERIES_DIR)).map_err(io_err(out))?;
            let parts: Vec<(String, PathBuf, PathBuf)> = dirs
                .iter()
                .zip(&labels)
                .map(|(d, l)| (l.clone(), d.join(&csv_rel), d.join(&hlog_rel)))
                .collect();
            intervals += merge_series_files(
                &parts,
                &out.join(&csv_rel),
                &out.join(&hlog_rel),
                origin,
                "request",
            )?;
        }
    }
    Ok(Outcome {
        kind: "perf",
        shards: dirs.len(),
        start_skew: skew,
        warnings,
        summary: None,
        rows,
        intervals,
    })
}
