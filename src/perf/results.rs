//! Folding a sweep's runs into what its charts and tables show: [`aggregate`]
//! groups the [`PointRun`]s of `perf.json` by client count and spreads each
//! figure across repeats. The types themselves are the run-directory format
//! (`report::format::perf`), re-exported here.

pub use crate::report::format::perf::{
    csv_row, parse_csv, CsvRowError, LoopLagSummary, PerfReport, PointAggregate, PointRun, Spread,
    SweepSettings, PERF_CSV_COLUMNS,
};
use crate::report::LatencySummary;
use std::collections::BTreeMap;

/// Groups runs by client count (ascending) and spreads each figure.
pub fn aggregate(runs: &[PointRun]) -> Vec<PointAggregate> {
    let mut by_clients: BTreeMap<u32, Vec<&PointRun>> = BTreeMap::new();
    for r in runs {
        by_clients.entry(r.clients).or_default().push(r);
    }
    by_clients
        .into_iter()
        .map(|(clients, all)| {
            let complete: Vec<&PointRun> = all.iter().copied().filter(|r| !r.interrupted).collect();
            let rs = if complete.is_empty() { all } else { complete };
            let s = |f: fn(&PointRun) -> f64| Spread::of(rs.iter().map(|r| f(r)));
            let timed: Vec<&PointRun> =
                rs.iter().copied().filter(|r| r.latency.count > 0).collect();
            let lat =
                |f: fn(&LatencySummary) -> f64| Spread::of(timed.iter().map(|r| f(&r.latency)));
            PointAggregate {
                clients,
                runs: rs.len() as u32,
                has_latency: !timed.is_empty(),
                requests: s(|r| r.requests as f64),
                errors: s(|r| r.errors as f64),
                requests_per_s: s(|r| r.requests_per_s),
                mb_per_s: s(|r| r.mb_per_s),
                mean_us: lat(|l| l.mean_us),
                p50_us: lat(|l| l.p50_us as f64),
                p90_us: lat(|l| l.p90_us as f64),
                p95_us: lat(|l| l.p95_us as f64),
                p99_us: lat(|l| l.p99_us as f64),
                p999_us: lat(|l| l.p999_us as f64),
                max_us: lat(|l| l.max_us as f64),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::report::format::perf::tests::point_run as run;

    #[test]
    fn repeats_spread_into_min_median_max_and_partial_runs_only_fill_gaps() {
        let runs = vec![
            run(2, 0, 100.0, 10, false),
            run(2, 1, 300.0, 30, false),
            run(2, 2, 200.0, 50, false),
            run(2, 3, 9000.0, 1, true),
            run(8, 0, 50.0, 7, true),
        ];
        let agg = aggregate(&runs);
        assert_eq!(agg.len(), 2);
        assert_eq!(agg[0].runs, 3);
        assert_eq!(
            agg[0].requests_per_s,
            Spread {
                min: 100.0,
                median: 200.0,
                max: 300.0
            }
        );
        assert_eq!(agg[0].p50_us.median, 30.0);
        assert_eq!((agg[1].clients, agg[1].runs), (8, 1));
        assert_eq!(agg[1].p50_us.median, 7.0);
    }

    #[test]
    fn runs_without_completed_requests_are_left_out_of_latency_spreads() {
        let mut failed = run(2, 2, 0.0, 0, false);
        failed.requests = 0;
        failed.latency = LatencySummary::default();
        let mut all_failed = run(4, 0, 0.0, 0, false);
        all_failed.requests = 0;
        all_failed.latency = LatencySummary::default();
        let runs = vec![
            run(2, 0, 100.0, 10, false),
            run(2, 1, 300.0, 30, false),
            failed,
            all_failed,
        ];
        let agg = aggregate(&runs);
        // The failed run still counts for errors and req/s...
        assert_eq!(agg[0].runs, 3);
        assert_eq!(agg[0].requests_per_s.min, 0.0);
        assert_eq!(agg[0].errors.median, 2.0);
        // ...but not for response times: no 0 ms minimum, median of 10 and 30.
        assert!(agg[0].has_latency);
        assert_eq!(
            agg[0].p50_us,
            Spread {
                min: 10.0,
                median: 20.0,
                max: 30.0
            }
        );
        assert_eq!(agg[0].max_us.min, 320.0);
        // A point where everything failed has no response time at all.
        assert!(!agg[1].has_latency);
        assert_eq!(agg[1].runs, 1);
    }
}
