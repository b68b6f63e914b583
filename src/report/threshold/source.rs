//! Where thresholds read their figures: `summary.json`'s [`RunSummary`] for
//! sftp-bench and one [`PointRun`] of `perf.json` per client count and
//! repeat. Kept apart from the parser so that when the run-directory formats
//! move, only these impls move with them.

use super::{Metrics, Stat};
use crate::perf::results::PointRun;
use crate::report::{LatencySummary, RunSummary};

/// `None` for a phase no completed step timed, except its count, which is 0.
fn stat(l: Option<&LatencySummary>, s: Stat) -> Option<f64> {
    match l {
        Some(l) if l.count > 0 => Some(s.of(l)),
        _ if s == Stat::Count => Some(0.0),
        _ => None,
    }
}

impl Metrics for RunSummary {
    fn latency(&self, phase: &str, s: Stat) -> Option<f64> {
        let summary = match phase {
            "cycle" => Some(&self.cycle),
            "schedule_true" => Some(&self.schedule_true),
            "response" => self.response(),
            name => self.phases.iter().find(|p| p.name == name),
        };
        stat(summary.map(|p| &p.latency), s)
    }
    fn steps_ok(&self) -> u64 {
        self.steps_ok
    }
    fn failed_attempts(&self) -> u64 {
        self.failed_attempts
    }
    fn users_gave_up(&self) -> u64 {
        u64::from(self.users_gave_up)
    }
    fn mb_per_s(&self) -> f64 {
        self.throughput.mb_per_s
    }
    fn steps_per_s(&self) -> f64 {
        self.throughput.steps_per_s
    }
}

/// One perf run, with the name of its response phase (`request` for tcp://,
/// `write` for sftp://), which `perf.json` does not record per run. perf
/// keeps only the response phase and `schedule_true` per run.
#[derive(Debug, Clone, Copy)]
pub struct PerfRunMetrics<'a> {
    pub run: &'a PointRun,
    pub response_phase: &'a str,
}

impl Metrics for PerfRunMetrics<'_> {
    fn latency(&self, phase: &str, s: Stat) -> Option<f64> {
        let summary = match phase {
            "response" => Some(&self.run.latency),
            "schedule_true" => Some(&self.run.schedule_true),
            p if p == self.response_phase => Some(&self.run.latency),
            _ => None,
        };
        stat(summary, s)
    }
    fn steps_ok(&self) -> u64 {
        self.run.requests
    }
    fn failed_attempts(&self) -> u64 {
        self.run.errors
    }
    fn users_gave_up(&self) -> u64 {
        u64::from(self.run.users_gave_up)
    }
    fn mb_per_s(&self) -> f64 {
        self.run.mb_per_s
    }
    fn steps_per_s(&self) -> f64 {
        self.run.requests_per_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::threshold::{check, check_each, parse, Scope};
    use crate::report::{PhaseSummary, Recorder};
    use std::time::Duration;

    fn phase(name: &str, p99_us: u64) -> PhaseSummary {
        PhaseSummary {
            name: name.into(),
            latency: LatencySummary {
                count: 10,
                p99_us,
                ..LatencySummary::default()
            },
            histogram: String::new(),
        }
    }

    #[test]
    fn a_run_summary_answers_by_phase_name_and_alias() {
        // Built through the recorder, so that fields added to the summary
        // later do not break this test.
        let mut s =
            Recorder::new(&["connect", "write"], 1, 2).summary(Duration::from_secs(1), false);
        s.users_gave_up = 1;
        s.steps_ok = 10;
        s.phases = vec![phase("connect", 10), phase("write", 2_000)];
        s.schedule_true = phase("schedule_true", 5_000);
        s.cycle = phase("cycle", 3_000);
        assert_eq!(s.latency("write", Stat::P99), Some(2_000.0));
        assert_eq!(s.latency("response", Stat::P99), Some(2_000.0));
        assert_eq!(s.latency("schedule_true", Stat::P99), Some(5_000.0));
        assert_eq!(s.latency("cycle", Stat::Count), Some(10.0));
        assert_eq!(s.latency("verify", Stat::P99), None);
        assert_eq!(s.latency("verify", Stat::Count), Some(0.0));
        let ts = vec![parse("users_gave_up==0").unwrap()];
        assert!(!check(&ts, &s).pass);
    }

    #[test]
    fn a_perf_run_answers_for_its_response_phase_only() {
        let summary =
            Recorder::new(&["connect", "request"], 1, 4).summary(Duration::from_secs(1), false);
        let mut run = PointRun::from_summary(4, 0, &summary);
        run.requests = 100;
        run.requests_per_s = 100.0;
        run.latency = LatencySummary {
            count: 100,
            p99_us: 900,
            ..LatencySummary::default()
        };
        let m = PerfRunMetrics {
            run: &run,
            response_phase: "request",
        };
        assert_eq!(m.latency("request", Stat::P99), Some(900.0));
        assert_eq!(m.latency("connect", Stat::P99), None);
        assert_eq!(
            m.latency("schedule_true", Stat::P99),
            None,
            "no --rate: empty"
        );
        let ts = vec![parse("request.p99<1ms").unwrap()];
        let r = check_each(
            &ts,
            &[(
                Scope {
                    clients: 4,
                    repeat: 0,
                },
                m,
            )],
        );
        assert_eq!(
            r.lines(),
            "PASS request.p99<1ms at 4 clients, run 1 (measured 900us)\n"
        );
    }
}
