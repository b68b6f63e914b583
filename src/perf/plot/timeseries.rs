//! `timeseries.png`: a run over time, from its `timeseries.csv` and
//! `latency.hlog` (sftp-bench, a merged run), or one per measured run from a
//! perf sweep's `timeseries/` directory. Three panels share the time axis:
//! throughput, response time p50/p99, and active users, so a ramp to many
//! users shows where latency bent and what the throughput did then.

use super::{load::input_err, value_axis};
use crate::perf::chart::{Chart, Mark, Panel, Series, PALETTE, SIZE};
use crate::perf::PerfError;
use crate::report::format::{self, LATENCY_HLOG, TIMESERIES_CSV, TIMESERIES_DIR};
use crate::report::hlog;
use crate::report::timeseries::{self, IntervalRow};
use std::path::Path;

/// The chart of one time series; `what` names the run in the title.
pub fn timeseries_chart(what: &str, rows: &[IntervalRow]) -> Chart {
    let t0 = rows.first().map(|r| r.start);
    let x = |r: &IntervalRow| t0.map_or(0.0, |t| (r.end - t).num_milliseconds() as f64 / 1e3);
    let pick = |f: &dyn Fn(&IntervalRow) -> f64| -> Vec<(f64, f64)> {
        rows.iter().map(|r| (x(r), f(r))).collect()
    };
    // Intervals without a completed step have no latency: no point, rather
    // than a misleading zero.
    let latency = |q: f64| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| !r.response.is_empty())
            .map(|r| (x(r), r.response.quantile_us(q) as f64 / 1e3))
            .collect()
    };
    let time = || value_axis("time since the first interval began (s)");
    let subtitle = match (rows.first(), rows.last()) {
        (Some(a), Some(b)) => format!(
            "{} intervals of {} s, {} to {}",
            rows.len(),
            (a.end - a.start).num_milliseconds() as f64 / 1e3,
            a.start.format("%Y-%m-%d %H:%M:%S"),
            b.end.format("%H:%M:%S UTC")
        ),
        _ => "no intervals".into(),
    };
    Chart {
        title: format!("Over time — {what}"),
        subtitle,
        panels: vec![
            Panel {
                x: time(),
                y: value_axis("MB/s (decimal)"),
                series: vec![Series::new(
                    "throughput",
                    PALETTE[0],
                    Mark::LinePoints,
                    pick(&|r| r.mb_per_s()),
                )],
            },
            Panel {
                x: time(),
                y: value_axis("response time (ms)"),
                series: vec![
                    Series::new("p50", PALETTE[2], Mark::LinePoints, latency(0.5)),
                    Series::new("p99", PALETTE[3], Mark::LinePoints, latency(0.99)),
                ],
            },
            Panel {
                x: time(),
                y: value_axis("active users"),
                series: vec![Series::new(
                    "active users",
                    PALETTE[1],
                    Mark::Line,
                    pick(&|r| f64::from(r.active_users)),
                )],
            },
        ],
        size: SIZE,
    }
}

/// Reads a time series: `csv` and the interval log `hlog` beside it.
pub fn read(csv: &Path, hlog_path: &Path) -> Result<Vec<IntervalRow>, PerfError> {
    let intervals = match hlog_path.is_file() {
        true => hlog::read(&format::read(hlog_path)?)
            .map_err(|e| input_err(hlog_path, e.to_string()))?,
        false => Vec::new(),
    };
    let (_, rows) = timeseries::read_csv(&format::read(csv)?, intervals)
        .map_err(|e| input_err(csv, e.to_string()))?;
    Ok(rows)
}

/// The time-series charts of a run directory: `timeseries.png` when it has
/// `timeseries.csv`, and `timeseries-cNNNN-rR.png` for each perf run in
/// `timeseries/`. A series without a row draws nothing.
pub fn timeseries_charts(dir: &Path, what: &str) -> Result<Vec<(String, Chart)>, PerfError> {
    let mut charts = Vec::new();
    let csv = dir.join(TIMESERIES_CSV);
    if csv.is_file() {
        let rows = read(&csv, &dir.join(LATENCY_HLOG))?;
        if !rows.is_empty() {
            charts.push(("timeseries.png".into(), timeseries_chart(what, &rows)));
        }
    }
    let sdir = dir.join(TIMESERIES_DIR);
    if let Ok(entries) = std::fs::read_dir(&sdir) {
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".csv"))
            .collect();
        names.sort();
        for name in names {
            let stem = name.trim_end_matches(".csv");
            let rows = read(&sdir.join(&name), &sdir.join(format!("{stem}.hlog")))?;
            if !rows.is_empty() {
                charts.push((
                    format!("timeseries-{stem}.png"),
                    timeseries_chart(&format!("{what}, run {stem}"), &rows),
                ));
            }
        }
    }
    Ok(charts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::LatencyHistogram;
    use chrono::{DateTime, Duration, Utc};

    fn row(i: i64, users: u32, us: &[u64]) -> IntervalRow {
        let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut response = LatencyHistogram::new();
        for &u in us {
            response.record_us(u);
        }
        IntervalRow {
            start: t0 + Duration::seconds(i),
            end: t0 + Duration::seconds(i + 1),
            active_users: users,
            steps_ok: us.len() as u64,
            failed: vec![0],
            bytes: 1_000_000 * us.len() as u64,
            response,
        }
    }

    #[test]
    fn three_panels_on_one_time_axis_and_no_latency_point_for_an_idle_interval() {
        let rows = [row(0, 1, &[1000, 3000]), row(1, 4, &[]), row(2, 2, &[500])];
        let c = timeseries_chart("sftp://h/up", &rows);
        assert_eq!(c.panels.len(), 3);
        assert_eq!(
            c.panels[0].series[0].points,
            vec![(1.0, 2.0), (2.0, 0.0), (3.0, 1.0)]
        );
        let p50 = &c.panels[1].series[0].points;
        assert_eq!(p50.iter().map(|p| p.0).collect::<Vec<_>>(), vec![1.0, 3.0]);
        assert_eq!(
            c.panels[2].series[0].points,
            vec![(1.0, 1.0), (2.0, 4.0), (3.0, 2.0)]
        );
        assert!(
            c.subtitle.starts_with("3 intervals of 1 s"),
            "{}",
            c.subtitle
        );
    }
}
