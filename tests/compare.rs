//! `xfer compare` on real run directories written by the xfer binary: a
//! known 2x slowdown (the same server behind a 10 ms and a 20 ms delay proxy)
//! must be called slower, two runs of one configuration must not be called
//! different, and runs of different kinds are refused with one line.

mod support;

use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;
use support::delay_proxy::DelayProxy;
use support::sftp_serve::XferSftpServe;
use support::{assert_usage, run_ok, xfer};

/// Starts `xfer sftp-bench` through `proxy` to `server`: 1 user, 60 chunks of
/// 32 KiB back to back, so each write is about one round trip of the proxy.
fn bench_via(server: &XferSftpServe, proxy: SocketAddr, out: &Path) -> Child {
    server
        .command_via("sftp-bench", proxy, "")
        .args(["-c", "1", "--file-size", "1920K", "-s", "32K", "-d", "0"])
        .args(["--ramp-up", "0", "--io-timeout", "20s", "-o"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xfer sftp-bench")
}

fn finished(child: Child) {
    let o = support::wait::output(child, Duration::from_secs(120));
    support::assert_ran(&o, "sftp-bench");
}

/// Two benches side by side, so both see the same machine: the first
/// through `proxies.0` into `outs.0`, the second likewise; then
/// `compare --json` of the first (base) against the second.
fn side_by_side(
    server: &XferSftpServe,
    proxies: (SocketAddr, SocketAddr),
    outs: (&Path, &Path),
) -> Value {
    let (x, y) = (
        bench_via(server, proxies.0, outs.0),
        bench_via(server, proxies.1, outs.1),
    );
    finished(x);
    finished(y);
    json(&compare(&[outs.0, outs.1], &["--json"]))
}

fn compare(args: &[&Path], extra: &[&str]) -> Output {
    xfer()
        .arg("compare")
        .args(args)
        .args(extra)
        .output()
        .unwrap()
}

fn json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "compare failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("compare --json prints one JSON document")
}

fn row<'a>(c: &'a Value, metric: &str, stat: &str) -> &'a Value {
    c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["metric"] == metric && r["stat"] == stat && r.get("clients").is_none_or(|c| c == 1)
        })
        .unwrap_or_else(|| panic!("no row {metric} {stat} in {c}"))
}

#[test]
fn a_doubled_round_trip_is_called_slower() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (base, new) = (work.path().join("base"), work.path().join("new"));
    let near = DelayProxy::start(server.addr, Duration::from_millis(10));
    let far = DelayProxy::start(server.addr, Duration::from_millis(20));
    let c = side_by_side(&server, (near.addr, far.addr), (&base, &new));
    assert_eq!(c["kind"], "sftp-bench");
    let w = row(&c, "write", "p50");
    eprintln!("10 ms vs 20 ms proxy, write p50: {w}");
    let ratio = w["ratio"].as_f64().unwrap();
    assert!((1.5..2.6).contains(&ratio), "write p50 ratio {ratio}: {w}");
    assert_eq!(w["verdict"], "slower", "{w}");
    assert!(w["ci_low"].as_f64().unwrap() > 1.1, "{w}");
    // p90 of 60 samples has a wide interval when the machine jitters: it
    // may stay unjudged in either direction, but never points the wrong way.
    let p90 = row(&c, "write", "p90");
    assert_ne!(p90["verdict"], "faster", "{p90}");
    assert_eq!(row(&c, "write", "max")["verdict"], "not_judged");
    let headline = c["headline"][0].as_u64().unwrap() as usize;
    assert_eq!(&c["rows"][headline], w);
    assert!(c["settings_changed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["key"] == "target"));

    // The default output: Markdown with the hyperfine-style summary line.
    let md = compare(&[&base, &new], &[]);
    assert!(md.status.success());
    let text = String::from_utf8(md.stdout).unwrap();
    assert!(text.starts_with("# xfer compare: sftp-bench\n"), "{text}");
    let summary = text
        .lines()
        .find(|l| l.starts_with("- write p50: NEW is "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        summary.contains("x slower than BASE") && summary.ends_with(": slower"),
        "{summary}"
    );
    assert!(text.contains("| write | p50 |"), "{text}");

    // Swapped, the same difference is "faster".
    let swapped = json(&compare(&[&new, &base], &["--json"]));
    assert_eq!(row(&swapped, "write", "p50")["verdict"], "faster");
}

#[test]
fn two_runs_of_one_configuration_are_not_called_different() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    let proxy = DelayProxy::start(server.addr, Duration::from_millis(15));
    let c = side_by_side(&server, (proxy.addr, proxy.addr), (&a, &b));
    eprintln!(
        "one configuration twice, write p50: {}",
        row(&c, "write", "p50")
    );
    let judged: Vec<&Value> = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["verdict"] != "not_judged")
        .collect();
    assert!(
        judged
            .iter()
            .any(|r| r["metric"] == "write" && r["stat"] == "p50"),
        "{c}"
    );
    for r in judged {
        assert!(
            r["verdict"] == "no_difference" || r["verdict"] == "within_noise",
            "same configuration called different: {r}"
        );
    }
}

fn perf_run(out: &Path, samples: bool) {
    let mut args = vec![
        "perf",
        "--clients",
        "1,2",
        "--requests",
        "60",
        "--warmup",
        "0",
    ];
    if samples {
        args.push("--samples");
    }
    run_ok(&args, out);
}

#[test]
fn runs_of_different_kinds_and_other_directories_are_refused_with_one_line() {
    let work = tempfile::tempdir().unwrap();
    let (bench, perf) = (work.path().join("bench"), work.path().join("perf"));
    run_ok(
        &[
            "sftp-bench",
            "--file-size",
            "64K",
            "-s",
            "32K",
            "-c",
            "1",
            "-d",
            "0",
        ],
        &bench,
    );
    perf_run(&perf, false);
    assert_usage(
        &compare(&[&bench, &perf], &[]),
        &format!(
            "cannot compare runs of different kinds: BASE {} is sftp-bench, NEW {} is perf",
            bench.display(),
            perf.display()
        ),
    );
    assert_usage(&compare(&[&perf, &bench], &["--json"]), "BASE");
    assert_usage(
        &compare(&[&bench, work.path()], &[]),
        "not an xfer run directory",
    );
    assert_usage(
        &compare(&[&bench, &work.path().join("nope")], &[]),
        "not a directory",
    );
    assert_usage(
        &compare(&[&bench, &bench], &["--noise", "lots"]),
        "--noise must be",
    );
}

#[test]
fn perf_runs_compare_per_client_count_and_need_samples_for_a_verdict() {
    let work = tempfile::tempdir().unwrap();
    let (a, b, plain) = (
        work.path().join("a"),
        work.path().join("b"),
        work.path().join("plain"),
    );
    perf_run(&a, true);
    perf_run(&b, true);
    perf_run(&plain, false);
    let c = json(&compare(&[&a, &b], &["--json"]));
    assert_eq!(c["kind"], "perf");
    let rows = c["rows"].as_array().unwrap();
    for clients in [1, 2] {
        let p50 = rows
            .iter()
            .find(|r| r["clients"] == clients && r["metric"] == "request" && r["stat"] == "p50")
            .unwrap_or_else(|| panic!("no request p50 at {clients} clients: {c}"));
        assert_ne!(p50["verdict"], "not_judged", "{p50}");
        assert_eq!(p50["base_n"], 60 * clients, "{p50}");
        assert!(rows
            .iter()
            .any(|r| r["clients"] == clients && r["stat"] == "requests/s"));
    }
    assert_eq!(c["headline"].as_array().unwrap().len(), 2);

    let c = json(&compare(&[&a, &plain], &["--json"]));
    let p50 = row(&c, "request", "p50");
    assert_eq!(p50["verdict"], "not_judged");
    assert_eq!(p50["note"], "no raw samples (run perf with --samples)");
    assert!(p50["ratio"].as_f64().unwrap() > 0.0);
}

/// A merged run (two shards against one server) and an unmerged run of the
/// same configuration: where the merged directory came from (`merged` in its
/// run.json) is not a setting, so no setting differs.
#[test]
fn a_merged_run_and_an_unmerged_one_of_one_configuration_differ_in_no_setting() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let run = |out: &Path, shard: &str| {
        let o = server
            .bench("")
            .args(["-c", "2", "--file-size", "64K", "-s", "32K", "-d", "0"])
            .args(["--ramp-up", "0", "--shard", shard, "-o"])
            .arg(out)
            .output()
            .unwrap();
        support::assert_ok(&o);
    };
    let (whole, s0, s1, merged) = (
        work.path().join("whole"),
        work.path().join("s0"),
        work.path().join("s1"),
        work.path().join("merged"),
    );
    run(&whole, "0/1");
    run(&s0, "0/2");
    run(&s1, "1/2");
    let o = xfer()
        .arg("merge")
        .args([&s0, &s1])
        .arg("-o")
        .arg(&merged)
        .output()
        .unwrap();
    support::assert_ok(&o);
    for (base, new) in [(&whole, &merged), (&merged, &whole)] {
        let c = json(&compare(&[base, new], &["--json"]));
        let changed = &c["settings_changed"];
        assert_eq!(changed, &serde_json::json!([]), "{changed}");
    }
}

/// A run killed with -9 has no summary.json or users.csv yet, and the last
/// row of its chunks.csv may be cut short: it still compares, on its
/// complete rows.
#[test]
fn a_run_killed_mid_row_compares_on_its_complete_rows() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    let flags = ["sftp-bench", "--file-size", "256K", "-s", "16K", "-c", "1"];
    run_ok(&[&flags[..], &["-d", "0"]].concat(), &a);
    run_ok(&[&flags[..], &["-d", "0"]].concat(), &b);
    std::fs::remove_file(b.join("summary.json")).unwrap();
    std::fs::remove_file(b.join("users.csv")).unwrap();
    let chunks = std::fs::read(b.join("chunks.csv")).unwrap();
    std::fs::write(b.join("chunks.csv"), &chunks[..chunks.len() - 4]).unwrap();
    let complete = chunks.iter().filter(|&&c| c == b'\n').count() - 2;
    let c = json(&compare(&[&a, &b], &["--json"]));
    let w = row(&c, "write", "p50");
    assert_eq!(w["base_n"], 16, "{w}");
    assert_eq!(w["new_n"], complete, "{w}");
}
