//! `xfer perf` end to end: against its embedded tcp-serve, a real nginx and
//! `xfer sftp-serve`; the CSV recounted from raw samples; the PNGs decoded;
//! `perf plot` on perf and sftp-bench run directories; bad input.

mod charts;
mod support;

use charts::assert_chart;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use support::rundir::{self, Row};
use support::{assert_ok, assert_usage, wait, xfer};
use xfer::report::LatencyHistogram;

fn perf(args: &[&str], out: &Path) -> Output {
    xfer()
        .arg("perf")
        .args(args)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .expect("run xfer perf")
}

fn num(row: &Row, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {:?}", row[col]))
}

/// Recounts a run's figures from its raw samples with an independent
/// histogram, and compares them with its perf.csv row.
fn recount(row: &Row, samples: &Path) {
    let rows = rundir::rows(samples);
    let ok: Vec<&Row> = rows.iter().filter(|r| r["error_kind"].is_empty()).collect();
    let errors = rows.len() - ok.len();
    let mut h = LatencyHistogram::new();
    let mut times: Vec<u64> = Vec::new();
    for r in &ok {
        let us: u64 = r["request_us"].parse().unwrap();
        h.record_us(us);
        times.push(us);
    }
    let s = h.summary();
    let ctx = format!("{}: {row:?}", samples.display());
    assert_eq!(num(row, "requests") as usize, ok.len(), "{ctx}");
    assert_eq!(num(row, "errors") as usize, errors, "{ctx}");
    let bytes: u64 = ok.iter().map(|r| r["bytes"].parse::<u64>().unwrap()).sum();
    assert_eq!(num(row, "bytes") as u64, bytes, "{ctx}");
    for (col, want) in [
        ("min_us", s.min_us),
        ("p50_us", s.p50_us),
        ("p90_us", s.p90_us),
        ("p95_us", s.p95_us),
        ("p99_us", s.p99_us),
        ("p999_us", s.p999_us),
        ("max_us", s.max_us),
    ] {
        assert_eq!(num(row, col) as u64, want, "{col} {ctx}");
    }
    // The histogram's mean is within its 0.1% precision of the exact one.
    let exact_mean = times.iter().sum::<u64>() as f64 / times.len() as f64;
    let mean = num(row, "mean_us");
    assert!(
        (mean - exact_mean).abs() <= exact_mean * 0.002 + 1.0,
        "mean {mean} vs {exact_mean} {ctx}"
    );
    // And the exact max and median agree within the same precision.
    times.sort_unstable();
    let exact_max = *times.last().unwrap();
    assert!(
        s.max_us.abs_diff(exact_max) <= exact_max / 1000 + 1,
        "{ctx}"
    );
    let rps = num(row, "requests_per_s");
    let elapsed = num(row, "elapsed_s");
    assert!(
        (rps - ok.len() as f64 / elapsed).abs() <= rps * 0.001 + 0.01,
        "{ctx}"
    );
}

#[test]
fn a_sweep_writes_one_row_per_point_and_repeat_that_a_recount_of_samples_confirms() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("run");
    let o = perf(
        &[
            "--clients",
            "1,2,4",
            "--requests",
            "50",
            "--repeat",
            "2",
            "--warmup",
            "0",
            "--samples",
        ],
        &out,
    );
    assert_ok(&o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("clients") && stdout.contains("medians of 2 runs"),
        "{stdout}"
    );

    let rows = rundir::rows(&out.join("perf.csv"));
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["clients"].clone(), r["repeat"].clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("1", "0"),
        ("1", "1"),
        ("2", "0"),
        ("2", "1"),
        ("4", "0"),
        ("4", "1"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(keys, want);
    for row in &rows {
        let clients: u32 = row["clients"].parse().unwrap();
        assert_eq!(num(row, "requests") as u32, 50 * clients, "{row:?}");
        assert_eq!(row["interrupted"], "false");
        assert!((num(row, "bytes") as u32) == 50 * clients * 4096, "{row:?}");
        let samples = out.join(format!("samples/c{clients:04}-r{}.csv", row["repeat"]));
        recount(row, &samples);
    }

    // perf.json holds the same runs, and medians of them per client count.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("perf.json")).unwrap()).unwrap();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), rows.len());
    for (run, row) in runs.iter().zip(&rows) {
        assert_eq!(run["clients"].to_string(), row["clients"]);
        assert_eq!(run["requests"].as_f64().unwrap(), num(row, "requests"));
        assert_eq!(
            run["latency"]["p99_us"].as_f64().unwrap(),
            num(row, "p99_us")
        );
        assert_eq!(
            run["latency"]["max_us"].as_f64().unwrap(),
            num(row, "max_us")
        );
    }
    let points = json["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    for (p, pair) in points.iter().zip(rows.chunks(2)) {
        let (a, b) = (num(&pair[0], "p50_us"), num(&pair[1], "p50_us"));
        assert_eq!(p["runs"], 2);
        assert_eq!(p["p50_us"]["min"].as_f64().unwrap(), a.min(b));
        assert_eq!(p["p50_us"]["max"].as_f64().unwrap(), a.max(b));
        assert_eq!(p["p50_us"]["median"].as_f64().unwrap(), (a + b) / 2.0);
    }
    assert_eq!(json["settings"]["clients"], serde_json::json!([1, 2, 4]));

    assert_chart(&out.join("latency.png"));
    assert_chart(&out.join("throughput.png"));
}

#[test]
fn perf_plot_redraws_a_sweep_from_json_or_csv_and_compares_two() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    for (dir, extra) in [(&a, "--new-connection"), (&b, "--repeat=1")] {
        assert_ok(&perf(
            &[
                "--clients",
                "1-3",
                "--requests",
                "20",
                "--warmup",
                "0",
                extra,
            ],
            dir,
        ));
    }
    for png in ["latency.png", "throughput.png"] {
        std::fs::remove_file(a.join(png)).unwrap();
    }
    assert_ok(&xfer().args(["perf", "plot"]).arg(&a).output().unwrap());
    assert_chart(&a.join("latency.png"));
    assert_chart(&a.join("throughput.png"));

    // Without perf.json, perf.csv is enough.
    std::fs::remove_file(b.join("perf.json")).unwrap();
    let redrawn = work.path().join("redrawn");
    assert_ok(
        &xfer()
            .args(["perf", "plot"])
            .arg(&b)
            .arg("-o")
            .arg(&redrawn)
            .output()
            .unwrap(),
    );
    assert_chart(&redrawn.join("latency.png"));

    let cmp = work.path().join("cmp");
    let o = xfer()
        .args(["perf", "plot", "--compare"])
        .arg(&a)
        .arg(&b)
        .arg("-o")
        .arg(&cmp)
        .output()
        .unwrap();
    assert_ok(&o);
    assert_chart(&cmp.join("compare-latency.png"));
    assert_chart(&cmp.join("compare-throughput.png"));
}

#[test]
fn perf_sweeps_a_real_nginx() {
    let Some(nginx) = support::nginx::Nginx::start() else {
        return;
    };
    nginx.put("4k.bin", &vec![7u8; 4096]);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("run");
    let target = format!("tcp://{}/4k.bin", nginx.addr);
    let o = perf(
        &[
            &target,
            "--clients",
            "1,4",
            "--requests",
            "100",
            "--warmup",
            "100ms",
        ],
        &out,
    );
    assert_ok(&o);
    let rows = rundir::rows(&out.join("perf.csv"));
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let clients: f64 = num(row, "clients");
        assert_eq!(num(row, "requests"), 100.0 * clients);
        assert_eq!(num(row, "errors"), 0.0);
        assert_eq!(num(row, "bytes"), 100.0 * clients * 4096.0);
    }
    let json = std::fs::read_to_string(out.join("perf.json")).unwrap();
    assert!(json.contains(&target), "{json}");
    assert_chart(&out.join("latency.png"));

    // A path nginx does not have is one clear error before any load.
    let o = perf(
        &[&format!("tcp://{}/missing", nginx.addr), "--clients", "1"],
        &work.path().join("x"),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("GET /missing") && err.contains("404"), "{err}");
}

#[test]
fn perf_sweeps_chunk_writes_to_xfer_sftp_serve() {
    let Some(server) = support::sftp_serve::XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let root = &server.root;

    let out = work.path().join("run");
    let o = server
        .perf("")
        .args([
            "--clients",
            "1,3",
            "--requests",
            "10",
            "-s",
            "32K",
            "--warmup",
            "0",
            "--samples",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_ok(&o);
    let rows = rundir::rows(&out.join("perf.csv"));
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let clients = num(row, "clients");
        assert_eq!(num(row, "requests"), 10.0 * clients, "{row:?}");
        assert_eq!(num(row, "bytes"), 10.0 * clients * 32768.0, "{row:?}");
        // The response time of a chunk is its write phase.
        let samples = out.join(format!("samples/c{:04}-r0.csv", clients as u32));
        let s = rundir::rows(&samples);
        assert_eq!(s.len(), 10 * clients as usize);
        let mut h = LatencyHistogram::new();
        for r in &s {
            h.record_us(r["write_us"].parse().unwrap());
        }
        assert_eq!(num(row, "p50_us") as u64, h.summary().p50_us);
    }
    assert_chart(&out.join("latency.png"));
    // The uploaded files are removed at the end.
    let left: Vec<_> = std::fs::read_dir(root).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn perf_plot_draws_an_sftp_bench_run_directory() {
    let work = tempfile::tempdir().unwrap();
    let run = work.path().join("bench");
    let o = xfer()
        .args(["sftp-bench", "--file-size", "1M"])
        .args(support::QUICK_CHUNKS)
        .args(["-c", "2", "-o"])
        .arg(&run)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ok(&o);
    let o = xfer().args(["perf", "plot"]).arg(&run).output().unwrap();
    assert_ok(&o);
    for png in [
        "chunk_latency.png",
        "latency_distribution.png",
        "user_throughput.png",
    ] {
        assert_chart(&run.join(png));
    }
    let cmp = work.path().join("cmp");
    let o = xfer()
        .args(["perf", "plot", "--compare"])
        .arg(&run)
        .arg(&run)
        .arg("-o")
        .arg(&cmp)
        .output()
        .unwrap();
    assert_ok(&o);
    assert_chart(&cmp.join("compare-latency_distribution.png"));

    // A perf run and an sftp-bench run do not compare.
    let p = work.path().join("perf");
    assert_ok(&perf(
        &["--clients", "1", "--requests", "5", "--warmup", "0"],
        &p,
    ));
    let o = xfer()
        .args(["perf", "plot", "--compare"])
        .arg(&p)
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot compare"));
}

#[test]
fn bad_client_lists_and_targets_get_one_line_naming_the_flag_and_exit_2() {
    let work = tempfile::tempdir().unwrap();
    for (args, want) in [
        (vec!["--clients", "0"], "--clients"),
        (vec!["--clients", "3-1"], "--clients"),
        (vec!["--clients", "x"], "--clients"),
        (vec!["--clients", "1..8x1"], "--clients"),
        (vec!["ftp://x"], "TARGET 'ftp://x'"),
        (vec!["tcp://127.0.0.1/x"], "TARGET"),
        (vec!["--requests", "0"], "--requests"),
        (vec!["--post-ratio", "2", "--post", "1K"], "--post-ratio"),
    ] {
        let o = perf(&args, &work.path().join("never"));
        eprintln!("{args:?}");
        assert_usage(&o, want);
    }
    assert!(!work.path().join("never").exists());
}

#[test]
fn ctrl_c_keeps_the_points_measured_draws_them_and_exits_130() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("run");
    let mut child = support::KillOnDrop(
        xfer()
            .args([
                "perf",
                "--clients",
                "1,2",
                "--duration",
                "2s",
                "--warmup",
                "0",
                "--samples",
                "-o",
            ])
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    // The header, then the first point's row: the second point is running.
    let mut line = String::new();
    for _ in 0..2 {
        line.clear();
        stdout.read_line(&mut line).unwrap();
    }
    assert!(line.trim_start().starts_with('1'), "{line}");
    // Interrupt in the middle of the second (2 s) point, once it has
    // measured something to keep: its sample file has rows on disk.
    let samples = out.join("samples").join("c0002-r0.csv");
    wait::until(10, "the second point wrote no sample", || {
        std::fs::read_to_string(&samples).map_or(0, |t| t.lines().count()) >= 2
    });
    child.interrupt();
    let status = wait::exit(&mut child.0, 30, "perf to exit after Ctrl-C");
    assert_eq!(status.code(), Some(130));
    let rows = rundir::rows(&out.join("perf.csv"));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["interrupted"], "false");
    assert_eq!(rows[1]["interrupted"], "true");
    assert!(num(&rows[1], "requests") > 0.0);
    let report: xfer::report::format::PerfReport =
        xfer::report::format::read_json(&out.join("perf.json"), "perf.json").unwrap();
    assert!(report.interrupted);
    assert_eq!(report.runs.len(), 2);
    assert_chart(&out.join("latency.png"));
}

/// Two sweeps started in the same second with the default run directory both
/// finish, each in its own directory.
#[test]
fn two_sweeps_started_together_each_get_their_own_directory() {
    let work = tempfile::tempdir().unwrap();
    let spawn = || {
        xfer()
            .args(["perf", "--clients", "1,2", "--requests", "20"])
            .current_dir(work.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let limit = std::time::Duration::from_secs(120);
    for o in [wait::output(a, limit), wait::output(b, limit)] {
        assert_ok(&o);
    }
    let runs: Vec<_> = std::fs::read_dir(work.path().join("xfer-results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in runs {
        assert_eq!(
            rundir::rows(&run.join("perf.csv")).len(),
            2,
            "{}",
            run.display()
        );
    }
}

#[test]
fn a_non_empty_out_dir_is_refused_with_exit_2_unless_overwrite() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("run");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("perf.csv"), "earlier run\n").unwrap();
    let o = perf(&["--clients", "1", "--requests", "5"], &out);
    assert_usage(&o, "--out");
    let err = support::stderr(&o);
    assert!(err.contains("--overwrite"), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("perf.csv")).unwrap(),
        "earlier run\n"
    );
    let o = perf(&["--clients", "1", "--requests", "5", "--overwrite"], &out);
    assert_ok(&o);
    assert_eq!(rundir::rows(&out.join("perf.csv")).len(), 1);
}

/// A server that answers `n` GETs (over any connections), then closes its
/// listener and the connection it is on: later requests are refused.
fn serve_then_refuse(n: usize) -> std::net::SocketAddr {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut served = 0;
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            'conn: loop {
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break 'conn;
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .unwrap();
                served += 1;
                if served == n {
                    return;
                }
            }
        }
    });
    addr
}

/// sftp-bench's rule: a run in which a user gave up exits 1, with every
/// file still written.
#[test]
fn a_sweep_in_which_a_client_gave_up_exits_1_and_still_writes_everything() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("run");
    // The preflight GET, then two of the client's five; the third is refused.
    let addr = serve_then_refuse(3);
    let o = perf(
        &[
            &format!("tcp://{addr}/x"),
            "--clients",
            "1",
            "--requests",
            "5",
            "--warmup",
            "0",
            "--retries",
            "1",
        ],
        &out,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("gave up"), "{err}");
    let rows = rundir::rows(&out.join("perf.csv"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(num(&rows[0], "users_gave_up"), 1.0);
    assert_eq!(num(&rows[0], "requests"), 2.0);
    assert!(out.join("perf.json").is_file());
    assert_chart(&out.join("latency.png"));
    assert_chart(&out.join("throughput.png"));
}
