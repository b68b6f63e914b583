//! A run over time: one row per wall-clock-aligned interval (`timeseries.csv`).
//!
//! Every other report is for the whole run; this one shows *when* things went
//! wrong: where latency bent during a ramp to 10,000 users, when the errors
//! began. Intervals sit on wall-clock boundaries (with a 1 s interval, rows
//! start at whole UTC seconds), so the rows of shards on different machines
//! line up by their start time and `xfer merge` adds them.
//!
//! [`TimeSeries`] is the pure aggregation: it folds engine [`Event`]s into
//! per-interval accumulators and hands back finished [`IntervalRow`]s.
//! [`TimeSeriesCsv`] writes them, one row and one flush per interval, so a
//! run killed with -9 keeps every interval up to the last one closed. The
//! same rows carry the interval's response-time histogram for
//! [`super::hlog::HlogWriter`] (`latency.hlog`).
//!
//! Wiring: next to the [`super::Recorder`], on the engine's caller thread,
//! create `TimeSeries::new(IntervalClock::new(wall_start, interval), kinds,
//! response_phase)` with the wall-clock time taken together with the run's
//! origin `Instant`. In the observer call `observe(&event)`, then
//! `take_closed(origin.elapsed())` (one comparison when nothing closes) and
//! write what it returns to both writers. The engine only calls the observer
//! when events arrive, so a run that is idle for a long time (a 5 s delay)
//! writes its rows when the next event comes: give the drain loop a tick
//! that calls `take_closed` too if that matters. At the end call
//! `finish(elapsed)` and write the rest.
//!
//! Attribution: a step counts in the interval in which it *completed*
//! (`started + elapsed`), as k6 and Gatling count requests. An interval is
//! closed [`DEFAULT_GRACE`] after its end, because samples reach the observer
//! a few milliseconds after they complete; one that arrives later still is
//! counted in the oldest open interval (see [`TimeSeries::late_events`]), so
//! the rows always add up to the run's totals. `active_users` is the number
//! of users active at some point of the interval (running at its start, or
//! started in it), as Gatling counts them: a user that uploads and then
//! finishes in an interval was part of its load, so an interval with
//! completed steps never reads 0 (a gauge taken at the interval's end did, in
//! every run's last interval and all through a ramp-down). Users are
//! disjoint across shards, so the count sums exactly there. MB/s is the
//! interval's bytes over its full length.
//!
//! [`read_csv`] reads a `timeseries.csv` (and its `latency.hlog`) back into
//! rows, for `xfer merge`.

mod csv_io;

pub use csv_io::{header, read_csv, record, TimeSeriesCsv, TimeSeriesReadError};

use super::histogram::LatencyHistogram;
use crate::load::{Event, Sample};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::time::Duration;

/// How long after its end an interval is closed.
pub const DEFAULT_GRACE: Duration = Duration::from_millis(250);

/// Failure kinds of the SFTP chunk workload (`ConnectError::kind` and the
/// chunk steps in `sftp::workload`). Kinds not listed land in `failed_other`,
/// so a kind added later is never lost, only less specific.
pub const SFTP_ERROR_KINDS: &[&str] = &[
    "resolve",
    "refused",
    "timeout",
    "connect",
    "handshake",
    "host_key",
    "auth",
    "dropped",
    "sftp_init",
    "open",
    "write",
    "short_write",
    "missing_bytes",
    "verify",
    "close",
    "checksum",
    "read",
];

/// Failure kinds of perf's HTTP workload (`tcp::workload`).
pub const HTTP_ERROR_KINDS: &[&str] = &[
    "refused",
    "timeout",
    "reset",
    "closed",
    "io",
    "protocol",
    "http_404",
    "http_408",
    "http_413",
    "http_429",
    "http_503",
    "http_4xx",
    "http_5xx",
    "http_other",
];

/// Maps times since the run's origin to wall-clock-aligned intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalClock {
    /// The run's origin, in microseconds since the Unix epoch.
    origin_us: i64,
    interval_us: i64,
}

impl IntervalClock {
    /// `interval` must be at least 1 ms (validated where `--interval` is parsed).
    pub fn new(wall_origin: DateTime<Utc>, interval: Duration) -> Self {
        let interval_us = i64::try_from(interval.as_micros())
            .unwrap_or(i64::MAX)
            .max(1_000);
        IntervalClock {
            origin_us: wall_origin.timestamp_micros(),
            interval_us,
        }
    }

    /// The index of the interval holding `since_origin` (intervals are
    /// numbered from the Unix epoch, so every machine agrees on them).
    pub fn index(&self, since_origin: Duration) -> i64 {
        let us = i64::try_from(since_origin.as_micros()).unwrap_or(i64::MAX / 2);
        (self.origin_us + us).div_euclid(self.interval_us)
    }

    /// Wall-clock start of interval `index`.
    pub fn start(&self, index: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(index * self.interval_us).unwrap_or_default()
    }

    /// Time since the origin at which interval `index` ends (zero if before it).
    fn end_since_origin(&self, index: i64) -> Duration {
        let us = (index + 1) * self.interval_us - self.origin_us;
        Duration::from_micros(u64::try_from(us).unwrap_or(0))
    }

    pub fn interval(&self) -> Duration {
        Duration::from_micros(self.interval_us as u64)
    }
}

/// One interval of the run.
#[derive(Debug, Clone)]
pub struct IntervalRow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Users active at some point of the interval: running at its start,
    /// or started in it.
    pub active_users: u32,
    pub steps_ok: u64,
    /// Failed attempts per kind, in the order of the kinds the series was
    /// created with, then one for every other kind.
    pub failed: Vec<u64>,
    /// Bytes acknowledged by steps completed in the interval.
    pub bytes: u64,
    /// Response phase of the steps completed in the interval.
    pub response: LatencyHistogram,
}

impl IntervalRow {
    pub fn failed_total(&self) -> u64 {
        self.failed.iter().sum()
    }

    /// Decimal MB/s over the interval's full length.
    pub fn mb_per_s(&self) -> f64 {
        let len = (self.end - self.start).to_std().unwrap_or_default();
        crate::units::mb_per_sec(self.bytes, len)
    }
}

#[derive(Debug, Clone)]
struct Acc {
    started: u32,
    finished: u32,
    steps_ok: u64,
    failed: Vec<u64>,
    bytes: u64,
    response: LatencyHistogram,
}

impl Acc {
    fn new(kinds: usize) -> Self {
        Acc {
            started: 0,
            finished: 0,
            steps_ok: 0,
            failed: vec![0; kinds + 1],
            bytes: 0,
            response: LatencyHistogram::new(),
        }
    }
}

/// Folds events into intervals; see the module doc for how to drive it.
#[derive(Debug, Clone)]
pub struct TimeSeries {
    clock: IntervalClock,
    kinds: Vec<String>,
    response_phase: usize,
    grace: Duration,
    /// Open intervals, from `next` on.
    open: VecDeque<Acc>,
    /// Index of the first interval not yet handed out.
    next: i64,
    /// Users running at the end of the last interval handed out.
    active: i64,
    late: u64,
}

impl TimeSeries {
    /// A series starting with the interval that holds the run's origin.
    /// `kinds` become one `failed_<kind>` column each.
    pub fn new(clock: IntervalClock, kinds: &[&str], response_phase: usize) -> Self {
        TimeSeries {
            clock,
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            response_phase,
            grace: DEFAULT_GRACE,
            open: VecDeque::new(),
            next: clock.index(Duration::ZERO),
            active: 0,
            late: 0,
        }
    }

    /// Closes intervals this long after their end instead of [`DEFAULT_GRACE`].
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    pub fn kinds(&self) -> &[String] {
        &self.kinds
    }

    /// Events that arrived after their interval was closed and were counted
    /// in a later one.
    pub fn late_events(&self) -> u64 {
        self.late
    }

    fn acc(&mut self, at: Duration) -> &mut Acc {
        let mut idx = self.clock.index(at);
        if idx < self.next {
            self.late += 1;
            idx = self.next;
        }
        let pos = (idx - self.next) as usize;
        while self.open.len() <= pos {
            self.open.push_back(Acc::new(self.kinds.len()));
        }
        &mut self.open[pos]
    }

    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::UserStarted { at, .. } => self.acc(*at).started += 1,
            Event::UserFinished { at, .. } => self.acc(*at).finished += 1,
            Event::Sample(s) => self.sample(s),
            Event::Warning { .. } => {}
        }
    }

    fn sample(&mut self, s: &Sample) {
        let kind = s.error.as_ref().map(|e| {
            self.kinds
                .iter()
                .position(|k| k == e.0)
                .unwrap_or(self.kinds.len())
        });
        let response = s.response(self.response_phase);
        let acc = self.acc(s.started + s.elapsed);
        match kind {
            Some(k) => acc.failed[k] += 1,
            None => {
                acc.steps_ok += 1;
                acc.bytes += s.bytes;
                if let Some(d) = response {
                    acc.response.record(d);
                }
            }
        }
    }

    /// When (since the origin) the next interval is due to close.
    pub fn next_close_at(&self) -> Duration {
        self.clock.end_since_origin(self.next) + self.grace
    }

    /// Hands out every interval that ended at least the grace period before
    /// `now` (time since the origin), in order, empty ones included.
    pub fn take_closed(&mut self, now: Duration) -> Vec<IntervalRow> {
        let mut rows = Vec::new();
        while now >= self.next_close_at() {
            rows.push(self.close_next());
        }
        rows
    }

    /// Hands out every remaining interval up to the one holding `end` (the
    /// run's elapsed time), and any later one that holds events.
    pub fn finish(&mut self, end: Duration) -> Vec<IntervalRow> {
        let last = self
            .clock
            .index(end)
            .max(self.next + self.open.len() as i64 - 1);
        let mut rows = Vec::new();
        while self.next <= last {
            rows.push(self.close_next());
        }
        rows
    }

    fn close_next(&mut self) -> IntervalRow {
        let acc = self
            .open
            .pop_front()
            .unwrap_or_else(|| Acc::new(self.kinds.len()));
        let during = self.active + i64::from(acc.started);
        self.active = during - i64::from(acc.finished);
        let idx = self.next;
        self.next += 1;
        IntervalRow {
            start: self.clock.start(idx),
            end: self.clock.start(idx + 1),
            active_users: u32::try_from(during.max(0)).unwrap_or(u32::MAX),
            steps_ok: acc.steps_ok,
            failed: acc.failed,
            bytes: acc.bytes,
            response: acc.response,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::MAX_PHASES;
    use crate::report::Recorder;

    const PHASES: &[&str] = &["connect", "write"];

    pub(super) fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    pub(super) fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    pub(super) fn sample(
        user: u32,
        started: u64,
        write_ms: u64,
        error: Option<&'static str>,
    ) -> Event {
        let mut phases = [None; MAX_PHASES];
        phases[1] = Some(ms(write_ms));
        Event::Sample(Sample {
            user,
            pass: 0,
            step: 0,
            attempt: 1,
            offset: 0,
            bytes: if error.is_some() { 0 } else { 1_000 },
            intended: ms(started),
            started: ms(started),
            elapsed: ms(write_ms),
            phases,
            error: error.map(|k| Box::new((k, "boom".to_string()))),
        })
    }

    #[test]
    fn intervals_sit_on_wall_clock_boundaries() {
        let c = IntervalClock::new(t("2026-12-05T10:00:00.300Z"), Duration::from_secs(1));
        let i = c.index(Duration::ZERO);
        assert_eq!(c.start(i), t("2026-12-05T10:00:00Z"));
        assert_eq!(c.index(ms(699)), i);
        assert_eq!(c.index(ms(700)), i + 1);
        assert_eq!(c.end_since_origin(i), ms(700));
        let c5 = IntervalClock::new(t("2026-12-05T10:00:07Z"), Duration::from_secs(5));
        assert_eq!(
            c5.start(c5.index(Duration::ZERO)),
            t("2026-12-05T10:00:05Z")
        );
    }

    #[test]
    fn intervals_close_after_the_grace_period_empty_ones_included() {
        let c = IntervalClock::new(t("2026-12-05T10:00:00.500Z"), Duration::from_secs(1));
        let mut ts = TimeSeries::new(c, SFTP_ERROR_KINDS, 1).with_grace(ms(100));
        ts.observe(&Event::UserStarted {
            user: 0,
            at: Duration::ZERO,
        });
        ts.observe(&sample(0, 100, 50, None));
        assert!(ts.take_closed(ms(599)).is_empty());
        let rows = ts.take_closed(ms(600));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].start, t("2026-12-05T10:00:00Z"));
        assert_eq!((rows[0].steps_ok, rows[0].active_users), (1, 1));
        // Nothing happened for 2 s: still one row per interval.
        let rows = ts.take_closed(ms(2_600));
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.steps_ok == 0 && r.active_users == 1));
        assert_eq!(rows[1].end, t("2026-12-05T10:00:03Z"));
        assert_eq!(ts.next_close_at(), ms(3_600));
    }

    /// An interval in which a user uploaded and then finished had that user
    /// active: it must not read 0 active users beside its completed steps
    /// (the last interval of every run is one).
    #[test]
    fn users_that_finish_in_an_interval_count_as_active_in_it() {
        let c = IntervalClock::new(t("2026-12-05T10:00:00Z"), Duration::from_secs(1));
        let mut ts = TimeSeries::new(c, &[], 1);
        for user in 0..3 {
            ts.observe(&Event::UserStarted {
                user,
                at: ms(100 * u64::from(user)),
            });
        }
        // Users 0 and 1 upload once more in the second interval and finish
        // in it; user 2 finishes in the first.
        ts.observe(&Event::UserFinished {
            user: 2,
            at: ms(900),
            gave_up: false,
        });
        for user in 0..2 {
            ts.observe(&sample(user, 1_200, 100, None));
            ts.observe(&Event::UserFinished {
                user,
                at: ms(1_400),
                gave_up: false,
            });
        }
        let rows = ts.finish(ms(2_500));
        let active: Vec<u32> = rows.iter().map(|r| r.active_users).collect();
        assert_eq!(active, [3, 2, 0], "users active at some point of each");
        assert_eq!(rows[1].steps_ok, 2);
    }

    #[test]
    fn a_late_sample_counts_in_the_oldest_open_interval() {
        let c = IntervalClock::new(t("2026-12-05T10:00:00Z"), Duration::from_secs(1));
        let mut ts = TimeSeries::new(c, &[], 1).with_grace(Duration::ZERO);
        assert_eq!(ts.take_closed(ms(1_000)).len(), 1);
        ts.observe(&sample(0, 900, 50, None));
        assert_eq!(ts.late_events(), 1);
        let rows = ts.finish(ms(1_500));
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].start, rows[0].steps_ok),
            (t("2026-12-05T10:00:01Z"), 1)
        );
    }

    #[test]
    fn unknown_failure_kinds_count_as_other() {
        let c = IntervalClock::new(t("2026-12-05T10:00:00Z"), Duration::from_secs(1));
        let mut ts = TimeSeries::new(c, &["refused", "auth"], 1);
        ts.observe(&sample(0, 10, 1, Some("auth")));
        ts.observe(&sample(0, 20, 1, Some("brand_new")));
        let rows = ts.finish(ms(30));
        assert_eq!(rows[0].failed, vec![0, 1, 1]);
        assert_eq!(rows[0].failed_total(), 2);
    }

    #[test]
    fn rows_add_up_to_the_run_totals() {
        let c = IntervalClock::new(t("2026-12-05T10:00:00.250Z"), ms(500));
        let mut ts = TimeSeries::new(c, &["refused", "write"], 1);
        let mut rec = Recorder::new(PHASES, 1, 5);
        let mut rows = Vec::new();
        let mut events = Vec::new();
        for user in 0..5u32 {
            events.push(Event::UserStarted {
                user,
                at: ms(u64::from(user) * 300),
            });
        }
        // A deterministic mix of fast, slow and failed steps over ~4 s.
        for i in 0..400u64 {
            let user = (i % 5) as u32;
            let error = match i % 17 {
                0 => Some("refused"),
                5 => Some("write"),
                9 => Some("dropped"),
                _ => None,
            };
            events.push(sample(user, 1_500 + i * 7, 1 + (i * 37) % 250, error));
        }
        for user in 0..5u32 {
            events.push(Event::UserFinished {
                user,
                at: ms(4_400 + u64::from(user)),
                gave_up: false,
            });
        }
        for (n, e) in events.iter().enumerate() {
            ts.observe(e);
            rec.observe(e);
            // Close as a live run would: `now` just past the latest event.
            if n >= 5 && n % 50 == 0 {
                rows.extend(ts.take_closed(ms(1_500 + n as u64 * 7)));
            }
        }
        rows.extend(ts.finish(ms(4_405)));

        let total = rec.summary(ms(4_405), false);
        let sum = |f: fn(&IntervalRow) -> u64| rows.iter().map(f).sum::<u64>();
        assert_eq!(sum(|r| r.steps_ok), total.steps_ok);
        assert_eq!(sum(|r| r.bytes), total.throughput.bytes);
        assert_eq!(sum(IntervalRow::failed_total), total.failed_attempts);
        assert_eq!(sum(|r| r.failed[0]), total.errors["refused"]);
        assert_eq!(sum(|r| r.failed[1]), total.errors["write"]);
        assert_eq!(sum(|r| r.failed[2]), total.errors["dropped"]);
        let mut all = LatencyHistogram::new();
        rows.iter().for_each(|r| all.add(&r.response));
        assert_eq!(all.summary(), total.response().unwrap().latency);
        // Continuous, aligned rows; everyone uploaded into the last one and
        // finished in it, so all five were active there.
        assert!(rows.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(rows[0].start, t("2026-12-05T10:00:00Z"));
        assert_eq!(rows.last().unwrap().active_users, 5);
        assert_eq!(rows.iter().map(|r| r.active_users).max(), Some(5));
        assert_eq!(ts.late_events(), 0);
    }

    #[test]
    #[ignore]
    fn measure_cost_per_event() {
        let events: Vec<Event> = (0..1_000_000u64)
            .map(|i| {
                sample(
                    (i % 64) as u32,
                    i / 64,
                    1 + i % 50,
                    (i % 101 == 0).then_some("refused"),
                )
            })
            .collect();
        let c = IntervalClock::new(t("2026-12-05T10:00:00Z"), Duration::from_secs(1));
        let mut ts = TimeSeries::new(c, SFTP_ERROR_KINDS, 1);
        let mut rec = Recorder::new(PHASES, 1, 64);
        let t0 = std::time::Instant::now();
        for (n, e) in events.iter().enumerate() {
            ts.observe(e);
            if n % 64 == 0 {
                std::hint::black_box(ts.take_closed(ms(n as u64 / 64)));
            }
        }
        let ts_ns = t0.elapsed().as_nanos() as f64 / events.len() as f64;
        let t0 = std::time::Instant::now();
        events.iter().for_each(|e| rec.observe(e));
        let rec_ns = t0.elapsed().as_nanos() as f64 / events.len() as f64;
        println!("time series: {ts_ns:.1} ns/event; recorder: {rec_ns:.1} ns/event");
    }
}
