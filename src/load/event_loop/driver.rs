//! One loop thread of the event-loop driver: its users as slots in a `Vec`
//! (token = index), a heap of timers (ramp-up starts, paced starts, retry
//! backoffs, attempt timeouts) and the batch of events it sends per wake-up.

use super::timerfd::TimerFd;
use super::{EventWorkload, Io, LoopLag, Progress, SCRATCH, STOP_CHECK, TIMER};
use crate::load::{
    EngineConfig, Event, PhaseTimer, Sample, Schedule, Severity, StepDone, StepError, StopAfter,
    Stopper, MAX_PHASES,
};
use crossbeam::channel::Sender;
use mio::{Events, Interest, Poll, Registry, Token};
use rand::Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// The sequence number of timeout entries in the timer heap.
const TIMEOUT: u64 = u64::MAX;

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
    /// Generation of the slot's start timer; heap entries of older ones are stale.
    seq: u64,
    /// When the attempt in flight times out.
    timeout_at: Option<Instant>,
    /// The slot has a timeout entry in the heap (at most one: an attempt
    /// that ends early leaves it there, and when it comes up it is moved to
    /// the current attempt's time, so the heap stays at two entries per
    /// user instead of growing by one per request).
    timeout_queued: bool,
}

/// One loop thread: its users, poll, timers and outgoing events.
pub(super) struct Loop<'a, W: EventWorkload> {
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
    pub(super) fn new(
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
                // Global user `id` of the whole run, whichever shard runs it.
                let offset = crate::load::shard::ramp_offset(id, config.users, config.ramp_up);
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
                    timeout_at: None,
                    timeout_queued: false,
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

    pub(super) fn run(mut self) -> (Option<StepError>, LoopLag) {
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
            if seq == TIMEOUT {
                let slot = &mut self.slots[i];
                slot.timeout_queued = false;
                match slot.timeout_at {
                    Some(due) if due <= now => {
                        self.record_lag(now - due);
                        self.time_out(registry, i, now);
                    }
                    Some(due) => {
                        slot.timeout_queued = true;
                        self.timers.push(Reverse((due, i, TIMEOUT)));
                    }
                    None => {}
                }
                continue;
            }
            if self.slots[i].seq != seq {
                continue;
            }
            self.record_lag(now - at);
            match self.slots[i].state {
                State::NotStarted => self.begin_user(registry, i, now),
                State::Waiting => self.start_attempt(registry, i, now),
                State::InFlight | State::Done => {}
            }
        }
    }

    /// The attempt in flight took too long: abort it and count a `timeout`.
    fn time_out(&mut self, registry: &Registry, i: usize, now: Instant) {
        if self.slots[i].state != State::InFlight {
            return;
        }
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
                slot.timeout_at = Some(at);
                if !slot.timeout_queued {
                    slot.timeout_queued = true;
                    self.timers.push(Reverse((at, i, TIMEOUT)));
                }
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
        slot.timeout_at = None;
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
        slot.timeout_at = None;
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
