//! `--fail-if EXPR` and `--junit FILE`, shared by sftp-bench and perf: the
//! clap flags, the usage errors, the printed PASS/FAIL lines, the JUnit file
//! and the exit code. The subcommands flatten [`ThresholdArgs`] and call three
//! methods, so both gate a CI job the same way.
//!
//! Wiring, in a subcommand's `*Args` and `run` (`RunSummary` and
//! `PerfReport` get a `thresholds: Option<ThresholdReport>` field, serde
//! `default` + `skip_serializing_if = "Option::is_none"`):
//!
//! ```text
//! #[command(flatten)]
//! pub thresholds: crate::cmd::thresholds::ThresholdArgs,
//!
//! // before the run (a malformed expression or unknown phase: exit 2):
//! let gate = args.thresholds.parse(crate::sftp::client::PHASES)?;   // perf: &[response phase]
//! // after the run, before printing:
//! summary.thresholds = gate.check(&summary, "xfer sftp-bench", summary.elapsed_s)?;
//! // perf: report.thresholds = gate.check_sweep(&report.runs, "request", "xfer perf")?;
//! // rewrite summary.json / perf.json when Some, print the table or JSON, then:
//! gate.print(summary.thresholds.as_ref(), json);                   // PASS/FAIL lines
//! return Ok(gate.exit_code(summary.thresholds.as_ref(), code));    // 3 when one failed
//! ```
//!
//! The run writes everything first; thresholds only add their results and
//! decide the exit code.

use crate::perf::results::PointRun;
use crate::report::junit;
use crate::report::threshold::{
    self, check_each, check_phases, Metrics, PerfRunMetrics, Scope, Threshold, ThresholdReport,
    EXIT_THRESHOLD_FAILED,
};
use crate::usage;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// The flags; flatten them into a subcommand's `*Args`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ThresholdArgs {
    /// Fail the run (exit 3) unless EXPR holds; repeatable. METRIC OP VALUE:
    /// write.p99<200ms, schedule_true.p99<1s, errors<0.1%, errors==0,
    /// throughput>50MB/s, users_gave_up==0, requests_per_s>1000.
    /// Statistics: count, mean, min, p50, p90, p95, p99, p99.9, max.
    /// perf checks each threshold at every client count.
    #[arg(long = "fail-if", value_name = "EXPR")]
    pub fail_if: Vec<String>,
    /// Also write the threshold results to FILE as a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// Parsed thresholds and where their report goes.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    pub thresholds: Vec<Threshold>,
    pub junit: Option<PathBuf>,
}

impl ThresholdArgs {
    /// Parses every `--fail-if` and checks that each phase it names is one of
    /// `phases` (the workload's). Usage errors (exit 2) name the flag.
    pub fn parse(&self, phases: &[&str]) -> anyhow::Result<Gate> {
        let thresholds = self
            .fail_if
            .iter()
            .map(|e| threshold::parse(e).map_err(|e| usage!("--fail-if {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        check_phases(&thresholds, phases).map_err(|e| usage!("--fail-if {e}"))?;
        if self.junit.is_some() && thresholds.is_empty() {
            return Err(usage!(
                "--junit needs at least one --fail-if EXPR to report on"
            ));
        }
        Ok(Gate {
            thresholds,
            junit: self.junit.clone(),
        })
    }
}

impl Gate {
    /// Checks one run and writes the JUnit file. `None` without thresholds.
    pub fn check(
        &self,
        run: &dyn Metrics,
        suite: &str,
        elapsed_s: f64,
    ) -> anyhow::Result<Option<ThresholdReport>> {
        if self.thresholds.is_empty() {
            return Ok(None);
        }
        let report = threshold::check(&self.thresholds, run);
        self.write_junit(&report, suite, elapsed_s)?;
        Ok(Some(report))
    }

    /// Checks every perf run (each client count and repeat) and writes the
    /// JUnit file.
    pub fn check_sweep(
        &self,
        runs: &[PointRun],
        response_phase: &str,
        suite: &str,
    ) -> anyhow::Result<Option<ThresholdReport>> {
        if self.thresholds.is_empty() {
            return Ok(None);
        }
        let points: Vec<(Scope, PerfRunMetrics)> = runs
            .iter()
            .map(|run| {
                let scope = Scope {
                    clients: run.clients,
                    repeat: run.repeat,
                };
                (
                    scope,
                    PerfRunMetrics {
                        run,
                        response_phase,
                    },
                )
            })
            .collect();
        let report = check_each(&self.thresholds, &points);
        let elapsed = runs.iter().map(|r| r.elapsed_s).sum();
        self.write_junit(&report, suite, elapsed)?;
        Ok(Some(report))
    }

    /// Prints a line per result: on stdout after the table, on stderr with
    /// `--json` so that stdout stays one JSON document.
    pub fn print(&self, report: Option<&ThresholdReport>, json: bool) {
        let Some(report) = report else { return };
        let lines = report.lines();
        if json {
            eprint!("{lines}");
        } else {
            print!("{lines}");
        }
    }

    fn write_junit(
        &self,
        report: &ThresholdReport,
        suite: &str,
        elapsed_s: f64,
    ) -> anyhow::Result<()> {
        if let Some(path) = &self.junit {
            let xml = junit::render(suite, report, chrono::Utc::now(), elapsed_s);
            crate::report::write_atomic(path, xml.as_bytes())
                .with_context(|| format!("writing --junit {}", path.display()))?;
        }
        Ok(())
    }

    /// The process exit code: 3 when a threshold failed, else `otherwise`
    /// (0, 1 for a run with errors, 130 interrupted). A failed threshold wins
    /// over 1, as in k6: the user said what failure means. An interrupted
    /// run keeps 130, since its figures are partial.
    pub fn exit_code(&self, report: Option<&ThresholdReport>, otherwise: u8) -> ExitCode {
        match report {
            Some(r) if !r.pass && otherwise != crate::cmd::EXIT_INTERRUPTED => {
                ExitCode::from(EXIT_THRESHOLD_FAILED)
            }
            _ => ExitCode::from(otherwise),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(exprs: &[&str], junit: Option<&str>) -> ThresholdArgs {
        ThresholdArgs {
            fail_if: exprs.iter().map(|s| s.to_string()).collect(),
            junit: junit.map(PathBuf::from),
        }
    }

    fn usage_text(r: anyhow::Result<Gate>) -> String {
        let e = r.unwrap_err();
        assert!(e.is::<crate::cmd::UsageError>(), "{e:#}");
        e.to_string()
    }

    #[test]
    fn malformed_or_unknown_thresholds_are_usage_errors_naming_the_flag() {
        let e = usage_text(args(&["write.p99<<1s"], None).parse(&["write"]));
        assert!(
            e.starts_with(
                "--fail-if 'write.p99<<1s': '<<' is not an operator; expected METRIC OP VALUE"
            ),
            "{e}"
        );
        let e = usage_text(args(&["connect.p99<1s"], None).parse(&["request"]));
        assert!(
            e.starts_with("--fail-if 'connect.p99<1s': this run has no phase 'connect'"),
            "{e}"
        );
        let e = usage_text(args(&[], Some("j.xml")).parse(&["write"]));
        assert!(e.contains("--junit needs at least one --fail-if"), "{e}");
        assert!(args(&[], None)
            .parse(&["write"])
            .unwrap()
            .thresholds
            .is_empty());
    }

    #[test]
    fn a_failed_threshold_exits_3_unless_interrupted() {
        let failed = ThresholdReport {
            pass: false,
            results: vec![],
        };
        let passed = ThresholdReport {
            pass: true,
            results: vec![],
        };
        let g = Gate::default();
        assert_eq!(g.exit_code(Some(&failed), 0), ExitCode::from(3));
        assert_eq!(g.exit_code(Some(&failed), 1), ExitCode::from(3));
        assert_eq!(g.exit_code(Some(&failed), 130), ExitCode::from(130));
        assert_eq!(g.exit_code(Some(&passed), 1), ExitCode::from(1));
        assert_eq!(g.exit_code(None, 0), ExitCode::from(0));
    }
}
