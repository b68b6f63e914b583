//! The examples run here, with short settings, so that they cannot rot:
//! `examples/custom_workload.rs` is compiled into this test and swept, and
//! each recipe in `examples/recipes/` runs against the `xfer` binary. Their
//! output files are read back through the typed run-directory formats.

mod charts;
mod support;

#[allow(dead_code)] // its `main` is for `cargo run --example`
#[path = "../examples/custom_workload.rs"]
mod custom_workload;

use charts::assert_chart;
use std::path::{Path, PathBuf};
use std::process::Command;
use xfer::report::format::{self, PerfReport, RunManifest, SummaryJson, FORMAT_VERSION};

fn recipe(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/recipes")
        .join(name)
}

/// Runs a recipe with `sh`, `xfer` being the binary under test.
fn run_recipe(name: &str, out: &Path, env: &[(&str, &str)]) {
    let o = Command::new("sh")
        .arg(recipe(name))
        .env("XFER", support::xfer_bin())
        .env("OUT", out)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    support::assert_ran(&o, name);
}

fn perf_report(dir: &Path) -> PerfReport {
    format::read_json(&dir.join(format::PERF_JSON), "perf.json").unwrap()
}

#[test]
fn the_custom_workload_example_sweeps_its_echo_server_through_the_unchanged_engine() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("echo");
    let report = custom_workload::sweep_echo(&out, &[1, 2], 50).unwrap();
    assert_eq!(report.runs.len(), 2);
    for (run, clients) in report.runs.iter().zip([1, 2]) {
        assert_eq!(
            (run.clients, run.requests, run.errors),
            (clients, 50 * u64::from(clients), 0)
        );
        assert!(run.latency.p50_us > 0);
    }
    assert_eq!(perf_report(&out), report);
    let samples = std::fs::read(out.join("samples/c0002-r0.csv")).unwrap();
    let table = format::tables::read_samples(&samples, Path::new("c0002-r0.csv")).unwrap();
    assert_eq!(table.phases, ["connect", "echo"]);
    assert_eq!(table.rows.len(), 100);
    assert_chart(&out.join("latency.png"));
    assert_chart(&out.join("throughput.png"));
}

#[test]
fn the_sweep_recipe_writes_two_sweeps_and_their_comparison() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("sweep");
    run_recipe(
        "sweep-with-charts.sh",
        &out,
        &[
            ("CLIENTS", "1,2"),
            ("REQUESTS", "20"),
            ("REPEAT", "2"),
            ("WARMUP", "0"),
        ],
    );
    for (dir, what) in [
        ("keep-alive", "keep-alive"),
        ("new-connection", "new connection per request"),
    ] {
        let r = perf_report(&out.join(dir));
        assert_eq!(r.format_version, FORMAT_VERSION);
        assert!(r.workload.contains(what), "{}", r.workload);
        assert_eq!(r.runs.len(), 4, "{dir}");
        assert!(r.runs.iter().all(|p| p.errors == 0), "{dir}");
        assert_chart(&out.join(dir).join("latency.png"));
        assert_chart(&out.join(dir).join("throughput.png"));
    }
    assert_chart(&out.join("compare/compare-latency.png"));
    assert_chart(&out.join("compare/compare-throughput.png"));
}

#[test]
fn the_keep_open_vs_reconnect_recipe_benches_one_server_both_ways() {
    if support::peer("ssh-keygen").is_none() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("modes");
    run_recipe(
        "keep-open-vs-reconnect.sh",
        &out,
        &[
            ("USERS", "2"),
            ("FILE_SIZE", "512K"),
            ("CHUNK", "128K"),
            ("DELAY", "0"),
        ],
    );
    let mut targets = Vec::new();
    for mode in ["keep-open", "reconnect"] {
        let dir = out.join(mode);
        let m: RunManifest = format::read_json(&dir.join(format::RUN_JSON), "run.json").unwrap();
        assert_eq!(serde_json::to_value(m.mode).unwrap(), mode);
        targets.push(m.target);
        let s: SummaryJson =
            format::read_json(&dir.join(format::SUMMARY_JSON), "summary.json").unwrap();
        assert_eq!((s.summary.steps_ok, s.summary.users_gave_up), (8, 0));
        // Reconnect mode logs in for every chunk: 4 per user, not 1.
        let auth = s.summary.phases.iter().find(|p| p.name == "auth").unwrap();
        let want = if mode == "reconnect" { 8 } else { 2 };
        assert_eq!(auth.latency.count, want, "{mode}");
    }
    assert_eq!(targets[0], targets[1], "the same server both times");
    assert_chart(&out.join("compare/compare-latency_distribution.png"));
}
