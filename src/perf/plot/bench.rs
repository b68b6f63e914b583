//! An sftp-bench run's charts: chunk write time over the run, its
//! percentile spectrum, throughput per user; and two spectra compared.

use super::{date, run_name, value_axis, SftpBenchRun};
use crate::perf::chart::{Axis, Chart, Mark, Panel, Scale, Series, PALETTE, SIZE};
use crate::report::LatencyHistogram;
use std::path::Path;

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
        y: value_axis("chunk write time (ms)"),
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
            x: value_axis("time since the run started (s)"),
            y: value_axis("chunk write time (ms)"),
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
            y: value_axis("MB/s (decimal), start to end of the user"),
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
