//! Shards of one run on separate network stacks, then `xfer merge`: 4
//! `sftp-bench --shard I/4 --start-at T` processes, each in its own network
//! namespace with its own source address (`scripts/netns-shards`), against
//! one `xfer sftp-serve` and against OpenSSH sshd; the merged directory is
//! checked against the shards' own files and the server's. Where network
//! namespaces are unavailable (no root, a locked-down container) the shards
//! run as loopback processes instead, and the test says so.
//!
//! (tests/shards.rs, from the `wire` branch, checks `--shard`/`--start-at`
//! themselves with two shards; this file is the merge end to end.)

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use support::rundir::{self, column, column_sum, completed_histogram, json, phase};
use support::sftp_serve::XferSftpServe;
use support::sshd::Sshd;
use support::{assert_ran as assert_ok, netns, wait, xfer, xfer_bin};

const SHARDS: usize = 4;
const USERS: u32 = 8;

/// A start far enough ahead for 4 preflights on a loaded 2-core machine.
fn start_at() -> String {
    support::start_at(10).1
}

/// The flags every shard of the run shares.
fn run_flags(src: &Path, at: &str) -> Vec<String> {
    [
        "-f",
        src.to_str().unwrap(),
        "-s",
        "16K",
        "-c",
        &USERS.to_string(),
        "-d",
        "0",
        "--ramp-up",
        "300ms",
        "--start-at",
        at,
        "--interval",
        "200ms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// How to reach the server: from the shards' namespaces (a `--server`
/// command for netns-shards) or over loopback (a target and known_hosts).
struct Server {
    user: String,
    key: PathBuf,
    /// Remote directory, as the target's path.
    remote: String,
    /// Where that directory is on this machine.
    local_dir: PathBuf,
    /// netns: the command netns-shards starts, printing IP:PORT first.
    netns_server: String,
    /// loopback: `host:port` and a known_hosts for it.
    loopback: (String, PathBuf),
}

/// Runs the 4 shards; returns their run directories.
fn run_shards(server: &Server, src: &Path, work: &Path, netns: bool) -> Vec<PathBuf> {
    let at = start_at();
    let outs: Vec<PathBuf> = (0..SHARDS).map(|i| work.join(format!("s{i}"))).collect();
    if netns {
        // Each shard trusts the server on first use, in a file of its own.
        for i in 0..SHARDS {
            std::fs::write(work.join(format!("kh{i}")), "").unwrap();
        }
        let mut cmd = Command::new(netns::script());
        cmd.arg("--server")
            .arg(&server.netns_server)
            .arg(SHARDS.to_string())
            .arg("--")
            .arg(xfer_bin())
            .arg("sftp-bench")
            .arg(format!(
                "sftp://{}@{{server}}/{}",
                server.user, server.remote
            ))
            .arg("-i")
            .arg(&server.key)
            .arg("--known-hosts")
            .arg(work.join("kh{i}"))
            .args(["--host-key-check", "accept-new"])
            .args(run_flags(src, &at))
            .args(["--shard", "{i}/{n}", "-o"])
            .arg(work.join("s{i}"))
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("XFER_PASSWORD")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let o = wait::output(cmd.spawn().unwrap(), Duration::from_secs(120));
        assert_ok(&o, "netns-shards");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("netns-shards: server at 10.231."), "{err}");
    } else {
        let children: Vec<Child> = outs
            .iter()
            .enumerate()
            .map(|(i, out)| {
                xfer()
                    .arg("sftp-bench")
                    .arg(format!(
                        "sftp://{}@{}/{}",
                        server.user, server.loopback.0, server.remote
                    ))
                    .arg("-i")
                    .arg(&server.key)
                    .arg("--known-hosts")
                    .arg(&server.loopback.1)
                    .args(run_flags(src, &at))
                    .args(["--shard", &format!("{i}/{SHARDS}"), "-o"])
                    .arg(out)
                    .env_remove("SSH_AUTH_SOCK")
                    .env_remove("XFER_PASSWORD")
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            assert_ok(&wait::output(c, Duration::from_secs(120)), "a shard");
        }
    }
    outs
}

fn merge(dirs: &[PathBuf], out: &Path) -> Output {
    let c = xfer()
        .arg("merge")
        .args(dirs)
        .arg("-o")
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait::output(c, Duration::from_secs(60))
}

/// Every assertion on one merged 4-shard run.
fn check_merged(shards: &[PathBuf], out: &Path, server: &Server, data: &[u8]) {
    let o = merge(shards, out);
    assert_ok(&o, "xfer merge");
    println!("{}", String::from_utf8_lossy(&o.stdout));
    let m = json(&out.join("summary.json"));
    let bytes = rundir::assert_summary_is_the_sum(shards, &m);
    assert_eq!(bytes, u64::from(USERS) * data.len() as u64);
    assert_eq!(m["users"].as_u64().unwrap(), u64::from(USERS));

    // Percentiles against those recomputed from the concatenated rows.
    let chunks = out.join("chunks.csv");
    let shards_seen: BTreeSet<String> = column(&chunks, "shard").into_iter().collect();
    assert_eq!(shards_seen.len(), SHARDS);
    let want = completed_histogram(&chunks, "write").summary();
    let write = phase(&m, "write");
    for (key, v) in [
        ("p50_us", want.p50_us),
        ("p90_us", want.p90_us),
        ("p99_us", want.p99_us),
        ("max_us", want.max_us),
    ] {
        let got = write[key].as_u64().unwrap();
        // HDR precision: 3 significant digits.
        assert!(got.abs_diff(v) <= v / 1000 + 1, "{key}: {got} vs {v}");
    }

    // Remote files: one per global user, none shared, all byte-identical.
    let mut names = BTreeSet::new();
    for s in shards {
        for f in json(&s.join("run.json"))["remote_files"]
            .as_array()
            .unwrap()
        {
            assert!(names.insert(f.as_str().unwrap().to_string()), "{f} twice");
        }
    }
    assert_eq!(names.len(), USERS as usize);
    let on_server = rundir::names_in(&server.local_dir);
    let named: BTreeSet<String> = names
        .iter()
        .map(|n| n.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(on_server, named);
    for n in &on_server {
        assert!(
            std::fs::read(server.local_dir.join(n)).unwrap() == data,
            "{n}"
        );
    }

    // Start skew, as merge measured it from the shards' run.json: measured
    // and present; its size is the machine's weather (see tests/shards.rs),
    // bounded only to catch shards that did not wait for --start-at.
    let skew = json(&out.join("run.json"))["merged"]["start_skew_ms"]
        .as_f64()
        .unwrap();
    assert!((0.0..2_000.0).contains(&skew), "start skew {skew} ms");

    // The time series adds up to the run's totals.
    let series = out.join("timeseries.csv");
    let (t_ok, t_bytes) = (
        column_sum(&series, "steps_ok"),
        column_sum(&series, "bytes"),
    );
    assert_eq!((t_ok, t_bytes), (m["steps_ok"].as_u64().unwrap(), bytes));
}

fn source(work: &Path) -> (PathBuf, Vec<u8>) {
    rundir::source_file(work, "src.bin", 90_000)
}

/// A relay from the bridge address to a loopback-only server (sshd listens
/// on 127.0.0.1 only): the `--server` of netns-shards, printing IP:PORT.
const RELAY: &str = r#"
import socket, sys, threading
l = socket.socket(); l.bind((sys.argv[1], 0)); l.listen(64)
print("%s:%d" % l.getsockname(), flush=True)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    finally:
        try: b.shutdown(socket.SHUT_WR)
        except OSError: pass
while True:
    c, _ = l.accept()
    u = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    for a, b in ((c, u), (u, c)):
        threading.Thread(target=pipe, args=(a, b), daemon=True).start()
"#;

#[test]
fn four_shards_against_xfer_sftp_serve_merge_to_the_sums() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    let netns = netns::available("m");
    let work = tempfile::tempdir().unwrap();
    let (src, data) = source(work.path());
    // The netns run needs a server on the bridge; this one shares the
    // fixture's root, key and host key.
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("up")).unwrap();
    std::fs::create_dir_all(server.root.join("up")).unwrap();
    let host_key = work.path().join("host_key");
    support::sshd::keygen(&host_key, "ed25519", "");
    let s = Server {
        user: server.user.to_string(),
        key: server.key.clone(),
        remote: "up".into(),
        local_dir: if netns {
            root.join("up")
        } else {
            server.root.join("up")
        },
        netns_server: format!(
            "{} sftp-serve --listen {{bridge}}:0 --root {} --user {} --authorized-keys {}.pub --host-key {}",
            xfer_bin().display(),
            root.display(),
            server.user,
            server.key.display(),
            host_key.display()
        ),
        loopback: (server.addr.to_string(), server.known_hosts.clone()),
    };
    let shards = run_shards(&s, &src, work.path(), netns);
    check_merged(&shards, &work.path().join("merged"), &s, &data);
    let plot = xfer()
        .args(["perf", "plot"])
        .arg(work.path().join("merged"))
        .output()
        .unwrap();
    assert_ok(&plot, "perf plot");
}

#[test]
fn four_shards_against_openssh_merge_and_a_mismatch_is_refused() {
    let Some(sshd) = Sshd::start() else { return };
    let netns = netns::available("m");
    let work = tempfile::tempdir().unwrap();
    let (src, data) = source(work.path());
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let relay = work.path().join("relay.py");
    std::fs::write(&relay, RELAY).unwrap();
    let s = Server {
        user: sshd.user.clone(),
        key: sshd.client_key.clone(),
        // An absolute path after the first slash is taken as is.
        remote: remote.display().to_string(),
        local_dir: remote.clone(),
        netns_server: format!("exec python3 {} {{bridge}} {}", relay.display(), sshd.port),
        loopback: (format!("127.0.0.1:{}", sshd.port), sshd.known_hosts.clone()),
    };
    let shards = run_shards(&s, &src, work.path(), netns);
    check_merged(&shards, &work.path().join("merged"), &s, &data);

    // A shard of another run (another chunk size) is refused, exit 2.
    let other = work.path().join("other");
    let o = sshd
        .bench(sshd.target(&remote))
        .arg("-f")
        .arg(&src)
        .args(["-s", "32K", "-c", "2", "-d", "0", "-o"])
        .arg(&other)
        .output()
        .unwrap();
    assert_ok(&o, "the other run");
    let o = merge(&[shards[0].clone(), other], &work.path().join("bad"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("not shards of one run"), "{err}");
}

/// A shard killed with SIGKILL mid-run: merged from its chunks.csv with a
/// warning, its rows kept. Loopback processes: the kill needs the shard's
/// own pid.
#[test]
fn a_shard_killed_mid_run_merges_with_its_rows() {
    let Some(server) = XferSftpServe::start() else {
        return;
    };
    std::fs::create_dir(server.root.join("up")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src.bin");
    std::fs::write(&src, vec![5u8; 64 * 1024]).unwrap();
    let (_, at) = support::start_at(5);
    let outs: Vec<PathBuf> = (0..2).map(|i| work.path().join(format!("s{i}"))).collect();
    let spawn = |i: usize| {
        server
            .bench("up")
            .arg("-f")
            .arg(&src)
            // 16 chunks 150 ms apart per user: about 2.5 s of run.
            .args(["-s", "4K", "-c", "4", "-d", "150ms", "--ramp-up", "0"])
            .args(["--start-at", &at, "--shard", &format!("{i}/2"), "-o"])
            .arg(&outs[i])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, mut b) = (spawn(0), spawn(1));
    // Kill shard 1 once it has written a few rows.
    let chunks = outs[1].join("chunks.csv");
    wait::until(60, "shard 1 wrote no rows", || {
        std::fs::read(&chunks).map_or(0, |c| c.iter().filter(|&&x| x == b'\n').count()) >= 6
    });
    b.kill().unwrap();
    b.wait().unwrap();
    assert_ok(&wait::output(a, Duration::from_secs(60)), "shard 0");
    assert!(!outs[1].join("summary.json").exists());
    let kept = {
        let bytes = std::fs::read(&chunks).unwrap();
        let complete = bytes.iter().rposition(|&x| x == b'\n').unwrap();
        bytes[..complete].iter().filter(|&&x| x == b'\n').count() as u64
    };
    let out = work.path().join("merged");
    let o = merge(&outs, &out);
    assert_ok(&o, "merge");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("incomplete shard {}", outs[1].display()))
            && err.contains(&format!("its {kept} chunks.csv rows")),
        "{err}"
    );
    let mut r = csv::Reader::from_path(out.join("chunks.csv")).unwrap();
    let from_b = r
        .records()
        .filter(|x| &x.as_ref().unwrap()[0] == "1")
        .count() as u64;
    assert_eq!(from_b, kept);
    let m = json(&out.join("summary.json"));
    let ok_a = json(&outs[0].join("summary.json"))["steps_ok"]
        .as_u64()
        .unwrap();
    assert!(m["steps_ok"].as_u64().unwrap() > ok_a);
    assert_eq!(m["interrupted"], Value::Bool(true));
}
