//! The console table of a sweep: a row per run as it finishes and, with
//! repeats, the medians per client count. Pure: rows are strings.

use super::results::{PointAggregate, PointRun};
use crate::units::Micros;

fn us(v: f64) -> String {
    Micros(v.round().max(0.0) as u64).to_string()
}

/// The header of the per-run rows.
pub fn header() -> String {
    format!(
        "{:>7} {:>4} {:>9} {:>7} {:>11} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "clients",
        "run",
        "requests",
        "errors",
        "req/s",
        "MB/s",
        "mean",
        "p50",
        "p90",
        "p95",
        "p99",
        "max"
    )
}

/// One run's row.
pub fn run_row(r: &PointRun) -> String {
    let l = &r.latency;
    let mut row = format!(
        "{:>7} {:>4} {:>9} {:>7} {:>11.1} {:>9.2} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        r.clients,
        r.repeat + 1,
        r.requests,
        r.errors,
        r.requests_per_s,
        r.mb_per_s,
        us(l.mean_us),
        us(l.p50_us as f64),
        us(l.p90_us as f64),
        us(l.p95_us as f64),
        us(l.p99_us as f64),
        us(l.max_us as f64),
    );
    if !r.error_kinds.is_empty() {
        let kinds: Vec<String> = r
            .error_kinds
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        row.push_str(&format!("  ({})", kinds.join(", ")));
    }
    if r.interrupted {
        row.push_str("  interrupted");
    }
    if let Some(lag) = r.loop_lag.filter(|l| l.load_generator_bound) {
        row.push_str(&format!(
            "  load-generator-bound (loop lag p50 {} > 10% of p50)",
            us(lag.p50_us as f64)
        ));
    }
    row
}

/// Medians per client count with the req/s and mean spread, for `--repeat` > 1.
pub fn aggregate_table(points: &[PointAggregate]) -> String {
    let mut out = format!(
        "{:>7} {:>4} {:>11} {:>23} {:>10} {:>21} {:>10} {:>10}\n",
        "clients", "runs", "req/s", "req/s min..max", "mean", "mean min..max", "p99", "max"
    );
    for a in points {
        out.push_str(&format!(
            "{:>7} {:>4} {:>11.1} {:>23} {:>10} {:>21} {:>10} {:>10}\n",
            a.clients,
            a.runs,
            a.requests_per_s.median,
            format!("{:.1}..{:.1}", a.requests_per_s.min, a.requests_per_s.max),
            us(a.mean_us.median),
            format!("{}..{}", us(a.mean_us.min), us(a.mean_us.max)),
            us(a.p99_us.median),
            us(a.max_us.median),
        ));
    }
    out
}
