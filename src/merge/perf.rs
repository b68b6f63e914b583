//! perf run directories merged point by point: the runs of one (client
//! count, repeat) measured by several shards become one run, counts added and
//! response-time histograms added (exact percentiles); `perf.json`,
//! `perf.csv` and the per-run `samples/` and `timeseries/` files are written
//! as a single sweep writes them. Split from [`super::dir`], which finds the
//! directories and merges sftp-bench runs.

use super::config::check_same_run;
use super::dir::{
    concat_file, io_err, label, merge_series_files, read_value, shard_indexes, write_file,
    DirError, Outcome, TIMESERIES_DIR,
};
use super::summary::start_skew;
use super::{MergeError, MergeWarning};
use crate::report::format::perf::LoopLagSummary;
use crate::report::format::{
    self, perf::csv_row, PerfReport, PointRun, PERF_CSV, PERF_JSON, SAMPLES_DIR,
};
use crate::report::histogram::LatencyHistogram;
use crate::report::LatencySummary;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    // Each shard's load generator lagged on its own: the merged point shows
    // the worst, and is load-generator-bound if any shard was.
    m.loop_lag = runs
        .iter()
        .filter_map(|r| r.loop_lag)
        .reduce(|a, b| LoopLagSummary {
            loops: a.loops + b.loops,
            p50_us: a.p50_us.max(b.p50_us),
            p99_us: a.p99_us.max(b.p99_us),
            max_us: a.max_us.max(b.max_us),
            load_generator_bound: a.load_generator_bound || b.load_generator_bound,
        });
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

pub(super) fn merge_perf(dirs: &[PathBuf], out: &Path) -> Result<Outcome, DirError> {
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
    std::fs::create_dir_all(out).map_err(io_err(out))?;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: &[u64], elapsed_s: f64, schedule_p99: u64) -> PointRun {
        let mut h = LatencyHistogram::new();
        values.iter().for_each(|v| h.record_us(*v));
        PointRun {
            clients: 4,
            repeat: 0,
            requests: values.len() as u64,
            errors: 1,
            error_kinds: [("refused".to_string(), 1)].into_iter().collect(),
            bytes: values.len() as u64 * 1000,
            elapsed_s,
            requests_per_s: 0.0,
            mb_per_s: 0.0,
            latency: h.summary(),
            schedule_true: LatencySummary {
                count: values.len() as u64,
                mean_us: 10.0,
                p99_us: schedule_p99,
                ..LatencySummary::default()
            },
            users_gave_up: 0,
            interrupted: false,
            histogram: h.to_base64(),
            loop_lag: None,
        }
    }

    #[test]
    fn a_point_measured_by_two_shards_adds_up_exactly() {
        let (a, b) = (run(&[100, 200, 300], 2.0, 50), run(&[1000, 5000], 4.0, 70));
        let m = merge_point(&[&a, &b], "s0").unwrap();
        let mut whole = LatencyHistogram::new();
        [100, 200, 300, 1000, 5000]
            .iter()
            .for_each(|v| whole.record_us(*v));
        assert_eq!(m.latency, whole.summary());
        assert_eq!((m.requests, m.errors, m.bytes), (5, 2, 5000));
        assert_eq!(m.error_kinds["refused"], 2);
        assert_eq!(m.elapsed_s, 4.0);
        assert_eq!(m.requests_per_s, 1.25);
        assert_eq!(m.mb_per_s, 5000.0 / 4.0 / 1e6);
        // No histogram of schedule-true times: counts add, figures are bounds.
        assert_eq!((m.schedule_true.count, m.schedule_true.p99_us), (5, 70));
        assert_eq!(m.schedule_true.mean_us, 10.0);

        let mut bad = b.clone();
        bad.histogram = "!!".into();
        let e = merge_point(&[&a, &bad], "s1").unwrap_err().to_string();
        assert!(e.starts_with("s1: c4-r0 histogram: "), "{e}");
    }
}
