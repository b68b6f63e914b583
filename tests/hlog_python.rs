//! `latency.hlog` is only worth writing if other people's tools read it. This
//! test has a reader written independently of ours, the Python `hdrhistogram`
//! package's `HistogramLogReader` (PyPI `hdrhistogram`, module `hdrh`), read
//! a log our writer produced: every interval's start, count, max and
//! p50/p90/p99 must match what we recorded.
//!
//! The package is a peer like sshd: `scripts/test` installs it; under
//! `XFER_REQUIRE_PEERS=1` its absence fails the test, otherwise the test says
//! so and passes.

mod support;

use chrono::{DateTime, Utc};
use std::process::Command;
use std::time::Duration;
use xfer::load::{Event, Sample, MAX_PHASES};
use xfer::report::hlog::HlogWriter;
use xfer::report::timeseries::{IntervalClock, TimeSeries};

/// Reads the log and prints, per interval: absolute start (ms since the
/// epoch), count, max, p50, p90, p99.
const READER: &str = r#"
import sys
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
reader = HistogramLogReader(sys.argv[1], HdrHistogram(1, 3600 * 1000 * 1000, 3))
while True:
    h = reader.get_next_interval_histogram()
    if h is None:
        break
    print(round(h.get_start_time_stamp()), h.get_total_count(), h.get_max_value(),
          h.get_value_at_percentile(50), h.get_value_at_percentile(90),
          h.get_value_at_percentile(99))
"#;

fn python_hdrh() -> Option<()> {
    support::peer("python3")?;
    let ok = Command::new("python3")
        .args(["-c", "import hdrh.log"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if support::peers_required() {
            panic!("Python package `hdrhistogram` is missing and XFER_REQUIRE_PEERS=1 (pip install hdrhistogram)");
        }
        eprintln!("skipping: Python package `hdrhistogram` is not installed (set XFER_REQUIRE_PEERS=1 to fail instead)");
        return None;
    }
    Some(())
}

fn sample(started_ms: u64, write_us: u64) -> Event {
    let mut phases = [None; MAX_PHASES];
    phases[0] = Some(Duration::from_micros(write_us));
    Event::Sample(Sample {
        user: 0,
        pass: 0,
        step: 0,
        attempt: 1,
        offset: 0,
        bytes: 1,
        intended: Duration::from_millis(started_ms),
        started: Duration::from_millis(started_ms),
        elapsed: Duration::from_micros(write_us),
        phases,
        error: None,
    })
}

#[test]
fn python_hdrhistogram_reads_our_interval_log() {
    if python_hdrh().is_none() {
        return;
    }
    let origin: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-12-05T10:00:00.400Z")
        .unwrap()
        .to_utc();
    let clock = IntervalClock::new(origin, Duration::from_secs(1));
    let mut ts = TimeSeries::new(clock, &[], 0);
    // Four intervals: a fast one, an empty one, a wide spread, a 2-minute stall.
    for i in 0..500u64 {
        ts.observe(&sample(i, 200 + i % 50));
    }
    for i in 0..3000u64 {
        ts.observe(&sample(1_700 + i / 10, 100 + (i * 7919) % 900_000));
    }
    ts.observe(&sample(2_700, 120_000_000));
    ts.observe(&sample(2_750, 50));
    let rows = ts.finish(Duration::from_secs(123));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latency.hlog");
    let mut w = HlogWriter::new(
        std::fs::File::create(&path).unwrap(),
        &clock,
        origin,
        "write",
    )
    .unwrap();
    for r in &rows {
        w.write(r).unwrap();
    }
    drop(w);

    let out = Command::new("python3")
        .args(["-c", READER])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let got: Vec<Vec<u64>> = text
        .lines()
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(got.len(), rows.len(), "python read:\n{text}");
    let mut seen = 0;
    for (g, r) in got.iter().zip(&rows) {
        let s = r.response.summary();
        assert_eq!(g[0], r.start.timestamp_millis() as u64, "interval start");
        assert_eq!((g[1], g[2]), (s.count, s.max_us), "count and max of {g:?}");
        for (py, ours) in [(g[3], s.p50_us), (g[4], s.p90_us), (g[5], s.p99_us)] {
            // Within HDR precision: the two libraries round the target rank
            // differently (ceil vs round half up).
            assert!(
                py.abs_diff(ours) <= ours / 500 + 1,
                "{py} vs {ours} in {g:?}"
            );
        }
        seen += g[1];
    }
    assert_eq!(seen, 3502);
    assert!(
        got.iter().any(|g| g[1] == 0),
        "the empty interval is read too"
    );
}
