//! A perf sweep's charts: response time and throughput vs clients, with
//! min-max whiskers when points were repeated; and two sweeps compared.

use super::{run_name, value_axis};
use crate::perf::chart::{Axis, Chart, Mark, Panel, Scale, Series, PALETTE, SIZE};
use crate::perf::results::{PerfReport, PointAggregate, Spread};
use std::path::Path;

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

type Pick = fn(&PointAggregate) -> Spread;

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
            y: value_axis(&format!("response time (ms){}", repeats_note(p))),
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
                y: value_axis(&format!("requests/s{}", repeats_note(p))),
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
                y: value_axis("MB/s (decimal)"),
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
            y: value_axis("response time (ms); A solid, B dashed"),
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
                y: value_axis("requests/s"),
                series: pair("requests/s", |a| a.requests_per_s, 1.0, 0).to_vec(),
            },
            Panel {
                x,
                y: value_axis("MB/s (decimal)"),
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
