//! `--interval`, `--shard I/N` and `--start-at TIME`, shared by sftp-bench
//! and perf: the flags that make a run one part of a bigger one (see
//! [`crate::load::shard`]) and that shape its time series. Both subcommands
//! flatten [`ScaleArgs`] and call [`ScaleArgs::parse`], so a shard of either
//! is told the same way and refuses the same mistakes with the same line.

use crate::cmd::duration_arg;
use crate::load::shard::{self, Shard};
use crate::usage;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The flags; flatten them into a subcommand's `*Args`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleArgs {
    /// Length of a time-series row (timeseries.csv, latency.hlog), on
    /// wall-clock boundaries; each row is flushed as it closes, so a killed
    /// run keeps every closed row. 0 writes no time series.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, default_value = "1s")]
    pub interval: Duration,

    /// Run shard I of N (0-based, as JOB_COMPLETION_INDEX) of a run split
    /// across processes or machines: global users [I*U/N, (I+1)*U/N) of the
    /// U users, with global ids in file names and every output; --ramp-up
    /// and --rate keep their meaning for the whole run.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// Connect and check the target, then wait until TIME to start: RFC 3339
    /// (2026-12-05T12:00:00Z) or a delay from now (+30s). Shards given the
    /// same TIME start together (clock sync between machines is NTP's job;
    /// run.json records each actual start) and name their files after it.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
}

/// The parsed flags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// None: no time series.
    pub interval: Option<Duration>,
    pub shard: Shard,
    pub start_at: Option<DateTime<Utc>>,
}

impl ScaleArgs {
    /// Validates the flags against `users` (the whole run's; for perf, its
    /// smallest client count). Usage errors (exit 2) name the flag.
    pub fn parse(&self, users: u32, now: DateTime<Utc>) -> anyhow::Result<Scale> {
        let shard: Shard = match &self.shard {
            Some(s) => s.parse().map_err(|e| usage!("{e}"))?,
            None => Shard::WHOLE,
        };
        shard.check_users(users).map_err(|e| usage!("{e}"))?;
        let start_at = match &self.start_at {
            Some(s) => Some(shard::parse_start_at(s, now).map_err(|e| usage!("{e}"))?),
            None => None,
        };
        if !self.interval.is_zero() && self.interval < Duration::from_millis(1) {
            return Err(usage!(
                "--interval must be at least 1ms (or 0 for no time series), got {:?}",
                self.interval
            ));
        }
        Ok(Scale {
            interval: (!self.interval.is_zero()).then_some(self.interval),
            shard,
            start_at,
        })
    }
}

impl Scale {
    /// The run id: shards of one run must name their remote files alike, so
    /// a common start names the run; otherwise each run gets a fresh id.
    pub fn run_id(&self) -> String {
        match self.start_at {
            Some(at) => at.format("%Y%m%dT%H%M%S%3fZ").to_string(),
            None => crate::report::run_dir::new_run_id(),
        }
    }

    /// The default run directory's kind: shards of one run on one machine
    /// must not share it.
    pub fn kind(&self, tool: &str) -> String {
        if self.shard.is_sharded() {
            format!("{tool}-shard{}of{}", self.shard.index, self.shard.count)
        } else {
            tool.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(shard: Option<&str>, start: Option<&str>, interval_ms: u64) -> ScaleArgs {
        ScaleArgs {
            interval: Duration::from_millis(interval_ms),
            shard: shard.map(str::to_string),
            start_at: start.map(str::to_string),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn usage_text(r: anyhow::Result<Scale>) -> String {
        let e = r.unwrap_err();
        assert!(e.is::<crate::cmd::UsageError>(), "{e:#}");
        e.to_string()
    }

    #[test]
    fn parses_the_flags_and_names_the_run_after_its_start() {
        let s = args(Some("1/4"), Some("+30s"), 0).parse(8, now()).unwrap();
        assert_eq!(s.shard, Shard { index: 1, count: 4 });
        assert_eq!(s.interval, None);
        assert_eq!(s.run_id(), "20261205T120030000Z");
        assert_eq!(s.kind("perf"), "perf-shard1of4");
        let s = args(None, None, 1000).parse(1, now()).unwrap();
        assert_eq!(s.interval, Some(Duration::from_secs(1)));
        assert_eq!(s.kind("sftp-bench"), "sftp-bench");
        assert_ne!(s.run_id(), s.run_id(), "a fresh id per unsharded run");
    }

    #[test]
    fn mistakes_are_usage_errors_naming_the_flag() {
        assert!(usage_text(args(Some("4/4"), None, 1000).parse(8, now()))
            .starts_with("--shard expects I/N"));
        assert!(usage_text(args(Some("2/4"), None, 1000).parse(2, now()))
            .starts_with("--shard 2/4 gets no users"));
        assert!(
            usage_text(args(None, Some("2026-12-05T11:59:59Z"), 1000).parse(1, now()))
                .starts_with("--start-at 2026-12-05T11:59:59.000Z is already past")
        );
        let mut tiny = args(None, None, 0);
        tiny.interval = Duration::from_micros(500);
        assert!(usage_text(tiny.parse(1, now())).starts_with("--interval must be at least 1ms"));
    }
}
