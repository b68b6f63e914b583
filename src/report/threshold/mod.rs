//! Thresholds that fail a CI job: `--fail-if write.p99<200ms` turns a run's
//! figures into a PASS/FAIL verdict and exit code 3, as k6's thresholds do.
//! A load test in CI is only useful if the job fails when the server got
//! slower; reading a table by eye does not scale.
//!
//! The pieces: [`parse()`] (one expression, checked before the run starts),
//! [`Metrics`] (the few figures a threshold can name; `RunSummary` and perf's
//! runs implement it in [`source`]), [`check`] / [`check_each`] (one
//! [`ThresholdResult`] per threshold, or per threshold and perf client count),
//! and a serde-serializable [`ThresholdReport`] for `summary.json` /
//! `perf.json`. A threshold whose metric has no data (every step failed, a
//! phase that was never timed) fails: a gate must not pass on nothing.
//!
//! The `--fail-if` / `--junit` flags, the printed lines and the exit code
//! live in `src/cmd/thresholds.rs`, whose module doc shows the few lines that
//! wire them into a subcommand.

mod parse;
pub mod source;

pub use parse::{parse, GRAMMAR};
pub use source::PerfRunMetrics;

use crate::report::LatencySummary;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Exit code of a run whose thresholds failed: distinct from 1 (the run
/// itself failed) and 2 (usage), so that CI can tell "slow" from "broken".
pub const EXIT_THRESHOLD_FAILED: u8 = 3;

/// Why a threshold expression was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    #[error("'{expr}': {reason}; {GRAMMAR}")]
    Malformed { expr: String, reason: String },
    #[error("'{expr}': this run has no phase '{phase}'; its phases are {known}")]
    UnknownPhase {
        expr: String,
        phase: String,
        known: String,
    },
}

/// A latency statistic, as `summary.json` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Count,
    Mean,
    Min,
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
}

impl Stat {
    const NAMES: [(&'static str, Stat); 10] = [
        ("count", Stat::Count),
        ("mean", Stat::Mean),
        ("min", Stat::Min),
        ("p50", Stat::P50),
        ("p90", Stat::P90),
        ("p95", Stat::P95),
        ("p99", Stat::P99),
        ("p99.9", Stat::P999),
        ("p999", Stat::P999),
        ("max", Stat::Max),
    ];

    pub fn from_name(s: &str) -> Option<Stat> {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(n, _)| n)
    }

    /// This statistic of a latency summary (microseconds, or a count).
    pub fn of(self, l: &LatencySummary) -> f64 {
        match self {
            Stat::Count => l.count as f64,
            Stat::Mean => l.mean_us,
            Stat::Min => l.min_us as f64,
            Stat::P50 => l.p50_us as f64,
            Stat::P90 => l.p90_us as f64,
            Stat::P95 => l.p95_us as f64,
            Stat::P99 => l.p99_us as f64,
            Stat::P999 => l.p999_us as f64,
            Stat::Max => l.max_us as f64,
        }
    }
}

/// What a threshold measures.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// A statistic of a phase's latency: `write.p99`, `schedule_true.p50`.
    Latency {
        phase: String,
        stat: Stat,
    },
    /// Failed attempts: a count, or with `%` their share of all attempts.
    Errors,
    UsersGaveUp,
    /// Decimal MB/s over the run.
    Throughput,
    /// Completed steps (chunks, requests) per second.
    StepsPerSec,
    /// Completed steps.
    Steps,
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Latency { phase, stat } => write!(f, "{phase}.{}", stat.name()),
            Metric::Errors => f.write_str("errors"),
            Metric::UsersGaveUp => f.write_str("users_gave_up"),
            Metric::Throughput => f.write_str("throughput"),
            Metric::StepsPerSec => f.write_str("requests_per_s"),
            Metric::Steps => f.write_str("requests"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Lt => measured < limit,
            Op::Le => measured <= limit,
            Op::Gt => measured > limit,
            Op::Ge => measured >= limit,
            Op::Eq => measured == limit,
            Op::Ne => measured != limit,
        }
    }
}

/// The unit of a threshold's limit and measured value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Microseconds.
    #[serde(rename = "us")]
    Micros,
    /// Decimal megabytes per second.
    #[serde(rename = "mb_per_s")]
    MbPerSec,
    /// A share, 0.0..=1.0 (written as a percentage).
    Fraction,
    Count,
    #[serde(rename = "per_s")]
    PerSec,
}

impl Unit {
    /// A measured value as people read it: `6.95ms`, `2.500%`, `51.20 MB/s`.
    pub fn show(self, v: f64) -> String {
        match self {
            Unit::Micros => crate::units::Micros(v.round() as u64).to_string(),
            Unit::MbPerSec => format!("{v:.2} MB/s"),
            Unit::Fraction => format!("{:.3}%", v * 100.0),
            Unit::Count => format!("{v}"),
            Unit::PerSec => format!("{v:.1}/s"),
        }
    }
}

/// One parsed `--fail-if` expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression without spaces, as results name it: `write.p99<200ms`.
    pub expr: String,
    pub metric: Metric,
    pub op: Op,
    /// In `unit`.
    pub limit: f64,
    pub unit: Unit,
}

/// The figures a threshold can name. `RunSummary` (sftp-bench) and perf's
/// runs implement it; see [`source`].
pub trait Metrics {
    /// A statistic of a phase's latency, in microseconds (a count for
    /// [`Stat::Count`]). `None` when no completed step timed that phase.
    /// Phase names are the workload's, plus `cycle`, `schedule_true` and
    /// `response` (the response phase, whatever its name).
    fn latency(&self, phase: &str, stat: Stat) -> Option<f64>;
    fn steps_ok(&self) -> u64;
    fn failed_attempts(&self) -> u64;
    fn users_gave_up(&self) -> u64;
    fn mb_per_s(&self) -> f64;
    fn steps_per_s(&self) -> f64;
}

/// Phase names every run has besides its workload's.
pub const DERIVED_PHASES: [&str; 3] = ["cycle", "schedule_true", "response"];

impl Threshold {
    /// The measured value in `self.unit`, and a note for the reader; `None`
    /// when the run has no data for the metric.
    pub fn measure(&self, m: &dyn Metrics) -> (Option<f64>, String) {
        let value = match &self.metric {
            Metric::Latency { phase, stat } => m.latency(phase, *stat),
            Metric::Errors if self.unit == Unit::Fraction => {
                let attempts = m.steps_ok() + m.failed_attempts();
                (attempts > 0).then(|| m.failed_attempts() as f64 / attempts as f64)
            }
            Metric::Errors => Some(m.failed_attempts() as f64),
            Metric::UsersGaveUp => Some(m.users_gave_up() as f64),
            Metric::Throughput => Some(m.mb_per_s()),
            Metric::StepsPerSec => Some(m.steps_per_s()),
            Metric::Steps => Some(m.steps_ok() as f64),
        };
        let text = match (value, &self.metric) {
            (Some(v), Metric::Errors) if self.unit == Unit::Fraction => format!(
                "{} ({} of {} attempts)",
                self.unit.show(v),
                m.failed_attempts(),
                m.steps_ok() + m.failed_attempts()
            ),
            (Some(v), _) => self.unit.show(v),
            (None, Metric::Latency { phase, .. }) => {
                format!("no data (no completed step timed {phase})")
            }
            (None, _) => "no data (no attempts)".to_string(),
        };
        (value, text)
    }

    fn result(&self, m: &dyn Metrics, scope: Option<Scope>) -> ThresholdResult {
        let (measured, measured_text) = self.measure(m);
        ThresholdResult {
            threshold: self.expr.clone(),
            metric: self.metric.to_string(),
            op: self.op,
            limit: self.limit,
            unit: self.unit,
            measured,
            measured_text,
            pass: measured.is_some_and(|v| self.op.holds(v, self.limit)),
            clients: scope.map(|s| s.clients),
            repeat: scope.map(|s| s.repeat),
        }
    }
}

/// Refuses thresholds that name a phase this workload does not have (checked
/// before a run starts, so a typo is a usage error, not a failed run).
pub fn check_phases(thresholds: &[Threshold], phases: &[&str]) -> Result<(), ThresholdError> {
    for t in thresholds {
        if let Metric::Latency { phase, .. } = &t.metric {
            if !phases.contains(&phase.as_str()) && !DERIVED_PHASES.contains(&phase.as_str()) {
                let known: Vec<&str> = phases.iter().chain(&DERIVED_PHASES).copied().collect();
                return Err(ThresholdError::UnknownPhase {
                    expr: t.expr.clone(),
                    phase: phase.clone(),
                    known: known.join(", "),
                });
            }
        }
    }
    Ok(())
}

/// Which perf run a result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub clients: u32,
    /// 0-based, as in perf.csv.
    pub repeat: u32,
}

/// One threshold checked against one run (or one perf client count and repeat).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The expression: `write.p99<200ms`.
    pub threshold: String,
    /// The metric it names: `write.p99`.
    pub metric: String,
    pub op: Op,
    /// The limit, in `unit`.
    pub limit: f64,
    pub unit: Unit,
    /// The run's value, in `unit`; null when the run had no data for it.
    pub measured: Option<f64>,
    /// The measured value as printed: `6.95ms`, `0.000% (0 of 96 attempts)`.
    pub measured_text: String,
    pub pass: bool,
    /// perf only: the client count and 0-based repeat this result is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
}

impl ThresholdResult {
    /// Where it was measured, for perf: `16 clients, run 1`.
    pub fn scope_text(&self) -> Option<String> {
        let clients = self.clients?;
        let run = self
            .repeat
            .map_or(String::new(), |r| format!(", run {}", r + 1));
        Some(format!("{clients} clients{run}"))
    }
}

/// The line printed for each result: `PASS write.p99<200ms (measured 6.95ms)`.
impl fmt::Display for ThresholdResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.pass { "PASS" } else { "FAIL" };
        write!(f, "{verdict} {}", self.threshold)?;
        if let Some(scope) = self.scope_text() {
            write!(f, " at {scope}")?;
        }
        write!(f, " (measured {})", self.measured_text)
    }
}

/// All results of a run, as `summary.json` / `perf.json` hold them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ThresholdReport {
    /// Every result passed.
    pub pass: bool,
    pub results: Vec<ThresholdResult>,
}

impl ThresholdReport {
    fn from_results(results: Vec<ThresholdResult>) -> Self {
        ThresholdReport {
            pass: results.iter().all(|r| r.pass),
            results,
        }
    }

    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.pass).count()
    }

    /// One line per result, as printed after a run.
    pub fn lines(&self) -> String {
        self.results.iter().map(|r| format!("{r}\n")).collect()
    }
}

/// Checks every threshold against one run.
pub fn check(thresholds: &[Threshold], run: &dyn Metrics) -> ThresholdReport {
    ThresholdReport::from_results(thresholds.iter().map(|t| t.result(run, None)).collect())
}

/// Checks every threshold at every perf point (client count and repeat),
/// grouped by threshold so that a threshold's lines read as a sweep.
pub fn check_each<M: Metrics>(thresholds: &[Threshold], points: &[(Scope, M)]) -> ThresholdReport {
    ThresholdReport::from_results(
        thresholds
            .iter()
            .flat_map(|t| points.iter().map(|(s, m)| t.result(m, Some(*s))))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run with fixed figures: write p99 = 150 ms, 2 of 100 attempts failed.
    struct Fake {
        failed: u64,
    }

    impl Metrics for Fake {
        fn latency(&self, phase: &str, stat: Stat) -> Option<f64> {
            match (phase, stat) {
                ("write" | "response", Stat::P99) => Some(150_000.0),
                ("write", Stat::Count) => Some(98.0),
                _ => None,
            }
        }
        fn steps_ok(&self) -> u64 {
            100 - self.failed
        }
        fn failed_attempts(&self) -> u64 {
            self.failed
        }
        fn users_gave_up(&self) -> u64 {
            0
        }
        fn mb_per_s(&self) -> f64 {
            42.5
        }
        fn steps_per_s(&self) -> f64 {
            12.0
        }
    }

    fn run(exprs: &[&str], m: &dyn Metrics) -> ThresholdReport {
        let ts: Vec<Threshold> = exprs.iter().map(|e| parse(e).unwrap()).collect();
        check(&ts, m)
    }

    #[test]
    fn each_threshold_passes_or_fails_on_its_measured_value() {
        let r = run(
            &[
                "write.p99<200ms",
                "write.p99<100ms",
                "errors<0.1%",
                "errors<=2",
                "throughput>50MB/s",
                "users_gave_up==0",
                "response.p99>=150ms",
                "write.count==98",
                "requests_per_s!=12",
            ],
            &Fake { failed: 2 },
        );
        let verdicts: Vec<bool> = r.results.iter().map(|r| r.pass).collect();
        assert_eq!(
            verdicts,
            [true, false, false, true, false, true, true, true, false]
        );
        assert!(!r.pass);
        assert_eq!(r.failed(), 4);
        assert_eq!(
            r.results[1].to_string(),
            "FAIL write.p99<100ms (measured 150.00ms)"
        );
        assert_eq!(
            r.results[2].to_string(),
            "FAIL errors<0.1% (measured 2.000% (2 of 100 attempts))"
        );
        assert_eq!(
            r.results[4].to_string(),
            "FAIL throughput>50MB/s (measured 42.50 MB/s)"
        );
        assert_eq!(r.lines().lines().count(), 9);
        assert!(run(&["users_gave_up==0"], &Fake { failed: 0 }).pass);
    }

    #[test]
    fn a_metric_without_data_fails_and_says_so() {
        let r = run(&["verify.p99<1s", "errors<1%"], &Fake { failed: 0 });
        assert!(r.results[0].measured.is_none() && !r.results[0].pass);
        assert_eq!(
            r.results[0].to_string(),
            "FAIL verify.p99<1s (measured no data (no completed step timed verify))"
        );
        assert!(r.results[1].pass, "0 of 100 attempts failed");
    }

    #[test]
    fn perf_points_get_one_result_per_threshold_and_client_count() {
        let ts = vec![parse("errors==0").unwrap(), parse("write.p99<1s").unwrap()];
        let points = [
            (
                Scope {
                    clients: 1,
                    repeat: 0,
                },
                Fake { failed: 0 },
            ),
            (
                Scope {
                    clients: 8,
                    repeat: 0,
                },
                Fake { failed: 3 },
            ),
        ];
        let r = check_each(&ts, &points);
        let lines: Vec<String> = r.results.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            lines,
            [
                "PASS errors==0 at 1 clients, run 1 (measured 0)",
                "FAIL errors==0 at 8 clients, run 1 (measured 3)",
                "PASS write.p99<1s at 1 clients, run 1 (measured 150.00ms)",
                "PASS write.p99<1s at 8 clients, run 1 (measured 150.00ms)",
            ]
        );
        assert!(!r.pass);
    }

    #[test]
    fn results_serialize_with_their_unit_and_scope() {
        let ts = vec![parse("write.p99<200ms").unwrap()];
        let r = check_each(
            &ts,
            &[(
                Scope {
                    clients: 4,
                    repeat: 1,
                },
                Fake { failed: 0 },
            )],
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["pass"], true);
        let x = &v["results"][0];
        assert_eq!(x["threshold"], "write.p99<200ms");
        assert_eq!(
            (x["op"].as_str(), x["unit"].as_str()),
            (Some("<"), Some("us"))
        );
        assert_eq!(
            (x["limit"].as_f64(), x["measured"].as_f64()),
            (Some(200_000.0), Some(150_000.0))
        );
        assert_eq!(
            (x["clients"].as_u64(), x["repeat"].as_u64()),
            (Some(4), Some(1))
        );
        let back: ThresholdReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        let single = serde_json::to_value(check(&ts, &Fake { failed: 0 })).unwrap();
        assert!(single["results"][0].get("clients").is_none());
    }

    #[test]
    fn unknown_phases_are_refused_before_the_run() {
        let ts = vec![
            parse("cycle.p99<1s").unwrap(),
            parse("wirte.p99<1s").unwrap(),
        ];
        let err = check_phases(&ts, &["connect", "write"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "'wirte.p99<1s': this run has no phase 'wirte'; its phases are connect, write, cycle, schedule_true, response"
        );
        assert!(check_phases(&ts[..1], &["write"]).is_ok());
    }
}
