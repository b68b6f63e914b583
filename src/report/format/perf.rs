//! perf's files: `perf.json` ([`PerfReport`]: settings, every run, and
//! min / median / max per client count) and `perf.csv` (one row per client
//! count and repeat, [`PERF_CSV_COLUMNS`]), written as each run ends and read
//! back by `perf plot`.

use super::{unversioned, Versioned};
use crate::load::Shard;
use crate::report::recorder::median;
use crate::report::threshold::ThresholdReport;
use crate::report::{LatencySummary, RunSummary};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One run at one client count: the response-time figures (over completed
/// requests, from the one `LatencyHistogram`), rates and errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointRun {
    pub clients: u32,
    /// 0-based repeat index at this client count.
    pub repeat: u32,
    /// Requests (steps) completed.
    pub requests: u64,
    /// Failed attempts, all kinds.
    pub errors: u64,
    /// Failed attempts by kind (`refused`, `http_503`, `timeout`...).
    pub error_kinds: BTreeMap<String, u64>,
    /// Bytes moved by completed requests (body bytes; POST bodies sent).
    pub bytes: u64,
    /// Wall time of the run, first user start to last user end, in seconds.
    pub elapsed_s: f64,
    pub requests_per_s: f64,
    /// Decimal megabytes per second.
    pub mb_per_s: f64,
    /// Response time of completed requests, microseconds.
    pub latency: LatencySummary,
    /// Response time from each request's intended start (differs from
    /// `latency` only with `--rate`: a late start counts against the server).
    #[serde(default)]
    pub schedule_true: LatencySummary,
    /// Users that gave up after the retry limit.
    pub users_gave_up: u32,
    /// The run was cut short (Ctrl-C or a fatal error).
    pub interrupted: bool,
    /// HdrHistogram V2 (base64) of the response times; empty when read from CSV.
    #[serde(default)]
    pub histogram: String,
}

impl PointRun {
    /// The figures of one engine run, taken from the recorder's summary.
    pub fn from_summary(clients: u32, repeat: u32, s: &RunSummary) -> Self {
        let (latency, histogram) = match s.response() {
            Some(p) => (p.latency, p.histogram.clone()),
            None => (LatencySummary::default(), String::new()),
        };
        PointRun {
            clients,
            repeat,
            requests: s.steps_ok,
            errors: s.failed_attempts,
            error_kinds: s.errors.clone(),
            bytes: s.throughput.bytes,
            elapsed_s: s.elapsed_s,
            requests_per_s: s.throughput.steps_per_s,
            mb_per_s: s.throughput.mb_per_s,
            latency,
            schedule_true: s.schedule_true.latency,
            users_gave_up: s.users_gave_up,
            interrupted: s.interrupted,
            histogram,
        }
    }
}

/// Minimum, median and maximum of one figure across the repeats of a point.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut v: Vec<f64> = values.into_iter().collect();
        v.sort_by(f64::total_cmp);
        Spread {
            min: v.first().copied().unwrap_or(0.0),
            median: median(&v),
            max: v.last().copied().unwrap_or(0.0),
        }
    }
}

/// A client count's figures across its repeats. Interrupted runs count only
/// when a point has no complete run. The response-time spreads are over the
/// runs that completed at least one request (a run where every request
/// failed has no response time, not one of 0); errors and rates are over all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointAggregate {
    pub clients: u32,
    pub runs: u32,
    /// Some run completed a request, so the response-time spreads mean
    /// something; when false they are all zero and charts leave the point out.
    #[serde(default = "yes")]
    pub has_latency: bool,
    pub requests: Spread,
    pub errors: Spread,
    pub requests_per_s: Spread,
    pub mb_per_s: Spread,
    pub mean_us: Spread,
    pub p50_us: Spread,
    pub p90_us: Spread,
    pub p95_us: Spread,
    pub p99_us: Spread,
    pub p999_us: Spread,
    pub max_us: Spread,
}

fn yes() -> bool {
    true
}

/// How the sweep was configured, as `perf.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSettings {
    pub clients: Vec<u32>,
    /// Requests per client at each point (None with a duration).
    pub requests_per_client: Option<u64>,
    pub duration_s: Option<f64>,
    pub repeat: u32,
    pub warmup_s: f64,
    /// Per-client rate limit, requests per second (None: as fast as possible).
    pub rate_per_client: Option<f64>,
    /// `--interval`: the row length of each run's time series in
    /// `timeseries/` (absent: none written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<f64>,
    /// `--start-at`: when the sweep was to start (`started_at` is when it did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
}

/// `perf.json`: what was run against what, every run and the aggregates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerfReport {
    #[serde(default = "unversioned")]
    pub format_version: u32,
    pub tool: String,
    pub xfer_version: String,
    /// Wall-clock start of the sweep, after any `--start-at` wait.
    pub started_at: DateTime<Utc>,
    /// Names the remote files of sftp:// targets; shards given the same
    /// `--start-at` share it.
    #[serde(default)]
    pub run_id: String,
    /// This process's part of every client count (`0/1` unsharded);
    /// `settings.clients` are the whole run's.
    #[serde(default)]
    pub shard: Shard,
    /// The target URL (`tcp://...`, `sftp://...`), or the embedded server's.
    pub target: String,
    /// One line: what a request is (`GET /data.bin, 4.00 KiB, keep-alive`).
    pub workload: String,
    pub settings: SweepSettings,
    /// The sweep was stopped before all its points ran.
    pub interrupted: bool,
    pub runs: Vec<PointRun>,
    pub points: Vec<PointAggregate>,
    /// `--fail-if` results, per client count and repeat (absent without
    /// thresholds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<ThresholdReport>,
}

impl Versioned for PerfReport {
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

/// The columns of `perf.csv`, in order.
pub const PERF_CSV_COLUMNS: &[&str] = &[
    "clients",
    "repeat",
    "requests",
    "errors",
    "elapsed_s",
    "requests_per_s",
    "mb_per_s",
    "bytes",
    "mean_us",
    "min_us",
    "p50_us",
    "p90_us",
    "p95_us",
    "p99_us",
    "p999_us",
    "max_us",
    "users_gave_up",
    "interrupted",
    "error_kinds",
];

/// One `perf.csv` row. `error_kinds` is `kind=count` pairs joined by `;`.
pub fn csv_row(r: &PointRun) -> Vec<String> {
    let l = &r.latency;
    let kinds: Vec<String> = r
        .error_kinds
        .iter()
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    vec![
        r.clients.to_string(),
        r.repeat.to_string(),
        r.requests.to_string(),
        r.errors.to_string(),
        format!("{:.6}", r.elapsed_s),
        format!("{:.3}", r.requests_per_s),
        format!("{:.6}", r.mb_per_s),
        r.bytes.to_string(),
        format!("{:.3}", l.mean_us),
        l.min_us.to_string(),
        l.p50_us.to_string(),
        l.p90_us.to_string(),
        l.p95_us.to_string(),
        l.p99_us.to_string(),
        l.p999_us.to_string(),
        l.max_us.to_string(),
        r.users_gave_up.to_string(),
        r.interrupted.to_string(),
        kinds.join(";"),
    ]
}

/// Why a `perf.csv` row could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("perf.csv line {line}: {what}")]
pub struct CsvRowError {
    pub line: u64,
    pub what: String,
}

/// Reads `perf.csv` back into runs (without histograms).
pub fn parse_csv(text: &[u8]) -> Result<Vec<PointRun>, CsvRowError> {
    let mut reader = csv::Reader::from_reader(text);
    let err = |line: u64, what: String| CsvRowError { line, what };
    let headers = reader.headers().map_err(|e| err(1, e.to_string()))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| err(1, format!("no column '{name}'")))
    };
    let cols: Vec<usize> = PERF_CSV_COLUMNS
        .iter()
        .map(|c| col(c))
        .collect::<Result<_, _>>()?;
    let mut runs = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| err(line, e.to_string()))?;
        let field = |k: usize| rec.get(cols[k]).unwrap_or("");
        fn num<T: std::str::FromStr>(s: &str, name: &str, line: u64) -> Result<T, CsvRowError> {
            s.parse().map_err(|_| CsvRowError {
                line,
                what: format!("column {name}: '{s}' is not a number"),
            })
        }
        let n = |k: usize| num::<u64>(field(k), PERF_CSV_COLUMNS[k], line);
        let f = |k: usize| num::<f64>(field(k), PERF_CSV_COLUMNS[k], line);
        let mut error_kinds = BTreeMap::new();
        for pair in field(18).split(';').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| err(line, format!("error_kinds: '{pair}' is not kind=count")))?;
            error_kinds.insert(k.to_string(), num(v, "error_kinds", line)?);
        }
        let requests = n(2)?;
        runs.push(PointRun {
            clients: num(field(0), "clients", line)?,
            repeat: num(field(1), "repeat", line)?,
            requests,
            errors: n(3)?,
            elapsed_s: f(4)?,
            requests_per_s: f(5)?,
            mb_per_s: f(6)?,
            bytes: n(7)?,
            latency: LatencySummary {
                count: requests,
                mean_us: f(8)?,
                min_us: n(9)?,
                p50_us: n(10)?,
                p90_us: n(11)?,
                p95_us: n(12)?,
                p99_us: n(13)?,
                p999_us: n(14)?,
                max_us: n(15)?,
            },
            schedule_true: LatencySummary::default(),
            users_gave_up: num(field(16), "users_gave_up", line)?,
            interrupted: field(17) == "true",
            error_kinds,
            histogram: String::new(),
        });
    }
    Ok(runs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{read_json, to_json, FORMAT_VERSION, PERF_JSON};
    use super::*;

    pub(crate) fn point_run(
        clients: u32,
        repeat: u32,
        rps: f64,
        p50: u64,
        interrupted: bool,
    ) -> PointRun {
        PointRun {
            clients,
            repeat,
            requests: 100,
            errors: 2,
            error_kinds: BTreeMap::from([("refused".to_string(), 1), ("http_503".to_string(), 1)]),
            bytes: 409_600,
            elapsed_s: 0.5,
            requests_per_s: rps,
            mb_per_s: 0.8192,
            latency: LatencySummary {
                count: 100,
                mean_us: 123.5,
                min_us: 50,
                p50_us: p50,
                p90_us: 200,
                p95_us: 250,
                p99_us: 300,
                p999_us: 310,
                max_us: 320,
            },
            schedule_true: LatencySummary::default(),
            users_gave_up: 0,
            interrupted,
            histogram: String::new(),
        }
    }

    pub(crate) fn report() -> PerfReport {
        let mut timed = point_run(4, 0, 800.0, 120, false);
        // Parsed back 1 ulp off (as 120.04) without serde_json's
        // float_roundtrip: a sum of microseconds divided by a count.
        timed.latency.mean_us = 120.03999999999999;
        timed.mb_per_s = 0.09155933242426015;
        timed.schedule_true = LatencySummary {
            count: 100,
            p50_us: 130,
            ..timed.latency
        };
        let mut h = crate::report::LatencyHistogram::new();
        for us in [90, 120, 4000] {
            h.record_us(us);
        }
        timed.histogram = h.to_base64();
        PerfReport {
            format_version: FORMAT_VERSION,
            tool: "xfer perf".into(),
            xfer_version: "0.1.0".into(),
            started_at: DateTime::parse_from_rfc3339("2026-11-21T10:00:00.25Z")
                .unwrap()
                .to_utc(),
            target: "tcp://127.0.0.1:8080/data.bin".into(),
            workload: "GET /data.bin (4.00 KiB), keep-alive, 200 requests per client".into(),
            settings: SweepSettings {
                clients: vec![1, 4],
                requests_per_client: Some(200),
                duration_s: None,
                repeat: 1,
                warmup_s: 1.0,
                rate_per_client: Some(50.0),
                interval_s: None,
                start_at: None,
            },
            run_id: String::new(),
            shard: Shard::WHOLE,
            interrupted: true,
            runs: vec![point_run(1, 0, 200.0, 100, false), timed],
            points: vec![PointAggregate {
                clients: 1,
                runs: 1,
                has_latency: true,
                requests: Spread {
                    min: 100.0,
                    median: 100.0,
                    max: 100.0,
                },
                errors: Spread::default(),
                requests_per_s: Spread::of([200.0]),
                mb_per_s: Spread::of([0.5, 0.25]),
                mean_us: Spread::of([123.5]),
                p50_us: Spread::of([100.0]),
                p90_us: Spread::of([200.0]),
                p95_us: Spread::of([250.0]),
                p99_us: Spread::of([300.0]),
                p999_us: Spread::of([310.0]),
                max_us: Spread::of([320.0]),
            }],
            thresholds: None,
        }
    }

    #[test]
    fn perf_json_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PERF_JSON);
        let r = report();
        std::fs::write(&path, to_json(&r)).unwrap();
        assert_eq!(read_json::<PerfReport>(&path, "perf.json").unwrap(), r);
    }

    #[test]
    fn perf_csv_rows_read_back_to_the_same_runs() {
        let runs = vec![
            point_run(1, 0, 200.0, 100, false),
            point_run(4, 1, 800.0, 120, true),
        ];
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(PERF_CSV_COLUMNS).unwrap();
        for r in &runs {
            let row = csv_row(r);
            assert_eq!(row.len(), PERF_CSV_COLUMNS.len());
            w.write_record(row).unwrap();
        }
        let back = parse_csv(&w.into_inner().unwrap()).unwrap();
        assert_eq!(back, runs);
    }
}
