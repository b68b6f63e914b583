//! `xfer sftp-bench sftp://ALIAS/...` with an OpenSSH client config that
//! aliases the sshd fixture, as `sftp ALIAS` would read it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::sshd::Sshd;
use support::{assert_ok, assert_usage, stderr, xfer};

/// A source file that is not a multiple of the 64 KiB chunk size.
fn source(dir: &Path) -> (PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..200_017u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let path = dir.join("source.dat");
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

/// `xfer sftp-bench TARGET` with no login flags, HOME in `work` (so no
/// ~/.ssh of the machine is read) and no agent or password variables.
fn bench(work: &Path, target: &str, src: &Path, extra: &[&str]) -> Command {
    let home = work.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = xfer();
    cmd.arg("sftp-bench")
        .arg(target)
        .args(["-c", "2", "--chunk-size", "64K", "--delay", "0"])
        .args(["--ramp-up", "0", "--backoff", "50ms", "--io-timeout", "20s"])
        .arg("-f")
        .arg(src)
        .arg("-o")
        .arg(work.join("run"))
        .args(extra)
        .env("HOME", &home)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("XFER_PASSWORD")
        .env_remove("XFER_PASSPHRASE");
    cmd
}

/// Every file in `dir` is `data`, and there are `n` of them.
fn assert_uploaded(dir: &Path, n: usize, data: &[u8]) {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), n, "{files:?}");
    for f in files {
        assert!(
            std::fs::read(&f).unwrap() == data,
            "{} differs from the source",
            f.display()
        );
    }
}

/// A remote directory under `work`, and its `sftp://ALIAS//abs` target.
fn remote(work: &Path, alias_part: &str) -> (PathBuf, String) {
    let dir = work.join("remote");
    std::fs::create_dir_all(&dir).unwrap();
    let target = format!("sftp://{alias_part}/{}", dir.display());
    (dir, target)
}

#[test]
fn a_host_alias_from_dash_f_uploads_byte_identical_files() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let (src, data) = source(work.path());
    let cfg = sshd.ssh_config("bench-gw", &[]);
    let (dir, target) = remote(work.path(), "bench-gw");
    let o = bench(work.path(), &target, &src, &["-F", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_uploaded(&dir, 2, &data);
    let run = support::rundir::run_json(&work.path().join("run"));
    assert_eq!(
        run["target"],
        format!(
            "sftp://{}@127.0.0.1:{}/{}",
            sshd.user,
            sshd.port,
            dir.display()
        ),
        "run.json names the host the alias stands for"
    );

    // The same alias without the config is a host that does not resolve.
    let o = bench(work.path(), &target, &src, &["-F", "none", "--overwrite"])
        .arg("-i")
        .arg(&sshd.client_key)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("bench-gw"), "{}", stderr(&o));
}

#[test]
fn the_default_config_is_home_dot_ssh_config() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let (src, data) = source(work.path());
    let ssh = work.path().join("home/.ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    // A Match block xfer cannot evaluate is ignored, with a warning, and
    // does not take the Port from the Host block above it.
    let host = std::fs::read_to_string(sshd.ssh_config("dflt", &[])).unwrap();
    std::fs::write(
        ssh.join("config"),
        format!("{host}Match exec \"true\"\n  Port 1\n"),
    )
    .unwrap();
    let (dir, target) = remote(work.path(), "dflt");
    let o = bench(work.path(), &target, &src, &[]).output().unwrap();
    assert_ok(&o);
    assert_uploaded(&dir, 2, &data);
    assert!(
        stderr(&o).contains("line 7: Match exec \"true\" is not supported; its block is ignored"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_url_and_flags_win_over_the_config() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let (src, data) = source(work.path());
    // A config that would fail on its own: a user sshd refuses, a key it
    // does not know, and a known_hosts without the server.
    let stranger = work.path().join("stranger_key");
    support::sshd::keygen(&stranger, "ed25519", "");
    let empty_kh = work.path().join("empty_known_hosts");
    std::fs::write(&empty_kh, "").unwrap();
    let cfg = work.path().join("cfg");
    std::fs::write(
        &cfg,
        format!(
            "Host gw\n  HostName 127.0.0.1\n  Port {}\n  User no-such-user\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
            sshd.port,
            stranger.display(),
            empty_kh.display()
        ),
    )
    .unwrap();
    let (dir, target) = remote(work.path(), "gw");
    let o = bench(work.path(), &target, &src, &["-F", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success(), "the config alone must not log in");

    let target = target.replacen("gw", &format!("{}@gw", sshd.user), 1);
    let o = bench(work.path(), &target, &src, &["-F", cfg.to_str().unwrap()])
        .args(["--overwrite", "-i", sshd.client_key.to_str().unwrap()])
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .output()
        .unwrap();
    assert_ok(&o);
    assert_uploaded(&dir, 2, &data);
    // run.json says where each setting came from.
    let run = support::rundir::run_json(&work.path().join("run"));
    let login = &run["ssh_login"];
    assert_eq!(login["ssh_config"], cfg.to_str().unwrap(), "{login}");
    assert_eq!(login["host_as_given"], "gw", "{login}");
    for (setting, origin) in [
        ("host", "ssh_config"),
        ("port", "ssh_config"),
        ("user", "url"),
        ("identity", "flag"),
        ("known_hosts", "flag"),
    ] {
        assert_eq!(login[setting], origin, "{setting}: {login}");
    }
}

#[test]
fn strict_host_key_checking_accept_new_fills_the_user_known_hosts_file() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let (src, data) = source(work.path());
    let kh = work.path().join("home/kh_%h");
    let cfg = work.path().join("cfg");
    std::fs::write(
        &cfg,
        format!(
            "Host gw\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking accept-new\n",
            sshd.port,
            sshd.user,
            sshd.client_key.display(),
            kh.display()
        ),
    )
    .unwrap();
    let (dir, target) = remote(work.path(), "gw");
    let o = bench(work.path(), &target, &src, &["-F", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_uploaded(&dir, 2, &data);
    let added = std::fs::read_to_string(work.path().join("home/kh_127.0.0.1")).unwrap();
    assert!(
        added.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)),
        "{added}"
    );
}

#[test]
fn a_bad_config_line_is_one_clear_line_exit_2() {
    // No server needed: the config is read before any connection.
    let work = tempfile::tempdir().unwrap();
    let (src, _) = source(work.path());
    let cfg = work.path().join("cfg");
    for (text, needle) in [
        (
            "Host gw\n  HostName 127.0.0.1\n  Port twenty-two\n",
            "line 3",
        ),
        (
            "Host gw\n  Frobnicate yes\n",
            "line 2: unknown option Frobnicate",
        ),
        ("Match all\n  Port x\n", "line 2"),
        (
            "Host gw\n  StrictHostKeyChecking maybe\n",
            "StrictHostKeyChecking",
        ),
        (
            "Host gw\n  ProxyJump jump\n  ProxyCommand nc %h %p\n",
            "ProxyJump and ProxyCommand",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let o = bench(
            work.path(),
            "sftp://gw/x",
            &src,
            &["-F", cfg.to_str().unwrap()],
        )
        .output()
        .unwrap();
        assert_usage(&o, needle);
        assert!(stderr(&o).contains(cfg.to_str().unwrap()), "{}", stderr(&o));
    }
    let missing = work.path().join("missing");
    let o = bench(
        work.path(),
        "sftp://gw/x",
        &src,
        &["-F", missing.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert_usage(&o, missing.to_str().unwrap());
}

/// A config in which `behind` is the fixture reached through `jump`, the
/// fixture again, with `ssh -W`.
fn jump_config(sshd: &Sshd, work: &Path) -> PathBuf {
    let jump = std::fs::read_to_string(sshd.ssh_config("jump", &["BatchMode yes"])).unwrap();
    let behind = std::fs::read_to_string(sshd.ssh_config("behind", &["ProxyJump jump"])).unwrap();
    let cfg = work.join("cfg");
    std::fs::write(&cfg, format!("{jump}{behind}")).unwrap();
    cfg
}

#[test]
fn proxy_jump_goes_through_ssh_dash_w_on_the_jump_host() {
    if support::peer("ssh").is_none() {
        return;
    }
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let (src, data) = source(work.path());
    let cfg = jump_config(&sshd, work.path());
    let (dir, target) = remote(work.path(), "behind");
    let o = bench(work.path(), &target, &src, &["-F", cfg.to_str().unwrap()])
        .args(["--mode", "reconnect"])
        .output()
        .unwrap();
    assert_ok(&o);
    assert_uploaded(&dir, 2, &data);

    // The same through a jump host that forbids forwarding fails, with what
    // ssh said: the stream did go through the jump.
    let Some(closed) = Sshd::start_with(support::sshd::SshdOptions {
        extra: vec!["AllowTcpForwarding no".into()],
        ..Default::default()
    }) else {
        return;
    };
    let cfg = jump_config(&closed, work.path());
    let o = bench(work.path(), &target, &src, &["-F", cfg.to_str().unwrap()])
        .arg("--overwrite")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("through the proxy: proxy exited") && err.contains("forwarding failed"),
        "{err}"
    );
}

#[test]
fn a_proxy_command_that_fails_says_what_it_printed() {
    let work = tempfile::tempdir().unwrap();
    let (src, _) = source(work.path());
    let cfg = work.path().join("cfg");
    std::fs::write(
        &cfg,
        "Host gw\n  ProxyCommand sh -c 'echo no route to %h >&2; exit 3'\n",
    )
    .unwrap();
    let o = bench(
        work.path(),
        "sftp://gw/x",
        &src,
        &["-F", cfg.to_str().unwrap()],
    )
    .arg("--password-file")
    .arg(&cfg)
    .output()
    .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no route to gw") && err.contains("exit status: 3"),
        "{err}"
    );
}

#[test]
fn perf_reaches_a_host_alias_too() {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let cfg = sshd.ssh_config("perf-gw", &[]);
    let (_, target) = remote(work.path(), "perf-gw");
    let out = work.path().join("perf");
    let o = xfer()
        .arg("perf")
        .arg(&target)
        .arg("-F")
        .arg(&cfg)
        .args(["--clients", "1", "--requests", "4", "-s", "16K"])
        .args(["--warmup", "0", "-o"])
        .arg(&out)
        .env("HOME", work.path())
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("XFER_PASSWORD")
        .output()
        .unwrap();
    assert_ok(&o);
    let mut rows = csv::Reader::from_path(out.join("perf.csv")).unwrap();
    let headers = rows.headers().unwrap().clone();
    let row = rows.records().next().unwrap().unwrap();
    let col = |name: &str| &row[headers.iter().position(|h| h == name).unwrap()];
    assert_eq!((col("requests"), col("errors")), ("4", "0"), "{row:?}");
}

#[test]
fn ctrl_c_through_a_proxy_jump_stops_the_run_gracefully() {
    if support::peer("ssh").is_none() {
        return;
    }
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let cfg = jump_config(&sshd, work.path());
    let (_, target) = remote(work.path(), "behind");
    let out = work.path().join("run");
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = xfer();
    cmd.arg("sftp-bench")
        .arg(&target)
        .arg("-F")
        .arg(&cfg)
        .args(["-c", "2", "--file-size", "8M", "--chunk-size", "64K"])
        .args(["--delay", "0", "--ramp-up", "0", "-o"])
        .arg(&out)
        .env("HOME", &home)
        .env_remove("SSH_AUTH_SOCK")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // Its own process group, so that the SIGINT below goes to the whole
    // group, as a terminal's Ctrl-C does.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = support::KillOnDrop(cmd.spawn().unwrap());
    let rows = || {
        std::fs::read_to_string(out.join("chunks.csv"))
            .map(|t| t.lines().count().saturating_sub(1))
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while rows() < 4 {
        assert!(std::time::Instant::now() < deadline, "no rows written");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Safety: a signal to the process group of our own child.
    unsafe { libc::kill(-(child.0.id() as i32), libc::SIGINT) };
    let status = child.0.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    let summary = support::rundir::summary(&out);
    assert_eq!(summary["interrupted"], true, "{summary}");
    assert_eq!(
        summary["failed_attempts"], 0,
        "in-flight chunks finished over their proxies: {summary}\n{err}"
    );
}
