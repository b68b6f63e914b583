//! When each step is meant to start. Pure arithmetic, kept apart from the
//! threads so that it can be tested exactly.

use std::time::Duration;

/// How a user paces its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Pause this long after each step ends (the seed's behaviour). A slow
    /// server slows the schedule down with it ("closed" model).
    Delay(Duration),
    /// Start steps on a fixed grid, one every `interval`, whatever the server
    /// does ("open" model, as wrk2). A step that could not start on time is
    /// late, and its lateness counts in the schedule-true latency.
    Interval(Duration),
}

impl Pacing {
    /// A fixed rate of `per_sec` steps per second per user.
    pub fn rate(per_sec: f64) -> Option<Pacing> {
        (per_sec.is_finite() && per_sec > 0.0)
            .then(|| Duration::try_from_secs_f64(1.0 / per_sec).ok())
            .flatten()
            .map(Pacing::Interval)
    }
}

/// Intended start times of one user's steps, as offsets from the run start.
#[derive(Debug, Clone)]
pub struct Schedule {
    pacing: Pacing,
    origin: Duration,
    steps: u64,
    next: Duration,
}

impl Schedule {
    /// A schedule whose first step is meant to start at `origin`.
    pub fn new(pacing: Pacing, origin: Duration) -> Self {
        Schedule {
            pacing,
            origin,
            steps: 0,
            next: origin,
        }
    }

    /// When the next step is meant to start.
    pub fn intended(&self) -> Duration {
        self.next
    }

    /// Records that a step ended at `ended` and moves to the next one.
    pub fn advance(&mut self, ended: Duration) {
        self.steps += 1;
        self.next = match self.pacing {
            Pacing::Delay(d) => ended + d,
            Pacing::Interval(i) => self.origin + i * self.steps as u32,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delay_follows_the_end_of_the_previous_step() {
        let mut s = Schedule::new(Pacing::Delay(100 * MS), 50 * MS);
        assert_eq!(s.intended(), 50 * MS);
        s.advance(80 * MS);
        assert_eq!(s.intended(), 180 * MS);
        s.advance(500 * MS); // a slow step pushes everything after it
        assert_eq!(s.intended(), 600 * MS);
    }

    #[test]
    fn interval_stays_on_the_grid_even_when_steps_run_late() {
        let mut s = Schedule::new(Pacing::Interval(100 * MS), 10 * MS);
        s.advance(20 * MS);
        assert_eq!(s.intended(), 110 * MS);
        s.advance(2000 * MS); // a 2 s stall does not move the grid
        assert_eq!(s.intended(), 210 * MS);
        s.advance(2001 * MS);
        assert_eq!(s.intended(), 310 * MS);
    }

    #[test]
    fn rate_rejects_nonsense() {
        assert_eq!(Pacing::rate(4.0), Some(Pacing::Interval(250 * MS)));
        assert_eq!(Pacing::rate(0.0), None);
        assert_eq!(Pacing::rate(-1.0), None);
        assert_eq!(Pacing::rate(f64::NAN), None);
    }
}
