//! CSV exporters. `chunks.csv` gets one row per attempt, written and flushed
//! as the attempt finishes, so a run killed at any point keeps what it
//! measured. High-rate sample files (perf's per-request samples) flush at most
//! every 100 ms instead, and at their end. `users.csv` is the seed's per-user
//! table. The column names are the run-directory format's
//! (`report::format::tables`).

use super::format::tables::{sample_columns, write_users, UserRow};
use super::recorder::UserSummary;
use crate::load::Sample;
use chrono::{DateTime, SecondsFormat, Utc};
use std::io::{self, Write};
use std::time::{Duration, Instant};

/// When rows reach the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// After every row: nothing measured is lost to a crash or a kill.
    EveryRow,
    /// When a row arrives this long after the last flush (for thousands of
    /// rows a second); call [`SampleCsv::flush`] at the end.
    AtMost(Duration),
}

/// Writes samples as CSV rows; the phase columns follow the workload's phases.
pub struct SampleCsv<W: Write> {
    out: csv::Writer<W>,
    phases: usize,
    flush: Flush,
    last_flush: Instant,
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl<W: Write> SampleCsv<W> {
    /// Starts a CSV with its header.
    pub fn new(out: W, phases: &[&str], flush: Flush) -> io::Result<Self> {
        let mut out = csv::WriterBuilder::new().from_writer(out);
        out.write_record(sample_columns(phases))?;
        out.flush()?;
        Ok(SampleCsv {
            out,
            phases: phases.len(),
            flush,
            last_flush: Instant::now(),
        })
    }

    /// Appends one row.
    pub fn write(&mut self, s: &Sample) -> io::Result<()> {
        let phases = self.phases;
        let mut buf = itoa::Buffer::new();
        for v in [
            u64::from(s.user),
            s.pass,
            s.step,
            u64::from(s.attempt),
            s.offset,
            s.bytes,
            us(s.intended),
            us(s.started),
        ] {
            self.out.write_field(buf.format(v))?;
        }
        for p in &s.phases[..phases] {
            match p {
                Some(d) => self.out.write_field(buf.format(us(*d)))?,
                None => self.out.write_field("")?,
            }
        }
        self.out.write_field(buf.format(us(s.elapsed)))?;
        match &s.error {
            Some(e) => {
                self.out.write_field(e.0)?;
                self.out.write_field(&e.1)?;
            }
            None => {
                self.out.write_field("")?;
                self.out.write_field("")?;
            }
        }
        self.out.write_record(None::<&[u8]>)?;
        match self.flush {
            Flush::EveryRow => self.flush()?,
            Flush::AtMost(d) if self.last_flush.elapsed() >= d => self.flush()?,
            Flush::AtMost(_) => {}
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.last_flush = Instant::now();
        self.out.flush()
    }

    /// Flushes and hands back the writer.
    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// `users.csv`: one row per user, with wall-clock UTC start and end.
pub fn users_csv(users: &[UserSummary], wall_start: DateTime<Utc>) -> io::Result<Vec<u8>> {
    let stamp = |d: Option<Duration>| {
        d.and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| (wall_start + d).to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    let rows: Vec<UserRow> = users
        .iter()
        .map(|u| UserRow {
            user: u.user,
            start: stamp(u.started),
            end: stamp(u.finished),
            total_s: u.total_time().as_secs_f64(),
            uploads: u.uploads,
            upload_s: u.upload_time.as_secs_f64(),
            errors: u.errors,
            bytes: u.bytes,
            mb_per_s: u.mb_per_sec(),
            gave_up: u.gave_up,
        })
        .collect();
    write_users(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::MAX_PHASES;

    #[test]
    fn a_row_has_one_field_per_header_column_and_escapes_messages() {
        let mut phases = [None; MAX_PHASES];
        phases[1] = Some(Duration::from_micros(1234));
        let s = Sample {
            user: 3,
            pass: 0,
            step: 7,
            attempt: 2,
            offset: 7 << 20,
            bytes: 0,
            intended: Duration::from_micros(10),
            started: Duration::from_micros(25),
            elapsed: Duration::from_micros(1300),
            phases,
            error: Some(Box::new(("write", "timed out, \"badly\"".to_string()))),
        };
        let mut w = SampleCsv::new(Vec::new(), &["connect", "write"], Flush::EveryRow).unwrap();
        w.write(&s).unwrap();
        let text = String::from_utf8(w.out.into_inner().unwrap()).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(r.headers().unwrap().len(), 13);
        let row = r.records().next().unwrap().unwrap();
        assert_eq!(row.len(), 13);
        assert_eq!(&row[2], "7");
        assert_eq!(&row[8], "");
        assert_eq!(&row[9], "1234");
        assert_eq!(&row[10], "1300");
        assert_eq!(&row[11], "write");
        assert_eq!(&row[12], "timed out, \"badly\"");
    }

    #[test]
    fn users_csv_stamps_wall_clock_times() {
        let start = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .unwrap()
            .to_utc();
        let u = UserSummary {
            user: 0,
            started: Some(Duration::from_millis(500)),
            finished: Some(Duration::from_millis(2500)),
            uploads: 4,
            upload_time: Duration::from_millis(800),
            errors: 1,
            bytes: 4_000_000,
            gave_up: false,
        };
        let text = String::from_utf8(users_csv(&[u], start).unwrap()).unwrap();
        let line = text.lines().nth(1).unwrap();
        assert_eq!(
            line,
            "0,2026-11-21T10:00:00.500Z,2026-11-21T10:00:02.500Z,2.000,4,0.800,1,4000000,2.000,false"
        );
    }
}
