//! A stop signal that also wakes sleepers at once: Ctrl-C, a fatal error or a
//! deadline must not wait out a 5 s inter-chunk delay.

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cloneable handle; [`Stopper::stop`] from any thread (a signal handler
/// included) stops every user at its next step boundary.
#[derive(Debug, Clone)]
pub struct Stopper {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    stopped: AtomicBool,
    // Dropping the sender disconnects every receiver, which wakes sleepers.
    wake_tx: Mutex<Option<Sender<()>>>,
    wake_rx: Receiver<()>,
}

impl Default for Stopper {
    fn default() -> Self {
        Self::new()
    }
}

impl Stopper {
    pub fn new() -> Self {
        let (tx, rx) = channel::bounded(0);
        Stopper {
            inner: Arc::new(Inner {
                stopped: AtomicBool::new(false),
                wake_tx: Mutex::new(Some(tx)),
                wake_rx: rx,
            }),
        }
    }

    /// Asks every user to stop; idempotent.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        if let Ok(mut tx) = self.inner.wake_tx.lock() {
            tx.take();
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Sleeps until `deadline`; returns `false` if woken by [`Stopper::stop`].
    pub fn sleep_until(&self, deadline: Instant) -> bool {
        loop {
            if self.is_stopped() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            match self.inner.wake_rx.recv_timeout(deadline - now) {
                Err(RecvTimeoutError::Timeout) => return !self.is_stopped(),
                Err(RecvTimeoutError::Disconnected) => return false,
                Ok(()) => {}
            }
        }
    }

    /// Sleeps for `d`; returns `false` if woken by [`Stopper::stop`].
    pub fn sleep(&self, d: Duration) -> bool {
        self.sleep_until(Instant::now() + d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_wakes_a_long_sleep_at_once() {
        let s = Stopper::new();
        let s2 = s.clone();
        let t = std::thread::spawn(move || s2.sleep(Duration::from_secs(600)));
        s.stop();
        assert!(!t.join().unwrap());
        assert!(s.is_stopped());
        assert!(!s.sleep(Duration::from_secs(600)));
    }

    #[test]
    fn an_unstopped_sleep_completes() {
        assert!(Stopper::new().sleep(Duration::from_millis(1)));
    }
}
