//! `xfer merge` on real run directories: sftp-bench runs of one
//! configuration against `xfer sftp-serve` (each run stands for a shard; the
//! runs differ only in the fields shards differ in), merged on the file layer
//! and read back by `perf plot`. Merged figures are checked against the
//! shards' own files, never against constants.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use support::rundir::{self, column, column_sum, completed_histogram, json, phase};
use support::sftp_serve::XferSftpServe;
use support::{assert_ok, stderr, xfer};
use xfer::report::histogram::LatencyHistogram;

fn bench(server: &XferSftpServe, src: &Path, out: &Path, chunk: &str) -> Output {
    server
        .bench("up")
        .args(["-c", "2", "-s", chunk, "-d", "0", "--ramp-up", "0", "-f"])
        .arg(src)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

fn merge(dirs: &[&Path], out: &Path, extra: &[&str]) -> Output {
    xfer()
        .arg("merge")
        .args(dirs)
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

/// (shard, failed) of every row of a chunks.csv.
fn chunk_rows(path: &Path) -> Vec<(Option<String>, bool)> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    let shard = h.iter().position(|c| c == "shard");
    let k = h.iter().position(|c| c == "error_kind").unwrap();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (shard.map(|s| rec[s].to_string()), !rec[k].is_empty())
        })
        .collect()
}

/// Three runs of one configuration, merged: counts and bytes are the sums,
/// percentiles those of one histogram of every row, rows carry their shard,
/// and `perf plot` draws the merged directory.
#[test]
fn three_runs_merge_into_one_that_every_reader_takes() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    std::fs::create_dir(server.root.join("up")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let (src, data) = rundir::source_file(work.path(), "src.bin", 200_000);
    let shards: Vec<PathBuf> = (0..3).map(|i| work.path().join(format!("s{i}"))).collect();
    for s in &shards {
        assert_ok(&bench(&server, &src, s, "64K"));
    }
    let out = work.path().join("merged");
    let refs: Vec<&Path> = shards.iter().map(PathBuf::as_path).collect();
    let o = merge(&refs, &out, &[]);
    assert_ok(&o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("merged 3 sftp-bench shards"), "{stdout}");
    assert!(stdout.contains("start skew: "), "{stdout}");

    // Counts and bytes are the sums of the shards'.
    let m = json(&out.join("summary.json"));
    let bytes = rundir::assert_summary_is_the_sum(&shards, &m);
    assert_eq!(bytes, 6 * data.len() as u64);

    // Rows: every shard's, each once, with its shard.
    let merged = chunk_rows(&out.join("chunks.csv"));
    let mut all = 0;
    for (i, s) in shards.iter().enumerate() {
        let own = rundir::record_count(&s.join("chunks.csv"));
        let tagged: Vec<_> = merged
            .iter()
            .filter(|r| r.0.as_deref() == Some(&i.to_string()))
            .collect();
        assert_eq!(tagged.len(), own, "shard {i}'s rows");
        all += own;
    }
    assert_eq!(merged.len(), all);

    // Percentiles: those of one histogram of the concatenated rows.
    let mut h = LatencyHistogram::new();
    for s in &shards {
        h.add(&completed_histogram(&s.join("chunks.csv"), "write"));
    }
    let want = h.summary();
    let write = phase(&m, "write");
    for (k, v) in [
        ("p50_us", want.p50_us),
        ("p90_us", want.p90_us),
        ("p99_us", want.p99_us),
        ("max_us", want.max_us),
    ] {
        assert_eq!(write[k].as_u64().unwrap(), v, "{k}");
    }

    // run.json: the whole run's remote files, none twice, all uploaded whole.
    let run = json(&out.join("run.json"));
    let files: Vec<&str> = run["remote_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let unique: std::collections::HashSet<_> = files.iter().collect();
    assert_eq!((files.len(), unique.len()), (6, 6));
    for f in &files {
        let local = server.root.join(f.trim_start_matches('/'));
        assert!(std::fs::read(&local).unwrap() == data, "{f}");
    }
    assert_eq!(run["merged"]["shards"].as_array().unwrap().len(), 3);

    // users.csv: every user once.
    let users = std::fs::read_to_string(out.join("users.csv")).unwrap();
    assert!(users.starts_with("shard,user,"), "{users}");
    assert_eq!(users.lines().count(), 1 + 6);

    // Time series, when the shards wrote them: rows add up to the totals.
    if shards[0].join("timeseries.csv").is_file() {
        let total = column_sum(&out.join("timeseries.csv"), "steps_ok");
        assert_eq!(total, m["steps_ok"].as_u64().unwrap());
    }

    // perf plot and compare read it like any run.
    let plot = xfer().args(["perf", "plot"]).arg(&out).output().unwrap();
    assert_ok(&plot);
    assert!(rundir::png_count(&out) > 0, "perf plot drew no chart");

    // OUT is a run directory now: a second merge into it is refused...
    let again = merge(&refs, &out, &[]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));
    // ...unless --overwrite.
    assert_ok(&merge(&refs, &out, &["--overwrite"]));
    // The same shard twice would count it twice.
    let twice = merge(&[refs[0], refs[0]], &work.path().join("twice"), &[]);
    assert_eq!(twice.status.code(), Some(2), "{}", stderr(&twice));
    assert!(
        stderr(&twice).contains("same shard given twice"),
        "{}",
        stderr(&twice)
    );
}

/// A run of another configuration is refused in one line naming the field;
/// a directory that is no run is refused; a killed shard (no summary.json,
/// its last row cut) is merged from its rows with a warning.
#[test]
fn mismatched_runs_are_refused_and_a_killed_shard_keeps_its_rows() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    std::fs::create_dir(server.root.join("up")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src.bin");
    std::fs::write(&src, vec![7u8; 150_000]).unwrap();
    let (a, b, other) = (
        work.path().join("a"),
        work.path().join("b"),
        work.path().join("other"),
    );
    assert_ok(&bench(&server, &src, &a, "32K"));
    assert_ok(&bench(&server, &src, &b, "32K"));
    assert_ok(&bench(&server, &src, &other, "64K"));

    let o = merge(&[&a, &other], &work.path().join("m1"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(
        e.contains("not shards of one run: chunk_size differs"),
        "{e}"
    );
    assert!(e.contains("32768") && e.contains("65536"), "{e}");

    let o = merge(&[&a, work.path()], &work.path().join("m2"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a run directory"), "{}", stderr(&o));

    // b is "killed": no summary.json or users.csv, its last row cut.
    std::fs::remove_file(b.join("summary.json")).unwrap();
    std::fs::remove_file(b.join("users.csv")).unwrap();
    let chunks = std::fs::read(b.join("chunks.csv")).unwrap();
    let kept = rundir::record_count(&b.join("chunks.csv")) - 1;
    std::fs::write(b.join("chunks.csv"), &chunks[..chunks.len() - 4]).unwrap();
    let out = work.path().join("m3");
    let o = merge(&[&a, &b], &out, &[]);
    assert_ok(&o);
    let e = stderr(&o);
    assert!(
        e.contains(&format!("incomplete shard {}", b.display()))
            && e.contains(&format!("{kept} chunks.csv rows")),
        "{e}"
    );
    let rows = chunk_rows(&out.join("chunks.csv"));
    assert_eq!(
        rows.iter().filter(|r| r.0.as_deref() == Some("1")).count(),
        kept
    );
    let ok_a = json(&a.join("summary.json"))["steps_ok"].as_u64().unwrap();
    let ok_b = rows
        .iter()
        .filter(|r| r.0.as_deref() == Some("1") && !r.1)
        .count() as u64;
    let m = json(&out.join("summary.json"));
    assert_eq!(m["steps_ok"].as_u64().unwrap(), ok_a + ok_b);
    assert_eq!(m["interrupted"], Value::Bool(true));
}

/// Two perf sweeps of one configuration against `xfer sftp-serve`, merged
/// point by point: requests and bytes add, each point's percentiles are
/// those of its concatenated samples, and `perf plot` draws the result.
#[test]
fn perf_sweeps_merge_point_by_point() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let sweep = |out: &Path| {
        server
            .perf("")
            .args(["--clients", "1,2", "--requests", "8", "-s", "16K"])
            .args(["--warmup", "0", "--samples", "-o"])
            .arg(out)
            .output()
            .unwrap()
    };
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    assert_ok(&sweep(&a));
    assert_ok(&sweep(&b));
    let out = work.path().join("merged");
    let o = merge(&[&a, &b], &out, &[]);
    assert_ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).contains("merged 2 perf shards"));
    let m = json(&out.join("perf.json"));
    let runs = m["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        let clients = run["clients"].as_u64().unwrap();
        assert_eq!(run["requests"].as_u64().unwrap(), 2 * 8 * clients);
        assert_eq!(run["bytes"].as_u64().unwrap(), 2 * 8 * clients * 16384);
        let name = format!("samples/c{clients:04}-r0.csv");
        let rows = rundir::record_count(&out.join(&name));
        assert_eq!(rows as u64, 2 * 8 * clients, "{name}");
        let want = completed_histogram(&out.join(&name), "write").summary();
        for (k, v) in [
            ("p50_us", want.p50_us),
            ("p99_us", want.p99_us),
            ("max_us", want.max_us),
        ] {
            assert_eq!(run["latency"][k].as_u64().unwrap(), v, "c{clients} {k}");
        }
    }
    let csv_rows = std::fs::read_to_string(out.join("perf.csv")).unwrap();
    assert_eq!(csv_rows.lines().count(), 3);
    assert_ok(&xfer().args(["perf", "plot"]).arg(&out).output().unwrap());
}

/// Two perf shards (`--shard I/2`, one `--start-at`) against `xfer
/// sftp-serve`, merged: every client count is whole again (requests of all
/// its clients, every global client id in samples/), and each run's merged
/// time series adds up to its requests.
#[test]
fn perf_shards_merge_into_the_whole_sweep() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (_, at) = support::start_at(6);
    let outs: Vec<PathBuf> = (0..2).map(|i| work.path().join(format!("p{i}"))).collect();
    let children: Vec<_> = outs
        .iter()
        .enumerate()
        .map(|(i, out)| {
            server
                .perf("")
                .args(["--clients", "2,3", "--requests", "6", "-s", "16K"])
                .args(["--warmup", "0", "--samples", "--interval", "200ms"])
                .args(["--shard", &format!("{i}/2"), "--start-at", &at, "-o"])
                .arg(out)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        assert_ok(&c.wait_with_output().unwrap());
    }
    let out = work.path().join("merged");
    let refs: Vec<&Path> = outs.iter().map(PathBuf::as_path).collect();
    let o = merge(&refs, &out, &[]);
    assert_ok(&o);
    let m = json(&out.join("perf.json"));
    for run in m["runs"].as_array().unwrap() {
        let clients = run["clients"].as_u64().unwrap();
        assert_eq!(run["requests"].as_u64().unwrap(), 6 * clients);
        let name = format!("c{clients:04}-r0.csv");
        let users: std::collections::BTreeSet<u64> =
            column(&out.join("samples").join(&name), "user")
                .into_iter()
                .collect();
        assert_eq!(users, (0..clients).collect(), "{name}");
        let ts = out.join("timeseries").join(&name);
        let total = column_sum(&ts, "steps_ok");
        assert_eq!(total, 6 * clients, "{}", ts.display());
    }
    assert_ok(&xfer().args(["perf", "plot"]).arg(&out).output().unwrap());
}
