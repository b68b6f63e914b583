//! Downloads (`--op download|mixed`, `--remote-file`) in `xfer sftp-bench`
//! and `xfer perf`, against a private OpenSSH sshd and `xfer sftp-serve`.
//!
//! That the bytes read are the source's is proved twice: `--verify sha256`
//! passes on every chunk, and the same flag reports `checksum` once the test
//! corrupts one byte of the remote file (so the workload really reads, and
//! really compares).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::rundir::{chunks, rows, run_json, summary, Row};
use support::sftp_serve::XferSftpServe;
use support::sshd::Sshd;
use support::{assert_ok, assert_usage, stderr, wait, xfer};

/// A source that is not a multiple of the chunk sizes used here.
fn source(dir: &Path) -> (PathBuf, Vec<u8>) {
    support::rundir::source_file(dir, "source.dat", 300_123)
}

/// A private sshd and a scratch directory with `remote/` in it, where the
/// runs upload and read.
fn sshd_and_remote() -> Option<(Sshd, tempfile::TempDir, PathBuf)> {
    let sshd = Sshd::start()?;
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    Some((sshd, work, remote))
}

/// Short runs (see [`support::QUICK_CHUNKS`]) whose retries come soon.
fn fast(cmd: &mut Command) -> &mut Command {
    cmd.args(support::QUICK_CHUNKS).args(["--backoff", "50ms"])
}

/// sftp-bench against `xfer sftp-serve`, fast settings, `extra` last.
fn serve_bench(server: &XferSftpServe, dir: &str, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = server.bench(dir);
    fast(&mut cmd).arg("-o").arg(out).args(extra);
    cmd
}

/// sftp-bench against the private sshd, fast settings, `extra` last.
fn sshd_bench(sshd: &Sshd, remote: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = sshd.bench(sshd.target(remote));
    fast(&mut cmd)
        .args(["--io-timeout", "20s"])
        .arg("-o")
        .arg(out)
        .args(extra);
    cmd
}

/// Every chunk of every user was read once successfully, covering the file
/// exactly: offsets 0, 64K, ... and the byte counts add up to its size.
fn assert_whole_file_read(out: &Path, users: &[u32], size: u64) {
    let rows = chunks(out);
    for &u in users {
        let mut ok: Vec<(u64, u64)> = rows
            .iter()
            .filter(|r| r["user"] == u.to_string() && r["error_kind"].is_empty())
            .map(|r| {
                assert!(!r["read_us"].is_empty(), "no read time: {r:?}");
                assert!(r["write_us"].is_empty(), "a download wrote: {r:?}");
                (r["offset"].parse().unwrap(), r["bytes"].parse().unwrap())
            })
            .collect();
        ok.sort();
        let mut next = 0;
        for (offset, bytes) in &ok {
            assert_eq!(*offset, next, "user {u}: {ok:?}");
            next += bytes;
        }
        assert_eq!(next, size, "user {u} read {next} of {size} bytes");
    }
}

fn downloads_to_sftp_serve(mode: &str) {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (src, data) = source(work.path());
    std::fs::create_dir(server.root.join("d")).unwrap();
    let out = work.path().join("run");
    let o = serve_bench(&server, "d", &out, &["-c", "2", "--mode", mode])
        .args([
            "--op",
            "download",
            "--verify",
            "sha256",
            "--fail-if",
            "read.p99<1h",
        ])
        .arg("-f")
        .arg(&src)
        .output()
        .unwrap();
    assert_ok(&o);
    // A threshold on the new phase reads the downloads' figures.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("PASS read.p99<1h (measured "), "{stdout}");
    let err = stderr(&o);
    assert!(err.contains("preflight: uploading the source"), "{err}");
    assert_whole_file_read(&out, &[0, 1], data.len() as u64);
    // The file read is the one the preflight uploaded, and it is the source.
    let run = run_json(&out);
    assert_eq!(run["op"], "download");
    let remote = run["remote_file"]["path"].as_str().unwrap();
    assert_eq!(run["remote_files"], serde_json::json!([remote, remote]));
    let local = server.root.join(remote.trim_start_matches('/'));
    assert!(std::fs::read(&local).unwrap() == data, "{remote} differs");
    let s = summary(&out);
    assert_eq!(s["response_phase"], "read");
    assert_eq!(s["failed_attempts"], 0);
    // perf plot charts a download run's read times.
    let o = xfer().args(["perf", "plot"]).arg(&out).output().unwrap();
    assert_ok(&o);
    assert!(out.join("chunk_latency.png").is_file());
}

#[test]
fn keep_open_downloads_from_sftp_serve_read_every_byte_of_the_source() {
    downloads_to_sftp_serve("keep-open");
}

#[test]
fn reconnect_downloads_from_sftp_serve_read_every_byte_of_the_source() {
    downloads_to_sftp_serve("reconnect");
}

#[test]
fn both_modes_download_from_openssh_and_cleanup_removes_only_the_runs_copy() {
    let Some((sshd, work, remote)) = sshd_and_remote() else {
        return;
    };
    let (src, data) = source(work.path());
    for mode in ["keep-open", "reconnect"] {
        let out = work.path().join(mode);
        let o = sshd_bench(&sshd, &remote, &out, &["-c", "2", "--mode", mode])
            .args(["--op", "download", "--verify", "sha256", "--cleanup", "-f"])
            .arg(&src)
            .output()
            .unwrap();
        assert_ok(&o);
        assert_whole_file_read(&out, &[0, 1], data.len() as u64);
        let run = run_json(&out);
        assert_eq!(run["remote_file"]["uploaded_by_run"], true);
        let left: Vec<_> = std::fs::read_dir(&remote).unwrap().collect();
        assert!(left.is_empty(), "{mode}: --cleanup left {left:?}");
    }
}

#[test]
fn a_remote_file_is_read_as_placed_and_one_corrupt_byte_is_a_checksum_failure() {
    let Some((sshd, work, remote)) = sshd_and_remote() else {
        return;
    };
    let (src, data) = source(work.path());
    let placed = remote.join("placed.dat");
    std::fs::write(&placed, &data).unwrap();
    let placed_arg = placed.to_str().unwrap();

    let out = work.path().join("good");
    let o = sshd_bench(&sshd, &remote, &out, &["-c", "2", "--cleanup"])
        .args(["--op", "download", "--remote-file", placed_arg])
        .args(["--verify", "sha256", "-f"])
        .arg(&src)
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(
        !stderr(&o).contains("preflight: uploading"),
        "{}",
        stderr(&o)
    );
    assert_whole_file_read(&out, &[0, 1], data.len() as u64);
    let run = run_json(&out);
    assert_eq!(run["remote_file"]["path"], placed_arg);
    assert_eq!(run["remote_file"]["uploaded_by_run"], false);
    assert_eq!(run["file_size"], data.len() as u64);
    assert_eq!(run["ssh_login"]["identity"], "flag");
    // --cleanup never removes a file the run did not upload.
    assert!(std::fs::read(&placed).unwrap() == data);

    // One byte in the third chunk: that chunk, and only that one, fails.
    let mut bad = data.clone();
    bad[2 * 65536 + 17] ^= 0x5a;
    std::fs::write(&placed, &bad).unwrap();
    let out = work.path().join("bad");
    let o = sshd_bench(&sshd, &remote, &out, &["-c", "1", "--retries", "2"])
        .args(["--op", "download", "--remote-file", placed_arg])
        .args(["--verify", "sha256", "-f"])
        .arg(&src)
        .output()
        .unwrap();
    support::assert_exit(&o, 1);
    let s = summary(&out);
    assert_eq!(s["errors"], serde_json::json!({"checksum": 2}), "{s}");
    assert_eq!(s["users_gave_up"], 1);
    let failed: Vec<Row> = chunks(&out)
        .into_iter()
        .filter(|r| !r["error_kind"].is_empty())
        .collect();
    assert!(
        failed
            .iter()
            .all(|r| r["offset"] == (2 * 65536).to_string()),
        "{failed:?}"
    );
    assert!(failed[0]["error"].contains(&format!("first at byte {}", 2 * 65536 + 17)));
}

#[test]
fn a_mixed_run_splits_users_by_global_id_and_both_directions_are_exact() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (src, data) = source(work.path());
    std::fs::create_dir(server.root.join("m")).unwrap();
    let out = work.path().join("run");
    let o = serve_bench(&server, "m", &out, &["-c", "4", "--verify", "sha256"])
        .args(["--op", "mixed", "--mix", "0.5", "-f"])
        .arg(&src)
        .output()
        .unwrap();
    assert_ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("4 users (2 downloading, 2 uploading)"),
        "{err}"
    );
    let run = run_json(&out);
    assert_eq!(
        (run["op"].as_str(), run["mix"].as_f64()),
        (Some("mixed"), Some(0.5))
    );
    assert_eq!(run["download_users"], serde_json::json!([1, 3]));
    assert_whole_file_read(&out, &[1, 3], data.len() as u64);
    // The uploaders' rows have a write time, and their files are the source.
    for r in chunks(&out) {
        if r["user"] == "0" || r["user"] == "2" {
            assert!(
                !r["write_us"].is_empty() && r["read_us"].is_empty(),
                "{r:?}"
            );
        }
    }
    let files = run["remote_files"].as_array().unwrap();
    for u in [0, 2] {
        let f = files[u].as_str().unwrap();
        assert!(f.contains(&format!("-u{u:04}.")), "{f}");
        let local = server.root.join(f.trim_start_matches('/'));
        assert!(std::fs::read(local).unwrap() == data, "{f}");
    }
    // Per-phase figures for both directions; the response is the uploads'.
    let s = summary(&out);
    let phases = support::rundir::phase_names(&s);
    assert!(
        phases.contains(&"read") && phases.contains(&"write"),
        "{phases:?}"
    );
    assert_eq!(s["response_phase"], "write");
}

fn ok_reads(out: &Path) -> usize {
    std::fs::read_to_string(out.join("chunks.csv"))
        .map(|t| t.lines().skip(1).filter(|l| l.ends_with(",,")).count())
        .unwrap_or(0)
}

#[test]
fn a_download_whose_connection_is_killed_resumes_at_the_failing_offset() {
    let Some((sshd, work, remote)) = sshd_and_remote() else {
        return;
    };
    let (src, data) = source(work.path());
    let out = work.path().join("run");
    let child = sshd
        .bench(sshd.target(&remote))
        .args(["-c", "2", "-s", "16K", "--delay", "100ms", "--ramp-up", "0"])
        .args([
            "--backoff",
            "50ms",
            "--op",
            "download",
            "--verify",
            "sha256",
        ])
        .arg("-f")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = support::KillOnDrop(child);
    let stderr = wait::drain(child.0.stderr.take());
    wait::until(60, "a few chunks read before the kill", || {
        ok_reads(&out) >= 4
    });
    // The server side of every session dies; the listener stays.
    let sessions = support::procs::descendants_of(sshd.pid());
    assert!(!sessions.is_empty());
    for p in sessions {
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    let status = wait::exit(&mut child.0, 120, "the run to end after the kill");
    let err = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
    assert!(status.success(), "{status:?}: {err}");
    let rows = chunks(&out);
    let failed: Vec<&Row> = rows
        .iter()
        .filter(|r| !r["error_kind"].is_empty())
        .collect();
    assert!(!failed.is_empty(), "the kill cost no chunk: {rows:?}");
    for f in &failed {
        assert_eq!(f["error_kind"], "dropped", "{f:?}");
        // The next attempt of the same chunk is at the same offset, and it
        // succeeded (the run exited 0 with every byte verified).
        let retry = rows
            .iter()
            .find(|r| {
                r["user"] == f["user"]
                    && r["pass"] == f["pass"]
                    && r["chunk"] == f["chunk"]
                    && r["attempt"].parse::<u32>().unwrap()
                        == f["attempt"].parse::<u32>().unwrap() + 1
            })
            .unwrap_or_else(|| panic!("no retry of {f:?}"));
        assert_eq!(retry["offset"], f["offset"], "{retry:?}");
    }
    assert_whole_file_read(&out, &[0, 1], data.len() as u64);
}

#[test]
fn bad_download_flags_are_one_line_naming_the_flag() {
    for (args, needle) in [
        (
            vec!["--mix", "0.3"],
            "--mix is the share of downloads of --op mixed",
        ),
        (
            vec!["--op", "mixed", "--mix", "1.5"],
            "--mix must be between 0 and 1",
        ),
        (
            vec!["--op", "mixed", "--mix", "0"],
            "--mix must be between 0 and 1",
        ),
        (
            vec!["--remote-file", "/x"],
            "--remote-file is the file downloads read",
        ),
        (
            vec![
                "--op",
                "download",
                "--remote-file",
                "/x",
                "--verify",
                "sha256",
            ],
            "--verify sha256 with --remote-file needs --file",
        ),
        (
            vec![
                "--op",
                "download",
                "--remote-file",
                "/x",
                "--file-size",
                "1M",
            ],
            "--file-size does not apply with --remote-file",
        ),
    ] {
        assert_usage(&support::bench_offline(&args), needle);
    }
}

#[test]
fn a_missing_or_mismatched_remote_file_is_a_usage_error_naming_the_flags() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (src, data) = source(work.path());
    std::fs::write(server.root.join("short.dat"), &data[..1000]).unwrap();
    std::fs::write(server.root.join("empty.dat"), b"").unwrap();
    for (file, needle) in [
        ("/missing.dat", "--remote-file /missing.dat on 127.0.0.1"),
        ("/empty.dat", "--remote-file /empty.dat is empty"),
        (
            "/short.dat",
            "is 300123 bytes but --remote-file /short.dat is 1000 bytes",
        ),
    ] {
        let out = work.path().join(file.trim_start_matches('/'));
        let o = serve_bench(&server, "", &out, &["-c", "1", "--op", "download"])
            .args(["--remote-file", file, "--verify", "sha256", "-f"])
            .arg(&src)
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{file}: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("xfer: error: ") && last.contains(needle),
            "{err}"
        );
        assert_eq!(err.matches("xfer: error").count(), 1, "{err}");
    }
}

/// A perf sweep of `op` at 1 and 2 clients, `requests` 32 KiB chunks each.
fn perf(server: &XferSftpServe, out: &Path, requests: u32, op: &str, extra: &[&str]) -> Output {
    server
        .perf("")
        .args(["--requests", &requests.to_string(), "--op", op])
        .args([
            "--clients",
            "1,2",
            "-s",
            "32K",
            "--warmup",
            "0",
            "--samples",
        ])
        .args(extra)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn perf_rows(out: &Path, file: &str) -> Vec<Row> {
    rows(&out.join(file))
}

#[test]
fn perf_sweeps_downloads_mixed_runs_and_a_remote_file_on_sftp_serve() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // Downloads of a file the preflight uploads, removed at the end.
    let out = work.path().join("down");
    let o = perf(&server, &out, 8, "download", &["--fail-if", "read.p99<1h"]);
    assert_ok(&o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("PASS read.p99<1h"), "{stdout}");
    for row in perf_rows(&out, "perf.csv") {
        let clients: usize = row["clients"].parse().unwrap();
        assert_eq!(row["requests"], (8 * clients).to_string(), "{row:?}");
        assert_eq!(row["bytes"], (8 * clients * 32768).to_string(), "{row:?}");
        let samples = perf_rows(&out, &format!("samples/c{clients:04}-r0.csv"));
        assert_eq!(samples.len(), 8 * clients);
        assert!(samples
            .iter()
            .all(|s| !s["read_us"].is_empty() && s["write_us"].is_empty()));
    }
    let left: Vec<_> = std::fs::read_dir(&server.root).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // Two download sweeps compare on their read times (the samples' header
    // has a write_us column too, empty).
    let again = work.path().join("down2");
    assert_ok(&perf(&server, &again, 8, "download", &[]));
    let o = xfer()
        .arg("compare")
        .arg(&out)
        .arg(&again)
        .arg("--json")
        .output()
        .unwrap();
    assert_ok(&o);
    let cmp: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = cmp["rows"].as_array().unwrap();
    let p50 = rows
        .iter()
        .find(|r| r["metric"] == "read" && r["stat"] == "p50" && r["clients"] == 1)
        .unwrap_or_else(|| panic!("no read p50 row: {cmp}"));
    assert_eq!(
        (p50["base_n"].as_u64(), p50["new_n"].as_u64()),
        (Some(8), Some(8))
    );
    assert_eq!(cmp["settings_changed"], serde_json::json!([]), "{cmp}");

    // Mixed: client 1 of 2 reads, client 0 writes.
    let out = work.path().join("mixed");
    let o = perf(&server, &out, 4, "mixed", &[]);
    assert_ok(&o);
    let samples = perf_rows(&out, "samples/c0002-r0.csv");
    for s in &samples {
        let reads = !s["read_us"].is_empty();
        assert_eq!(reads, s["user"] == "1", "{s:?}");
    }

    // An existing file of 3 chunks: 8 requests become 3 whole passes (9).
    let data = vec![7u8; 3 * 32768];
    std::fs::write(server.root.join("placed.bin"), &data).unwrap();
    let out = work.path().join("remote");
    let o = perf(
        &server,
        &out,
        8,
        "download",
        &["--remote-file", "/placed.bin"],
    );
    assert_ok(&o);
    for row in perf_rows(&out, "perf.csv") {
        let clients: usize = row["clients"].parse().unwrap();
        assert_eq!(row["requests"], (9 * clients).to_string(), "{row:?}");
    }
    assert!(std::fs::read(server.root.join("placed.bin")).unwrap() == data);

    // The choice is an sftp:// one.
    let o = xfer()
        .args(["perf", "tcp://127.0.0.1:1/x", "--op", "download"])
        .output()
        .unwrap();
    assert_usage(&o, "--op applies to sftp:// targets only");
}

/// A loopback TCP proxy to `upstream` that counts the bytes the server
/// sends, over every connection.
fn counting_proxy(upstream: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<AtomicU64>) {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let down = Arc::new(AtomicU64::new(0));
    let count = down.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let copy = |mut from: TcpStream, mut to: TcpStream, n: Option<Arc<AtomicU64>>| {
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(k) = from.read(&mut buf) {
                        if k == 0 || to.write_all(&buf[..k]).is_err() {
                            break;
                        }
                        if let Some(n) = &n {
                            n.fetch_add(k as u64, Ordering::Relaxed);
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                });
            };
            copy(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                None,
            );
            copy(server, client, Some(count.clone()));
        }
    });
    (addr, down)
}

#[test]
fn a_download_fetches_only_its_chunk_not_libssh2s_read_ahead() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let data = vec![0x42u8; 5 * 65536];
    std::fs::write(server.root.join("f.bin"), &data).unwrap();
    let (proxy, down) = counting_proxy(server.addr);
    let o = server
        .command_via("sftp-bench", proxy, "")
        .args(["-c", "1", "-s", "64K", "-d", "0", "--mode", "reconnect"])
        .args(["--op", "download", "--remote-file", "/f.bin", "-o"])
        .arg(work.path().join("run"))
        .output()
        .unwrap();
    assert_ok(&o);
    // Five sessions of one 64 KiB chunk each (plus the preflight's and the
    // stat's): the file once, and about 2 KiB of handshake per session.
    // Handed the whole chunk, libssh2 fetched up to 256 KiB past it per
    // session (940,304 bytes in all); handed a quarter of it, 10,848 bytes
    // past it, a last request inflated to the buffer's size (384,168).
    let fetched = down.load(Ordering::Relaxed);
    eprintln!("fetched {fetched} bytes");
    let limit = data.len() as u64 + 7 * 4 * 1024;
    assert!(
        fetched < limit,
        "the server sent {fetched} bytes for a {} byte file",
        data.len()
    );
}

#[test]
fn ctrl_c_during_the_source_upload_removes_the_partial_copy() {
    use std::io::{BufRead, BufReader};
    let Some((sshd, work, remote)) = sshd_and_remote() else {
        return;
    };
    let out = work.path().join("out");
    // Big enough that the upload is still under way when Ctrl-C comes (a
    // file, not --file-size: generating one is slow in a debug build).
    const SIZE: u64 = 256 << 20;
    let src = work.path().join("big.bin");
    std::fs::File::create(&src).unwrap().set_len(SIZE).unwrap();
    let mut child = sshd_bench(&sshd, &remote, &out, &["-c", "1", "--op", "download"])
        .arg("-f")
        .arg(&src)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut child = support::KillOnDrop(child);
    let partial = || {
        std::fs::read_dir(&remote)
            .unwrap()
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().contains("-src."))
            .map(|e| e.metadata().unwrap().len())
    };
    // Until the copy has bytes, or the run ended without one.
    wait::poll(Duration::from_secs(30), || {
        partial().unwrap_or(0) > 0 || child.0.try_wait().unwrap().is_some()
    });
    if partial().unwrap_or(0) == 0 {
        let said: Vec<String> = rx.try_iter().collect();
        panic!("the source upload never started:\n{}", said.join("\n"));
    }
    let before = partial().unwrap();
    assert!(before < SIZE, "the upload finished before Ctrl-C");
    child.interrupt();
    let mut said = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => said.push_str(&(line + "\n")),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(_) => {}
        }
    }
    let status = wait::exit(&mut child.0, 20, "the run to exit after Ctrl-C");
    assert_eq!(status.code(), Some(130), "{said}");
    assert_eq!(
        partial(),
        None,
        "the partial source is still there:\n{said}"
    );
    assert!(said.contains("removed the partial source"), "{said}");
    // Nothing was in flight yet: the first Ctrl-C says what it really does.
    assert!(
        said.contains("xfer: interrupted; stopping before the first chunk"),
        "{said}"
    );
}
