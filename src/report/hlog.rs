//! `latency.hlog`: the response phase over time as an HdrHistogram interval
//! log, in the standard format that HdrHistogram's `HistogramLogProcessor`,
//! the Python `hdrhistogram` package (`hdrh.log.HistogramLogReader`) and
//! wrk2 / Gatling users' tooling read. That lets other people's tools replot
//! a run, and lets `xfer merge` add the shards' interval histograms exactly
//! (the CSV's percentiles cannot be merged, these histograms can).
//!
//! The format, as the Java `HistogramLogWriter` writes it:
//!
//! ```text
//! #[Histogram log format version 1.3]
//! #[xfer 0.1.0: write response time, values in microseconds, run started 2026-12-05T10:00:00.300Z]
//! #[StartTime: 1796464800.000 (seconds since epoch)]
//! #[BaseTime: 1796464800.000 (seconds since epoch)]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! 0.000,1.000,40031.000,HISTFAAAACl4nJNpmSzMwMDAxQABzFCaEUzOmNZg/wEi...
//! ```
//!
//! One line per interval: its start in seconds after BaseTime, its length, its
//! max, and the interval's histogram in V2 compressed encoding, base64.
//! Values are microseconds (a comment line says so): give
//! `HistogramLogProcessor -outputValueUnitRatio 1000` for milliseconds.
//! StartTime and BaseTime are both the start of the first wall-clock-aligned
//! interval, at or before the run's actual start (which a comment gives):
//! the Java and Python readers skip intervals that begin before StartTime, so
//! a StartTime at the run's exact start would hide its first interval.
//!
//! The header comes from the `hdrhistogram` crate's `IntervalLogWriterBuilder`
//! plus the Java writer's version and legend lines; interval lines from its
//! `IntervalLogWriter` with the V2 deflate serializer. Wiring: create one
//! [`HlogWriter`] next to the [`super::timeseries::TimeSeriesCsv`] and call
//! [`HlogWriter::write`] with the same [`IntervalRow`]s; each line is flushed,
//! so kill -9 keeps every closed interval. [`read`] parses a log back (for
//! `xfer merge`), tolerating a last line cut short by a kill.

use super::histogram::LatencyHistogram;
use super::timeseries::{IntervalClock, IntervalRow};
use chrono::{DateTime, Utc};
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry,
};
use hdrhistogram::serialization::V2DeflateSerializer;
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

/// The legend line the Java writer puts before the intervals.
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// Writing or reading an interval log failed.
#[derive(Debug, thiserror::Error)]
pub enum HlogError {
    #[error("writing the interval log: {0}")]
    Io(#[from] io::Error),
    #[error("encoding an interval histogram: {0}")]
    Encode(String),
    #[error("not an HdrHistogram interval log: cannot parse at byte {0}")]
    Parse(usize),
    #[error("interval log: {0}")]
    Histogram(#[from] super::histogram::HistogramDecodeError),
}

/// Writes `latency.hlog`, one flushed line per interval.
pub struct HlogWriter<W: Write> {
    out: W,
    serializer: V2DeflateSerializer,
    base: DateTime<Utc>,
}

fn system_time(t: DateTime<Utc>) -> SystemTime {
    SystemTime::from(t)
}

impl<W: Write> HlogWriter<W> {
    /// Writes the header. Intervals are timed from the first interval of
    /// `clock` (StartTime and BaseTime); `run_start`, the run's wall-clock
    /// origin, is noted in a comment.
    /// `what` names the recorded phase in a comment (e.g. `write`).
    pub fn new(
        mut out: W,
        clock: &IntervalClock,
        run_start: DateTime<Utc>,
        what: &str,
    ) -> Result<Self, HlogError> {
        let base = clock.start(clock.index(Duration::ZERO));
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment("[Histogram log format version 1.3]")
            .add_comment(&format!(
                "[xfer {}: {what} response time, values in microseconds, run started {}]",
                env!("CARGO_PKG_VERSION"),
                run_start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ))
            .with_start_time(system_time(base))
            .with_base_time(system_time(base))
            .begin_log_with(&mut out, &mut serializer)?;
        writeln!(out, "{LEGEND}")?;
        out.flush()?;
        Ok(HlogWriter {
            out,
            serializer,
            base,
        })
    }

    /// Appends one interval line and flushes it.
    pub fn write(&mut self, row: &IntervalRow) -> Result<(), HlogError> {
        self.write_interval(row.start, row.end, &row.response)
    }

    /// Appends the histogram of `[start, end)` and flushes it.
    pub fn write_interval(
        &mut self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        h: &LatencyHistogram,
    ) -> Result<(), HlogError> {
        let offset = (start - self.base).to_std().unwrap_or_default();
        let length = (end - start).to_std().unwrap_or_default();
        // A builder without headers writes nothing: it only lends the crate's
        // interval-line writer to this one line.
        let mut w =
            IntervalLogWriterBuilder::new().begin_log_with(&mut self.out, &mut self.serializer)?;
        w.write_histogram(h.hdr(), offset, length, None)
            .map_err(|e| HlogError::Encode(e.to_string()))?;
        self.out.flush()?;
        Ok(())
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One interval read back from a log.
#[derive(Debug, Clone)]
pub struct HlogInterval {
    pub start: DateTime<Utc>,
    pub length: Duration,
    pub histogram: LatencyHistogram,
}

/// Reads an interval log: intervals with absolute start times (BaseTime plus
/// the line's timestamp). A last line without its newline (a writer killed
/// mid-line) is dropped, not an error.
pub fn read(text: &[u8]) -> Result<Vec<HlogInterval>, HlogError> {
    let complete = match text.iter().rposition(|&b| b == b'\n') {
        Some(i) => &text[..=i],
        None => &[],
    };
    let mut base = Duration::ZERO;
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(complete) {
        match entry.map_err(|e| match e {
            hdrhistogram::serialization::interval_log::LogIteratorError::ParseError { offset } => {
                HlogError::Parse(offset)
            }
        })? {
            LogEntry::BaseTime(t) => base = t,
            LogEntry::StartTime(_) => {}
            LogEntry::Interval(i) => {
                let at = base + i.start_timestamp();
                let start = DateTime::<Utc>::from(SystemTime::UNIX_EPOCH + at);
                out.push(HlogInterval {
                    start,
                    length: i.duration(),
                    histogram: LatencyHistogram::from_base64(i.encoded_histogram())?,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::timeseries::TimeSeries;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn rows() -> (IntervalClock, Vec<IntervalRow>) {
        let clock = IntervalClock::new(t("2026-12-05T10:00:00.300Z"), Duration::from_secs(1));
        let mut ts = TimeSeries::new(clock, &[], 0);
        let mut rows = ts.finish(Duration::from_millis(2_500));
        for (i, r) in rows.iter_mut().enumerate() {
            for us in 1..=(100 * i as u64) {
                r.response.record_us(us * 37);
            }
        }
        (clock, rows)
    }

    #[test]
    fn writes_the_standard_header_and_one_line_per_interval() {
        let (clock, rows) = rows();
        let mut w =
            HlogWriter::new(Vec::new(), &clock, t("2026-12-05T10:00:00.300Z"), "write").unwrap();
        for r in &rows {
            w.write(r).unwrap();
        }
        let text = String::from_utf8(w.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#[Histogram log format version 1.3]");
        assert!(lines[1].starts_with("#[xfer "), "{}", lines[1]);
        assert_eq!(
            lines[2],
            format!(
                "#[StartTime: {}.000 (seconds since epoch)]",
                t("2026-12-05T10:00:00Z").timestamp()
            )
        );
        assert_eq!(
            lines[3],
            format!(
                "#[BaseTime: {}.000 (seconds since epoch)]",
                t("2026-12-05T10:00:00Z").timestamp()
            )
        );
        assert_eq!(lines[4], LEGEND);
        assert_eq!(lines.len(), 5 + 3);
        assert!(
            lines[5].starts_with("0.000,1.000,0.000,HISTF"),
            "{}",
            lines[5]
        );
        assert!(
            lines[7].starts_with("2.000,1.000,7403.000,HISTF"),
            "{}",
            lines[7]
        );
    }

    #[test]
    fn reads_back_what_it_wrote_even_when_cut_mid_line() {
        let (clock, rows) = rows();
        let mut w =
            HlogWriter::new(Vec::new(), &clock, t("2026-12-05T10:00:00.300Z"), "write").unwrap();
        for r in &rows {
            w.write(r).unwrap();
        }
        let mut bytes = w.into_inner();
        let back = read(&bytes).unwrap();
        assert_eq!(back.len(), rows.len());
        for (b, r) in back.iter().zip(&rows) {
            assert_eq!(b.start, r.start);
            assert_eq!(b.length, Duration::from_secs(1));
            assert_eq!(b.histogram.summary(), r.response.summary());
        }
        bytes.truncate(bytes.len() - 10);
        assert_eq!(read(&bytes).unwrap().len(), rows.len() - 1);
        assert!(read(b"not a log\nat all,,\n").is_err());
    }
}
