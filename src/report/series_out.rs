//! The live time series of one run: `timeseries.csv` and `latency.hlog`
//! written side by side from one [`TimeSeries`], as the run goes.
//!
//! sftp-bench and each perf run own one [`SeriesOut`] on the engine's caller
//! thread and hand it every event and every idle tick
//! ([`crate::load::run_ticking`]); each interval is written to both files and
//! flushed once it closes, so a run killed with -9 keeps every interval up
//! to the last one closed. A write error does not stop the measurement: the
//! first one is kept and returned by [`SeriesOut::finish`], after the run's
//! other files are written.

use super::hlog::HlogWriter;
use super::timeseries::{IntervalClock, IntervalRow, TimeSeries, TimeSeriesCsv};
use crate::load::Event;
use chrono::{DateTime, Utc};
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::Duration;

/// The writers of one run's time series.
pub struct SeriesOut {
    series: TimeSeries,
    csv: TimeSeriesCsv<File>,
    hlog: HlogWriter<File>,
    error: Option<io::Error>,
}

impl SeriesOut {
    /// Creates `csv_path` and `hlog_path` and writes their headers. `start`
    /// is the run's wall-clock origin (taken with its `Instant`), `interval`
    /// the row length, `kinds` the failure kinds with a column each,
    /// `phases[response_phase]` the phase the rows' latency is of.
    pub fn create(
        csv_path: &Path,
        hlog_path: &Path,
        start: DateTime<Utc>,
        interval: Duration,
        kinds: &[&str],
        phases: &[&str],
        response_phase: usize,
    ) -> io::Result<Self> {
        let clock = IntervalClock::new(start, interval);
        let series = TimeSeries::new(clock, kinds, response_phase);
        let csv = TimeSeriesCsv::new(File::create(csv_path)?, series.kinds())?;
        let hlog = HlogWriter::new(
            File::create(hlog_path)?,
            &clock,
            start,
            phases.get(response_phase).copied().unwrap_or("response"),
        )
        .map_err(io::Error::other)?;
        Ok(SeriesOut {
            series,
            csv,
            hlog,
            error: None,
        })
    }

    /// Folds in `event` (if any) and writes every interval that closed by
    /// `now` (time since the run's origin).
    pub fn observe(&mut self, event: Option<&Event>, now: Duration) {
        if let Some(e) = event {
            self.series.observe(e);
        }
        if now >= self.series.next_close_at() {
            let rows = self.series.take_closed(now);
            self.write(&rows);
        }
    }

    fn write(&mut self, rows: &[IntervalRow]) {
        for row in rows {
            let result = self
                .csv
                .write(row)
                .and_then(|()| self.hlog.write(row).map_err(io::Error::other));
            if let Err(e) = result {
                self.error.get_or_insert(e);
            }
        }
    }

    /// Writes the remaining intervals up to `end` (the run's elapsed time);
    /// the first write error of the run, if any.
    pub fn finish(mut self, end: Duration) -> io::Result<()> {
        let rows = self.series.finish(end);
        self.write(&rows);
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Sample, MAX_PHASES};

    #[test]
    fn rows_reach_both_files_as_intervals_close_and_the_rest_at_finish() {
        let dir = tempfile::tempdir().unwrap();
        let (csv, hlog) = (dir.path().join("t.csv"), dir.path().join("l.hlog"));
        let start = DateTime::parse_from_rfc3339("2026-12-05T10:00:00.900Z")
            .unwrap()
            .to_utc();
        let mut out = SeriesOut::create(
            &csv,
            &hlog,
            start,
            Duration::from_secs(1),
            &["refused"],
            &["connect", "write"],
            1,
        )
        .unwrap();
        let mut phases = [None; MAX_PHASES];
        phases[1] = Some(Duration::from_millis(3));
        out.observe(
            Some(&Event::Sample(Sample {
                user: 0,
                pass: 0,
                step: 0,
                attempt: 1,
                offset: 0,
                bytes: 10,
                intended: Duration::ZERO,
                started: Duration::ZERO,
                elapsed: Duration::from_millis(5),
                phases,
                error: None,
            })),
            Duration::from_millis(5),
        );
        let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
        assert_eq!(lines(&csv), 1, "only the header before the interval closes");
        // 10:00:01 + the grace period: the first interval (10:00:00) closes
        // on an idle tick, before any further event.
        out.observe(None, Duration::from_millis(400));
        assert_eq!(lines(&csv), 2);
        let text = std::fs::read_to_string(&csv).unwrap();
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("2026-12-05T10:00:00"),
            "{text}"
        );
        // Ends at 10:00:02.400: the intervals of 10:00:01 and 10:00:02 remain.
        out.finish(Duration::from_millis(1_500)).unwrap();
        assert_eq!(lines(&csv), 4);
        let logged = crate::report::hlog::read(&std::fs::read(&hlog).unwrap()).unwrap();
        assert_eq!(logged.len(), 3);
    }
}
