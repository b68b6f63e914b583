//! The one progress bar on stderr, shared by every subcommand that runs
//! users, and the only way to print while it draws.
//!
//! indicatif redraws the bar from its own ticks, so a line printed with a
//! bare `eprintln!` lands in the middle of it; [`Progress::println`] hides the
//! bar, prints, and redraws. The bar is hidden when stderr is not a terminal
//! (indicatif's own rule), so tests and pipes see only the lines.
//!
//! Counting is batched: a load generator can complete 70,000 requests a
//! second, and touching the bar for each costs CPU the users need.
//! [`RunProgress`] is the bar for one engine run (steps, MB/s, active users,
//! errors), fed with the engine's events on the observer thread.

use crate::load::Event;
use std::time::{Duration, Instant};

/// How often batched counts reach the bar.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// A progress bar (or a spinner when the total is unknown) on stderr.
pub struct Progress {
    bar: indicatif::ProgressBar,
    pending: u64,
    last: Instant,
}

impl Progress {
    /// A bar of `total` `unit`s ("chunks", "requests", "runs"), or a spinner
    /// counting them when `total` is `None`.
    pub fn new(total: Option<u64>, unit: &str) -> Self {
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(5));
        let template = match total {
            Some(_) => format!(
                "{{spinner}} {{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit}  {{msg}}"
            ),
            None => format!("{{spinner}} {{elapsed_precise}} {{pos}} {unit}  {{msg}}"),
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress {
            bar,
            pending: 0,
            last: Instant::now(),
        }
    }

    /// Counts `n` more units; the bar sees them at most every 100 ms.
    pub fn inc(&mut self, n: u64) {
        self.pending += n;
        if self.last.elapsed() >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// Hands the batched count to the bar now.
    pub fn flush(&mut self) {
        self.bar.inc(self.pending);
        self.pending = 0;
        self.last = Instant::now();
    }

    /// The text after the count (rates, the current step of a sweep).
    pub fn set_message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Prints a line on stderr above the bar.
    pub fn println(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Runs `f` (which may print on stdout or stderr) with the bar hidden.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Flushes and removes the bar, leaving the terminal clean for the summary.
    pub fn finish(&mut self) {
        self.flush();
        self.bar.finish_and_clear();
    }
}

/// Progress of one engine run: completed steps on the bar; MB/s, active users
/// and failed attempts in its message; warnings printed above it.
pub struct RunProgress {
    progress: Progress,
    active: u32,
    last_message: Instant,
}

/// Figures the message shows, from whoever aggregates the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunFigures {
    pub bytes: u64,
    pub failed_attempts: u64,
    pub elapsed: Duration,
}

impl RunProgress {
    pub fn new(total_steps: Option<u64>, unit: &str) -> Self {
        RunProgress {
            progress: Progress::new(total_steps, unit),
            active: 0,
            last_message: Instant::now(),
        }
    }

    /// Takes one engine event. Warnings are printed here, on the observer's
    /// thread, never by the user threads that raised them.
    pub fn observe(&mut self, event: &Event, figures: impl FnOnce() -> RunFigures) {
        match event {
            Event::UserStarted { .. } => self.active += 1,
            Event::UserFinished { .. } => self.active = self.active.saturating_sub(1),
            Event::Sample(s) if s.error.is_none() => self.progress.inc(1),
            Event::Sample(_) => {}
            Event::Warning { user, message } => self
                .progress
                .println(&format!("xfer: warning: user {user}: {message}")),
        }
        if self.last_message.elapsed() >= Duration::from_millis(200) {
            self.last_message = Instant::now();
            let f = figures();
            self.progress.set_message(format!(
                "{:.1} MB/s  {} active  {} errors",
                crate::units::mb_per_sec(f.bytes, f.elapsed),
                self.active,
                f.failed_attempts
            ));
        }
    }

    /// Removes the bar.
    pub fn finish(&mut self) {
        self.progress.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_batched_and_flushed_in_full() {
        let mut p = Progress::new(Some(1000), "requests");
        p.bar
            .set_draw_target(indicatif::ProgressDrawTarget::hidden());
        p.last = Instant::now();
        for _ in 0..10 {
            p.inc(1);
        }
        assert_eq!(p.bar.position(), 0, "batched until the next flush");
        p.flush();
        assert_eq!(p.bar.position(), 10);
        p.finish();
    }

    #[test]
    fn run_progress_counts_completed_steps_and_active_users() {
        let mut r = RunProgress::new(None, "chunks");
        r.progress
            .bar
            .set_draw_target(indicatif::ProgressDrawTarget::hidden());
        let fig = RunFigures::default;
        r.observe(
            &Event::UserStarted {
                user: 0,
                at: Duration::ZERO,
            },
            fig,
        );
        r.observe(
            &Event::Warning {
                user: 0,
                message: "closing failed".into(),
            },
            fig,
        );
        assert_eq!(r.active, 1);
        r.observe(
            &Event::UserFinished {
                user: 0,
                at: Duration::ZERO,
                gave_up: false,
            },
            fig,
        );
        assert_eq!(r.active, 0);
    }
}
