//! `xfer sftp-serve` against real third-party clients doing what real users
//! do with them: OpenSSH `sftp` and paramiko downloads with their default
//! pipelining (and deeper), clients killed or stalled mid-download, and
//! authentication that needs more than one try on one connection. Every
//! wait is bounded and polled; files are compared byte for byte.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::sftp_serve::{Options, XferSftpServe};
use support::{content, have_paramiko, peer, python, wait};

/// Upper bound for one client run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Polls `cond` every 100 ms until it holds or `limit` passes.
fn poll_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn have_sftp() -> bool {
    peer("sftp").is_some() && peer("ssh-keygen").is_some()
}

/// OpenSSH `sftp -b BATCH` logged in with the server's authorized key, plus
/// `extra` options before the destination.
fn sftp(s: &XferSftpServe, extra: &[&str], batch: &str, cwd: &Path) -> Command {
    sftp_with_keys(s, &[&s.key], extra, batch, cwd)
}

/// `sftp -b BATCH` offering `keys` in this order (and nothing else).
fn sftp_with_keys(
    s: &XferSftpServe,
    keys: &[&Path],
    extra: &[&str],
    batch: &str,
    cwd: &Path,
) -> Command {
    let file = cwd.join(format!("batch-{}", batch.len()));
    std::fs::write(&file, batch).unwrap();
    let mut c = Command::new("sftp");
    c.process_group(0)
        .current_dir(cwd)
        .args(["-P", &s.addr.port().to_string()])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", s.known_hosts.display()))
        .args(["-o", "StrictHostKeyChecking=yes"])
        .args(["-o", "LogLevel=ERROR"])
        .args(["-o", "ConnectTimeout=20"])
        .args(["-o", "IdentitiesOnly=yes"])
        .args(["-o", "PasswordAuthentication=no"]);
    for key in keys {
        c.arg("-i").arg(key);
    }
    c.args(extra)
        .arg("-b")
        .arg(&file)
        .arg(format!("{}@127.0.0.1", s.user))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// The paramiko prologue: `t`, a connected and authenticated transport
/// (`AUTH` is Python code using `t`), and `sftp`, an SFTPClient on it.
fn paramiko_script(s: &XferSftpServe, auth: &str, body: &str) -> String {
    format!(
        "import paramiko, socket, sys, time\n\
         sock = socket.create_connection(('127.0.0.1', {port}))\n\
         t = paramiko.Transport(sock)\n\
         t.start_client(timeout=20)\n\
         {auth}\n\
         assert t.is_authenticated(), 'not authenticated'\n\
         sftp = paramiko.SFTPClient.from_transport(t)\n\
         {body}\n",
        port = s.addr.port(),
    )
}

fn key_auth(s: &XferSftpServe) -> String {
    format!(
        "t.auth_publickey('{}', paramiko.Ed25519Key.from_private_key_file('{}'))",
        s.user,
        s.key.display()
    )
}

fn put_file(s: &XferSftpServe, name: &str, len: usize, seed: u64) -> Vec<u8> {
    let data = content(len, seed);
    std::fs::write(s.root.join(name), &data).unwrap();
    data
}

#[test]
fn openssh_sftp_default_get_of_64_mib_is_byte_identical() {
    if !have_sftp() {
        return;
    }
    let s = XferSftpServe::start().unwrap();
    let data = put_file(&s, "big.bin", 64 * 1024 * 1024 + 17, 1);
    let cwd = s.scratch().to_path_buf();
    let child = sftp(&s, &[], "get big.bin down.bin\n", &cwd)
        .spawn()
        .unwrap();
    let out = wait::output_of(child, CLIENT_TIMEOUT, "sftp get");
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read(cwd.join("down.bin")).unwrap() == data);
}

#[test]
fn openssh_sftp_get_with_256_outstanding_256k_reads_is_byte_identical() {
    if !have_sftp() {
        return;
    }
    let s = XferSftpServe::start().unwrap();
    let data = put_file(&s, "big.bin", 64 * 1024 * 1024 + 5, 2);
    let cwd = s.scratch().to_path_buf();
    let child = sftp(
        &s,
        &["-R", "256", "-B", "262144"],
        "get big.bin down.bin\n",
        &cwd,
    )
    .spawn()
    .unwrap();
    let out = wait::output_of(child, CLIENT_TIMEOUT, "sftp -R 256 -B 262144 get");
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read(cwd.join("down.bin")).unwrap() == data);
}

#[test]
fn paramiko_default_get_with_prefetch_of_10_mb_is_byte_identical() {
    if !have_sftp() || !have_paramiko() {
        return;
    }
    let s = XferSftpServe::start().unwrap();
    let data = put_file(&s, "ten.bin", 10_000_000, 3);
    let local = s.scratch().join("ten.down");
    // SFTPClient.get prefetches: it sends a read for every 32 KiB of the
    // file at once, with no cap on the requests outstanding.
    let script = paramiko_script(
        &s,
        &key_auth(&s),
        &format!("sftp.get('/ten.bin', '{}')\nprint('done')", local.display()),
    );
    let out = wait::output_of(
        python(&script).spawn().unwrap(),
        CLIENT_TIMEOUT,
        "paramiko get",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read(&local).unwrap() == data);
}

/// A paramiko client that asks for a whole 64 MiB file at once, reads 1 MiB
/// of the answers, says `started`, and then stops reading (its window
/// closes), so the server has replies it cannot send.
fn stalled_download(
    s: &XferSftpServe,
) -> (support::KillOnDrop, BufReader<std::process::ChildStdout>) {
    let script = paramiko_script(
        s,
        &key_auth(s),
        "f = sftp.open('/big.bin', 'rb')\n\
         f.prefetch()\n\
         f.read(1024 * 1024)\n\
         print('started', flush=True)\n\
         time.sleep(3600)",
    );
    let mut child = python(&script).stderr(Stdio::inherit()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = support::KillOnDrop(child);
    // Read the line on a thread so that a client that never gets its first
    // MiB fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = BufReader::new(stdout);
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        let _ = tx.send((line, out));
    });
    let (line, out) = rx
        .recv_timeout(CLIENT_TIMEOUT)
        .expect("the stalled client never received its first MiB");
    assert_eq!(line.trim(), "started", "the stalled client did not start");
    (child, out)
}

fn sftp_pwd_works(s: &XferSftpServe) -> bool {
    let cwd = s.scratch().to_path_buf();
    let child = sftp(s, &[], "pwd\n", &cwd).spawn().unwrap();
    wait::output_of(child, CLIENT_TIMEOUT, "sftp pwd")
        .status
        .success()
}

#[test]
fn clients_killed_mid_download_free_their_session_slots() {
    if !have_sftp() || !have_paramiko() {
        return;
    }
    let s = XferSftpServe::start_with(Options {
        extra: vec!["--max-sessions".into(), "2".into()],
        ..Options::default()
    })
    .unwrap();
    put_file(&s, "big.bin", 64 * 1024 * 1024, 4);
    for _ in 0..2 {
        let (mut client, _out) = stalled_download(&s);
        // kill -9: the kernel closes the socket; the server must notice.
        client.0.kill().unwrap();
        client.0.wait().unwrap();
    }
    poll_until(
        Duration::from_secs(20),
        "a new login succeeds after two killed downloads",
        || sftp_pwd_works(&s),
    );
}

/// The session line says how a session ended: a client that logs out is
/// `ok`, one whose connection dies mid-download is not (it used to be `ok`
/// too, because the error that ended the session was dropped).
#[test]
fn a_session_lost_mid_download_is_not_logged_ok() {
    if !have_sftp() || !have_paramiko() {
        return;
    }
    let s = XferSftpServe::start_with(Options {
        stderr_lines: true,
        ..Options::default()
    })
    .unwrap();
    put_file(&s, "big.bin", 16 * 1024 * 1024, 5);
    assert!(sftp_pwd_works(&s));
    let clean = s.next_session_line(CLIENT_TIMEOUT);
    assert!(clean.ends_with(" ok (publickey)"), "{clean}");

    let (mut client, _out) = stalled_download(&s);
    client.0.kill().unwrap();
    client.0.wait().unwrap();
    let lost = s.next_session_line(CLIENT_TIMEOUT);
    assert!(!lost.contains(" ok "), "{lost}");
    assert!(
        lost.contains(" failed (publickey): connection lost ("),
        "{lost}"
    );
}

#[test]
fn idle_timeout_ends_a_stalled_download() {
    if !have_sftp() || !have_paramiko() {
        return;
    }
    let s = XferSftpServe::start_with(Options {
        extra: vec![
            "--max-sessions".into(),
            "1".into(),
            "--idle-timeout".into(),
            "2s".into(),
        ],
        stderr_lines: true,
        ..Options::default()
    })
    .unwrap();
    put_file(&s, "big.bin", 64 * 1024 * 1024, 5);
    let (_client, _out) = stalled_download(&s);
    // The stalled client holds the only slot until the idle timeout ends it.
    poll_until(
        Duration::from_secs(20),
        "the idle timeout frees the slot of a stalled download",
        || sftp_pwd_works(&s),
    );
    // Its line says so (past the refused tries, and the `pwd` that got
    // in, whichever line came first).
    let line = loop {
        let line = s.next_session_line(CLIENT_TIMEOUT);
        if !line.ends_with("refused: --max-sessions reached") && !line.ends_with(" ok (publickey)")
        {
            break line;
        }
    };
    assert!(
        line.ends_with(" timed out (publickey): idle for longer than --idle-timeout"),
        "{line}"
    );
}

#[test]
fn shutdown_with_a_stalled_download_finishes_within_the_grace() {
    if !have_sftp() || !have_paramiko() {
        return;
    }
    let mut s = XferSftpServe::start().unwrap();
    put_file(&s, "big.bin", 64 * 1024 * 1024, 6);
    let (_client, _out) = stalled_download(&s);
    let pid = s.server.0.id() as i32;
    let asked = Instant::now();
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    // README: open files get 10 s to finish; then the session is cut.
    let status = loop {
        if let Some(st) = s.server.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(15),
            "sftp-serve still running {:?} after SIGTERM",
            asked.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        asked.elapsed() < Duration::from_secs(12),
        "shutdown took {:?}",
        asked.elapsed()
    );
}

const PASSWORD: &str = "correct horse battery staple";

fn with_password() -> Option<XferSftpServe> {
    XferSftpServe::start_with(Options {
        password: Some(PASSWORD),
        ..Options::default()
    })
}

/// Runs a paramiko script against `s` and asserts that it succeeds and
/// prints `ok`.
fn paramiko_ok(script: &str, what: &str) {
    let out = wait::output_of(python(script).spawn().unwrap(), CLIENT_TIMEOUT, what);
    assert!(out.status.success(), "{what}: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok"),
        "{what}: {}",
        text(&out)
    );
}

#[test]
fn paramiko_with_an_unauthorized_key_first_logs_in_with_the_second() {
    if !have_sftp() || !have_paramiko() {
        return;
    }
    let s = with_password().unwrap();
    let script = format!(
        "import paramiko\n\
         c = paramiko.SSHClient()\n\
         c.set_missing_host_key_policy(paramiko.AutoAddPolicy())\n\
         c.connect('127.0.0.1', port={port}, username='{user}', key_filename=['{other}', '{key}'],\n\
                   look_for_keys=False, allow_agent=False, timeout=20, auth_timeout=20)\n\
         print(c.open_sftp().getcwd() or 'ok')\n\
         print('ok')\n",
        port = s.addr.port(),
        user = s.user,
        other = s.other_key.display(),
        key = s.key.display(),
    );
    paramiko_ok(&script, "paramiko key_filename=[other, right]");
}

#[test]
fn paramiko_auth_none_then_password_logs_in() {
    if !have_sftp() || !have_paramiko() {
        return;
    }
    let s = with_password().unwrap();
    let script = paramiko_script(
        &s,
        &format!(
            "try:\n    t.auth_none('{user}')\nexcept paramiko.BadAuthenticationType as e:\n    \
             assert 'password' in e.allowed_types, e.allowed_types\n\
             t.auth_password('{user}', '{PASSWORD}')",
            user = s.user
        ),
        "sftp.listdir('/')\nprint('ok')",
    );
    paramiko_ok(&script, "paramiko auth_none then auth_password");
}

#[test]
fn password_is_still_offered_after_wrong_passwords_until_the_sixth() {
    if !have_sftp() || !have_paramiko() {
        return;
    }
    let s = with_password().unwrap();
    // Five wrong passwords, then the right one, on one connection.
    let script = paramiko_script(
        &s,
        &format!(
            "for i in range(5):\n    \
                 try:\n        t.auth_password('{user}', 'wrong %d' % i)\n        raise SystemExit('accepted a wrong password')\n    \
                 except paramiko.BadAuthenticationType as e:\n        raise SystemExit('password no longer offered after %d: %s' % (i + 1, e.allowed_types))\n    \
                 except paramiko.AuthenticationException:\n        pass\n\
             t.auth_password('{user}', '{PASSWORD}')",
            user = s.user
        ),
        "sftp.listdir('/')\nprint('ok')",
    );
    paramiko_ok(
        &script,
        "paramiko: five wrong passwords, then the right one",
    );
    // Six wrong passwords end the connection: the seventh try cannot log in.
    let script = paramiko_script(
        &s,
        &format!(
            "for i in range(6):\n    \
                 try:\n        t.auth_password('{user}', 'wrong %d' % i)\n    \
                 except paramiko.AuthenticationException:\n        pass\n\
             try:\n    t.auth_password('{user}', '{PASSWORD}')\n    print('logged in after six failures')\n\
             except Exception as e:\n    print('refused:', type(e).__name__)\n\
             raise SystemExit(0)",
            user = s.user
        ),
        "",
    );
    let out = wait::output_of(
        python(&script).spawn().unwrap(),
        CLIENT_TIMEOUT,
        "six wrong passwords",
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("refused"),
        "{}",
        text(&out)
    );
}

#[test]
fn openssh_with_an_unauthorized_identity_first_logs_in_with_the_second() {
    if !have_sftp() {
        return;
    }
    let s = XferSftpServe::start().unwrap();
    let cwd = s.scratch().to_path_buf();
    // The unauthorized key is offered first.
    let mut c = sftp_with_keys(&s, &[&s.other_key, &s.key], &[], "pwd\n", &cwd);
    let out = wait::output_of(c.spawn().unwrap(), CLIENT_TIMEOUT, "sftp -i other -i id");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Remote working directory: /"),
        "{}",
        text(&out)
    );
}

#[test]
fn readlink_never_shows_a_host_path() {
    if !have_sftp() || !have_paramiko() {
        return;
    }
    let s = XferSftpServe::start().unwrap();
    let root = s.root.canonicalize().unwrap();
    std::fs::create_dir(root.join("dir")).unwrap();
    std::fs::write(root.join("dir/f"), b"x").unwrap();
    // Links an administrator placed in the root, with host paths.
    let outside = s.scratch().canonicalize().unwrap().join("secret");
    std::fs::write(&outside, b"secret").unwrap();
    std::os::unix::fs::symlink(root.join("dir/f"), root.join("inside")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("outside")).unwrap();
    std::os::unix::fs::symlink("../../../etc", root.join("dir/climb")).unwrap();
    std::os::unix::fs::symlink("f", root.join("dir/rel")).unwrap();
    let script = paramiko_script(
        &s,
        &key_auth(&s),
        "for p in ['/inside', '/outside', '/dir/climb', '/dir/rel']:\n    \
             try:\n        print(p, 'shows', sftp.readlink(p))\n    \
             except IOError as e:\n        print(p, 'refused', e.errno)",
    );
    let out = wait::output_of(python(&script).spawn().unwrap(), CLIENT_TIMEOUT, "readlink");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout.contains("/inside shows /dir/f\n"), "{stdout}");
    assert!(stdout.contains("/outside refused"), "{stdout}");
    assert!(stdout.contains("/dir/climb refused"), "{stdout}");
    assert!(stdout.contains("/dir/rel shows f\n"), "{stdout}");
    let host = s.scratch().to_str().unwrap().to_string();
    assert!(!stdout.contains(&host), "a host path leaked: {stdout}");
}

#[test]
fn a_small_descriptor_limit_warns_at_start_and_refuses_logins_clearly() {
    if !have_sftp() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let key = dir.path().join("id");
    support::sshd::keygen(&key, "ed25519", "");
    let mut cmd = support::xfer();
    cmd.args(["sftp-serve", "--listen", "127.0.0.1:0", "--user", "tester"])
        .arg("--root")
        .arg(&root)
        .arg("--authorized-keys")
        .arg(dir.path().join("id.pub"))
        .args(["--max-sessions", "1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit between fork and exec touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = child.stderr.take().unwrap();
    let server = support::KillOnDrop(child);
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = support::addr_in(&first);
    // On a thread, so that a missing warning fails instead of hanging.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let warning = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no warning on stderr");
    assert!(
        warning.contains("--max-sessions 1000 cannot be held") && warning.contains("limit 64"),
        "{warning}"
    );
    // (64 - 32) / 2 = 16 sessions; hold them with sockets that never log in.
    let held: Vec<std::net::TcpStream> = (0..16)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let mut banner = [0u8; 8];
            std::io::Read::read_exact(&mut s, &mut banner).unwrap();
            s
        })
        .collect();
    let mut known = String::new();
    stdout.read_line(&mut known).unwrap();
    let kh = dir.path().join("known_hosts");
    std::fs::write(
        &kh,
        format!(
            "[127.0.0.1]:{} {}\n",
            addr.port(),
            known.trim().rsplit(": ").next().unwrap()
        ),
    )
    .unwrap();
    let out = wait::output_of(
        Command::new("sftp")
            .process_group(0)
            .args(["-P", &addr.port().to_string(), "-i"])
            .arg(&key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", kh.display()))
            .args(["-o", "IdentitiesOnly=yes", "-b", "-", "tester@127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        CLIENT_TIMEOUT,
        "sftp over the descriptor cap",
    );
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("too many sessions") && err.contains("file-descriptor limit"),
        "{}",
        text(&out)
    );
    drop(held);
    drop(server);
}

/// A local user who can write in the root swaps a directory for a symlink
/// to outside the root (and back) as fast as one syscall allows, while a
/// real client (paramiko) writes, reads, stats, lists, makes directories
/// and renames through that directory. A server that checks a path and then
/// uses it by name follows the swapped-in link in the window between the
/// two; one that resolves beneath the root's descriptor never leaves it.
#[test]
fn a_directory_swapped_for_a_symlink_never_leads_a_client_outside_the_root() {
    if !have_sftp() || !have_paramiko() {
        return;
    }
    let s = XferSftpServe::start().unwrap();
    let outside = s.scratch().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"SECRET-OUTSIDE").unwrap();
    std::fs::create_dir(s.root.join("d")).unwrap();
    std::fs::write(s.root.join("d/secret"), b"inside").unwrap();
    std::os::unix::fs::symlink(&outside, s.root.join("alt")).unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let d = std::ffi::CString::new(s.root.join("d").to_str().unwrap()).unwrap();
        let alt = std::ffi::CString::new(s.root.join("alt").to_str().unwrap()).unwrap();
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: two NUL-terminated paths; RENAME_EXCHANGE swaps the
                // directory `d` and the symlink `alt` atomically.
                let rc = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        d.as_ptr(),
                        libc::AT_FDCWD,
                        alt.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
                swaps += 1;
            }
            swaps
        })
    };
    let body = "leaks = oks = 0\n\
         for i in range(300):\n\
         \x20   for op in range(6):\n\
         \x20       try:\n\
         \x20           if op == 0:\n\
         \x20               with sftp.open('d/w%d' % i, 'w') as f: f.write(b'x')\n\
         \x20           elif op == 1:\n\
         \x20               with sftp.open('/d/secret') as f:\n\
         \x20                   if b'SECRET' in f.read(): leaks += 1\n\
         \x20           elif op == 2:\n\
         \x20               sftp.mkdir('d/m%d' % i)\n\
         \x20           elif op == 3:\n\
         \x20               sftp.posix_rename('d/secret', 'd/secret')\n\
         \x20               sftp.symlink('secret', 'd/l%d' % i)\n\
         \x20           elif op == 4:\n\
         \x20               if 'secret' in sftp.listdir('d') and sftp.stat('d/secret').st_size == 14: leaks += 1\n\
         \x20           else:\n\
         \x20               sftp.remove('d/secret')\n\
         \x20           oks += 1\n\
         \x20       except (IOError, OSError):\n\
         \x20           pass\n\
         print('leaks', leaks, 'oks', oks)\n";
    let script = paramiko_script(&s, &key_auth(&s), body);
    let out = wait::output_of(
        python(&script).spawn().unwrap(),
        Duration::from_secs(120),
        "paramiko through a swapping directory",
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(swaps > 1000, "the swapper ran only {swaps} times");
    let mut names: Vec<String> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["secret"],
        "the client changed a directory outside the root ({swaps} swaps)"
    );
    assert_eq!(
        std::fs::read(outside.join("secret")).unwrap(),
        b"SECRET-OUTSIDE"
    );
    // Not vacuous: the client got through to the inside, too.
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("oks 0\n"),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("leaks 0 oks "),
        "the client saw a file outside the root: {}",
        text(&out)
    );
}
