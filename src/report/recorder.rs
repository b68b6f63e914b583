//! Folds engine events into the figures of a run: a histogram per phase,
//! response time from the actual and from the intended start, per-user
//! totals, errors by kind. Lives on the engine's caller thread, so it needs no
//! locks.

use super::histogram::{LatencyHistogram, LatencySummary};
use crate::load::{Event, Sample};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Aggregates events; see [`Recorder::summary`].
#[derive(Debug, Clone)]
pub struct Recorder {
    phases: &'static [&'static str],
    response_phase: usize,
    phase_hist: Vec<LatencyHistogram>,
    schedule_true: LatencyHistogram,
    cycle: LatencyHistogram,
    users: Vec<UserSummary>,
    /// The global id of `users[0]` (a shard's first user).
    first_user: u32,
    errors: BTreeMap<String, u64>,
    ok: u64,
    failed_attempts: u64,
    bytes: u64,
}

/// One user's totals: the seed's per-user log line, exact.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserSummary {
    pub user: u32,
    /// When the user started and ended, since the run started (None: never started).
    pub started: Option<Duration>,
    pub finished: Option<Duration>,
    /// Steps completed (chunks uploaded).
    pub uploads: u64,
    /// Sum of the response phase of completed steps (the seed's pure upload time).
    pub upload_time: Duration,
    /// Failed attempts.
    pub errors: u64,
    pub bytes: u64,
    /// Gave up on a step after the retry limit.
    pub gave_up: bool,
}

impl UserSummary {
    /// The user's active time: start to end.
    pub fn total_time(&self) -> Duration {
        match (self.started, self.finished) {
            (Some(s), Some(f)) => f.saturating_sub(s),
            _ => Duration::ZERO,
        }
    }

    pub fn mb_per_sec(&self) -> f64 {
        crate::units::mb_per_sec(self.bytes, self.total_time())
    }
}

/// A phase's latency figures, with its histogram for merging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    pub name: String,
    #[serde(flatten)]
    pub latency: LatencySummary,
    /// HdrHistogram V2, base64.
    pub histogram: String,
}

/// Bytes per second over the run, in decimal MB/s.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ThroughputSummary {
    pub bytes: u64,
    pub mb_per_s: f64,
    pub steps_per_s: f64,
    pub per_user_min_mb_per_s: f64,
    pub per_user_median_mb_per_s: f64,
    pub per_user_max_mb_per_s: f64,
}

/// Everything `summary.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub users: u32,
    pub users_gave_up: u32,
    /// Wall time of the run, from its start to the last user's end.
    pub elapsed_s: f64,
    /// Stopped by Ctrl-C (or a fatal error) before the work was done.
    pub interrupted: bool,
    /// Steps (chunks, requests) completed.
    pub steps_ok: u64,
    /// Attempts that failed (each is retried or makes its user give up).
    pub failed_attempts: u64,
    /// Failed attempts by kind.
    pub errors: BTreeMap<String, u64>,
    pub throughput: ThroughputSummary,
    /// Latency of each phase, over completed steps.
    pub phases: Vec<PhaseSummary>,
    /// The response phase's name (e.g. `write`).
    pub response_phase: String,
    /// Response time measured from each step's intended start (coordinated
    /// omission corrected): what a user on a schedule experienced.
    pub schedule_true: PhaseSummary,
    /// Whole attempt: the sum of its phases.
    pub cycle: PhaseSummary,
}

impl RunSummary {
    /// The summary of the response phase.
    pub fn response(&self) -> Option<&PhaseSummary> {
        self.phases.iter().find(|p| p.name == self.response_phase)
    }
}

impl Recorder {
    /// A recorder for a workload's phases and `users` users.
    pub fn new(phases: &'static [&'static str], response_phase: usize, users: u32) -> Self {
        Self::for_users(phases, response_phase, 0..users)
    }

    /// A recorder for a shard's users, by their global ids.
    pub fn for_users(
        phases: &'static [&'static str],
        response_phase: usize,
        users: std::ops::Range<u32>,
    ) -> Self {
        Recorder {
            first_user: users.start,
            phases,
            response_phase,
            phase_hist: vec![LatencyHistogram::new(); phases.len()],
            schedule_true: LatencyHistogram::new(),
            cycle: LatencyHistogram::new(),
            users: users
                .map(|user| UserSummary {
                    user,
                    ..UserSummary::default()
                })
                .collect(),
            errors: BTreeMap::new(),
            ok: 0,
            failed_attempts: 0,
            bytes: 0,
        }
    }

    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::UserStarted { user, at } => self.user(*user).started = Some(*at),
            Event::UserFinished { user, at, gave_up } => {
                let u = self.user(*user);
                u.finished = Some(*at);
                u.gave_up = *gave_up;
            }
            Event::Sample(s) => self.sample(s),
            Event::Warning { .. } => {}
        }
    }

    fn user(&mut self, user: u32) -> &mut UserSummary {
        &mut self.users[(user - self.first_user) as usize]
    }

    fn sample(&mut self, s: &Sample) {
        if let Some(err) = &s.error {
            self.failed_attempts += 1;
            *self.errors.entry(err.0.to_string()).or_default() += 1;
            self.user(s.user).errors += 1;
            return;
        }
        self.ok += 1;
        self.bytes += s.bytes;
        for (h, d) in self.phase_hist.iter_mut().zip(s.phases) {
            if let Some(d) = d {
                h.record(d);
            }
        }
        if let Some(d) = s.response_from_intended(self.response_phase) {
            self.schedule_true.record(d);
        }
        self.cycle.record(s.elapsed);
        let response = s.response(self.response_phase).unwrap_or_default();
        let u = self.user(s.user);
        u.uploads += 1;
        u.bytes += s.bytes;
        u.upload_time += response;
    }

    /// Bytes acknowledged so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Failed attempts so far.
    pub fn failed_attempts(&self) -> u64 {
        self.failed_attempts
    }

    pub fn users(&self) -> &[UserSummary] {
        &self.users
    }

    /// The histogram of a phase, by index.
    pub fn phase_histogram(&self, phase: usize) -> &LatencyHistogram {
        &self.phase_hist[phase]
    }

    pub fn schedule_true_histogram(&self) -> &LatencyHistogram {
        &self.schedule_true
    }

    pub fn summary(&self, elapsed: Duration, interrupted: bool) -> RunSummary {
        let phase = |name: &str, h: &LatencyHistogram| PhaseSummary {
            name: name.to_string(),
            latency: h.summary(),
            histogram: h.to_base64(),
        };
        let mut rates: Vec<f64> = self
            .users
            .iter()
            .filter(|u| u.started.is_some())
            .map(UserSummary::mb_per_sec)
            .collect();
        rates.sort_by(f64::total_cmp);
        let secs = elapsed.as_secs_f64();
        RunSummary {
            users: self.users.len() as u32,
            users_gave_up: self.users.iter().filter(|u| u.gave_up).count() as u32,
            elapsed_s: secs,
            interrupted,
            steps_ok: self.ok,
            failed_attempts: self.failed_attempts,
            errors: self.errors.clone(),
            throughput: ThroughputSummary {
                bytes: self.bytes,
                mb_per_s: crate::units::mb_per_sec(self.bytes, elapsed),
                steps_per_s: if secs > 0.0 {
                    self.ok as f64 / secs
                } else {
                    0.0
                },
                per_user_min_mb_per_s: rates.first().copied().unwrap_or(0.0),
                per_user_median_mb_per_s: median(&rates),
                per_user_max_mb_per_s: rates.last().copied().unwrap_or(0.0),
            },
            phases: self
                .phases
                .iter()
                .zip(&self.phase_hist)
                .filter(|(_, h)| !h.is_empty())
                .map(|(name, h)| phase(name, h))
                .collect(),
            response_phase: self.phases[self.response_phase].to_string(),
            schedule_true: phase("schedule_true", &self.schedule_true),
            cycle: phase("cycle", &self.cycle),
        }
    }
}

/// The median of sorted values (mean of the middle two for an even count).
pub fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::MAX_PHASES;

    const PHASES: &[&str] = &["connect", "write"];

    fn sample(user: u32, step: u64, write_ms: u64, error: Option<&'static str>) -> Event {
        let mut phases = [None; MAX_PHASES];
        phases[1] = Some(Duration::from_millis(write_ms));
        Event::Sample(Sample {
            user,
            pass: 0,
            step,
            attempt: 1,
            offset: step * 100,
            bytes: if error.is_some() { 0 } else { 100 },
            intended: Duration::from_millis(10),
            started: Duration::from_millis(30),
            elapsed: Duration::from_millis(write_ms + 1),
            phases,
            error: error.map(|k| Box::new((k, "boom".to_string()))),
        })
    }

    #[test]
    fn completed_steps_feed_histograms_and_failures_feed_error_counts() {
        let mut r = Recorder::new(PHASES, 1, 2);
        r.observe(&Event::UserStarted {
            user: 0,
            at: Duration::ZERO,
        });
        r.observe(&sample(0, 0, 5, None));
        r.observe(&sample(0, 1, 7, Some("refused")));
        r.observe(&sample(0, 1, 9, None));
        r.observe(&Event::UserFinished {
            user: 0,
            at: Duration::from_secs(1),
            gave_up: false,
        });
        let s = r.summary(Duration::from_secs(1), false);
        assert_eq!((s.steps_ok, s.failed_attempts), (2, 1));
        assert_eq!(s.errors.get("refused"), Some(&1));
        assert_eq!(s.throughput.bytes, 200);
        assert_eq!(
            s.phases.len(),
            1,
            "connect was never timed, so it is not reported"
        );
        let w = s.response().unwrap();
        assert_eq!(w.latency.count, 2);
        assert!(w.latency.max_us.abs_diff(9_000) <= 9);
        // 20 ms late start + write time
        assert!(s.schedule_true.latency.max_us.abs_diff(29_000) <= 29);
        let u = &r.users()[0];
        assert_eq!((u.uploads, u.errors, u.bytes), (2, 1, 200));
        assert_eq!(u.upload_time, Duration::from_millis(14));
        assert_eq!(s.throughput.per_user_max_mb_per_s, 200.0 / 1e6);
    }

    #[test]
    fn median_handles_odd_even_and_empty() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
    }
}
