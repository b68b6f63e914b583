//! `timeseries.csv` on disk: the writer a live run uses (one flushed row per
//! interval) and the reader `xfer merge` uses, which takes each interval's
//! histogram from `latency.hlog` because percentiles cannot be merged.

use super::IntervalRow;
use crate::report::histogram::LatencyHistogram;
use chrono::{DateTime, SecondsFormat, Utc};
use std::io::{self, Write};

/// The header of `timeseries.csv` for these failure kinds.
pub fn header(kinds: &[String]) -> Vec<String> {
    let mut h: Vec<String> = ["start", "end", "active_users", "steps_ok", "failed"]
        .map(String::from)
        .to_vec();
    h.extend(kinds.iter().map(|k| format!("failed_{k}")));
    h.push("failed_other".into());
    h.extend(["bytes", "mb_per_s", "p50_us", "p90_us", "p99_us", "max_us"].map(String::from));
    h
}

/// One CSV record for a row (same order as [`header`]).
pub fn record(row: &IntervalRow) -> Vec<String> {
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let s = row.response.summary();
    let mut r = vec![
        stamp(row.start),
        stamp(row.end),
        row.active_users.to_string(),
        row.steps_ok.to_string(),
        row.failed_total().to_string(),
    ];
    r.extend(row.failed.iter().map(u64::to_string));
    r.push(row.bytes.to_string());
    r.push(format!("{:.3}", row.mb_per_s()));
    r.extend([s.p50_us, s.p90_us, s.p99_us, s.max_us].map(|v| v.to_string()));
    r
}

/// `timeseries.csv` (or a `latency.hlog` to go with it) that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum TimeSeriesReadError {
    #[error("timeseries.csv: {0}")]
    Csv(String),
    #[error("timeseries.csv row {row}: {detail}")]
    Row { row: usize, detail: String },
}

/// Reads `timeseries.csv` back (for `xfer merge`): the failure kinds of its
/// `failed_<kind>` columns and its rows. The CSV holds percentiles, not
/// histograms: each row's `response` is taken from `hlog` (the run's
/// `latency.hlog`, read with [`crate::report::hlog::read`]) by interval start, and
/// left empty where the log has no such interval. A last line cut short by
/// a kill is ignored.
pub fn read_csv(
    bytes: &[u8],
    hlog: Vec<crate::report::hlog::HlogInterval>,
) -> Result<(Vec<String>, Vec<IntervalRow>), TimeSeriesReadError> {
    let complete = crate::report::format::tables::complete_records(bytes);
    let mut r = csv::Reader::from_reader(complete);
    let h = r
        .headers()
        .map_err(|e| TimeSeriesReadError::Csv(e.to_string()))?
        .clone();
    let kinds: Vec<String> = h
        .iter()
        .filter_map(|c| c.strip_prefix("failed_"))
        .filter(|k| *k != "other")
        .map(str::to_string)
        .collect();
    if h.iter().collect::<Vec<_>>() != header(&kinds) {
        return Err(TimeSeriesReadError::Csv(format!(
            "unexpected header: {}",
            h.iter().collect::<Vec<_>>().join(",")
        )));
    }
    let mut hists: std::collections::HashMap<DateTime<Utc>, LatencyHistogram> =
        hlog.into_iter().map(|i| (i.start, i.histogram)).collect();
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let row = i + 1;
        let bad = |detail: String| TimeSeriesReadError::Row { row, detail };
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        let time = |c: usize| {
            DateTime::parse_from_rfc3339(&rec[c])
                .map(|t| t.to_utc())
                .map_err(|e| bad(format!("{}: {e}", &h[c])))
        };
        let num = |c: usize| {
            rec[c]
                .parse::<u64>()
                .map_err(|_| bad(format!("{} is not a count: '{}'", &h[c], &rec[c])))
        };
        let start = time(0)?;
        // Columns: start, end, active_users, steps_ok, failed, failed_<kind>...,
        // failed_other, bytes, then rates and percentiles (recomputed, not read).
        let failed = (5..5 + kinds.len() + 1)
            .map(num)
            .collect::<Result<Vec<u64>, _>>()?;
        rows.push(IntervalRow {
            start,
            end: time(1)?,
            active_users: u32::try_from(num(2)?)
                .map_err(|_| bad("active_users too large".into()))?,
            steps_ok: num(3)?,
            failed,
            bytes: num(6 + kinds.len())?,
            response: hists.remove(&start).unwrap_or_default(),
        });
    }
    Ok((kinds, rows))
}

/// Writes `timeseries.csv`: the header at once, then each row flushed as it
/// is written (once per interval).
pub struct TimeSeriesCsv<W: Write> {
    out: csv::Writer<W>,
    columns: usize,
}

impl<W: Write> TimeSeriesCsv<W> {
    pub fn new(out: W, kinds: &[String]) -> io::Result<Self> {
        let mut out = csv::Writer::from_writer(out);
        let h = header(kinds);
        out.write_record(&h)?;
        out.flush()?;
        Ok(TimeSeriesCsv {
            out,
            columns: h.len(),
        })
    }

    pub fn write(&mut self, row: &IntervalRow) -> io::Result<()> {
        let r = record(row);
        debug_assert_eq!(r.len(), self.columns, "a row made with other kinds");
        self.out.write_record(&r)?;
        self.out.flush()
    }

    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{ms, sample, t};
    use super::super::{IntervalClock, TimeSeries};
    use super::*;
    use crate::load::Event;
    use std::time::Duration;

    #[test]
    fn rows_read_back_from_csv_and_hlog_are_the_rows_written() {
        let c = IntervalClock::new(t("2026-12-05T10:00:00.400Z"), Duration::from_secs(1));
        let mut ts = TimeSeries::new(c, &["refused", "auth"], 1);
        ts.observe(&Event::UserStarted {
            user: 0,
            at: Duration::ZERO,
        });
        for i in 0..50 {
            ts.observe(&sample(
                0,
                i * 40,
                1 + i % 9,
                (i % 7 == 0).then_some("refused"),
            ));
        }
        ts.observe(&sample(0, 1_900, 3, Some("brand_new")));
        let rows = ts.finish(ms(2_500));
        let mut csv = TimeSeriesCsv::new(Vec::new(), ts.kinds()).unwrap();
        let mut hlog = crate::report::hlog::HlogWriter::new(
            Vec::new(),
            &c,
            t("2026-12-05T10:00:00.400Z"),
            "write",
        )
        .unwrap();
        for r in &rows {
            csv.write(r).unwrap();
            hlog.write(r).unwrap();
        }
        let mut bytes = csv.into_inner().unwrap();
        bytes.extend_from_slice(b"2026-12-05T10:00:09.000Z,2026"); // cut by a kill
        let intervals = crate::report::hlog::read(&hlog.into_inner()).unwrap();
        let (kinds, back) = read_csv(&bytes, intervals).unwrap();
        assert_eq!(kinds, ["refused", "auth"]);
        assert_eq!(back.len(), rows.len());
        for (b, r) in back.iter().zip(&rows) {
            assert_eq!(
                (b.start, b.end, b.active_users),
                (r.start, r.end, r.active_users)
            );
            assert_eq!(
                (b.steps_ok, &b.failed, b.bytes),
                (r.steps_ok, &r.failed, r.bytes)
            );
            assert_eq!(b.response.summary(), r.response.summary());
        }
        assert!(read_csv(b"a,b\n1,2\n", Vec::new()).is_err());
    }

    /// Cost of the aggregation next to the recorder's, per event, for the
    /// "under 1% of throughput" bar: run with
    /// `cargo test --release --lib report::timeseries -- --ignored --nocapture`.
    #[test]
    fn csv_has_a_column_per_kind_and_one_record_per_row() {
        let c = IntervalClock::new(t("2026-12-05T10:00:00Z"), Duration::from_secs(1));
        let mut ts = TimeSeries::new(c, &["refused"], 1);
        ts.observe(&Event::UserStarted {
            user: 0,
            at: Duration::ZERO,
        });
        ts.observe(&sample(0, 100, 20, None));
        ts.observe(&sample(0, 200, 40, None));
        ts.observe(&sample(0, 300, 1, Some("refused")));
        let rows = ts.finish(ms(1_200));
        let mut w = TimeSeriesCsv::new(Vec::new(), ts.kinds()).unwrap();
        for r in &rows {
            w.write(r).unwrap();
        }
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "start,end,active_users,steps_ok,failed,failed_refused,failed_other,bytes,mb_per_s,p50_us,p90_us,p99_us,max_us"
        );
        assert_eq!(
            lines[1],
            "2026-12-05T10:00:00.000Z,2026-12-05T10:00:01.000Z,1,2,1,1,0,2000,0.002,20015,40031,40031,40031"
        );
        assert_eq!(
            lines[2],
            "2026-12-05T10:00:01.000Z,2026-12-05T10:00:02.000Z,1,0,0,0,0,0,0.000,0,0,0,0"
        );
        assert_eq!(lines.len(), 3);
    }
}
