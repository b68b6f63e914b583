//! Charts from run directories, for the sweep itself and for `xfer perf plot`.
//!
//! A perf run directory has `perf.json` (preferred) or `perf.csv`; it gives
//! `latency.png` (response time vs clients: mean, p50, p90, p95, p99) and
//! `throughput.png` (requests/s and MB/s vs clients). An sftp-bench run
//! directory has `run.json` and `chunks.csv` (and `users.csv`); it gives
//! `chunk_latency.png` (each chunk's write time over the run, per user),
//! `latency_distribution.png` (the percentile spectrum of write times) and
//! `user_throughput.png` (MB/s per user). Two runs of the same kind compare
//! on one chart each.

use super::chart::{Axis, Chart, Mark, Panel, Scale, Series, PALETTE, SIZE};
use super::results::{aggregate, parse_csv, PerfReport, PointAggregate};
use super::PerfError;
use crate::report::format::{
    self, tables, RunManifest, CHUNKS_CSV, PERF_CSV, PERF_JSON, RUN_JSON, USERS_CSV,
};
use crate::report::LatencyHistogram;
use crate::sftp::workload::ConnectionMode;
use crate::units::Bytes;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// A run directory's contents, loaded.
#[derive(Debug, Clone)]
pub enum RunDir {
    Perf(PerfReport),
    SftpBench(SftpBenchRun),
}

/// What the sftp-bench charts need from a run directory.
#[derive(Debug, Clone)]
pub struct SftpBenchRun {
    pub target: String,
    pub started_at: DateTime<Utc>,
    pub workload: String,
    /// Successful chunks: (user, start since run start in s, write time in us).
    pub chunks: Vec<(u32, f64, u64)>,
    /// Per user MB/s, from users.csv (empty if it is missing).
    pub user_mb_per_s: Vec<(u32, f64)>,
}

fn input_err(path: &Path, message: impl Into<String>) -> PerfError {
    PerfError::Input {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Loads a perf or sftp-bench run directory.
pub fn load(dir: &Path) -> Result<RunDir, PerfError> {
    let (json, csv) = (dir.join(PERF_JSON), dir.join(PERF_CSV));
    if json.is_file() {
        return Ok(RunDir::Perf(format::read_json(&json, "perf.json")?));
    }
    if csv.is_file() {
        let runs = parse_csv(&format::read(&csv)?).map_err(|e| input_err(&csv, e.to_string()))?;
        return Ok(RunDir::Perf(PerfReport {
            format_version: format::FORMAT_VERSION,
            tool: "xfer perf".into(),
            xfer_version: String::new(),
            started_at: modified(&csv),
            target: dir.display().to_string(),
            workload: "from perf.csv".into(),
            settings: super::results::SweepSettings {
                clients: runs.iter().map(|r| r.clients).collect(),
                requests_per_client: None,
                duration_s: None,
                repeat: 0,
                warmup_s: 0.0,
                rate_per_client: None,
            },
            interrupted: runs.iter().any(|r| r.interrupted),
            points: aggregate(&runs),
            runs,
        }));
    }
    if dir.join(RUN_JSON).is_file() && dir.join(CHUNKS_CSV).is_file() {
        return load_sftp_bench(dir).map(RunDir::SftpBench);
    }
    Err(input_err(
        dir,
        "not a run directory: expected perf.json or perf.csv (xfer perf), or run.json and chunks.csv (xfer sftp-bench)",
    ))
}

fn modified(path: &Path) -> DateTime<Utc> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now())
}

fn load_sftp_bench(dir: &Path) -> Result<SftpBenchRun, PerfError> {
    let m: RunManifest = format::read_json(&dir.join(RUN_JSON), "run.json")?;
    let workload = format!(
        "chunk uploads: {} users, file {}, chunk {}, {}, {}",
        m.users,
        Bytes(m.file_size),
        Bytes(m.chunk_size),
        match m.mode {
            ConnectionMode::KeepOpen => "keep-open",
            ConnectionMode::Reconnect => "reconnect",
        },
        m.pacing
    );

    let chunks_path = dir.join(CHUNKS_CSV);
    let table = tables::read_samples(&format::read(&chunks_path)?, &chunks_path)?;
    let write = table
        .phase("write")
        .ok_or_else(|| input_err(&chunks_path, "no column 'write_us'"))?;
    let chunks = table
        .rows
        .iter()
        .filter(|r| r.error_kind.is_empty())
        .filter_map(|r| Some((r.user, r.start_us as f64 / 1e6, r.phases[write]?)))
        .collect();

    let users_path = dir.join(USERS_CSV);
    let user_mb_per_s = if users_path.is_file() {
        tables::read_users(&format::read(&users_path)?, &users_path)?
            .iter()
            .map(|u| (u.user, u.mb_per_s))
            .collect()
    } else {
        Vec::new()
    };
    Ok(SftpBenchRun {
        target: m.target,
        started_at: m.started_at,
        workload,
        chunks,
        user_mb_per_s,
    })
}

fn date(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The workload and the date: the target is already in the title.
fn perf_subtitle(r: &PerfReport) -> String {
    format!(
        "{} · {}",
        r.workload,
        r.started_at.format("%Y-%m-%d %H:%M UTC")
    )
}

fn clients_axis(points: &[&[PointAggregate]]) -> Axis {
    let all = points.iter().flat_map(|p| p.iter().map(|a| a.clients));
    let (lo, hi) = all.fold((u32::MAX, 0), |(lo, hi), c| (lo.min(c), hi.max(c)));
    Axis {
        label: "concurrent clients".into(),
        scale: if hi >= lo.saturating_mul(4) {
            Scale::Log2
        } else {
            Scale::Linear
        },
    }
}

fn ms_axis(label: &str) -> Axis {
    Axis {
        label: label.into(),
        scale: Scale::Linear,
    }
}

type Pick = fn(&PointAggregate) -> super::results::Spread;

const LATENCY_LINES: [(&str, Pick); 5] = [
    ("mean", |a| a.mean_us),
    ("p50", |a| a.p50_us),
    ("p90", |a| a.p90_us),
    ("p95", |a| a.p95_us),
    ("p99", |a| a.p99_us),
];

/// A response-time series: points where no request completed have no
/// response time and are left out (not drawn at 0 ms).
fn latency_line(
    label: String,
    i: usize,
    points: &[PointAggregate],
    pick: Pick,
    scale: f64,
    whiskers: bool,
) -> Series {
    let timed: Vec<PointAggregate> = points.iter().filter(|a| a.has_latency).cloned().collect();
    line(label, i, &timed, pick, scale, whiskers)
}

fn line(
    label: String,
    i: usize,
    points: &[PointAggregate],
    pick: Pick,
    scale: f64,
    whiskers: bool,
) -> Series {
    let mut s = Series::new(
        label,
        PALETTE[i % PALETTE.len()],
        Mark::LinePoints,
        points
            .iter()
            .map(|a| (f64::from(a.clients), pick(a).median * scale))
            .collect(),
    );
    if whiskers {
        s.ranges = points
            .iter()
            .filter(|a| a.runs > 1)
            .map(|a| {
                (
                    f64::from(a.clients),
                    pick(a).min * scale,
                    pick(a).max * scale,
                )
            })
            .collect();
    }
    s
}

fn repeats_note(points: &[PointAggregate]) -> &'static str {
    if points.iter().any(|a| a.runs > 1) {
        " (medians of repeats; bars: min-max)"
    } else {
        ""
    }
}

/// `latency.png` and `throughput.png` of one perf sweep.
pub fn perf_charts(r: &PerfReport) -> Vec<(String, Chart)> {
    let p = &r.points;
    let x = clients_axis(&[p]);
    let latency = Chart {
        title: format!("Response time vs clients — {}", r.target),
        subtitle: perf_subtitle(r),
        panels: vec![Panel {
            x: x.clone(),
            y: ms_axis(&format!("response time (ms){}", repeats_note(p))),
            series: LATENCY_LINES
                .iter()
                .enumerate()
                .map(|(i, (name, pick))| latency_line(name.to_string(), i, p, *pick, 1e-3, i == 0))
                .collect(),
        }],
        size: SIZE,
    };
    let throughput = Chart {
        title: format!("Throughput vs clients — {}", r.target),
        subtitle: perf_subtitle(r),
        panels: vec![
            Panel {
                x: x.clone(),
                y: ms_axis(&format!("requests/s{}", repeats_note(p))),
                series: vec![line(
                    "requests/s".into(),
                    0,
                    p,
                    |a| a.requests_per_s,
                    1.0,
                    true,
                )],
            },
            Panel {
                x,
                y: ms_axis("MB/s (decimal)"),
                series: vec![line("MB/s".into(), 2, p, |a| a.mb_per_s, 1.0, true)],
            },
        ],
        size: SIZE,
    };
    vec![
        ("latency.png".into(), latency),
        ("throughput.png".into(), throughput),
    ]
}

fn run_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// `compare-latency.png` and `compare-throughput.png` of two perf sweeps.
pub fn perf_compare_charts(
    a: (&Path, &PerfReport),
    b: (&Path, &PerfReport),
) -> Vec<(String, Chart)> {
    let (na, nb) = (run_name(a.0), run_name(b.0));
    let (pa, pb) = (&a.1.points, &b.1.points);
    let x = clients_axis(&[pa, pb]);
    let subtitle = format!(
        "A: {} ({}) · B: {} ({})",
        a.1.target,
        a.1.started_at.format("%Y-%m-%d %H:%M UTC"),
        b.1.target,
        b.1.started_at.format("%Y-%m-%d %H:%M UTC")
    );
    let pair = |name: &str, pick: Pick, scale: f64, i: usize| {
        let sa = line(format!("A {name}"), i, pa, pick, scale, true);
        let mut sb = line(format!("B {name}"), i, pb, pick, scale, true);
        sb.dashed = true;
        [sa, sb]
    };
    let latency_pair = |name: &str, pick: Pick, scale: f64, i: usize| {
        let sa = latency_line(format!("A {name}"), i, pa, pick, scale, true);
        let mut sb = latency_line(format!("B {name}"), i, pb, pick, scale, true);
        sb.dashed = true;
        [sa, sb]
    };
    let latency = Chart {
        title: format!("Response time vs clients — A: {na} vs B: {nb}"),
        subtitle: subtitle.clone(),
        panels: vec![Panel {
            x: x.clone(),
            y: ms_axis("response time (ms); A solid, B dashed"),
            series: [
                latency_pair("mean", |a| a.mean_us, 1e-3, 0),
                latency_pair("p99", |a| a.p99_us, 1e-3, 3),
            ]
            .concat(),
        }],
        size: SIZE,
    };
    let throughput = Chart {
        title: format!("Throughput vs clients — A: {na} vs B: {nb}"),
        subtitle,
        panels: vec![
            Panel {
                x: x.clone(),
                y: ms_axis("requests/s"),
                series: pair("requests/s", |a| a.requests_per_s, 1.0, 0).to_vec(),
            },
            Panel {
                x,
                y: ms_axis("MB/s (decimal)"),
                series: pair("MB/s", |a| a.mb_per_s, 1.0, 2).to_vec(),
            },
        ],
        size: SIZE,
    };
    vec![
        ("compare-latency.png".into(), latency),
        ("compare-throughput.png".into(), throughput),
    ]
}

/// The percentile spectrum of a run's chunk write times, in ms.
fn spectrum(run: &SftpBenchRun) -> Vec<(f64, f64)> {
    let mut h = LatencyHistogram::new();
    for &(_, _, us) in &run.chunks {
        h.record_us(us);
    }
    if h.is_empty() {
        return Vec::new();
    }
    // The last quantile is 1.0, which has no place on a 1/(1-q) axis: it is
    // drawn one decade past the last finite point, as HdrHistogram plots do.
    let mut pts: Vec<(f64, f64)> = h
        .spectrum()
        .into_iter()
        .filter(|&(q, _)| q < 1.0)
        .map(|(q, us)| (q, us as f64 / 1e3))
        .collect();
    let last_q = pts.last().map_or(0.0, |p| p.0);
    let max_q = 1.0 - (1.0 - last_q) / 10.0;
    pts.push((max_q, h.quantile_us(1.0) as f64 / 1e3));
    pts
}

fn spectrum_panel(series: Vec<Series>) -> Panel {
    Panel {
        x: Axis {
            label: "percentile (log scale: 1/(1-p))".into(),
            scale: Scale::Percentile,
        },
        y: ms_axis("chunk write time (ms)"),
        series,
    }
}

/// The three charts of one sftp-bench run.
pub fn sftp_bench_charts(r: &SftpBenchRun) -> Vec<(String, Chart)> {
    let subtitle = format!("{} · {}", r.workload, date(&r.started_at));
    let users: std::collections::BTreeSet<u32> = r.chunks.iter().map(|c| c.0).collect();
    let per_user = users.len() <= PALETTE.len();
    let over_time: Vec<Series> = if per_user {
        users
            .iter()
            .enumerate()
            .map(|(i, &u)| {
                let pts = r
                    .chunks
                    .iter()
                    .filter(|c| c.0 == u)
                    .map(|c| (c.1, c.2 as f64 / 1e3))
                    .collect();
                Series::new(format!("user {u}"), PALETTE[i], Mark::LinePoints, pts)
            })
            .collect()
    } else {
        let pts = r.chunks.iter().map(|c| (c.1, c.2 as f64 / 1e3)).collect();
        vec![Series::new(
            format!("all {} users", users.len()),
            PALETTE[0],
            Mark::Points,
            pts,
        )]
    };
    let chunk_latency = Chart {
        title: format!("Chunk write time over the run — {}", r.target),
        subtitle: subtitle.clone(),
        panels: vec![Panel {
            x: ms_axis("time since the run started (s)"),
            y: ms_axis("chunk write time (ms)"),
            series: over_time,
        }],
        size: SIZE,
    };
    let distribution = Chart {
        title: format!("Chunk write time distribution — {}", r.target),
        subtitle: subtitle.clone(),
        panels: vec![spectrum_panel(vec![Series::new(
            format!("write ({} chunks)", r.chunks.len()),
            PALETTE[0],
            Mark::Line,
            spectrum(r),
        )])],
        size: SIZE,
    };
    let throughput = Chart {
        title: format!("Throughput per user — {}", r.target),
        subtitle,
        panels: vec![Panel {
            x: Axis {
                label: "user".into(),
                scale: Scale::Integer,
            },
            y: ms_axis("MB/s (decimal), start to end of the user"),
            series: vec![Series::new(
                "",
                PALETTE[2],
                Mark::Bars,
                r.user_mb_per_s
                    .iter()
                    .map(|&(u, m)| (f64::from(u), m))
                    .collect(),
            )],
        }],
        size: SIZE,
    };
    vec![
        ("chunk_latency.png".into(), chunk_latency),
        ("latency_distribution.png".into(), distribution),
        ("user_throughput.png".into(), throughput),
    ]
}

/// The latency distributions of two sftp-bench runs on one chart.
pub fn sftp_bench_compare_charts(
    a: (&Path, &SftpBenchRun),
    b: (&Path, &SftpBenchRun),
) -> Vec<(String, Chart)> {
    let mut sb = Series::new(
        format!("B: {}", run_name(b.0)),
        PALETTE[1],
        Mark::Line,
        spectrum(b.1),
    );
    sb.dashed = true;
    let chart = Chart {
        title: format!(
            "Chunk write time distribution — A: {} vs B: {}",
            run_name(a.0),
            run_name(b.0)
        ),
        subtitle: format!(
            "A: {} ({}) · B: {} ({})",
            a.1.workload,
            date(&a.1.started_at),
            b.1.workload,
            date(&b.1.started_at)
        ),
        panels: vec![spectrum_panel(vec![
            Series::new(
                format!("A: {}", run_name(a.0)),
                PALETTE[0],
                Mark::Line,
                spectrum(a.1),
            ),
            sb,
        ])],
        size: SIZE,
    };
    vec![("compare-latency_distribution.png".into(), chart)]
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
        _ => Err(input_err(
            b.0,
            format!(
                "cannot compare a {} run with a {} run",
                kind(a.1),
                kind(b.1)
            ),
        )),
    }
}

fn kind(r: &RunDir) -> &'static str {
    match r {
        RunDir::Perf(_) => "perf",
        RunDir::SftpBench(_) => "sftp-bench",
    }
}

/// Where `perf plot` writes by default: into the run directory itself.
pub fn default_out(dir: &Path) -> PathBuf {
    dir.to_path_buf()
}
