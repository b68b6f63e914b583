//! The event-loop driver: a few loop threads, each driving its share of the
//! users over non-blocking sockets, for protocols that can be non-blocking
//! (TCP GET/POST in `perf`). The blocking driver ([`super::run`]) costs a
//! thread wake-up per request, and on a 2-core machine that wake-up queueing
//! shows up in the latency it reports; here one `epoll_wait` hands a loop
//! every ready connection at once.
//!
//! It emits the same [`Event`]s as the blocking driver (phases, intended and
//! actual starts, attempts, errors by kind), so the recorder, CSV/JSON and
//! charts do not know which driver ran. A protocol plugs in by implementing
//! [`EventWorkload`]; nothing here knows about HTTP. Its phases, response
//! phase, steps per pass and error kinds are not part of that trait but of
//! its supertrait [`WorkloadShape`], which the blocking driver's
//! [`Workload`](super::Workload) requires too: a protocol that both drivers
//! can run (perf's TCP requests) declares them once, and the two drivers
//! cannot disagree on its columns.
//!
//! Why mio and not tokio's current-thread runtime per core: measured side by
//! side (`scripts/bench-peers P4TOKIO`: `benches/event_loop.rs` with each
//! driver, 2 loop threads, GET 4 KiB from nginx with 1 worker, 5 alternated
//! runs of 5 s, medians, on a busy shared 2-core machine), this mio loop did
//! 61,185 requests/s against 50,486 (1.21x) at 64 connections, mean response
//! 1,046 against 1,266 us, and 50,282 against 37,259 (1.35x) at 4
//! connections, 80 against 107 us, although the tokio client does less (no
//! phases, no samples). mio also lets the driver read the clock exactly when
//! each readiness event is handled and measure its own lag (time from
//! `epoll_wait` returning to the event being handled), which tokio's
//! scheduler hides, and keeps a user a plain struct in a `Vec` rather than a
//! task: 10,000 keep-alive connections took 17 MiB of RSS in the test.
//!
//! Timing: the clock is read once per handled event, so a response's end is
//! when the loop handled the last byte's readiness, and lag between
//! `epoll_wait` returning and that handling is recorded per loop
//! ([`LoopLag`]); [`load_generator_bound`] turns it into a verdict. With a
//! rate ([`Pacing::Interval`](super::Pacing::Interval)) each user's steps are meant to start on a fixed
//! grid, as in wrk2, and timers are armed on a `timerfd` (nanosecond
//! resolution; `epoll_wait` alone rounds to whole milliseconds), so a stalled
//! server shows up from the intended start, not from when the loop got to it.

mod driver;
mod timerfd;

use super::{
    EngineConfig, Event, PhaseTimer, RunOutcome, StepDone, StepError, Stopper, WorkloadShape,
};
use crossbeam::channel;
use driver::Loop;
use mio::{Registry, Token};
use std::time::{Duration, Instant};

/// The token of each loop's timer; users' tokens are their index in the loop.
const TIMER: Token = Token(usize::MAX);
/// The longest a loop sleeps without looking at the stopper.
const STOP_CHECK: Duration = Duration::from_millis(20);
/// Size of each loop's read buffer, shared by all its connections.
const SCRATCH: usize = 64 * 1024;

/// What a non-blocking protocol plugs into the event-loop driver. Like
/// [`super::Workload`], but a step is started, then advanced on readiness
/// events, instead of being run to completion on its own thread. Its phases,
/// response phase, steps per pass and error kinds are its [`WorkloadShape`],
/// shared with [`super::Workload`] when a protocol implements both.
pub trait EventWorkload: WorkloadShape + Sync {
    /// Per-user state (a connection and its buffers); created on its loop.
    type User: Send;

    /// How long an attempt may take before the driver aborts it as a
    /// `timeout` error.
    fn step_timeout(&self) -> Duration;

    /// Creates user `user`'s state, without network I/O.
    fn new_user(&self, user: u32) -> Self::User;

    /// Starts step `step` of pass `pass` (a new attempt, also after an
    /// error). Any socket it opens must be registered with `io.registry`
    /// under `io.token`; phases are recorded into `io.timer` with `io.now`.
    fn start(&self, user: &mut Self::User, pass: u64, step: u64, io: &mut Io<'_>) -> Progress;

    /// The user's socket is ready while a step is in flight.
    fn ready(&self, user: &mut Self::User, io: &mut Io<'_>) -> Progress;

    /// The user's socket is ready while no step is in flight (typically the
    /// server closing an idle keep-alive connection).
    fn idle_ready(&self, _user: &mut Self::User, _io: &mut Io<'_>) {}

    /// The driver gave up on the step in flight (timeout, stop): drop its
    /// state so that the next `start` begins afresh.
    fn abort(&self, user: &mut Self::User, io: &mut Io<'_>);

    /// The user is done; close what it holds. Errors are not samples.
    fn finish(&self, user: &mut Self::User, io: &mut Io<'_>) {
        self.abort(user, io);
    }
}

/// Where a step is after the workload handled an event.
#[derive(Debug)]
pub enum Progress {
    /// Waiting for readiness on the user's socket.
    Pending,
    /// The attempt ended.
    Done(Result<StepDone, StepError>),
}

/// What a workload gets with every call: the loop's registry, the user's
/// token, the time the event is being handled, the attempt's phase timer and
/// a read buffer shared by the loop's users.
pub struct Io<'a> {
    pub registry: &'a Registry,
    pub token: Token,
    pub now: Instant,
    pub timer: &'a mut PhaseTimer,
    pub scratch: &'a mut [u8],
}

/// One loop's lag: from `epoll_wait` returning (or a timer being due) to the
/// event being handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct LoopLag {
    /// Events handled by the loop.
    pub events: u64,
    #[serde(with = "micros")]
    pub p50: Duration,
    #[serde(with = "micros")]
    pub p99: Duration,
    #[serde(with = "micros")]
    pub max: Duration,
}

/// Lags as whole microseconds in JSON, as perf.json's other times.
mod micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_micros() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_micros)
    }
}

/// A run of the event-loop driver: the same outcome as the blocking driver's,
/// and each loop's lag.
#[derive(Debug, Clone, PartialEq)]
pub struct EventLoopOutcome {
    pub run: RunOutcome,
    pub loops: Vec<LoopLag>,
}

/// Whether the figures say more about the load generator than about the
/// server: when any loop's median lag exceeds 10% of the median response
/// time, the typical response time is inflated by more than 10% by the loop
/// not getting to its events. The median rather than p99 so that a rare
/// long batch does not condemn a whole run.
pub fn load_generator_bound(loops: &[LoopLag], median_response: Duration) -> bool {
    loops
        .iter()
        .filter(|l| l.events > 0)
        .any(|l| l.p50 * 10 > median_response)
}

/// The default number of loop threads: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `workload` under `config` on `threads` loop threads (0: one per
/// core), calling `observe` on the caller's thread for every event, until
/// every user is done or `stopper` is stopped. `origin` is the run's time
/// zero. Users are dealt to loops round-robin.
pub fn run<W: EventWorkload>(
    workload: &W,
    config: &EngineConfig,
    threads: usize,
    stopper: &Stopper,
    origin: Instant,
    mut observe: impl FnMut(Event),
) -> EventLoopOutcome {
    run_ticking(workload, config, threads, stopper, origin, |e| {
        if let Some(e) = e {
            observe(e)
        }
    })
}

/// [`run`], with `observe(None)` as an idle tick at least every 10 ms (the
/// thread driver's `load::run_ticking` does the same), so that a time
/// series can close its intervals while nothing happens.
pub fn run_ticking<W: EventWorkload>(
    workload: &W,
    config: &EngineConfig,
    threads: usize,
    stopper: &Stopper,
    origin: Instant,
    mut observe: impl FnMut(Option<Event>),
) -> EventLoopOutcome {
    // This shard's global user ids, dealt to the loops round-robin.
    let mine: Vec<u32> = config.shard.users(config.users).collect();
    let threads = if threads == 0 {
        default_threads()
    } else {
        threads
    }
    .clamp(1, mine.len().max(1));
    let (tx, rx) = channel::unbounded();
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let tx = tx.clone();
                let users: Vec<u32> = mine.iter().copied().skip(i).step_by(threads).collect();
                std::thread::Builder::new()
                    .name(format!("loop-{i}"))
                    .spawn_scoped(scope, move || {
                        Loop::new(workload, config, stopper, origin, users, tx).run()
                    })
                    .expect("spawning a loop thread")
            })
            .collect();
        drop(tx);
        // The thread driver's drain (polling, so a send never costs a loop
        // a futex wake); the loops send events in batches.
        crate::load::engine::drain(&rx, &mut |batch: Option<Vec<Event>>| match batch {
            Some(events) => events.into_iter().for_each(|e| observe(Some(e))),
            None => observe(None),
        });
        handles
            .into_iter()
            .map(|h| h.join().expect("a loop thread panicked"))
            .collect::<Vec<_>>()
    });
    let mut fatal = None;
    let mut loops = Vec::new();
    for (f, lag) in results {
        fatal = fatal.or(f);
        loops.push(lag);
    }
    EventLoopOutcome {
        run: RunOutcome {
            elapsed: origin.elapsed(),
            fatal,
        },
        loops,
    }
}

#[cfg(test)]
mod driver_tests;

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    fn lag(p50: u32) -> LoopLag {
        LoopLag {
            events: 100,
            p50: US * p50,
            p99: US * p50 * 10,
            max: US * p50 * 100,
        }
    }

    #[test]
    fn lag_over_a_tenth_of_the_median_response_is_load_generator_bound() {
        let median = US * 800;
        assert!(!load_generator_bound(&[lag(10), lag(80)], median));
        assert!(load_generator_bound(&[lag(10), lag(81)], median));
        assert!(!load_generator_bound(&[], median));
        let idle = LoopLag {
            events: 0,
            ..lag(1000)
        };
        assert!(!load_generator_bound(&[idle], median));
    }

    #[test]
    fn lags_serialize_as_microseconds() {
        let json = serde_json::to_string(&lag(12)).unwrap();
        assert_eq!(json, r#"{"events":100,"p50":12,"p99":120,"max":1200}"#);
        assert_eq!(serde_json::from_str::<LoopLag>(&json).unwrap(), lag(12));
    }
}
