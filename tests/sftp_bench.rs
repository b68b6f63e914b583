//! `xfer sftp-bench` against a real OpenSSH sshd started by the fixture.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use support::rundir;
use support::sshd::Sshd;
use support::{assert_ok, stderr, xfer};
use support::{procs, wait};

/// A source file that is not a multiple of the 64 KiB chunk size.
fn source(dir: &Path) -> (PathBuf, Vec<u8>) {
    rundir::source_file(dir, "source.dat", 300_123)
}

/// Runs sftp-bench against `sshd` with its key and known_hosts.
fn bench(sshd: &Sshd, remote: &Path, out: &Path, extra: &[&str]) -> Output {
    sshd.bench(sshd.target(remote))
        .args([
            "--chunk-size",
            "64K",
            "--delay",
            "0",
            "--ramp-up",
            "0",
            "--backoff",
            "50ms",
            "--io-timeout",
            "20s",
        ])
        .arg("-o")
        .arg(out)
        .args(extra)
        .output()
        .expect("run xfer")
}

fn uploads_are_byte_identical(mode: &str) {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let (src, data) = source(work.path());
    let out = work.path().join("run");
    let o = bench(
        &sshd,
        &remote,
        &out,
        &[
            "-c",
            "3",
            "--mode",
            mode,
            "-f",
            src.to_str().unwrap(),
            "--verify",
            "size",
        ],
    );
    assert_ok(&o);
    let files = rundir::files_in(&remote);
    assert_eq!(files.len(), 3, "{files:?}");
    for f in files {
        assert!(f.extension().is_some_and(|e| e == "dat"), "{f:?}");
        assert!(
            std::fs::read(&f).unwrap() == data,
            "{} differs from the source",
            f.display()
        );
    }
    let rows = rundir::record_count(&out.join("chunks.csv"));
    assert_eq!(
        rows,
        3 * 5,
        "300,123 bytes in 64 KiB chunks is 5 chunks per user"
    );
}

#[test]
fn keep_open_uploads_are_byte_identical_to_the_source() {
    uploads_are_byte_identical("keep-open");
}

#[test]
fn reconnect_uploads_are_byte_identical_to_the_source() {
    uploads_are_byte_identical("reconnect");
}

/// Exactly one line, `xfer: error: ...` containing `needle`, a non-zero exit, no panic.
fn assert_one_clear_line(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, stderr: {err}");
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(
        lines[0].starts_with("xfer: error: ") && lines[0].contains(needle),
        "{err}"
    );
}

#[test]
fn the_summary_agrees_with_a_recount_from_chunks_csv() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let (src, _) = source(work.path());
    let out = work.path().join("run");
    let o = bench(
        &sshd,
        work.path(),
        &out,
        &[
            "-c",
            "4",
            "-f",
            src.to_str().unwrap(),
            "--repeat",
            "3",
            "--json",
        ],
    );
    assert_ok(&o);
    let summary: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("--json prints summary.json");
    let on_disk = rundir::json(&out.join("summary.json"));
    assert_eq!(summary, on_disk);

    let mut reader = csv::Reader::from_path(out.join("chunks.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (mut ok, mut bytes, mut writes) = (0u64, 0u64, Vec::new());
    for r in reader.records() {
        let r = r.unwrap();
        if r[col("error_kind")].is_empty() {
            ok += 1;
            bytes += r[col("bytes")].parse::<u64>().unwrap();
            writes.push(r[col("write_us")].parse::<u64>().unwrap());
        }
    }
    assert_eq!(ok, 4 * 3 * 5);
    assert_eq!(summary["steps_ok"], ok);
    assert_eq!(summary["throughput"]["bytes"], bytes);
    assert_eq!(bytes, 4 * 3 * 300_123);
    let write = rundir::phase(&summary, "write");
    writes.sort();
    let exact = |q: f64| writes[((q * writes.len() as f64).ceil() as usize).max(1) - 1];
    for (key, q) in [
        ("p50_us", 0.5),
        ("p90_us", 0.9),
        ("p99_us", 0.99),
        ("max_us", 1.0),
    ] {
        let got = write[key].as_u64().unwrap();
        let want = exact(q);
        // HDR histograms keep 3 significant digits.
        assert!(
            got.abs_diff(want) <= want / 500 + 1,
            "{key}: summary {got}, recount {want}"
        );
    }
    assert_eq!(write["count"], ok);
    let users = rundir::record_count(&out.join("users.csv"));
    assert_eq!(users, 4);
}

#[test]
fn a_wrong_password_is_one_clear_line() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let o = xfer()
        .arg("sftp-bench")
        .arg(sshd.target(work.path()))
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .env("XFER_PASSWORD", "certainly-not-the-password")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    assert_one_clear_line(&o, "authentication failed");
}

#[test]
fn a_wrong_key_is_one_clear_line() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let other = work.path().join("other_key");
    support::sshd::keygen(&other, "ed25519", "");
    let o = xfer()
        .arg("sftp-bench")
        .arg(sshd.target(work.path()))
        .arg("-i")
        .arg(&other)
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("XFER_PASSWORD")
        .output()
        .unwrap();
    assert_one_clear_line(&o, "authentication failed");
    // A refused login still ends with an SSH disconnect, not a dropped socket.
    wait::until(10, "sshd to log xfer's goodbye", || {
        sshd.log_text().contains(": xfer: giving up")
    });
}

#[test]
fn an_unknown_host_key_under_strict_names_the_fingerprint_and_the_fix() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let empty = work.path().join("known_hosts");
    std::fs::write(&empty, "").unwrap();
    let run = |check: &str| {
        xfer()
            .arg("sftp-bench")
            .arg(sshd.target(work.path()))
            .arg("-i")
            .arg(&sshd.client_key)
            .arg("--known-hosts")
            .arg(&empty)
            .args([
                "--host-key-check",
                check,
                "--file-size",
                "10K",
                "--delay",
                "0",
                "-o",
            ])
            .arg(work.path().join(format!("run-{check}")))
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .unwrap()
    };
    let o = run("strict");
    assert_one_clear_line(&o, "is not known (SHA256:");
    assert!(stderr(&o).contains("--host-key-check accept-new"));
    // accept-new adds it in OpenSSH's [host]:port form; then strict passes.
    assert_ok(&run("accept-new"));
    let kh = std::fs::read_to_string(&empty).unwrap();
    assert!(
        kh.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)),
        "{kh}"
    );
    assert_ok(&run("strict"));
}

#[test]
fn an_unreachable_port_is_one_clear_line() {
    let port = support::sshd::free_port();
    let o = xfer()
        .args([
            "sftp-bench",
            &format!("sftp://nobody@127.0.0.1:{port}/x"),
            "--connect-timeout",
            "5s",
        ])
        .env("XFER_PASSWORD", "x")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    assert_one_clear_line(&o, &format!("connection to 127.0.0.1:{port} refused"));
}

#[test]
fn bad_flags_name_the_flag() {
    for (args, needle) in [
        (
            vec!["--chunk-size", "0"],
            "--chunk-size must be at least 1 byte",
        ),
        (
            vec!["--chunk-size", "12parsecs"],
            "'12parsecs' is not a size",
        ),
        (vec!["--delay", "5"], "'5' is not a duration"),
        (vec!["--rate=-2"], "--rate must be a positive number"),
        (vec!["--users", "0"], "--users must be at least 1"),
        (
            vec!["--io-timeout", "0"],
            "--io-timeout must be at least 1ms",
        ),
        (
            vec!["--connect-timeout", "0"],
            "--connect-timeout must be at least 1ms",
        ),
    ] {
        let o = xfer()
            .args(["sftp-bench", "sftp://u@127.0.0.1:1/x"])
            .args(&args)
            .env("XFER_PASSWORD", "x")
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn refusals_past_max_startups_are_counted_retried_and_every_chunk_lands() {
    let opts = support::sshd::SshdOptions {
        max_startups: "1".into(),
        ..Default::default()
    };
    let Some(sshd) = Sshd::start_with(opts) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let (src, data) = source(work.path());
    let out = work.path().join("run");
    let o = bench(
        &sshd,
        &remote,
        &out,
        &[
            "-c",
            "10",
            "--mode",
            "reconnect",
            "-f",
            src.to_str().unwrap(),
            "--retries",
            "200",
            "--json",
        ],
    );
    assert_ok(&o);
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["steps_ok"], 10 * 5);
    let errors = summary["errors"].as_object().unwrap();
    let dropped: u64 = ["handshake", "dropped"]
        .iter()
        .filter_map(|k| errors.get(*k))
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(
        dropped > 0,
        "MaxStartups 1 should have dropped some of 10 users' connections: {errors:?}"
    );
    assert_eq!(
        summary["failed_attempts"].as_u64().unwrap(),
        errors.values().map(|v| v.as_u64().unwrap()).sum::<u64>()
    );
    let files = rundir::files_in(&remote);
    assert_eq!(files.len(), 10);
    for f in files {
        assert!(
            std::fs::read(&f).unwrap() == data,
            "{} differs",
            f.display()
        );
    }
}

#[test]
fn sigint_mid_run_flushes_rows_prints_the_summary_and_exits_130() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("run");
    let child = sshd
        .bench(sshd.target(work.path()))
        .args([
            "-c",
            "2",
            "--file-size",
            "4M",
            "--chunk-size",
            "64K",
            "--delay",
            "50ms",
            "--ramp-up",
            "0",
            "-o",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let child = support::KillOnDrop(child);
    // Wait until some rows are on disk (bounded), then interrupt.
    wait::until(30, "rows written", || rundir::chunk_lines_so_far(&out) > 4);
    child.interrupt();
    let mut child = child;
    let status = child.0.wait().unwrap();
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert_eq!(status.code(), Some(130), "stdout: {stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    let summary = rundir::json(&out.join("summary.json"));
    assert_eq!(summary["interrupted"], true);
    let rows = rundir::record_count(&out.join("chunks.csv")) as u64;
    let ok = summary["steps_ok"].as_u64().unwrap();
    assert!(ok > 0 && ok < 2 * 64, "interrupted mid-run: {ok} chunks");
    assert_eq!(
        rows,
        ok + summary["failed_attempts"].as_u64().unwrap(),
        "every measured attempt is a row"
    );
    assert!(out.join("users.csv").exists());
}

#[test]
fn with_no_target_an_embedded_server_is_used() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("run");
    let o = xfer()
        .args([
            "sftp-bench",
            "--file-size",
            "1M",
            "-s",
            "256K",
            "-d",
            "0",
            "--ramp-up",
            "0",
            "--json",
            "-o",
        ])
        .arg(&out)
        .env_remove("XFER_PASSWORD")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    assert_ok(&o);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["steps_ok"], 3 * 4, "3 users (default) x 4 chunks");
    assert!(stderr(&o).contains("embedded sftp-serve"), "{}", stderr(&o));
    let run = rundir::json(&out.join("run.json"));
    assert!(
        run["session"]["server_banner"]
            .as_str()
            .unwrap()
            .starts_with("SSH-2.0-"),
        "{run}"
    );
}

#[test]
fn both_modes_upload_byte_identical_files_to_xfer_sftp_serve() {
    let Some(server) = support::sftp_serve::XferSftpServe::start() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let root = &server.root;
    let (src, data) = source(work.path());
    for mode in ["keep-open", "reconnect"] {
        std::fs::create_dir(root.join(mode)).unwrap();
        let o = server
            .bench(mode)
            .args([
                "-c",
                "3",
                "--mode",
                mode,
                "-s",
                "64K",
                "-d",
                "0",
                "--ramp-up",
                "0",
                "--verify",
                "sha256",
                "-f",
            ])
            .arg(&src)
            .arg("-o")
            .arg(work.path().join(format!("run-{mode}")))
            .output()
            .unwrap();
        assert_ok(&o);
        let files = rundir::files_in(&root.join(mode));
        assert_eq!(files.len(), 3);
        for f in files {
            assert!(
                std::fs::read(&f).unwrap() == data,
                "{mode}: {} differs",
                f.display()
            );
        }
    }
    drop(server);
}

/// A short upload authenticated by `auth`, which adds flags and environment.
fn upload_with(sshd: &Sshd, work: &Path, auth: impl FnOnce(&mut std::process::Command)) -> Output {
    let mut cmd = xfer();
    cmd.arg("sftp-bench")
        .arg(sshd.target(work))
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .args([
            "-c",
            "1",
            "--file-size",
            "100K",
            "-s",
            "32K",
            "-d",
            "0",
            "--json",
            "-o",
        ])
        .arg(work.join(format!("run-{}", rand_suffix())))
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("XFER_PASSWORD")
        .env_remove("XFER_PASSPHRASE");
    auth(&mut cmd);
    cmd.output().unwrap()
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn authorize(sshd: &Sshd, public_key: &Path) {
    let mut keys = std::fs::read_to_string(sshd.dir.path().join("authorized_keys")).unwrap();
    keys.push_str(&std::fs::read_to_string(public_key).unwrap());
    std::fs::write(sshd.dir.path().join("authorized_keys"), keys).unwrap();
}

#[test]
fn rsa_ecdsa_and_passphrase_protected_keys_authenticate() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    for (kind, passphrase) in [("rsa", ""), ("ecdsa", ""), ("ed25519", "correct horse")] {
        let key = work.path().join(format!("id_{kind}"));
        support::sshd::keygen(&key, kind, passphrase);
        authorize(&sshd, &key.with_extension("pub"));
        let o = upload_with(&sshd, work.path(), |c| {
            c.arg("-i").arg(&key);
            if !passphrase.is_empty() {
                c.env("XFER_PASSPHRASE", passphrase);
            }
        });
        assert_ok(&o);
        if !passphrase.is_empty() {
            // Without the passphrase and without a terminal: one clear line.
            let o = upload_with(&sshd, work.path(), |c| {
                c.arg("-i").arg(&key).stdin(std::process::Stdio::null());
            });
            assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
            assert!(stderr(&o).contains("XFER_PASSPHRASE"), "{}", stderr(&o));
        }
    }
}

#[test]
fn ssh_agent_keys_authenticate() {
    let (Some(agent), Some(add)) = (support::peer("ssh-agent"), support::peer("ssh-add")) else {
        return;
    };
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let sock = work.path().join("agent.sock");
    let agent = support::KillOnDrop(
        std::process::Command::new(agent)
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .spawn()
            .unwrap(),
    );
    wait::until(10, "ssh-agent did not start", || sock.exists());
    let st = std::process::Command::new(add)
        .arg(&sshd.client_key)
        .env("SSH_AUTH_SOCK", &sock)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let o = upload_with(&sshd, work.path(), |c| {
        c.env("SSH_AUTH_SOCK", &sock);
    });
    assert_ok(&o);
    drop(agent);
}

#[test]
fn every_acknowledged_chunk_has_its_row_on_disk_even_after_sigkill() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let out = work.path().join("run");
    let child = sshd
        .bench(sshd.target(&remote))
        .args([
            "-c",
            "2",
            "--file-size",
            "256K",
            "-s",
            "64K",
            "--delay",
            "5s",
            "--ramp-up",
            "0",
            "-o",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = support::KillOnDrop(child);
    // Both users' first chunk is on the server; the next starts 5 s later.
    wait::until(30, "no chunks landed", || {
        let sizes: Vec<u64> = rundir::files_in(&remote)
            .iter()
            .map(|f| f.metadata().unwrap().len())
            .collect();
        sizes.len() == 2 && sizes.iter().all(|&s| s >= 64 * 1024)
    });
    // The recorder writes a row within milliseconds of the acknowledgement:
    // wait (bounded, well inside the 5 s pause) until both rows are on disk,
    // then kill -9. What is checked is that they are still there after it.
    wait::until(4, "both rows on disk", || {
        rundir::chunk_lines_so_far(&out) >= 2
    });
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let rows = rundir::record_count(&out.join("chunks.csv"));
    assert_eq!(rows, 2, "both acknowledged chunks have their rows");
}

/// Two runs started in the same second with the default run directory: each
/// gets its own directory with all of its rows, and its own remote files.
#[test]
fn two_runs_started_together_never_share_a_directory_or_a_remote_file() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let (src, data) = source(work.path());
    let spawn = || {
        sshd.bench(sshd.target(&remote))
            .args(["-c", "2", "-s", "64K", "-d", "0", "--ramp-up", "0", "-f"])
            .arg(&src)
            .current_dir(work.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for o in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        assert_ok(&o);
    }
    let runs = rundir::files_in(&work.path().join("xfer-results"));
    assert_eq!(runs.len(), 2, "two run directories: {runs:?}");
    for run in &runs {
        let rows = rundir::record_count(&run.join("chunks.csv"));
        assert_eq!(rows, 2 * 5, "{}", run.display());
    }
    let files = rundir::files_in(&remote);
    assert_eq!(files.len(), 4, "2 runs x 2 users: {files:?}");
    for f in files {
        assert!(std::fs::read(&f).unwrap() == data, "{}", f.display());
    }
}

#[test]
fn a_non_empty_out_dir_is_refused_unless_overwrite() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("run");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("chunks.csv"), "earlier run\n").unwrap();
    let o = xfer()
        .args(["sftp-bench", "sftp://u@127.0.0.1:1/x", "-o"])
        .arg(&out)
        .env("XFER_PASSWORD", "x")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("xfer: error: --out "), "{err}");
    assert!(
        err.contains("is not empty") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("chunks.csv")).unwrap(),
        "earlier run\n"
    );
    // With --overwrite the same command gets past the check (and fails later,
    // on the unreachable port, with exit 1).
    let o = xfer()
        .args(["sftp-bench", "sftp://u@127.0.0.1:1/x", "--overwrite", "-o"])
        .arg(&out)
        .env("XFER_PASSWORD", "x")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("is not empty"), "{}", stderr(&o));
}

#[test]
fn a_user_count_the_machine_cannot_hold_is_a_usage_error_naming_the_limit() {
    let started = std::time::Instant::now();
    let o = xfer()
        .args(["sftp-bench", "-c", "100000000"])
        .env_remove("XFER_PASSWORD")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("xfer: error: --users 100000000 is more than this machine can hold: ")
            && err.contains("allows at most"),
        "{err}"
    );
    // Refused before anything was allocated or spawned for the users.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn ctrl_c_during_the_preflight_exits_130_at_once() {
    // A server that accepts and never says a word: the preflight waits in
    // the SSH handshake for the whole --io-timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("run");
    let child = xfer()
        .args([
            "sftp-bench",
            &format!("sftp://u@127.0.0.1:{port}/x"),
            "--io-timeout",
            "120s",
            "--host-key-check",
            "off",
            "-o",
        ])
        .arg(&out)
        .env("XFER_PASSWORD", "x")
        .env_remove("SSH_AUTH_SOCK")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = support::KillOnDrop(child);
    let (conn, _) = listener.accept().unwrap();
    child.interrupt();
    let status = wait::exit(
        &mut child.0,
        30,
        "xfer to exit after Ctrl-C in the preflight",
    );
    drop(conn);
    let mut err = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("nothing was measured"), "{err}");
    assert!(
        !out.exists(),
        "no run directory for a run that never started"
    );
}

#[test]
fn a_second_ctrl_c_exits_at_once_and_keeps_the_rows_written_so_far() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("run");
    let child = sshd
        .bench(sshd.target(work.path()))
        .args([
            "-c",
            "2",
            "--file-size",
            "4M",
            "--chunk-size",
            "64K",
            "--delay",
            "20ms",
            "--ramp-up",
            "0",
            "--io-timeout",
            "120s",
            "-o",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = support::KillOnDrop(child);
    wait::until(30, "rows in chunks.csv", || {
        rundir::chunk_lines_so_far(&out) > 3
    });
    // Freeze the server: in-flight chunks now wait for the 120 s timeout,
    // so the first Ctrl-C cannot end the run by itself.
    let frozen: Vec<i32> = std::iter::once(sshd.pid() as i32)
        .chain(procs::children_of(sshd.pid()))
        .collect();
    for &p in &frozen {
        unsafe { libc::kill(p, libc::SIGSTOP) };
    }
    let rows_before = rundir::chunk_lines_so_far(&out);
    child.interrupt();
    let mut err = String::new();
    let mut stderr_pipe = child.0.stderr.take().unwrap();
    // The first interrupt is acknowledged, and the run keeps waiting.
    let mut buf = [0u8; 4096];
    while !err.contains("interrupted;") {
        let n = std::io::Read::read(&mut stderr_pipe, &mut buf).unwrap();
        assert!(n > 0, "xfer exited after one Ctrl-C: {err}");
        err.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(child.0.try_wait().unwrap().is_none(), "{err}");
    child.interrupt();
    let status = wait::exit(&mut child.0, 10, "xfer to exit after a second Ctrl-C");
    for &p in &frozen {
        unsafe { libc::kill(p, libc::SIGCONT) };
    }
    assert_eq!(status.code(), Some(130));
    assert!(
        rundir::chunk_lines_so_far(&out) >= rows_before,
        "rows on disk are kept"
    );
    assert!(rows_before > 3);
}

#[test]
fn a_connection_lost_mid_run_is_counted_as_dropped_not_write() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let (src, data) = source(work.path());
    let out = work.path().join("run");
    let child = sshd
        .bench(sshd.target(&remote))
        .args(["-c", "2", "-s", "16K", "--delay", "100ms", "--ramp-up", "0"])
        .args(["--backoff", "50ms", "--json", "-f"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let child = support::KillOnDrop(child);
    wait::until(30, "a few chunks before the kill", || {
        rundir::chunk_lines_so_far(&out) >= 4
    });
    // Kill the server side of every session; the listener stays.
    let sessions = procs::descendants_of(sshd.pid());
    assert!(!sessions.is_empty());
    for p in sessions {
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    let mut child = child;
    let o = std::process::Output {
        status: child.0.wait().unwrap(),
        stdout: std::io::Read::bytes(child.0.stdout.take().unwrap())
            .map(|b| b.unwrap())
            .collect(),
        stderr: Vec::new(),
    };
    assert_ok(&o);
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let errors = summary["errors"].as_object().unwrap();
    assert!(errors.contains_key("dropped"), "{errors:?}");
    assert!(!errors.contains_key("write"), "{errors:?}");
    for f in rundir::files_in(&remote) {
        assert!(std::fs::read(&f).unwrap() == data, "{}", f.display());
    }
}

#[test]
fn a_full_disk_is_named_and_given_up_on_after_three_identical_refusals() {
    // Files on this server cannot grow past 100,000 bytes: sftp-server
    // answers SSH_FX_FAILURE, as it does for a full disk.
    let opts = support::sshd::SshdOptions {
        file_size_limit: Some(100_000),
        ..Default::default()
    };
    let Some(sshd) = Sshd::start_with(opts) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let (src, _) = source(work.path());
    let out = work.path().join("run");
    let o = bench(
        &sshd,
        &remote,
        &out,
        &["-c", "1", "-f", src.to_str().unwrap(), "--retries", "10"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("gave up"), "{err}");
    let mut failed = Vec::new();
    let mut reader = csv::Reader::from_path(out.join("chunks.csv")).unwrap();
    for r in reader.deserialize::<std::collections::HashMap<String, String>>() {
        let r = r.unwrap();
        if !r["error_kind"].is_empty() {
            failed.push((r["chunk"].clone(), r["error"].clone()));
        }
    }
    // The chunk at 65,536 crosses the limit: three identical refusals, not ten.
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(failed.iter().all(|(c, _)| c == "1"), "{failed:?}");
    assert!(failed[0].1.contains("full disk"), "{failed:?}");
}

#[test]
fn bad_files_and_zero_amounts_are_usage_errors_naming_the_flag() {
    let work = tempfile::tempdir().unwrap();
    let empty = work.path().join("empty.dat");
    std::fs::write(&empty, b"").unwrap();
    let dir = work.path().to_str().unwrap().to_string();
    let missing = work.path().join("missing").to_str().unwrap().to_string();
    let empty = empty.to_str().unwrap().to_string();
    for (args, needle) in [
        (
            vec!["--duration", "0s"],
            "--duration must be longer than 0".to_string(),
        ),
        (
            vec!["--file-size", "0"],
            "--file-size must be at least 1 byte".into(),
        ),
        (
            vec!["--file-size", "1000T"],
            "--file-size 1000 TiB does not fit in memory".into(),
        ),
        (vec!["--file", &dir], format!("--file {dir} is a directory")),
        (vec!["--file", &empty], format!("--file {empty} is empty")),
        (
            vec!["--file", &missing],
            format!("--file {missing}: No such file"),
        ),
        (
            vec!["-i", &missing],
            format!("--identity {missing}: No such file"),
        ),
        (
            vec!["--password-file", &missing],
            format!("--password-file {missing}: No such file"),
        ),
    ] {
        let o = xfer()
            .args(["sftp-bench", "sftp://u@127.0.0.1:1/x"])
            .args(&args)
            .env("XFER_PASSWORD", "x")
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(&needle), "{args:?}: {err}");
        assert!(!err.contains("No such device"), "{err}");
    }
}

#[test]
fn an_error_prints_its_cause_once() {
    // The run directory cannot be created under /proc.
    let o = xfer()
        .args([
            "sftp-bench",
            "--file-size",
            "10K",
            "-d",
            "0",
            "-o",
            "/proc/xfer-no/run",
        ])
        .env_remove("XFER_PASSWORD")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let line = err.lines().find(|l| l.starts_with("xfer: error:")).unwrap();
    assert!(line.contains("run directory /proc/xfer-no/run"), "{err}");
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "{line}"
    );
}

/// Runs a reconnect-mode upload against `sshd` and checks its log: every
/// one of xfer's `sessions` ended without a reset or a broken pipe.
fn assert_clean_goodbyes(sshd: &Sshd, work: &Path, sessions: usize) -> Output {
    let remote = work.join("remote");
    std::fs::create_dir(&remote).unwrap();
    let (src, _) = source(work);
    let out = work.join("run");
    let o = bench(
        sshd,
        &remote,
        &out,
        &[
            "-c",
            "2",
            "--mode",
            "reconnect",
            "-f",
            src.to_str().unwrap(),
            "--cleanup",
        ],
    );
    // sshd logs each session's end; wait (bounded) for all of them before
    // reading the log: a session that ended without a goodbye never logs
    // "Disconnected from user", and the assertions below say which.
    let ended = || sshd.log_text().matches("Disconnected from user").count();
    wait::poll(std::time::Duration::from_secs(5), || ended() >= sessions);
    // Only xfer's sessions count: the fixture's readiness probe, which
    // reads the banner and hangs up, is logged as a reset too.
    let log = sshd.log_text();
    let ports: Vec<String> = log
        .lines()
        .filter(|l| l.starts_with("Accepted publickey"))
        .filter_map(|l| l.split(" port ").nth(1))
        .map(|p| format!("port {}", p.split_whitespace().next().unwrap()))
        .collect();
    assert_eq!(ports.len(), sessions, "{log}");
    for p in &ports {
        let goodbye = format!("Received disconnect from 127.0.0.1 {p}:11: xfer done");
        assert!(log.contains(&goodbye), "no SSH disconnect for {p}:\n{log}");
    }
    for line in log.lines() {
        let ours = ports.iter().any(|p| {
            line.contains(&format!("{p} "))
                || line.contains(&format!("{p}:"))
                || line.ends_with(p.as_str())
        });
        for bad in [
            "Broken pipe",
            "Connection reset",
            "Read error",
            "Write failed",
        ] {
            assert!(
                !(ours && line.contains(bad)),
                "sshd logged {line:?}:\n{log}"
            );
        }
    }
    o
}

#[test]
fn reconnect_mode_says_goodbye_so_sshd_logs_no_broken_pipe_or_reset() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    // 2 users x 5 chunks, the preflight and the cleanup.
    let o = assert_clean_goodbyes(&sshd, work.path(), 2 * 5 + 2);
    assert_ok(&o);
}

#[test]
fn a_session_that_failed_still_says_goodbye() {
    let opts = support::sshd::SshdOptions {
        file_size_limit: Some(100_000),
        ..Default::default()
    };
    let Some(sshd) = Sshd::start_with(opts) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // Per user: chunk 0 lands, chunk 1 is refused 3 times; plus preflight
    // and cleanup.
    let o = assert_clean_goodbyes(&sshd, work.path(), 2 * 4 + 2);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}
