//! The minimum transfer rate of `tcp-serve`: how slowly an upload body may
//! arrive, or a response be read, before the server gives up on it.
//!
//! A per-read timeout alone lets a client hold a connection (and its slot)
//! forever by sending a byte just before each read would time out; a
//! per-write timeout alone lets a reader hold a large download by draining
//! just enough to wake the blocked sender now and then. So a body (sent or
//! received) must also keep up with `--min-rate` bytes per second, on average,
//! with a credit capped at `--read-timeout`: the body starts with
//! `--read-timeout` of credit; every byte adds `1 / min_rate` seconds,
//! never beyond `--read-timeout` ahead of now; time spends it; at zero the
//! body is cut off (an upload gets 408; a response, already started, is
//! just closed). That is Apache mod_reqtimeout's
//! `body=T,MinRate=R` (every R bytes extend the timeout by one second),
//! with the extension capped so that a fast start buys no licence to
//! trickle afterwards. A client sending at a steady `r < min_rate` is cut
//! off after `--read-timeout / (1 - r / min_rate)`; one at or above it,
//! never. A pause is allowed up to `--read-timeout` (the per-read timeout,
//! which this subsumes). `min_rate == 0` turns the rate off and leaves the
//! per-read (per-write) timeout. A response counts bytes as the kernel
//! accepts them, so the client's and the server's socket buffers are a
//! head start of a few megabytes at most.
//!
//! For the connection cap, [`behind`] says whether a body in progress has
//! fallen below the minimum rate averaged since it started; such a body's
//! slot can be reclaimed for a newcomer (see `slots.rs`).

use std::time::{Duration, Instant};

/// The credit of one body in flight.
#[derive(Debug, Clone)]
pub(super) struct Pace {
    /// Bytes per second; 0: no minimum.
    min_rate: u64,
    /// Most credit a body may hold (the per-read timeout).
    cap: Duration,
    /// When the credit runs out.
    deadline: Instant,
}

impl Pace {
    /// A body starting at `now`, with `cap` of credit.
    pub(super) fn new(min_rate: u64, cap: Duration, now: Instant) -> Self {
        Self {
            min_rate,
            cap,
            deadline: now + cap,
        }
    }

    /// `n` bytes arrived at `now`.
    pub(super) fn arrived(&mut self, n: u64, now: Instant) {
        if n == 0 {
            return;
        }
        let limit = now + self.cap;
        self.deadline = if self.min_rate == 0 {
            limit
        } else {
            let earned = n as u128 * 1_000_000_000 / self.min_rate as u128;
            let earned = Duration::from_nanos(u64::try_from(earned).unwrap_or(u64::MAX));
            self.deadline
                .checked_add(earned)
                .map_or(limit, |d| d.min(limit))
        };
    }

    /// Credit left at `now`; zero: the body is too slow.
    pub(super) fn left(&self, now: Instant) -> Duration {
        self.deadline.saturating_duration_since(now)
    }

    /// When the credit runs out (if no byte arrives before).
    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Whether `bytes` received in `elapsed` fall below `min_rate` bytes per
/// second on average (never, when `min_rate` is 0).
pub(super) fn behind(min_rate: u64, bytes: u64, elapsed: Duration) -> bool {
    (bytes as u128) * 1_000_000_000 < (min_rate as u128) * elapsed.as_nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn credit_is_earned_by_bytes_spent_by_time_and_capped() {
        let t0 = Instant::now();
        let mut p = Pace::new(1000, 10 * S, t0);
        assert_eq!(p.left(t0), 10 * S);
        // 500 bytes at 1000 B/s earn 0.5 s, but the cap holds at t0.
        p.arrived(500, t0);
        assert_eq!(p.left(t0), 10 * S);
        // 4 s later, 2,000 bytes earn 2 s: 6 + 2 = 8 s left.
        let t4 = t0 + 4 * S;
        p.arrived(2000, t4);
        assert_eq!(p.left(t4), 8 * S);
        // A fast start of 64 KB buys no more than the cap.
        p.arrived(64_000, t4);
        assert_eq!(p.left(t4), 10 * S);
        assert_eq!(p.left(t4 + 10 * S), Duration::ZERO);
        assert_eq!(p.deadline(), t4 + 10 * S);
    }

    #[test]
    fn a_trickle_below_the_rate_runs_out_and_one_at_the_rate_never_does() {
        let t0 = Instant::now();
        // A byte every 0.9 s with a 1 s cap: no single read times out, yet
        // at 1000 B/s each byte earns only 1 ms.
        let mut slow = Pace::new(1000, S, t0);
        let mut t = t0;
        let mut reads = 0;
        while !slow.left(t).is_zero() {
            t += Duration::from_millis(900);
            slow.arrived(1, t);
            reads += 1;
        }
        assert_eq!(reads, 2, "cut off after the second byte");
        // 100 bytes every 0.1 s is exactly 1000 B/s: the credit holds.
        let mut steady = Pace::new(1000, S, t0);
        let mut t = t0;
        for _ in 0..1000 {
            t += Duration::from_millis(100);
            steady.arrived(100, t);
            assert_eq!(steady.left(t), S);
        }
    }

    #[test]
    fn rate_zero_is_only_the_per_read_timeout() {
        let t0 = Instant::now();
        let mut p = Pace::new(0, 2 * S, t0);
        let t = t0 + Duration::from_millis(1900);
        p.arrived(1, t);
        assert_eq!(p.left(t), 2 * S);
        p.arrived(0, t + S);
        assert_eq!(p.left(t + S), S, "no bytes, no credit");
        assert!(!behind(0, 0, 100 * S));
    }

    #[test]
    fn behind_compares_the_average_since_the_start() {
        assert!(behind(1000, 0, Duration::from_nanos(1)));
        assert!(behind(1000, 999, S));
        assert!(!behind(1000, 1000, S));
        assert!(!behind(1000, 0, Duration::ZERO));
        assert!(!behind(u64::MAX, u64::MAX, S));
    }
}
