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
//! [`EventWorkload`]; nothing here knows about HTTP.
//!
//! Why mio and not tokio's current-thread runtime per core: measured side by
//! side (`cargo bench --bench event_loop`, GET 4 KiB from nginx on loopback,
//! 2 cores, see the report in that file's doc), the mio loop did as many or
//! more requests per second with less CPU, and it lets the driver read the
//! clock exactly when each readiness event is handled and measure its own lag
//! (time from `epoll_wait` returning to the event being handled), which
//! tokio's scheduler hides. It also keeps 10,000 connections at a few KiB
//! each: a user is a plain struct in a `Vec`, not a task with its own future.
//!
//! Timing: the clock is read once per handled event, so a response's end is
//! when the loop handled the last byte's readiness, and lag between
//! `epoll_wait` returning and that handling is recorded per loop
//! ([`LoopLag`]); [`load_generator_bound`] turns it into a verdict. With a
//! rate ([`Pacing::Interval`]) each user's steps are meant to start on a fixed
//! grid, as in wrk2, and timers are armed on a `timerfd` (nanosecond
//! resolution; `epoll_wait` alone rounds to whole milliseconds), so a stalled
//! server shows up from the intended start, not from when the loop got to it.

use super::{
    EngineConfig, Event, PhaseTimer, RunOutcome, Sample, Schedule, Severity, StepDone, StepError,
    StopAfter, Stopper, MAX_PHASES,
};
use crossbeam::channel::{self, Receiver, Sender, TryRecvError};
use mio::{Events, Interest, Poll, Registry, Token};
use rand::Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// The token of each loop's timer; users' tokens are their index in the loop.
const TIMER: Token = Token(usize::MAX);
/// The longest a loop sleeps without looking at the stopper.
const STOP_CHECK: Duration = Duration::from_millis(20);
/// Size of each loop's read buffer, shared by all its connections.
const SCRATCH: usize = 64 * 1024;

/// What a non-blocking protocol plugs into the event-loop driver. Like
/// [`super::Workload`], but a step is started, then advanced on readiness
/// events, instead of being run to completion on its own thread.
pub trait EventWorkload: Sync {
    /// Per-user state (a connection and its buffers); created on its loop.
    type User: Send;

    /// Names of the phases a step may time, in order; at most [`MAX_PHASES`].
    fn phases(&self) -> &'static [&'static str];

    /// The phase whose time is a step's response time.
    fn response_phase(&self) -> usize;

    /// Steps in one pass over the work (1 for a request).
    fn steps_per_pass(&self) -> u64;

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
    let threads = if threads == 0 {
        default_threads()
    } else {
        threads
    }
    .clamp(1, config.users.max(1) as usize);
    let (tx, rx) = channel::unbounded();
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let tx = tx.clone();
                let users: Vec<u32> = (i as u32..config.users).step_by(threads).collect();
                std::thread::Builder::new()
                    .name(format!("loop-{i}"))
                    .spawn_scoped(scope, move || {
                        Loop::new(workload, config, stopper, origin, users, tx).run()
                    })
                    .expect("spawning a loop thread")
            })
            .collect();
        drop(tx);
        drain(&rx, &mut observe);
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

/// Hands batches of events to `observe` until every loop is done, polling
/// rather than blocking so that a send never costs a loop a futex wake (as
/// the blocking driver's drain, which explains the measurement).
fn drain(rx: &Receiver<Vec<Event>>, observe: &mut impl FnMut(Event)) {
    const MIN_PAUSE: Duration = Duration::from_micros(500);
    const MAX_PAUSE: Duration = Duration::from_millis(10);
    let mut pause = MIN_PAUSE;
    loop {
        let mut got = false;
        loop {
            match rx.try_recv() {
                Ok(batch) => {
                    batch.into_iter().for_each(&mut *observe);
                    got = true;
                }
                Err(TryRecvError::Empty) => break,
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

/// Where a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before its ramp-up start; a timer is set.
    NotStarted,
    /// Waiting for its next attempt's time (schedule or backoff); a timer is set.
    Waiting,
    /// An attempt is in flight; its timeout timer is set.
    InFlight,
    Done,
}

struct Slot<U> {
    id: u32,
    user: U,
    state: State,
    timer: PhaseTimer,
    schedule: Schedule,
    pass: u64,
    step: u64,
    attempt: u32,
    /// Since the origin: when the current step was meant to start.
    intended: Duration,
    /// When the attempt in flight started.
    started: Instant,
    /// Generation of the slot's timer; heap entries of older ones are stale.
    seq: u64,
}

/// One loop thread: its users, poll, timers and outgoing events.
struct Loop<'a, W: EventWorkload> {
    workload: &'a W,
    config: &'a EngineConfig,
    stopper: &'a Stopper,
    origin: Instant,
    deadline: Option<Instant>,
    slots: Vec<Slot<W::User>>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    out: Vec<Event>,
    tx: Sender<Vec<Event>>,
    fatal: Option<StepError>,
    live: usize,
    scratch: Box<[u8]>,
    lag: hdrhistogram::Histogram<u64>,
}

impl<'a, W: EventWorkload> Loop<'a, W> {
    fn new(
        workload: &'a W,
        config: &'a EngineConfig,
        stopper: &'a Stopper,
        origin: Instant,
        users: Vec<u32>,
        tx: Sender<Vec<Event>>,
    ) -> Self {
        let mut timers = BinaryHeap::with_capacity(users.len() * 2);
        let slots = users
            .into_iter()
            .enumerate()
            .map(|(i, id)| {
                let offset = config
                    .ramp_up
                    .mul_f64(f64::from(id) / f64::from(config.users.max(1)));
                timers.push(Reverse((origin + offset, i, 0)));
                Slot {
                    id,
                    user: workload.new_user(id),
                    state: State::NotStarted,
                    timer: PhaseTimer::default(),
                    schedule: Schedule::new(config.pacing, offset),
                    pass: 0,
                    step: 0,
                    attempt: 1,
                    intended: offset,
                    started: origin,
                    seq: 0,
                }
            })
            .collect::<Vec<_>>();
        Loop {
            workload,
            config,
            stopper,
            origin,
            deadline: match config.stop {
                StopAfter::Duration(d) => Some(origin + d),
                StopAfter::Passes(_) => None,
            },
            live: slots.len(),
            slots,
            timers,
            out: Vec::new(),
            tx,
            fatal: None,
            scratch: vec![0; SCRATCH].into_boxed_slice(),
            lag: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3)
                .expect("valid histogram bounds"),
        }
    }

    fn run(mut self) -> (Option<StepError>, LoopLag) {
        let result = self.run_loop();
        if let Err(e) = result {
            // The poll or timer could not be created or waited on (fd limit):
            // every user still running fails with the reason, as a sample.
            self.fail_all(&e);
        }
        self.flush();
        let lag = LoopLag {
            events: self.lag.len(),
            p50: Duration::from_nanos(self.lag.value_at_quantile(0.5)),
            p99: Duration::from_nanos(self.lag.value_at_quantile(0.99)),
            max: Duration::from_nanos(self.lag.max()),
        };
        (self.fatal, lag)
    }

    fn run_loop(&mut self) -> io::Result<()> {
        let mut poll = Poll::new()?;
        let mut timerfd = TimerFd::new()?;
        poll.registry().register(
            &mut mio::unix::SourceFd(&timerfd.fd.as_raw_fd()),
            TIMER,
            Interest::READABLE,
        )?;
        let mut events = Events::with_capacity(1024);
        while self.live > 0 {
            if self.stopper.is_stopped() {
                self.stop_all(poll.registry());
                break;
            }
            let next = self.timers.peek().map(|Reverse((t, _, _))| *t);
            timerfd.arm(next)?;
            match poll.poll(&mut events, Some(STOP_CHECK)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let woke = Instant::now();
            for event in events.iter() {
                let token = event.token();
                if token == TIMER {
                    timerfd.clear();
                    continue;
                }
                let now = Instant::now();
                self.record_lag(now - woke);
                self.on_ready(poll.registry(), token.0, now);
            }
            self.fire_timers(poll.registry());
            self.flush();
        }
        Ok(())
    }

    fn record_lag(&mut self, lag: Duration) {
        let _ = self.lag.record((lag.as_nanos() as u64).max(1));
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            // The receiver lives until every loop is done: a send cannot fail.
            let _ = self.tx.send(std::mem::take(&mut self.out));
        }
    }

    fn set_timer(&mut self, i: usize, at: Instant) {
        let slot = &mut self.slots[i];
        slot.seq += 1;
        self.timers.push(Reverse((at, i, slot.seq)));
    }

    fn fire_timers(&mut self, registry: &Registry) {
        while let Some(&Reverse((at, i, seq))) = self.timers.peek() {
            let now = Instant::now();
            if at > now {
                break;
            }
            self.timers.pop();
            if self.slots[i].seq != seq {
                continue;
            }
            self.record_lag(now - at);
            match self.slots[i].state {
                State::NotStarted => self.begin_user(registry, i, now),
                State::Waiting => self.start_attempt(registry, i, now),
                State::InFlight => {
                    let timeout = self.workload.step_timeout();
                    let slot = &mut self.slots[i];
                    let mut io = Io {
                        registry,
                        token: Token(i),
                        now,
                        timer: &mut slot.timer,
                        scratch: &mut self.scratch,
                    };
                    self.workload.abort(&mut slot.user, &mut io);
                    let err = StepError {
                        kind: "timeout",
                        message: format!("no answer within {timeout:?}"),
                        severity: Severity::Retry,
                        offset: 0,
                    };
                    self.complete(registry, i, Err(err), now);
                }
                State::Done => {}
            }
        }
    }

    fn past_deadline(&self, t: Instant) -> bool {
        self.deadline.is_some_and(|d| t >= d)
    }

    fn begin_user(&mut self, registry: &Registry, i: usize, now: Instant) {
        let intended = self.origin + self.slots[i].intended;
        if self.past_deadline(intended) {
            self.slots[i].state = State::Done;
            self.live -= 1;
            return;
        }
        self.out.push(Event::UserStarted {
            user: self.slots[i].id,
            at: now - self.origin,
        });
        if self.workload.steps_per_pass() == 0 || matches!(self.config.stop, StopAfter::Passes(0)) {
            self.finish_user(registry, i, false, now);
            return;
        }
        self.start_attempt(registry, i, now);
    }

    /// Starts the slot's current step now (its time has come).
    fn start_attempt(&mut self, registry: &Registry, i: usize, now: Instant) {
        let slot = &mut self.slots[i];
        slot.state = State::InFlight;
        slot.started = now;
        let mut io = Io {
            registry,
            token: Token(i),
            now,
            timer: &mut slot.timer,
            scratch: &mut self.scratch,
        };
        match self
            .workload
            .start(&mut slot.user, slot.pass, slot.step, &mut io)
        {
            Progress::Pending => {
                let at = now + self.workload.step_timeout();
                self.set_timer(i, at);
            }
            Progress::Done(result) => self.complete(registry, i, result, now),
        }
    }

    fn on_ready(&mut self, registry: &Registry, i: usize, now: Instant) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let mut io = Io {
            registry,
            token: Token(i),
            now,
            timer: &mut slot.timer,
            scratch: &mut self.scratch,
        };
        match slot.state {
            State::InFlight => {
                if let Progress::Done(result) = self.workload.ready(&mut slot.user, &mut io) {
                    self.complete(registry, i, result, now);
                }
            }
            State::Waiting => self.workload.idle_ready(&mut slot.user, &mut io),
            State::NotStarted | State::Done => {}
        }
    }

    /// An attempt ended at `now`: emit its sample and decide what is next.
    fn complete(
        &mut self,
        registry: &Registry,
        i: usize,
        result: Result<StepDone, StepError>,
        now: Instant,
    ) {
        let slot = &mut self.slots[i];
        slot.seq += 1; // cancels the attempt's timeout
        let (offset, bytes, error) = match &result {
            Ok(done) => (done.offset, done.bytes, None),
            Err(e) => (e.offset, 0, Some(Box::new((e.kind, e.message.clone())))),
        };
        let phases: [Option<Duration>; MAX_PHASES] = std::array::from_fn(|p| slot.timer.get(p));
        slot.timer = PhaseTimer::default();
        self.out.push(Event::Sample(Sample {
            user: slot.id,
            pass: slot.pass,
            step: slot.step,
            attempt: slot.attempt,
            offset,
            bytes,
            intended: slot.intended,
            started: slot.started - self.origin,
            elapsed: now - slot.started,
            phases,
            error,
        }));
        match result {
            Ok(_) => {
                slot.schedule.advance(now - self.origin);
                slot.attempt = 1;
                slot.step += 1;
                if slot.step >= self.workload.steps_per_pass() {
                    slot.step = 0;
                    slot.pass += 1;
                    if matches!(self.config.stop, StopAfter::Passes(n) if slot.pass >= n) {
                        self.finish_user(registry, i, false, now);
                        return;
                    }
                }
                slot.intended = slot.schedule.intended();
                let at = self.origin + slot.intended;
                self.wait_until(registry, i, at, now);
            }
            Err(e) if e.severity == Severity::Fatal => {
                self.fatal.get_or_insert(e);
                self.stopper.stop();
                self.finish_user(registry, i, false, now);
            }
            Err(_) if slot.attempt >= self.config.retry.max_attempts => {
                self.finish_user(registry, i, true, now);
            }
            Err(_) => {
                slot.attempt += 1;
                let b = self.config.retry.backoff;
                let pause =
                    rand::thread_rng().gen_range(b..(b * 3).max(b + Duration::from_nanos(1)));
                self.wait_until(registry, i, now + pause, now);
            }
        }
    }

    /// The next attempt is due at `at`: start it now if it is already due,
    /// else set a timer; no attempt starts past the deadline or after a stop.
    fn wait_until(&mut self, registry: &Registry, i: usize, at: Instant, now: Instant) {
        if self.past_deadline(at) || self.stopper.is_stopped() {
            self.finish_user(registry, i, false, now);
        } else if at <= now {
            self.start_attempt(registry, i, now);
        } else {
            self.slots[i].state = State::Waiting;
            self.set_timer(i, at);
        }
    }

    fn finish_user(&mut self, registry: &Registry, i: usize, gave_up: bool, now: Instant) {
        let slot = &mut self.slots[i];
        if slot.state == State::Done {
            return;
        }
        let mut io = Io {
            registry,
            token: Token(i),
            now,
            timer: &mut slot.timer,
            scratch: &mut self.scratch,
        };
        self.workload.finish(&mut slot.user, &mut io);
        slot.state = State::Done;
        slot.seq += 1;
        self.live -= 1;
        self.out.push(Event::UserFinished {
            user: slot.id,
            at: now - self.origin,
            gave_up,
        });
    }

    /// Stopped: attempts in flight are abandoned (not sampled, as a blocking
    /// user's unfinished step would be if its thread were killed) and every
    /// started user finishes.
    fn stop_all(&mut self, registry: &Registry) {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            match self.slots[i].state {
                State::NotStarted => {
                    self.slots[i].state = State::Done;
                    self.live -= 1;
                }
                State::Done => {}
                State::Waiting | State::InFlight => self.finish_user(registry, i, false, now),
            }
        }
    }

    fn fail_all(&mut self, e: &io::Error) {
        let now = Instant::now();
        for slot in &mut self.slots {
            if slot.state == State::Done {
                continue;
            }
            if slot.state == State::NotStarted {
                self.out.push(Event::UserStarted {
                    user: slot.id,
                    at: now - self.origin,
                });
            }
            self.out.push(Event::Sample(Sample {
                user: slot.id,
                pass: slot.pass,
                step: slot.step,
                attempt: slot.attempt,
                offset: 0,
                bytes: 0,
                intended: slot.intended,
                started: now - self.origin,
                elapsed: Duration::ZERO,
                phases: [None; MAX_PHASES],
                error: Some(Box::new(("io", format!("event loop: {e}")))),
            }));
            self.out.push(Event::UserFinished {
                user: slot.id,
                at: now - self.origin,
                gave_up: true,
            });
            slot.state = State::Done;
        }
        self.live = 0;
    }
}

/// A `timerfd` armed to the loop's next due timer, for sub-millisecond
/// wake-ups (`epoll_wait` takes whole milliseconds, and mio rounds up).
struct TimerFd {
    fd: OwnedFd,
    armed: Option<Instant>,
    /// The monotonic clock's reading at `base`, to convert `Instant`s.
    base: Instant,
    base_mono: Duration,
}

impl TimerFd {
    fn new() -> io::Result<TimerFd> {
        // Safety: plain syscalls; the fd is owned from here on.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let base = Instant::now();
        // Safety: writes into a local struct.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let base_mono = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        Ok(TimerFd {
            fd,
            armed: None,
            base,
            base_mono,
        })
    }

    /// Arms the timer for `at` (absolute), or disarms it; a no-op when
    /// already armed for that time.
    fn arm(&mut self, at: Option<Instant>) -> io::Result<()> {
        if at == self.armed {
            return Ok(());
        }
        self.armed = at;
        let value = match at {
            // An absolute time of 0 would disarm: 1 ns is "already due".
            Some(t) => (self.base_mono + t.saturating_duration_since(self.base))
                .max(Duration::from_nanos(1)),
            None => Duration::ZERO,
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: value.as_secs() as libc::time_t,
                tv_nsec: value.subsec_nanos() as libc::c_long,
            },
        };
        // Safety: valid fd and a local struct.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Consumes the expiry so that the next one raises a new edge.
    fn clear(&mut self) {
        let mut buf = [0u8; 8];
        // Safety: reads 8 bytes into a local buffer from a non-blocking fd.
        unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        self.armed = None;
    }
}

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
