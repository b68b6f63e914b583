//! The driver's bookkeeping with a workload that needs no socket (every
//! attempt ends in `start`): samples, retries, schedules, stops. Sockets,
//! readiness and timeouts are exercised against real servers in
//! `tests/event_loop.rs`.

use super::*;
use crate::load::{Pacing, RetryPolicy, Sample, Severity, Shard, StopAfter};
use std::sync::atomic::{AtomicU32, Ordering};

/// Fails each step's first `fail_first` attempts; `fatal_at` fails fatally.
struct Immediate {
    fail_first: u32,
    fatal_at: Option<u64>,
    calls: AtomicU32,
}

impl WorkloadShape for Immediate {
    fn phases(&self) -> &'static [&'static str] {
        &["write"]
    }
    fn response_phase(&self) -> usize {
        0
    }
    fn steps_per_pass(&self) -> u64 {
        2
    }
}

impl EventWorkload for Immediate {
    type User = u32;
    fn step_timeout(&self) -> Duration {
        Duration::from_secs(5)
    }
    fn new_user(&self, _user: u32) -> u32 {
        0
    }
    fn start(&self, tries: &mut u32, _pass: u64, step: u64, io: &mut Io<'_>) -> Progress {
        self.calls.fetch_add(1, Ordering::SeqCst);
        io.timer.record(0, Duration::from_micros(3));
        let err = |kind, severity| {
            Progress::Done(Err(StepError {
                kind,
                message: kind.into(),
                severity,
                offset: 0,
            }))
        };
        if self.fatal_at == Some(step) {
            return err("auth", Severity::Fatal);
        }
        if *tries < self.fail_first {
            *tries += 1;
            return err("refused", Severity::Retry);
        }
        *tries = 0;
        Progress::Done(Ok(StepDone {
            offset: step,
            bytes: 10,
        }))
    }
    fn ready(&self, _: &mut u32, _: &mut Io<'_>) -> Progress {
        Progress::Pending
    }
    fn abort(&self, _: &mut u32, _: &mut Io<'_>) {}
}

fn workload(fail_first: u32, fatal_at: Option<u64>) -> Immediate {
    Immediate {
        fail_first,
        fatal_at,
        calls: AtomicU32::new(0),
    }
}

fn config(users: u32, passes: u64) -> EngineConfig {
    EngineConfig {
        users,
        ramp_up: Duration::ZERO,
        pacing: Pacing::Delay(Duration::ZERO),
        stop: StopAfter::Passes(passes),
        retry: RetryPolicy {
            max_attempts: 3,
            backoff: Duration::from_micros(50),
        },
        shard: Shard::WHOLE,
    }
}

fn collect(w: &Immediate, c: &EngineConfig, threads: usize) -> (Vec<Event>, EventLoopOutcome) {
    let mut events = Vec::new();
    let out = run(w, c, threads, &Stopper::new(), Instant::now(), |e| {
        events.push(e)
    });
    (events, out)
}

fn samples(events: &[Event]) -> Vec<&Sample> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Sample(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn every_step_of_every_pass_of_every_user_is_sampled_once_across_loops() {
    let w = workload(0, None);
    let (events, out) = collect(&w, &config(7, 3), 3);
    assert!(out.run.fatal.is_none());
    assert_eq!(out.loops.len(), 3);
    let s = samples(&events);
    assert_eq!(s.len(), 7 * 3 * 2);
    for u in 0..7 {
        let mut steps: Vec<(u64, u64)> = s
            .iter()
            .filter(|s| s.user == u)
            .map(|s| (s.pass, s.step))
            .collect();
        steps.sort_unstable();
        let want: Vec<_> = (0..3).flat_map(|p| [(p, 0), (p, 1)]).collect();
        assert_eq!(steps, want, "user {u}");
    }
    assert!(s.iter().all(|s| s.error.is_none() && s.attempt == 1));
    assert!(s
        .iter()
        .all(|s| s.phases[0] == Some(Duration::from_micros(3))));
    let finished = events
        .iter()
        .filter(|e| matches!(e, Event::UserFinished { gave_up: false, .. }))
        .count();
    assert_eq!(finished, 7);
}

#[test]
fn a_shard_runs_its_global_users_on_the_whole_runs_ramp() {
    let w = workload(0, None);
    let mut c = config(5, 1);
    c.shard = "1/2".parse().unwrap();
    c.ramp_up = Duration::from_millis(50);
    let (events, _) = collect(&w, &c, 2);
    let mut users: Vec<u32> = samples(&events).iter().map(|s| s.user).collect();
    users.sort_unstable();
    users.dedup();
    assert_eq!(users, vec![2, 3, 4], "shard 1/2 of 5 users");
    for e in &events {
        if let Event::UserStarted { user, at } = e {
            // Global user g starts at g * ramp / 5 users, in any shard.
            assert!(*at >= Duration::from_millis(10) * *user, "{user} at {at:?}");
        }
    }
}

#[test]
fn failed_attempts_are_retried_then_the_user_gives_up() {
    let w = workload(2, None);
    let (events, _) = collect(&w, &config(1, 1), 1);
    let s = samples(&events);
    assert_eq!(s.len(), 2 * 3, "two failures then a success, for 2 steps");
    assert_eq!(s.iter().map(|s| s.attempt).max(), Some(3));
    let w = workload(5, None);
    let (events, _) = collect(&w, &config(2, 1), 1);
    assert_eq!(samples(&events).len(), 2 * 3);
    let gave_up = events
        .iter()
        .filter(|e| matches!(e, Event::UserFinished { gave_up: true, .. }))
        .count();
    assert_eq!(gave_up, 2);
}

#[test]
fn a_fatal_error_stops_the_run_and_is_returned() {
    let w = workload(0, Some(1));
    let (_, out) = collect(&w, &config(3, 50), 1);
    assert_eq!(out.run.fatal.map(|e| e.kind), Some("auth"));
    assert!(w.calls.load(Ordering::SeqCst) < 3 * 50 * 2);
}

#[test]
fn a_rate_keeps_steps_on_the_grid_until_the_deadline() {
    let w = workload(0, None);
    let mut c = config(2, 1);
    c.stop = StopAfter::Duration(Duration::from_millis(60));
    c.pacing = Pacing::Interval(Duration::from_millis(5));
    c.ramp_up = Duration::from_millis(10);
    let (events, out) = collect(&w, &c, 2);
    let s = samples(&events);
    for u in 0..2u32 {
        let mine: Vec<_> = s.iter().filter(|s| s.user == u).collect();
        // User 1 starts 5 ms in (ramp-up 10 ms over 2 users); 60 ms at one
        // step every 5 ms.
        let first = Duration::from_millis(5 * u64::from(u));
        assert!((9..=13).contains(&mine.len()), "user {u}: {}", mine.len());
        for (k, s) in mine.iter().enumerate() {
            assert_eq!(s.intended, first + Duration::from_millis(5) * k as u32);
            assert!(s.started >= s.intended);
        }
    }
    assert!(out.run.elapsed >= Duration::from_millis(55));
}
