//! The engine proper: one thread per user, samples over one channel, the
//! caller's thread as the only recorder.
//!
//! Over 500 lines only because of its tests (about 60% of the file): fake
//! workloads that drive retries, fatal errors, spawn failures and stops,
//! kept beside the loop they check.

use super::{
    EngineConfig, Event, PhaseTimer, Sample, Schedule, Severity, StepError, StopAfter, Stopper,
    Workload,
};
use crossbeam::channel::{self, Receiver, Sender, TryRecvError};
use rand::Rng;
use std::time::{Duration, Instant};

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// From the run's start to the last user's end.
    pub elapsed: Duration,
    /// The first fatal error (bad credentials, host key): the run was stopped for it.
    pub fatal: Option<StepError>,
}

/// Runs `workload` under `config`, calling `observe` on the caller's thread for
/// every event, until every user is done or `stopper` is stopped. `origin` is
/// the run's time zero: every `Duration` in events is measured from it.
pub fn run<W: Workload>(
    workload: &W,
    config: &EngineConfig,
    stopper: &Stopper,
    origin: Instant,
    mut observe: impl FnMut(Event),
) -> RunOutcome {
    run_ticking(workload, config, stopper, origin, |e| {
        if let Some(e) = e {
            observe(e)
        }
    })
}

/// [`run`], with `observe(None)` also called whenever the channel is empty
/// (at least every 10 ms): a time series closes its intervals on time even
/// when no user sends anything for a while (a 5 s `--delay`).
pub fn run_ticking<W: Workload>(
    workload: &W,
    config: &EngineConfig,
    stopper: &Stopper,
    origin: Instant,
    mut observe: impl FnMut(Option<Event>),
) -> RunOutcome {
    // Unbounded on purpose: a slow observer must never throttle the users and
    // so distort what they measure.
    let (tx, rx) = channel::unbounded();
    let fatal = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        let mut spawn_error = None;
        for user in config.shard.users(config.users) {
            // Spawning 10,000 threads takes a while: Ctrl-C must not wait for it.
            if stopper.is_stopped() {
                break;
            }
            let tx = tx.clone();
            let spawned = spawn_user(user, || {
                std::thread::Builder::new()
                    .name(format!("user-{user}"))
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, move || {
                        run_user(workload, config, stopper, origin, user, &tx)
                    })
            });
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // The users already running stop at their next step
                    // boundary; what they measured is kept.
                    stopper.stop();
                    spawn_error = Some(StepError {
                        kind: "spawn",
                        message: format!(
                            "could not start the thread of user {user} ({user} of {} users were running): {e}; \
                             lower the number of users, or raise the thread limit (ulimit -u)",
                            config.users
                        ),
                        severity: Severity::Fatal,
                        offset: 0,
                    });
                    break;
                }
            }
        }
        drop(tx);
        drain(&rx, &mut observe);
        let user_fatal = handles
            .into_iter()
            .filter_map(|h| h.join().expect("a user thread panicked"))
            .next();
        spawn_error.or(user_fatal)
    });
    RunOutcome {
        elapsed: origin.elapsed(),
        fatal,
    }
}

#[cfg(test)]
thread_local! {
    /// Test seam: the user whose thread "fails" to spawn, as it does past the
    /// machine's thread limit. Thread-local to the caller of `run`, so tests
    /// running in parallel do not see each other's.
    static FAIL_SPAWN_OF: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// Spawns user `user`'s thread with `spawn` (the seam tests use to make the
/// spawn fail the way a full thread table does: EAGAIN).
fn spawn_user<T>(user: u32, spawn: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    #[cfg(test)]
    if FAIL_SPAWN_OF.get() == Some(user) {
        return Err(std::io::Error::from_raw_os_error(libc::EAGAIN));
    }
    let _ = user;
    spawn()
}

/// Hands every event to `observe` until all users are done, polling instead
/// of blocking: a receiver blocked in `recv` makes every send a futex wake,
/// and an almost-empty channel makes it spin on `sched_yield` first; measured
/// at 64 users x 70k requests/s, that was a fifth of the load generator's CPU.
/// Timestamps are taken on the user threads, so the observer running up to a
/// few milliseconds behind changes no figure.
pub(crate) fn drain<T>(rx: &Receiver<T>, observe: &mut impl FnMut(Option<T>)) {
    const MIN_PAUSE: Duration = Duration::from_micros(500);
    const MAX_PAUSE: Duration = Duration::from_millis(10);
    let mut pause = MIN_PAUSE;
    loop {
        let mut got = false;
        loop {
            match rx.try_recv() {
                Ok(event) => {
                    observe(Some(event));
                    got = true;
                }
                Err(TryRecvError::Empty) => {
                    observe(None);
                    break;
                }
                Err(TryRecvError::Disconnected) => return,
            }
        }
        pause = if got {
            MIN_PAUSE
        } else {
            (pause * 2).min(MAX_PAUSE)
        };
        std::thread::sleep(pause);
    }
}

/// One user's loop. Returns the fatal error that ended it, if any.
fn run_user<W: Workload>(
    workload: &W,
    config: &EngineConfig,
    stopper: &Stopper,
    origin: Instant,
    user: u32,
    tx: &Sender<Event>,
) -> Option<StepError> {
    let start_offset = super::shard::ramp_offset(user, config.users, config.ramp_up);
    let deadline = match config.stop {
        StopAfter::Duration(d) => Some(origin + d),
        StopAfter::Passes(_) => None,
    };
    let past_deadline = |t: Instant| deadline.is_some_and(|d| t >= d);
    if !stopper.sleep_until(origin + start_offset) || past_deadline(origin + start_offset) {
        return None;
    }
    let send = |e: Event| {
        // The receiver lives until every user is done: a send cannot fail.
        let _ = tx.send(e);
    };
    send(Event::UserStarted {
        user,
        at: origin.elapsed(),
    });

    let mut state = workload.new_user(user);
    let mut schedule = Schedule::new(config.pacing, start_offset);
    let mut timer = PhaseTimer::default();
    let mut rng = rand::thread_rng();
    let mut gave_up = false;
    let mut fatal = None;
    let steps = workload.steps_per_pass();

    'run: for pass in 0.. {
        if let StopAfter::Passes(n) = config.stop {
            if pass >= n {
                break;
            }
        }
        for step in 0..steps {
            let intended = schedule.intended();
            if past_deadline(origin + intended) || !stopper.sleep_until(origin + intended) {
                break 'run;
            }
            let mut attempt = 1;
            // The last permanent failure of this step and how often in a row.
            let mut permanent: Option<(String, u32)> = None;
            loop {
                let started = origin.elapsed();
                let result = workload.step(&mut state, pass, step, &mut timer);
                let ended = origin.elapsed();
                let (offset, bytes, error) = match &result {
                    Ok(done) => (done.offset, done.bytes, None),
                    Err(e) => (e.offset, 0, Some(Box::new((e.kind, e.message.clone())))),
                };
                send(Event::Sample(Sample {
                    user,
                    pass,
                    step,
                    attempt,
                    offset,
                    bytes,
                    intended,
                    started,
                    elapsed: ended - started,
                    phases: timer.take(),
                    error,
                }));
                for message in workload.take_warnings(&mut state) {
                    send(Event::Warning { user, message });
                }
                permanent = match (&result, permanent) {
                    (Err(e), Some((m, n)))
                        if e.severity == Severity::Permanent && m == e.message =>
                    {
                        Some((m, n + 1))
                    }
                    (Err(e), _) if e.severity == Severity::Permanent => {
                        Some((e.message.clone(), 1))
                    }
                    _ => None,
                };
                let hopeless = permanent
                    .as_ref()
                    .is_some_and(|(_, n)| *n >= super::PERMANENT_ATTEMPTS);
                match result {
                    Ok(_) => {
                        schedule.advance(ended);
                        break;
                    }
                    Err(e) if e.severity == Severity::Fatal => {
                        fatal = Some(e);
                        stopper.stop();
                        break 'run;
                    }
                    Err(_) if attempt >= config.retry.max_attempts || hopeless => {
                        gave_up = true;
                        break 'run;
                    }
                    Err(_) => {
                        let b = config.retry.backoff;
                        let pause = rng.gen_range(b..(b * 3).max(b + Duration::from_nanos(1)));
                        let wake = Instant::now() + pause;
                        if past_deadline(wake) || !stopper.sleep_until(wake) {
                            break 'run;
                        }
                        attempt += 1;
                    }
                }
            }
        }
    }
    workload.finish(&mut state);
    for message in workload.take_warnings(&mut state) {
        send(Event::Warning { user, message });
    }
    send(Event::UserFinished {
        user,
        at: origin.elapsed(),
        gave_up,
    });
    fatal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Pacing, RetryPolicy, StepDone, WorkloadShape};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A workload that fails every step's first `fail_first` attempts; user
    /// `fatal_at.0` fails fatally at step `fatal_at.1`. With `hold` set, the
    /// other users' steps wait (up to 10 s) for that stopper: a run that is
    /// stopped releases them at once, one that is not leaves `not_stopped` set.
    struct Flaky {
        fail_first: u32,
        calls: AtomicU32,
        fatal_at: Option<(u32, u64)>,
        hold: Option<Stopper>,
        not_stopped: AtomicU32,
    }

    impl Flaky {
        fn new(fail_first: u32) -> Self {
            Flaky {
                fail_first,
                calls: AtomicU32::new(0),
                fatal_at: None,
                hold: None,
                not_stopped: AtomicU32::new(0),
            }
        }
    }

    impl WorkloadShape for Flaky {
        fn phases(&self) -> &'static [&'static str] {
            &["write"]
        }
        fn response_phase(&self) -> usize {
            0
        }
        fn steps_per_pass(&self) -> u64 {
            3
        }
    }

    impl Workload for Flaky {
        type User = (u32, u32);
        fn new_user(&self, user: u32) -> (u32, u32) {
            (user, 0)
        }
        fn step(
            &self,
            (user, tries): &mut (u32, u32),
            _pass: u64,
            step: u64,
            timer: &mut PhaseTimer,
        ) -> Result<StepDone, StepError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            timer.record(0, Duration::from_micros(5));
            if self.fatal_at == Some((*user, step)) {
                return Err(StepError {
                    kind: "auth",
                    message: "denied".into(),
                    severity: Severity::Fatal,
                    offset: 0,
                });
            }
            if let Some(hold) = &self.hold {
                if hold.sleep(Duration::from_secs(10)) {
                    self.not_stopped.fetch_add(1, Ordering::SeqCst);
                }
            }
            if *tries < self.fail_first {
                *tries += 1;
                return Err(StepError {
                    kind: "refused",
                    message: "no".into(),
                    severity: Severity::Retry,
                    offset: step * 10,
                });
            }
            *tries = 0;
            Ok(StepDone {
                offset: step * 10,
                bytes: 10,
            })
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
                backoff: Duration::from_micros(10),
            },
            shard: super::super::Shard::WHOLE,
        }
    }

    fn collect(w: &Flaky, c: &EngineConfig) -> (Vec<Event>, RunOutcome) {
        let mut events = Vec::new();
        let out = run(w, c, &Stopper::new(), Instant::now(), |e| events.push(e));
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
    fn every_step_of_every_pass_of_every_user_is_sampled_once() {
        let w = Flaky::new(0);
        let (events, out) = collect(&w, &config(4, 2));
        assert!(out.fatal.is_none());
        let s = samples(&events);
        assert_eq!(s.len(), 4 * 2 * 3);
        assert!(s
            .iter()
            .all(|s| s.error.is_none() && s.bytes == 10 && s.attempt == 1));
        let finished = events
            .iter()
            .filter(|e| matches!(e, Event::UserFinished { gave_up: false, .. }))
            .count();
        assert_eq!(finished, 4);
    }

    #[test]
    fn a_shard_runs_its_global_users_on_the_whole_runs_ramp() {
        let w = Flaky::new(0);
        let mut c = config(5, 1);
        c.shard = "1/2".parse().unwrap();
        c.ramp_up = Duration::from_millis(50);
        let (events, _) = collect(&w, &c);
        let mut users: Vec<u32> = samples(&events).iter().map(|s| s.user).collect();
        users.dedup();
        assert_eq!(users.iter().min(), Some(&2));
        users.sort_unstable();
        users.dedup();
        assert_eq!(users, vec![2, 3, 4]);
        for e in &events {
            if let Event::UserStarted { user, at } = e {
                // Global user g starts at g * ramp / 5 users, in any shard.
                assert!(*at >= Duration::from_millis(10) * *user, "{user} at {at:?}");
            }
        }
    }

    #[test]
    fn failed_attempts_are_retried_and_each_attempt_is_a_sample() {
        let w = Flaky::new(2);
        let (events, _) = collect(&w, &config(1, 1));
        let s = samples(&events);
        assert_eq!(s.len(), 3 * 3, "two failures then a success, for 3 steps");
        assert_eq!(s.iter().filter(|s| s.error.is_some()).count(), 6);
        assert_eq!(s.iter().map(|s| s.attempt).max(), Some(3));
    }

    #[test]
    fn a_user_gives_up_after_the_retry_limit_without_stopping_the_others() {
        let w = Flaky::new(5);
        let (events, out) = collect(&w, &config(2, 1));
        assert!(out.fatal.is_none());
        let gave_up = events
            .iter()
            .filter(|e| matches!(e, Event::UserFinished { gave_up: true, .. }))
            .count();
        assert_eq!(gave_up, 2);
        assert_eq!(samples(&events).len(), 2 * 3);
    }

    #[test]
    fn a_fatal_error_stops_the_run_and_is_returned() {
        // Only user 0 fails; users 1 and 2 wait up to 10 s in their first
        // step unless the fatal error stops the run.
        let stopper = Stopper::new();
        let w = Flaky {
            fatal_at: Some((0, 0)),
            hold: Some(stopper.clone()),
            ..Flaky::new(0)
        };
        let out = run(&w, &config(3, 5), &stopper, Instant::now(), |_| {});
        assert_eq!(out.fatal.map(|e| e.kind), Some("auth"));
        assert_eq!(
            w.not_stopped.load(Ordering::SeqCst),
            0,
            "the other users were not stopped"
        );
        assert!(w.calls.load(Ordering::SeqCst) < 3 * 5 * 3);
    }

    #[test]
    fn a_thread_that_cannot_spawn_stops_the_run_with_a_clear_error() {
        let stopper = Stopper::new();
        let w = Flaky {
            hold: Some(stopper.clone()),
            ..Flaky::new(0)
        };
        FAIL_SPAWN_OF.set(Some(3));
        let mut events = Vec::new();
        let out = run(&w, &config(6, 1), &stopper, Instant::now(), |e| {
            events.push(e)
        });
        FAIL_SPAWN_OF.set(None);
        let fatal = out.fatal.expect("the spawn failure is reported");
        assert_eq!(fatal.kind, "spawn");
        assert!(
            fatal.message.contains("user 3") && fatal.message.contains("ulimit -u"),
            "{}",
            fatal.message
        );
        assert_eq!(w.not_stopped.load(Ordering::SeqCst), 0);
        let started = events
            .iter()
            .filter(|e| matches!(e, Event::UserStarted { .. }))
            .count();
        assert!(started <= 3, "users past the failed one never start");
    }

    #[test]
    fn a_run_stopped_before_it_starts_spawns_no_user() {
        let w = Flaky::new(0);
        let stopper = Stopper::new();
        stopper.stop();
        let mut events = Vec::new();
        // A million users would take minutes to spawn: the stop must come first.
        let out = run(&w, &config(1_000_000, 1), &stopper, Instant::now(), |e| {
            events.push(e)
        });
        assert!(out.fatal.is_none());
        assert!(events.is_empty(), "{events:?}");
    }

    /// Fails every attempt with the same permanent refusal, and warns once
    /// per user at the end.
    struct FullDisk;

    impl WorkloadShape for FullDisk {
        fn phases(&self) -> &'static [&'static str] {
            &["write"]
        }
        fn response_phase(&self) -> usize {
            0
        }
        fn steps_per_pass(&self) -> u64 {
            1
        }
    }

    impl Workload for FullDisk {
        type User = Vec<String>;
        fn new_user(&self, _user: u32) -> Vec<String> {
            Vec::new()
        }
        fn step(
            &self,
            _u: &mut Vec<String>,
            _pass: u64,
            _step: u64,
            _timer: &mut PhaseTimer,
        ) -> Result<StepDone, StepError> {
            Err(StepError {
                kind: "write",
                message: "the server reported a failure".into(),
                severity: Severity::Permanent,
                offset: 0,
            })
        }
        fn finish(&self, u: &mut Vec<String>) {
            u.push("closing failed".into());
        }
        fn take_warnings(&self, u: &mut Vec<String>) -> Vec<String> {
            std::mem::take(u)
        }
    }

    #[test]
    fn identical_permanent_failures_give_up_early_and_warnings_reach_the_observer() {
        let observer = std::thread::current().id();
        let mut events = Vec::new();
        let mut c = config(2, 1);
        c.retry.max_attempts = 10;
        run(&FullDisk, &c, &Stopper::new(), Instant::now(), |e| {
            assert_eq!(std::thread::current().id(), observer);
            events.push(e)
        });
        let s = samples(&events);
        assert_eq!(s.len(), 2 * super::super::PERMANENT_ATTEMPTS as usize);
        let warnings: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Warning { user, message } => Some((*user, message.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().all(|(_, m)| *m == "closing failed"));
        let gave_up = events
            .iter()
            .filter(|e| matches!(e, Event::UserFinished { gave_up: true, .. }))
            .count();
        assert_eq!(gave_up, 2);
    }

    #[test]
    fn a_duration_stop_ends_an_endless_run() {
        let w = Flaky::new(0);
        let mut c = config(2, 1);
        c.stop = StopAfter::Duration(Duration::from_millis(50));
        c.pacing = Pacing::Interval(Duration::from_millis(5));
        let (events, out) = collect(&w, &c);
        let n = samples(&events).len();
        assert!((2..=2 * 11).contains(&n), "got {n} samples");
        assert!(out.elapsed >= Duration::from_millis(45));
    }
}
