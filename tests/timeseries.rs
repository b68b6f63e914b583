//! The time series of a real sftp-bench run against OpenSSH sshd:
//! `timeseries.csv` and `latency.hlog` are written as the run goes, one
//! flushed row per `--interval`, so a run killed with SIGKILL keeps every
//! interval it closed; and the rows of a finished run add up to its summary.

mod charts;
mod support;

use std::path::Path;
use std::process::Stdio;
use support::sshd::Sshd;
use xfer::report::format::{self, SummaryJson};
use xfer::report::{hlog, timeseries};

/// Complete data rows of `timeseries.csv` so far (a cut last line excluded).
fn rows(out: &Path) -> usize {
    let Ok(bytes) = std::fs::read(out.join(format::TIMESERIES_CSV)) else {
        return 0;
    };
    timeseries::read_csv(&bytes, Vec::new()).map_or(0, |(_, rows)| rows.len())
}

#[test]
fn a_run_killed_with_sigkill_keeps_every_closed_interval() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let out = work.path().join("run");
    let mut child = sshd
        .bench(sshd.target(&remote))
        .args(["--file-size", "64K", "-s", "8K", "-c", "2", "-d", "20ms"])
        .args([
            "--ramp-up",
            "0",
            "--duration",
            "120s",
            "--interval",
            "200ms",
        ])
        .arg("-o")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    support::wait::until(60, "no 3 rows within 60 s", || {
        let enough = rows(&out) >= 3;
        assert!(
            enough || child.try_wait().unwrap().is_none(),
            "the run ended early"
        );
        enough
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!out.join(format::SUMMARY_JSON).exists());

    let hlog_bytes = std::fs::read(out.join(format::LATENCY_HLOG)).unwrap();
    let logged = hlog::read(&hlog_bytes).unwrap();
    let csv = std::fs::read(out.join(format::TIMESERIES_CSV)).unwrap();
    let (kinds, rows) = timeseries::read_csv(&csv, logged.clone()).unwrap();
    assert!(kinds.iter().any(|k| k == "refused"), "{kinds:?}");
    assert!(rows.len() >= 3, "{} rows", rows.len());
    // Each row and its interval log line are written together per interval.
    assert!(
        logged.len() + 1 >= rows.len(),
        "{} vs {}",
        logged.len(),
        rows.len()
    );
    // Intervals follow each other on 200 ms wall-clock boundaries.
    for w in rows.windows(2) {
        assert_eq!(w[0].end, w[1].start);
        assert_eq!((w[0].end - w[0].start).num_milliseconds(), 200);
        assert_eq!(w[0].start.timestamp_subsec_millis() % 200, 0);
    }
    // The run was uploading throughout: the closed intervals hold its chunks.
    let ok: u64 = rows.iter().map(|r| r.steps_ok).sum();
    assert!(ok > 0, "no chunk in {} rows", rows.len());
    let chunks = std::fs::read_to_string(out.join(format::CHUNKS_CSV)).unwrap();
    assert!(ok <= chunks.lines().count() as u64);
}

#[test]
fn the_rows_of_a_finished_run_add_up_to_its_summary() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let out = work.path().join("run");
    let o = sshd
        .bench(sshd.target(&remote))
        .args(["--file-size", "128K", "-s", "16K", "-c", "3", "-d", "10ms"])
        .args(["--ramp-up", "300ms", "--interval", "100ms"])
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    support::assert_ok(&o);
    let logged = hlog::read(&std::fs::read(out.join(format::LATENCY_HLOG)).unwrap()).unwrap();
    let (_, rows) = timeseries::read_csv(
        &std::fs::read(out.join(format::TIMESERIES_CSV)).unwrap(),
        logged,
    )
    .unwrap();
    let s: SummaryJson =
        format::read_json(&out.join(format::SUMMARY_JSON), "summary.json").unwrap();
    let s = s.summary;
    assert_eq!(rows.iter().map(|r| r.steps_ok).sum::<u64>(), s.steps_ok);
    assert_eq!(
        rows.iter().map(|r| r.bytes).sum::<u64>(),
        s.throughput.bytes
    );
    assert_eq!(
        rows.iter().map(|r| r.failed_total()).sum::<u64>(),
        s.failed_attempts
    );
    let count: u64 = rows.iter().map(|r| r.response.summary().count).sum();
    assert_eq!(count, s.response().unwrap().latency.count);
    // Users that uploaded in an interval were active in it, the last one
    // (where they all finish) included.
    for r in &rows {
        if r.steps_ok + r.failed_total() > 0 {
            assert!(
                r.active_users > 0,
                "{} steps, 0 users at {}",
                r.steps_ok,
                r.start
            );
        }
    }
    assert!(rows.last().unwrap().active_users > 0);
    assert!(rows.iter().any(|r| r.active_users > 0));

    let o = support::xfer()
        .args(["perf", "plot"])
        .arg(&out)
        .output()
        .unwrap();
    support::assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("timeseries.png"));
    charts::assert_chart(&out.join("timeseries.png"));
}

#[test]
fn each_perf_run_has_its_time_series_and_perf_plot_draws_it() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("perf");
    let o = support::xfer()
        .args([
            "perf",
            "--clients",
            "1,3",
            "--requests",
            "300",
            "--warmup",
            "0",
        ])
        .args(["--rate", "1000", "--interval", "100ms", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    support::assert_ok(&o);
    let report: format::PerfReport =
        format::read_json(&out.join(format::PERF_JSON), "perf.json").unwrap();
    assert_eq!(report.settings.interval_s, Some(0.1));
    for run in &report.runs {
        let dir = out.join(format::TIMESERIES_DIR);
        let csv = dir.join(format::samples_file(run.clients, run.repeat));
        let logged = hlog::read(
            &std::fs::read(dir.join(format::hlog_file(run.clients, run.repeat))).unwrap(),
        )
        .unwrap();
        let (kinds, rows) = timeseries::read_csv(&std::fs::read(&csv).unwrap(), logged).unwrap();
        assert!(kinds.iter().any(|k| k == "refused"), "{kinds:?}");
        assert_eq!(
            rows.iter().map(|r| r.steps_ok).sum::<u64>(),
            run.requests,
            "{}",
            csv.display()
        );
        assert!(rows.iter().map(|r| r.active_users).max() == Some(run.clients));
    }
    let o = support::xfer()
        .args(["perf", "plot"])
        .arg(&out)
        .output()
        .unwrap();
    support::assert_ok(&o);
    for name in ["timeseries-c0001-r0.png", "timeseries-c0003-r0.png"] {
        charts::assert_chart(&out.join(name));
    }
}
