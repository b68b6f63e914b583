//! Thresholds on real run directories written by the xfer binary: figures
//! read back from summary.json / perf.json, checked, and the JUnit report
//! read by an independent parser (Python's xml.etree, the peer here).
//!
//! The end-to-end exit-code tests drive `--fail-if` on sftp-bench and perf;
//! a subcommand whose --help does not list the flag fails them.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use support::rundir::{self, record_count};
use support::{assert_exit, assert_usage, peer, run_ok, xfer};
use xfer::cmd::thresholds::ThresholdArgs;
use xfer::perf::results::PerfReport;
use xfer::report::threshold::{self, Threshold};
use xfer::report::{junit, RunSummary};

const BENCH: &[&str] = &[
    "sftp-bench",
    "--file-size",
    "256K",
    "-s",
    "32K",
    "-c",
    "2",
    "-d",
    "0",
    "--ramp-up",
    "0",
];
const PERF: &[&str] = &[
    "perf",
    "--clients",
    "1,2",
    "--requests",
    "30",
    "--warmup",
    "0",
];

fn parse_all(exprs: &[&str]) -> Vec<Threshold> {
    exprs.iter().map(|e| threshold::parse(e).unwrap()).collect()
}

/// The JUnit file as an independent parser sees it: per suite, its counts and
/// per test case its name and failure message (null when it passed).
fn parsed_by_python(file: &Path) -> Option<Value> {
    let python = peer("python3")?;
    let script = r#"
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
def case(c):
    f = c.find("failure")
    return {"name": c.get("name"), "classname": c.get("classname"),
            "failure": None if f is None else f.get("message"), "text": None if f is None else f.text}
print(json.dumps({"root": root.tag, "tests": int(root.get("tests")), "failures": int(root.get("failures")),
    "suites": [{"name": s.get("name"), "tests": int(s.get("tests")), "failures": int(s.get("failures")),
                "timestamp": s.get("timestamp"), "cases": [case(c) for c in s.findall("testcase")]}
               for s in root.findall("testsuite")]}))
"#;
    let o = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python could not parse {}: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    Some(serde_json::from_slice(&o.stdout).unwrap())
}

#[test]
fn an_sftp_bench_run_is_checked_from_its_summary_and_its_junit_file_parses() {
    let work = tempfile::tempdir().unwrap();
    let run = work.path().join("run");
    run_ok(BENCH, &run);
    let summary: RunSummary = rundir::typed(&run.join("summary.json"));
    let chunks = record_count(&run.join("chunks.csv"));
    let report = threshold::check(
        &parse_all(&[
            "write.p99<1h",
            "write.p99<1us",
            "errors==0",
            "errors<0.1%",
            "users_gave_up==0",
            "throughput>1000GB/s",
            &format!("write.count=={chunks}"),
            "verify.p50<1s",
        ]),
        &summary,
    );
    let pass: Vec<bool> = report.results.iter().map(|r| r.pass).collect();
    // verify was not asked for, so it has no data: a gate never passes on nothing.
    assert_eq!(
        pass,
        [true, false, true, true, true, false, true, false],
        "{}",
        report.lines()
    );
    assert_eq!(report.results[6].measured, Some(16.0), "2 users x 8 chunks");
    let write_p99 = summary.response().unwrap().latency.p99_us as f64;
    assert_eq!(report.results[0].measured, Some(write_p99));

    let file = work.path().join("junit.xml");
    std::fs::write(
        &file,
        junit::render(
            "xfer sftp-bench",
            &report,
            chrono::Utc::now(),
            summary.elapsed_s,
        ),
    )
    .unwrap();
    let Some(x) = parsed_by_python(&file) else {
        return;
    };
    assert_eq!(
        (
            x["root"].as_str(),
            x["tests"].as_u64(),
            x["failures"].as_u64()
        ),
        (Some("testsuites"), Some(8), Some(3))
    );
    let suite = &x["suites"][0];
    assert_eq!(suite["name"], "xfer sftp-bench thresholds");
    let cases = suite["cases"].as_array().unwrap();
    assert_eq!(cases[0]["name"], "write.p99<1h");
    assert_eq!(cases[0]["failure"], Value::Null);
    assert_eq!(cases[1]["name"], "write.p99<1us");
    assert_eq!(
        cases[1]["failure"],
        format!("write.p99 is {}", report.results[1].measured_text)
    );
    assert_eq!(cases[1]["text"], report.results[1].to_string());
    assert_eq!(
        cases[7]["failure"],
        "verify.p50 is no data (no completed step timed verify)"
    );
}

#[test]
fn a_perf_run_is_checked_at_every_client_count() {
    let work = tempfile::tempdir().unwrap();
    let run = work.path().join("run");
    run_ok(PERF, &run);
    let report: PerfReport = rundir::typed(&run.join("perf.json"));
    let file = work.path().join("perf-junit.xml");
    let gate = ThresholdArgs {
        fail_if: vec!["request.p50<1us".into(), "errors==0".into()],
        junit: Some(file.clone()),
    }
    .parse(&["connect", "request"])
    .unwrap();
    let r = gate
        .check_sweep(&report.runs, "request", "xfer perf")
        .unwrap()
        .unwrap();
    let lines: Vec<String> = r.results.iter().map(|r| r.to_string()).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        lines[0].starts_with("FAIL request.p50<1us at 1 clients, run 1 (measured "),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("FAIL request.p50<1us at 2 clients, run 1"),
        "{lines:?}"
    );
    assert_eq!(lines[2], "PASS errors==0 at 1 clients, run 1 (measured 0)");
    assert_eq!(lines[3], "PASS errors==0 at 2 clients, run 1 (measured 0)");
    assert!(!r.pass);
    let Some(x) = parsed_by_python(&file) else {
        return;
    };
    assert_eq!(
        (x["tests"].as_u64(), x["failures"].as_u64()),
        (Some(4), Some(2))
    );
    let names: Vec<&str> = x["suites"][0]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "request.p50<1us at 1 clients, run 1",
            "request.p50<1us at 2 clients, run 1",
            "errors==0 at 1 clients, run 1",
            "errors==0 at 2 clients, run 1"
        ]
    );
}

/// Fails unless `xfer SUBCOMMAND --help` lists `--fail-if` and `--junit`.
fn assert_wired(subcommand: &str) {
    let help = xfer().args([subcommand, "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["--fail-if", "--junit"] {
        assert!(text.contains(flag), "`xfer {subcommand}` has no {flag}");
    }
}

fn run(args: &[&str], out: &Path, extra: &[&str]) -> Output {
    xfer()
        .args(args)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn sftp_bench_exits_3_on_a_failed_threshold_after_writing_everything() {
    assert_wired("sftp-bench");
    let work = tempfile::tempdir().unwrap();
    let junit_file = work.path().join("j.xml");
    let o = run(
        BENCH,
        &work.path().join("fail"),
        &[
            "--fail-if",
            "write.p99<1us",
            "--fail-if",
            "errors==0",
            "--junit",
            junit_file.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 3);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL write.p99<1us (measured ")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l == "PASS errors==0 (measured 0)"),
        "{out}"
    );
    for f in ["run.json", "chunks.csv", "users.csv", "summary.json"] {
        assert!(
            work.path().join("fail").join(f).is_file(),
            "{f} not written"
        );
    }
    let summary = rundir::summary(&work.path().join("fail"));
    assert_eq!(summary["thresholds"]["pass"], false, "{summary}");
    assert_eq!(
        summary["thresholds"]["results"].as_array().map(Vec::len),
        Some(2)
    );
    if let Some(x) = parsed_by_python(&junit_file) {
        assert_eq!(
            (x["tests"].as_u64(), x["failures"].as_u64()),
            (Some(2), Some(1))
        );
    }

    let o = run(
        BENCH,
        &work.path().join("pass"),
        &["--fail-if", "write.p99<1h", "--fail-if", "users_gave_up==0"],
    );
    assert_exit(&o, 0);

    let o = run(
        BENCH,
        &work.path().join("bad"),
        &["--fail-if", "write.p99<<1s"],
    );
    assert_usage(&o, "--fail-if 'write.p99<<1s'");
    let err = support::stderr(&o);
    assert!(err.starts_with("xfer: error: --fail-if 'write.p99<<1s': '<<' is not an operator; expected METRIC OP VALUE"), "{err}");
}

#[test]
fn perf_exits_3_when_a_threshold_fails_at_some_client_count() {
    assert_wired("perf");
    let work = tempfile::tempdir().unwrap();
    let o = run(
        PERF,
        &work.path().join("fail"),
        &["--fail-if", "request.p50<1us"],
    );
    assert_exit(&o, 3);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("FAIL request.p50<1us at "))
            .count(),
        2,
        "{out}"
    );
    let report = rundir::json(&work.path().join("fail/perf.json"));
    assert_eq!(
        report["thresholds"]["results"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    let o = run(PERF, &work.path().join("pass"), &["--fail-if", "errors==0"]);
    assert_exit(&o, 0);
}
