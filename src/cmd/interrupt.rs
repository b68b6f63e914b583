//! Ctrl-C for every subcommand that runs users: the first interrupt stops the
//! run and keeps what was measured, the second exits at once.
//!
//! One handler per process (the `ctrlc` crate allows only one), installed
//! before anything slow starts, so that no moment of a run ignores Ctrl-C:
//! not the preflight connection, not the spawning of users, not the run, not
//! the cleanup. The handler only flips flags and wakes sleepers
//! ([`Stopper::stop`]); the code that owns the terminal and the results
//! decides what to write, and [`Interrupt::abortable`] lets it give up on a
//! blocking call that has nothing to keep.
//!
//! Use, in a subcommand:
//! ```ignore
//! let interrupt = Interrupt::install("finishing in-flight requests and writing results")?;
//! let outcome = engine_or_sweep(..., interrupt.stopper());
//! if interrupt.interrupted() { return Ok(ExitCode::from(EXIT_INTERRUPTED)); }
//! ```

use crate::cmd::EXIT_INTERRUPTED;
use crate::load::Stopper;
use anyhow::Context;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The process's Ctrl-C (and SIGTERM) state.
#[derive(Debug, Clone)]
pub struct Interrupt {
    stopper: Stopper,
    count: Arc<AtomicU32>,
    /// What the first Ctrl-C does now; it changes as the run moves from its
    /// preflight (nothing to keep) to its users (results to write).
    on_first: Arc<Mutex<&'static str>>,
}

impl Interrupt {
    /// Installs the handler. `on_first` says what happens after the first
    /// Ctrl-C ("letting in-flight chunks finish"); it is printed with the
    /// hint that a second one quits at once.
    pub fn install(on_first: &'static str) -> anyhow::Result<Interrupt> {
        let interrupt = Interrupt {
            stopper: Stopper::new(),
            count: Arc::new(AtomicU32::new(0)),
            on_first: Arc::new(Mutex::new(on_first)),
        };
        let handler = interrupt.clone();
        ctrlc::set_handler(move || handler.on_signal()).context("installing the Ctrl-C handler")?;
        Ok(interrupt)
    }

    /// From now on, the first Ctrl-C says `on_first` (e.g. once the users
    /// start: "letting in-flight chunks finish").
    pub fn set_on_first(&self, on_first: &'static str) {
        *self.on_first.lock().unwrap_or_else(|e| e.into_inner()) = on_first;
    }

    fn on_signal(&self) {
        if self.count.fetch_add(1, Ordering::SeqCst) > 0 {
            eprintln!("\nxfer: second interrupt, exiting now");
            std::process::exit(EXIT_INTERRUPTED.into());
        }
        // ctrlc runs this on its own thread, not in the signal handler, so a
        // lock is fine here.
        let on_first = *self.on_first.lock().unwrap_or_else(|e| e.into_inner());
        eprintln!("\nxfer: interrupted; {on_first} (Ctrl-C again to quit at once)");
        self.stopper.stop();
    }

    /// Stopped by the first Ctrl-C; hand it to the engine.
    pub fn stopper(&self) -> &Stopper {
        &self.stopper
    }

    /// Whether Ctrl-C was pressed.
    pub fn interrupted(&self) -> bool {
        self.count.load(Ordering::SeqCst) > 0
    }

    /// Runs a blocking call (a preflight connection that may wait out a
    /// 60 s I/O timeout) on its own thread and returns its result, or `None`
    /// as soon as Ctrl-C is pressed: nothing was measured yet, so there is
    /// nothing to wait for. The abandoned thread ends with the process.
    pub fn abortable<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<Option<T>> {
        abortable(&self.stopper, f, std::time::Duration::ZERO)
    }

    /// As [`Interrupt::abortable`], for a call that tidies up after itself
    /// when it sees the stopper (a half-done upload removes its file): after
    /// Ctrl-C it is given up to `grace` to finish before it is abandoned.
    pub fn abortable_with_grace<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
        grace: std::time::Duration,
    ) -> anyhow::Result<Option<T>> {
        abortable(&self.stopper, f, grace)
    }
}

fn abortable<T: Send + 'static>(
    stopper: &Stopper,
    f: impl FnOnce() -> T + Send + 'static,
    grace: std::time::Duration,
) -> anyhow::Result<Option<T>> {
    let (tx, rx) = crossbeam::channel::bounded(1);
    std::thread::Builder::new()
        .name("abortable".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .context("starting a thread")?;
    let mut give_up_at = None;
    loop {
        if stopper.is_stopped() {
            let at = *give_up_at.get_or_insert_with(|| std::time::Instant::now() + grace);
            if std::time::Instant::now() >= at {
                return Ok(None);
            }
        }
        // Polled: the stopper wakes sleepers, not channel receivers; 50 ms is
        // far below what a person notices after pressing Ctrl-C.
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(v) => return Ok(Some(v)),
            Err(crossbeam::channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam::channel::RecvTimeoutError::Disconnected) => {
                anyhow::bail!("a worker thread panicked")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_abortable_call_returns_its_value_or_gives_up_when_stopped() {
        let s = Stopper::new();
        assert_eq!(abortable(&s, || 7, Duration::ZERO).unwrap(), Some(7));
        let (release, wait) = crossbeam::channel::bounded::<()>(0);
        let stopper = s.clone();
        let stop = std::thread::spawn(move || stopper.stop());
        // The call blocks until released; the stop must end the wait first.
        let got = abortable(
            &s,
            move || wait.recv_timeout(Duration::from_secs(30)),
            Duration::ZERO,
        );
        stop.join().unwrap();
        assert!(got.unwrap().is_none());
        drop(release);
    }

    #[test]
    fn a_call_that_tidies_up_gets_its_grace_after_the_stop() {
        let s = Stopper::new();
        s.stop();
        let seen = s.clone();
        // Sees the stop, then takes a moment to tidy up: within the grace.
        let got = abortable(
            &s,
            move || {
                assert!(seen.is_stopped());
                std::thread::sleep(Duration::from_millis(100));
                "removed"
            },
            Duration::from_secs(30),
        );
        assert_eq!(got.unwrap(), Some("removed"));
        // Past its grace, it is abandoned.
        let (_release, wait) = crossbeam::channel::bounded::<()>(0);
        let got = abortable(
            &s,
            move || wait.recv_timeout(Duration::from_secs(30)),
            Duration::from_millis(50),
        );
        assert!(got.unwrap().is_none());
    }
}
