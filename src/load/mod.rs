//! The load engine shared by `sftp-bench` and `perf`.
//!
//! The engine owns threads, clocks, schedules, stop conditions and retries; a
//! [`Workload`] only knows how to do one step (upload one chunk, send one
//! request) for one user and which phases of it it timed. Adding a protocol
//! means writing a `Workload`, never touching the engine.
//!
//! What a workload looks like from outside (its phases, which of them is the
//! response time, steps per pass, the error kinds that get a column) is its
//! [`WorkloadShape`], declared once and required by both [`Workload`] and
//! [`event_loop::EventWorkload`]: a protocol that runs under both drivers
//! (perf's TCP requests) cannot say one thing to one driver and another to
//! the other, and code that only lays out columns and summaries needs no
//! driver's trait.
//!
//! Every user is one OS thread (blocking I/O, as libssh2 wants). Each attempt of
//! each step becomes one [`Sample`], sent over a crossbeam channel to the one
//! thread that called [`run`], which hands it to an observer (CSV writer,
//! histograms, progress bar). Nothing is aggregated on the user threads, so
//! the hot loop is: wait for the schedule, do the step, send the sample.

mod capacity;
mod engine;
pub mod event_loop;
mod schedule;
pub mod shard;
mod stop;

pub use capacity::{Capacity, Limit};
pub use engine::{run, run_ticking, RunOutcome};
pub use schedule::{Pacing, Schedule};
pub use shard::Shard;
pub use stop::Stopper;

use std::time::{Duration, Instant};

/// The most phases a workload may time per step.
pub const MAX_PHASES: usize = 9;

/// A workload's shape: what the drivers, the recorder and the files need to
/// know about it before any step runs. Both driver traits ([`Workload`] and
/// [`event_loop::EventWorkload`]) require it, so it is declared once per
/// workload whichever drivers can run it.
pub trait WorkloadShape {
    /// Names of the phases a step may time, in the order they happen. At most
    /// [`MAX_PHASES`]; they become CSV columns and summary rows.
    fn phases(&self) -> &'static [&'static str];

    /// The phase whose time is a step's response time (`write` for chunk
    /// uploads, `request` for HTTP).
    fn response_phase(&self) -> usize;

    /// How many steps one pass over the work takes (chunks in the file, 1 for a
    /// request). Passes repeat until the stop condition.
    fn steps_per_pass(&self) -> u64;

    /// The failure kinds this workload reports, each a column of the time
    /// series (kinds not listed count in `failed_other`).
    fn error_kinds(&self) -> &'static [&'static str] {
        &[]
    }
}

/// What a protocol plugs into the engine: its [`WorkloadShape`], and how to
/// run one step to completion on a user's own thread.
pub trait Workload: WorkloadShape + Sync {
    /// Per-user state (a connection, an open file); created on the user's thread.
    type User;

    /// Creates user `user`'s state. Should not do network I/O: connecting is
    /// part of a step so that it is timed and retried.
    fn new_user(&self, user: u32) -> Self::User;

    /// Performs step `step` (0-based within the pass) of pass `pass` for a
    /// user, recording phase times into `timer`. Must be safe to call again
    /// with the same arguments after an error (a retry).
    fn step(
        &self,
        user: &mut Self::User,
        pass: u64,
        step: u64,
        timer: &mut PhaseTimer,
    ) -> Result<StepDone, StepError>;

    /// Called once when a user stops (close sessions). Errors are not samples.
    fn finish(&self, _user: &mut Self::User) {}

    /// Takes the warnings a user collected (a failed close at the end, say):
    /// things worth telling that are not a failed step. The engine calls it
    /// after every step and after [`Workload::finish`], and hands them to the
    /// observer as [`Event::Warning`], so that only the thread that owns the
    /// terminal prints.
    fn take_warnings(&self, _user: &mut Self::User) -> Vec<String> {
        Vec::new()
    }
}

/// A successful step: where in the work it was and how many bytes it moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepDone {
    /// Offset of the step's data within the file (0 when meaningless).
    pub offset: u64,
    /// Bytes moved and acknowledged.
    pub bytes: u64,
}

/// How a failed step affects the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Retry the step after a backoff (refused, dropped handshake, timeout, I/O).
    Retry,
    /// The server refused in a way a retry is unlikely to change (its disk
    /// is full, permission denied). Retried like [`Severity::Retry`], but
    /// [`PERMANENT_ATTEMPTS`] identical failures of a step in a row make the
    /// user give up, however high the retry limit.
    Permanent,
    /// Configuration is wrong for everyone (bad credentials, unknown host key):
    /// stop the whole run and report this error.
    Fatal,
}

/// Identical [`Severity::Permanent`] failures of one step, in a row, after
/// which a user gives up: a full disk answers the same way the tenth time.
pub const PERMANENT_ATTEMPTS: u32 = 3;

/// A failed attempt, with a short stable `kind` for counting (`refused`,
/// `handshake`, `auth`, `write`, `missing_bytes`...) and the full message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub kind: &'static str,
    pub message: String,
    pub severity: Severity,
    /// Offset the failed step was writing (for the sample row).
    pub offset: u64,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StepError {}

/// Times the phases of one attempt. `time(i, f)` runs `f` and records how long
/// it took as phase `i`; untouched phases stay `None` (not part of this step).
#[derive(Debug, Clone, Default)]
pub struct PhaseTimer {
    phases: [Option<Duration>; MAX_PHASES],
}

impl PhaseTimer {
    /// Runs `f`, recording its duration as phase `phase` even when it fails.
    pub fn time<T>(&mut self, phase: usize, f: impl FnOnce() -> T) -> T {
        let t0 = Instant::now();
        let out = f();
        self.record(phase, t0.elapsed());
        out
    }

    /// Adds `d` to phase `phase` (a phase timed in several parts accumulates).
    pub fn record(&mut self, phase: usize, d: Duration) {
        let slot = &mut self.phases[phase];
        *slot = Some(slot.unwrap_or_default() + d);
    }

    pub fn get(&self, phase: usize) -> Option<Duration> {
        self.phases[phase]
    }

    fn take(&mut self) -> [Option<Duration>; MAX_PHASES] {
        std::mem::take(&mut self.phases)
    }
}

/// One attempt of one step of one user: the unit every report is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub user: u32,
    /// Pass over the work (0 for the first upload of the file).
    pub pass: u64,
    /// Step within the pass (the chunk index).
    pub step: u64,
    /// 1 for the first try of a step, 2 for the first retry...
    pub attempt: u32,
    pub offset: u64,
    /// Bytes acknowledged (0 for a failed attempt).
    pub bytes: u64,
    /// When the step was meant to start, since the run started.
    pub intended: Duration,
    /// When this attempt started, since the run started.
    pub started: Duration,
    /// Wall time of the whole attempt (sum of the phases plus glue).
    pub elapsed: Duration,
    pub phases: [Option<Duration>; MAX_PHASES],
    pub error: Option<Box<(&'static str, String)>>,
}

impl Sample {
    /// The attempt's response time: its response phase (e.g. `write`).
    pub fn response(&self, phase: usize) -> Option<Duration> {
        self.phases[phase]
    }

    /// Time from the intended start to the end of the response phase, so that
    /// a stalled server cannot hide behind a delayed schedule (coordinated
    /// omission, corrected as wrk2 does). It includes every phase up to the
    /// response: a reconnecting chunk that waits in its handshake (a server at
    /// its MaxStartups) is late by that wait too.
    pub fn response_from_intended(&self, phase: usize) -> Option<Duration> {
        self.phases[phase]?;
        let until_response: Duration = self.phases[..=phase].iter().flatten().sum();
        Some(self.started.saturating_sub(self.intended) + until_response)
    }
}

/// What the engine reports to the observer, in order per user.
// Nearly every event is a sample: boxing it would cost an allocation per step
// for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A user's thread began its first step, at this time since the run started.
    UserStarted {
        user: u32,
        at: Duration,
    },
    Sample(Sample),
    /// A user finished: it completed its steps, hit the deadline, was stopped,
    /// or gave up on a step after the retry limit.
    UserFinished {
        user: u32,
        at: Duration,
        gave_up: bool,
    },
    /// Something a user wants said that is not a failed step (from
    /// [`Workload::take_warnings`]).
    Warning {
        user: u32,
        message: String,
    },
}

/// When each user stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAfter {
    /// After this many passes over the work (1: upload the file once).
    Passes(u64),
    /// After this long since the run started; no step starts past it.
    Duration(Duration),
}

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per step, including the first; then the user gives up.
    pub max_attempts: u32,
    /// The pause before a retry is drawn uniformly from `[backoff, 3 * backoff)`
    /// (the seed paused 1-3 s).
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            backoff: Duration::from_secs(1),
        }
    }
}

/// How the engine runs users.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Number of concurrent users of the whole run (one OS thread each);
    /// this process runs `shard.users(users)` of them.
    pub users: u32,
    /// User `i` starts at `i * ramp_up / users` (the seed started one user
    /// every 0.5 s), whichever shard runs it.
    pub ramp_up: Duration,
    pub pacing: Pacing,
    pub stop: StopAfter,
    pub retry: RetryPolicy,
    /// Which share of the users this process runs (global user ids).
    pub shard: Shard,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            users: 1,
            ramp_up: Duration::ZERO,
            pacing: Pacing::Delay(Duration::ZERO),
            stop: StopAfter::Passes(1),
            retry: RetryPolicy::default(),
            shard: Shard::WHOLE,
        }
    }
}
