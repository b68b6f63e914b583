//! Splitting one run across machines: `--shard I/N` and `--start-at TIME`.
//!
//! A run too big for one machine is started N times by an orchestrator that
//! already exists (a Kubernetes Indexed Job, a shell loop over ssh), never by
//! a coordinator of our own. Each instance is told its [`Shard`] and computes
//! its share of the users by itself; no instance talks to another. k6's
//! execution segments are the model: shard `I` of `N` runs the global user ids
//! `[floor(I*U/N), floor((I+1)*U/N))` of `U` users, so the shares are
//! deterministic, differ by at most one user, and every global id belongs to
//! exactly one shard. Global ids are used everywhere (remote file names,
//! `chunks.csv`, `users.csv`), so two shards never write the same remote file
//! and their rows concatenate.
//!
//! Pacing keeps its meaning for the whole run: `--rate` is per user, so it
//! needs nothing; `--ramp-up` is for the whole run, so global user `g` starts
//! at [`ramp_offset`]`(g, U, ramp)` whichever shard runs it.
//!
//! Wiring (sftp-bench and perf): parse `--shard` with [`Shard::from_str`]
//! (clap `value_parser`), call [`Shard::check_users`] once `--users` is known,
//! create engine users for [`Shard::users`] (global ids) and start each at
//! [`ramp_offset`] with the *whole* run's user count. Parse `--start-at` with
//! [`parse_start_at`] at the edge (a time already past is refused there), run
//! the preflight, then call [`wait_until`] with the run's [`Stopper`] and take
//! the run's origin (`Instant` and wall clock) right after it returns; record
//! that wall-clock start in `run.json` so that `xfer merge` can report the
//! skew. Clock agreement between machines is NTP's job: the skew shows how
//! well it did.

use super::Stopper;
use crate::units::parse_duration;
use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// This instance's part of a sharded run: shard `index` (0-based, as
/// Kubernetes' `JOB_COMPLETION_INDEX`) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// 0-based index of this shard.
    pub index: u32,
    /// Number of shards in the run (at least 1).
    pub count: u32,
}

/// A bad `--shard` or `--start-at` value; every message names its flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("--shard expects I/N with 0 <= I < N, 0-based like Kubernetes' JOB_COMPLETION_INDEX (e.g. 0/4 .. 3/4), got '{0}'")]
    Syntax(String),
    #[error("--shard {shard} gets no users: {users} users cannot be split into {count} shards (use at least {count} --users or fewer shards)", count = shard.count)]
    NoUsers { shard: Shard, users: u32 },
    #[error("--start-at expects an RFC 3339 time (e.g. 2026-12-05T12:00:00Z) or a delay from now (e.g. +30s), got '{0}'")]
    StartAtSyntax(String),
    #[error(
        "--start-at {at} is already past (now {now}): give a later time, or a delay such as +30s"
    )]
    StartAtPast { at: String, now: String },
}

impl Shard {
    /// An unsharded run: the one shard of one.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether this is one shard among several.
    pub fn is_sharded(&self) -> bool {
        self.count > 1
    }

    /// The global user ids this shard runs, out of `total` users.
    pub fn users(&self, total: u32) -> Range<u32> {
        let bound = |i: u32| (u64::from(i) * u64::from(total) / u64::from(self.count)) as u32;
        bound(self.index)..bound(self.index + 1)
    }

    /// Refuses a shard that would run no user at all (more shards than users):
    /// it would finish at once and look like a run that measured nothing.
    pub fn check_users(&self, total: u32) -> Result<(), ShardError> {
        if self.users(total).is_empty() {
            return Err(ShardError::NoUsers {
                shard: *self,
                users: total,
            });
        }
        Ok(())
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ShardError::Syntax(s.to_string());
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// When global user `user` of `total` starts, since the run's origin, for a
/// ramp-up of `ramp` over the whole run: `user * ramp / total`, exact to the
/// nanosecond, whichever shard runs the user.
pub fn ramp_offset(user: u32, total: u32, ramp: Duration) -> Duration {
    if total == 0 {
        return Duration::ZERO;
    }
    let nanos = ramp.as_nanos() * u128::from(user) / u128::from(total);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Parses `--start-at`: an RFC 3339 time (any offset; kept in UTC) or `+D`, a
/// duration from `now` (`+30s`, `+2m`). A time at or before `now` is refused.
pub fn parse_start_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ShardError> {
    let t = s.trim();
    let at = if let Some(delay) = t.strip_prefix('+') {
        let d = parse_duration(delay).map_err(|_| ShardError::StartAtSyntax(s.to_string()))?;
        let d =
            chrono::Duration::from_std(d).map_err(|_| ShardError::StartAtSyntax(s.to_string()))?;
        now.checked_add_signed(d)
            .ok_or_else(|| ShardError::StartAtSyntax(s.to_string()))?
    } else {
        DateTime::parse_from_rfc3339(t)
            .map_err(|_| ShardError::StartAtSyntax(s.to_string()))?
            .to_utc()
    };
    if at <= now {
        return Err(past(at, now));
    }
    Ok(at)
}

fn past(at: DateTime<Utc>, now: DateTime<Utc>) -> ShardError {
    ShardError::StartAtPast {
        at: at.to_rfc3339_opts(SecondsFormat::Millis, true),
        now: now.to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

/// Longest single sleep while waiting: the wall clock is read again after
/// each, so an NTP step during a long wait moves the start with it.
const WAIT_SLICE: Duration = Duration::from_millis(200);

/// Sleeps until the wall clock reads `at`. Returns `Ok(true)` at the instant,
/// `Ok(false)` as soon as `stop` is stopped (Ctrl-C during the wait), and an
/// error if `at` had already passed when the wait began (a preflight that
/// took too long): a late start is refused, never made silently.
pub fn wait_until(at: DateTime<Utc>, stop: &Stopper) -> Result<bool, ShardError> {
    let now = Utc::now();
    if now > at {
        return Err(past(at, now));
    }
    loop {
        let left = match (at - Utc::now()).to_std() {
            Ok(d) if !d.is_zero() => d,
            // Negative (or zero): the instant has come.
            _ => return Ok(!stop.is_stopped()),
        };
        if !stop.sleep_until(Instant::now() + left.min(WAIT_SLICE)) {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_i_of_n_and_refuses_everything_else_naming_the_flag() {
        assert_eq!("0/4".parse(), Ok(Shard { index: 0, count: 4 }));
        assert_eq!(" 3/4 ".parse(), Ok(Shard { index: 3, count: 4 }));
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::WHOLE);
        for bad in [
            "4/4", "1/0", "0/0", "-1/4", "1", "a/b", "1/4/2", "", "/4", "1/",
        ] {
            let e = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(e.starts_with("--shard expects I/N"), "{bad}: {e}");
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
        assert_eq!(Shard { index: 2, count: 8 }.to_string(), "2/8");
    }

    #[test]
    fn shares_partition_all_users_and_differ_by_at_most_one() {
        for total in 0..=130u32 {
            for count in 1..=17u32 {
                let shares: Vec<Range<u32>> = (0..count)
                    .map(|index| Shard { index, count }.users(total))
                    .collect();
                // Contiguous, in order, from 0 to total: each id in exactly one.
                let mut next = 0;
                for s in &shares {
                    assert_eq!(s.start, next, "U={total} N={count}");
                    next = s.end;
                }
                assert_eq!(next, total, "U={total} N={count}");
                let lens: Vec<u32> = shares.iter().map(|s| s.end - s.start).collect();
                let (min, max) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
                assert!(max - min <= 1, "U={total} N={count}: {lens:?}");
            }
        }
    }

    #[test]
    fn large_runs_do_not_overflow() {
        let s = Shard {
            index: u32::MAX - 1,
            count: u32::MAX,
        };
        assert_eq!(s.users(u32::MAX), u32::MAX - 1..u32::MAX);
    }

    #[test]
    fn a_shard_without_users_is_refused() {
        // 4 users over 8 shards: every other shard is empty, 0/8 first.
        let s = Shard { index: 0, count: 8 };
        let e = s.check_users(4).unwrap_err().to_string();
        assert!(e.starts_with("--shard 0/8 gets no users"), "{e}");
        assert!(Shard { index: 1, count: 8 }.check_users(4).is_ok());
        assert!(Shard { index: 3, count: 4 }.check_users(4).is_ok());
    }

    #[test]
    fn ramp_up_is_the_whole_runs_whichever_shard_runs_a_user() {
        let ramp = Duration::from_secs(10);
        assert_eq!(ramp_offset(0, 100, ramp), Duration::ZERO);
        assert_eq!(ramp_offset(50, 100, ramp), Duration::from_secs(5));
        assert_eq!(ramp_offset(99, 100, ramp), Duration::from_millis(9_900));
        assert_eq!(ramp_offset(1, 3, ramp), Duration::from_nanos(3_333_333_333));
        assert_eq!(ramp_offset(0, 0, ramp), Duration::ZERO);
        // Shard 1/2 of 100 users starts its first user half way through the ramp.
        let first = Shard { index: 1, count: 2 }.users(100).start;
        assert_eq!(ramp_offset(first, 100, ramp), Duration::from_secs(5));
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn start_at_takes_rfc3339_or_a_delay_and_refuses_the_past() {
        let now = at("2026-12-05T12:00:00Z");
        assert_eq!(
            parse_start_at("2026-12-05T12:00:30Z", now),
            Ok(at("2026-12-05T12:00:30Z"))
        );
        assert_eq!(
            parse_start_at("2026-12-05T13:00:30+01:00", now),
            Ok(at("2026-12-05T12:00:30Z"))
        );
        assert_eq!(parse_start_at("+30s", now), Ok(at("2026-12-05T12:00:30Z")));
        assert_eq!(parse_start_at("+2m", now), Ok(at("2026-12-05T12:02:00Z")));
        for bad in ["soon", "+", "+30", "12:00", "2026-12-05 12:00", ""] {
            let e = parse_start_at(bad, now).unwrap_err().to_string();
            assert!(e.starts_with("--start-at expects"), "{bad}: {e}");
        }
        for past in ["2026-12-05T12:00:00Z", "2026-12-05T11:59:59.999Z", "+0s"] {
            let e = parse_start_at(past, now).unwrap_err().to_string();
            assert!(
                e.contains("is already past (now 2026-12-05T12:00:00.000Z)"),
                "{e}"
            );
            assert!(e.starts_with("--start-at "), "{e}");
        }
    }

    #[test]
    fn waiting_returns_at_the_instant_not_before() {
        let target = Utc::now() + chrono::Duration::milliseconds(50);
        assert_eq!(wait_until(target, &Stopper::new()), Ok(true));
        assert!(Utc::now() >= target);
    }

    #[test]
    fn waiting_for_a_past_instant_is_an_error() {
        let past = Utc::now() - chrono::Duration::seconds(1);
        let e = wait_until(past, &Stopper::new()).unwrap_err().to_string();
        assert!(
            e.starts_with("--start-at ") && e.contains("already past"),
            "{e}"
        );
    }

    #[test]
    fn a_stop_ends_a_long_wait_at_once() {
        let stop = Stopper::new();
        let s2 = stop.clone();
        let target = Utc::now() + chrono::Duration::hours(1);
        let t = std::thread::spawn(move || wait_until(target, &s2));
        stop.stop();
        assert_eq!(t.join().unwrap(), Ok(false));
    }
}
