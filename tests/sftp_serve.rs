//! End-to-end tests of `xfer sftp-serve` with the real OpenSSH `sftp` client:
//! key and password logins, the everyday commands, byte-identical transfers,
//! confinement to the root (traversal, absolute paths, symlinks, a sibling
//! sharing the root's prefix), rejected credentials, `--max-sessions`, 200
//! concurrent sessions, and SIGTERM during uploads. Loopback only, port 0,
//! bounded time, no performance assertions.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};
use support::sftp_serve::{Options, XferSftpServe};
use support::{peer, wait, xfer};

const USER: &str = "tester";
const PASSWORD: &str = "correct horse battery staple";
/// Upper bound for one sftp client run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// A temporary world: the served root `TMP/data`, its prefix sibling
/// `TMP/data2`, a client working directory, a client key, credentials files.
struct World {
    tmp: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["data", "data2", "client", "keys"] {
            std::fs::create_dir(tmp.path().join(d)).unwrap();
        }
        let w = World { tmp };
        keygen(&w.path("keys/id"));
        keygen(&w.path("keys/other"));
        std::fs::copy(w.path("keys/id.pub"), w.path("keys/authorized_keys")).unwrap();
        std::fs::write(w.path("keys/password"), format!("{PASSWORD}\n")).unwrap();
        w
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn root(&self) -> PathBuf {
        self.path("data")
    }

    fn client(&self) -> PathBuf {
        self.path("client")
    }

    /// Starts the server (the support fixture) on `data`, with key and
    /// password auth plus `extra` flags.
    fn serve(&self, extra: &[&str]) -> Server {
        let s = XferSftpServe::start_with(Options {
            password: Some(PASSWORD),
            extra: extra.iter().map(|a| a.to_string()).collect(),
            root: Some(self.root()),
            authorized_keys: Some(self.path("keys/authorized_keys")),
            ..Options::default()
        })
        .expect("ssh-keygen is there: World::new ran it");
        let line = &s.banner;
        assert!(
            line.starts_with("xfer sftp-serve listening on 127.0.0.1:"),
            "{line}"
        );
        assert!(line.contains(" host-key SHA256:"), "{line}");
        assert!(line.contains(" (ssh-ed25519) root=/"), "{line}");
        Server {
            port: s.addr.port(),
            s,
        }
    }
}

struct Server {
    port: u16,
    s: XferSftpServe,
}

fn keygen(path: &Path) {
    support::sshd::keygen(path, "ed25519", "");
}

/// The common part of every sftp invocation.
fn sftp_base(w: &World, port: u16) -> Command {
    let mut c = Command::new("sftp");
    c.current_dir(w.client())
        .args(["-P", &port.to_string()])
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null"])
        .args(["-o", "LogLevel=ERROR"])
        .args(["-o", "ConnectTimeout=20"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// `sftp` logging in with `key`, running `batch`.
fn sftp_key_cmd(w: &World, port: u16, key: &str, batch: &str) -> Command {
    let batch_file = w.path(&format!("batch-{}", rand_name()));
    std::fs::write(&batch_file, batch).unwrap();
    sftp_key_with(w, port, key, batch_file.as_os_str())
}

/// `sftp -b BATCH` (a file, or `-` for stdin) logging in with `key`.
fn sftp_key_with(w: &World, port: u16, key: &str, batch: &std::ffi::OsStr) -> Command {
    let mut c = sftp_base(w, port);
    c.arg("-i")
        .arg(w.path(key))
        .args(["-o", "IdentitiesOnly=yes"])
        .args(["-o", "PasswordAuthentication=no"])
        .arg("-b")
        .arg(batch)
        .arg(format!("{USER}@127.0.0.1"));
    c
}

fn sftp_key(w: &World, port: u16, batch: &str) -> Output {
    let child = sftp_key_cmd(w, port, "keys/id", batch).spawn().unwrap();
    wait::output_of(child, CLIENT_TIMEOUT, "client")
}

/// `sftp` logging in with a password fed through SSH_ASKPASS.
fn sftp_password(w: &World, port: u16, password: &str, batch: &str) -> Output {
    let name = rand_name();
    let batch_file = w.path(&format!("batch-{name}"));
    std::fs::write(&batch_file, batch).unwrap();
    let askpass = w.path(&format!("askpass-{name}"));
    let secret = w.path(&format!("secret-{name}"));
    std::fs::write(&secret, password).unwrap();
    std::fs::write(&askpass, format!("#!/bin/sh\ncat '{}'\n", secret.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut c = sftp_base(w, port);
    // BatchMode=no must come before -b, which would otherwise force it on.
    c.args(["-o", "BatchMode=no"])
        .args(["-o", "PubkeyAuthentication=no"])
        .args(["-o", "PreferredAuthentications=password"])
        .args(["-o", "NumberOfPasswordPrompts=1"])
        .arg("-b")
        .arg(&batch_file)
        .arg(format!("{USER}@127.0.0.1"))
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0");
    wait::output_of(c.spawn().unwrap(), CLIENT_TIMEOUT, "client")
}

fn rand_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Deterministic non-repeating content of `len` bytes.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

fn have_peers() -> bool {
    peer("sftp").is_some() && peer("ssh-keygen").is_some()
}

#[test]
fn key_login_put_get_ls_mkdir_rename_rm_rmdir_are_byte_identical() {
    if !have_peers() {
        return;
    }
    let w = World::new();
    let server = w.serve(&[]);
    let data = content(3 * 1024 * 1024 + 123, 1);
    std::fs::write(w.client().join("up.bin"), &data).unwrap();
    let out = sftp_key(
        &w,
        server.port,
        "pwd\nput up.bin\nls -l\nmkdir dir\nrename up.bin dir/moved.bin\nls -l dir\n\
         get dir/moved.bin down.bin\nrm dir/moved.bin\nrmdir dir\nls -la\n",
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Remote working directory: /\n"), "{log}");
    assert!(log.contains(" 3145851 "), "ls -l shows the size: {log}");
    assert!(log.contains("moved.bin"), "{log}");
    assert_eq!(std::fs::read(w.client().join("down.bin")).unwrap(), data);
    let left: Vec<_> = std::fs::read_dir(w.root()).unwrap().collect();
    assert!(left.is_empty(), "rm and rmdir left {left:?}");
}

#[test]
fn password_login_works_and_wrong_password_is_rejected() {
    if !have_peers() {
        return;
    }
    let w = World::new();
    let server = w.serve(&[]);
    let data = content(100_000, 2);
    std::fs::write(w.client().join("p.bin"), &data).unwrap();
    let out = sftp_password(&w, server.port, PASSWORD, "put p.bin\n");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(w.root().join("p.bin")).unwrap(), data);

    std::fs::write(w.client().join("q.bin"), b"no").unwrap();
    let out = sftp_password(&w, server.port, "wrong password", "put q.bin\n");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!w.root().join("q.bin").exists());
}

#[test]
fn wrong_key_is_rejected() {
    if !have_peers() {
        return;
    }
    let w = World::new();
    let server = w.serve(&[]);
    std::fs::write(w.client().join("k.bin"), b"no").unwrap();
    let child = sftp_key_cmd(&w, server.port, "keys/other", "put k.bin\n")
        .spawn()
        .unwrap();
    let out = wait::output_of(child, CLIENT_TIMEOUT, "client");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        text(&out)
    );
    assert!(!w.root().join("k.bin").exists());
}

#[test]
fn starting_without_credentials_is_a_usage_error_naming_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = xfer()
        .args(["sftp-serve", "--root"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    for flag in ["--password-env", "--password-file", "--authorized-keys"] {
        assert!(err.contains(flag), "{err}");
    }
    assert!(out.stdout.is_empty());
}

#[test]
fn traversal_absolute_paths_symlinks_and_prefix_siblings_stay_inside_root() {
    if !have_peers() {
        return;
    }
    let w = World::new();
    let secret = b"outside the root";
    std::fs::write(w.path("data2/secret"), secret).unwrap();
    std::fs::write(w.path("secret-top"), secret).unwrap();
    std::fs::write(w.root().join("inside.txt"), b"inside").unwrap();
    std::os::unix::fs::symlink("/etc", w.root().join("etc")).unwrap();
    std::os::unix::fs::symlink(w.path("data2"), w.root().join("sib")).unwrap();
    std::os::unix::fs::symlink("../data2", w.root().join("rel")).unwrap();
    std::os::unix::fs::symlink(
        w.path("data2/new-through-dangling"),
        w.root().join("dangling"),
    )
    .unwrap();
    std::fs::write(w.client().join("payload"), b"payload").unwrap();
    let server = w.serve(&[]);

    let mut batch = String::new();
    let reads = [
        "../data2/secret",
        "../../data2/secret",
        "/../data2/secret",
        "/../../../../",
        "../secret-top",
        "/etc/passwd",
        "../../../../etc/passwd",
        "etc/passwd",
        "sib/secret",
        "rel/secret",
        "/sib/../sib/secret",
        "dir/../../data2/secret",
    ];
    for (i, r) in reads.iter().enumerate() {
        batch.push_str(&format!("-get {r} got{i}\n"));
    }
    let writes = [
        "../data2/w0",
        "/../data2/w1",
        "../../w2",
        "sib/w3",
        "rel/w4",
        "dangling",
        "etc/w6",
        "/sib/../rel/w7",
    ];
    for w_ in writes {
        batch.push_str(&format!("-put payload {w_}\n"));
    }
    batch.push_str(
        "-mkdir sib/newdir\n-mkdir ../data2/newdir2\n-rm sib/secret\n-rm ../data2/secret\n\
         -rename inside.txt sib/moved\n-rename sib/secret stolen\n-ls sib\n-ls /etc\n\
         -symlink /etc/passwd pw\n-get pw got-pw\n-chmod 777 sib/secret\n\
         -symlink ../.. up\n-put payload up/w8\n-symlink ../../data2 up2\n-put payload up2/w9\n\
         -get up2/secret got-up2\n\
         cd ..\ncd ../..\npwd\n",
    );
    let out = sftp_key(&w, server.port, &batch);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("Remote working directory: /\n"),
        "cd .. stays at /: {log}"
    );

    // Nothing outside the root was read...
    for entry in std::fs::read_dir(w.client()).unwrap() {
        let p = entry.unwrap().path();
        let body = std::fs::read(&p).unwrap_or_default();
        assert!(
            body != secret && !String::from_utf8_lossy(&body).contains("root:"),
            "{} holds data from outside the root\n{log}",
            p.display()
        );
    }
    // ... nor written, renamed, removed or re-moded.
    let sib: Vec<String> = std::fs::read_dir(w.path("data2"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(sib, vec!["secret".to_string()], "{log}");
    assert_eq!(std::fs::read(w.path("data2/secret")).unwrap(), secret);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(w.path("data2/secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o777, 0o777);
    let top: Vec<String> = std::fs::read_dir(w.tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("batch-"))
        .collect();
    let mut top_sorted = top.clone();
    top_sorted.sort();
    assert_eq!(
        top_sorted,
        ["client", "data", "data2", "keys", "secret-top"],
        "{log}"
    );
    // Links the client creates are stored pointing inside the root, so no
    // swap of directories and links can later lead a write out of it.
    let root = w.root().canonicalize().unwrap();
    for link in ["up", "up2", "pw"] {
        let target = std::fs::read_link(w.root().join(link)).unwrap();
        assert!(target.starts_with(&root), "{link} -> {}", target.display());
    }
    assert!(
        w.root().join("w8").exists(),
        "up/w8 lands in the root: {log}"
    );
    // `../../w2` is confined to `/w2`, i.e. inside the root: that one is allowed.
    assert!(w.root().join("w2").exists(), "{log}");
    assert_eq!(
        std::fs::read(w.root().join("inside.txt")).unwrap(),
        b"inside"
    );
}

#[test]
fn read_only_refuses_writes_but_serves_reads() {
    if !have_peers() {
        return;
    }
    let w = World::new();
    std::fs::write(w.root().join("r.txt"), b"readable").unwrap();
    std::fs::write(w.client().join("x"), b"x").unwrap();
    let server = w.serve(&["--read-only"]);
    let out = sftp_key(
        &w,
        server.port,
        "get r.txt\n-put x\n-mkdir d\n-rm r.txt\n-rename r.txt s.txt\n",
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!(
        std::fs::read(w.client().join("r.txt")).unwrap(),
        b"readable"
    );
    assert!(log.contains("Permission denied"), "{log}");
    let names: Vec<_> = std::fs::read_dir(w.root()).unwrap().collect();
    assert_eq!(names.len(), 1, "{log}");
}

/// An sftp client kept connected by holding its batch stdin open.
struct Holder {
    child: Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Holder {
    fn connect(w: &World, port: u16) -> Holder {
        let mut cmd = sftp_key_with(w, port, "keys/id", "-".as_ref());
        let mut child = cmd.stdin(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        // Logged in once `pwd` answers (sftp line-buffers its output).
        writeln!(stdin, "pwd").unwrap();
        let mut line = String::new();
        let deadline = Instant::now() + CLIENT_TIMEOUT;
        while !line.contains("Remote working directory") {
            line.clear();
            assert!(Instant::now() < deadline, "holder did not log in");
            assert!(stdout.read_line(&mut line).unwrap() > 0, "holder exited");
        }
        Holder {
            child,
            stdin,
            stdout,
        }
    }

    fn finish(self) -> ExitStatus {
        let Holder {
            child,
            stdin,
            stdout,
        } = self;
        drop(stdin);
        drop(stdout);
        wait::output_of(child, CLIENT_TIMEOUT, "client").status
    }
}

#[test]
fn connections_that_never_log_in_are_dropped_and_free_their_slot() {
    if !have_peers() {
        return;
    }
    let w = World::new();
    let server = w.serve(&["--max-sessions", "1", "--login-timeout", "1s"]);
    // A socket that never says anything holds the only slot...
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // ...until the login deadline closes it (the server sends its banner,
    // then, a second later, the end of the stream).
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut idle, &mut sink);
    assert!(
        String::from_utf8_lossy(&sink).starts_with("SSH-2.0-"),
        "{sink:?}"
    );
    // The slot is free again for a real client.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = sftp_key(&w, server.port, "pwd\n");
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "slot never freed: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn max_sessions_refuses_extra_connections_and_keeps_serving() {
    if !have_peers() {
        return;
    }
    let w = World::new();
    let server = w.serve(&["--max-sessions", "2"]);
    let a = Holder::connect(&w, server.port);
    let b = Holder::connect(&w, server.port);
    let extra: Vec<Child> = (0..3)
        .map(|_| {
            sftp_key_cmd(&w, server.port, "keys/id", "ls\n")
                .spawn()
                .unwrap()
        })
        .collect();
    for child in extra {
        let out = wait::output_of(child, CLIENT_TIMEOUT, "client");
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("too many sessions"),
            "{}",
            text(&out)
        );
    }
    assert!(a.finish().success());
    assert!(b.finish().success());
    // Slots free up when the sessions' records are dropped; allow a moment.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = sftp_key(&w, server.port, "pwd\n");
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server stopped serving: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_hundred_concurrent_sessions_each_upload_a_file() {
    if !have_peers() {
        return;
    }
    let w = World::new();
    let server = w.serve(&[]);
    let n = 200;
    for i in 0..n {
        std::fs::write(
            w.client().join(format!("f{i}")),
            content(4096 + i, i as u64),
        )
        .unwrap();
    }
    let children: Vec<Child> = (0..n)
        .map(|i| {
            sftp_key_cmd(&w, server.port, "keys/id", &format!("put f{i}\n"))
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = wait::output_of(child, Duration::from_secs(120), "client");
        assert!(out.status.success(), "{}", text(&out));
    }
    for i in 0..n {
        assert_eq!(
            std::fs::read(w.root().join(format!("f{i}"))).unwrap(),
            content(4096 + i, i as u64),
            "file f{i}"
        );
    }
}

#[test]
fn sigterm_during_uploads_exits_zero_and_keeps_acknowledged_files_whole() {
    if !have_peers() {
        return;
    }
    let w = World::new();
    let log = w.path("transfers.csv");
    let mut server = w.serve(&["--log-transfers", log.to_str().unwrap()]);
    // Upload 0 is small and finishes first; the others are still under way
    // when SIGTERM arrives, and the server lets them finish.
    let n = 8;
    let size = |i: usize| {
        if i == 0 {
            64 * 1024 + 7
        } else {
            24 * 1024 * 1024 + 7
        }
    };
    for i in 0..n {
        std::fs::write(
            w.client().join(format!("s{i}")),
            content(size(i), 100 + i as u64),
        )
        .unwrap();
    }
    let mut children: Vec<Option<Child>> = (0..n)
        .map(|i| {
            Some(
                sftp_key_cmd(&w, server.port, "keys/id", &format!("put s{i}\n"))
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let first = wait::output_of(children[0].take().unwrap(), CLIENT_TIMEOUT, "client");
    assert!(first.status.success(), "{}", text(&first));
    let pid = server.s.server.0.id() as i32;
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = server.s.server.0.try_wait().unwrap() {
                break st;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(status.code(), Some(0), "server exit status");
    let mut acknowledged = 1;
    for (i, slot) in children.iter_mut().enumerate().skip(1) {
        let out = wait::output_of(slot.take().unwrap(), CLIENT_TIMEOUT, "client");
        if out.status.success() {
            acknowledged += 1;
            assert_eq!(
                std::fs::read(w.root().join(format!("s{i}"))).unwrap(),
                content(size(i), 100 + i as u64),
                "acknowledged upload s{i} is not whole"
            );
        }
    }
    eprintln!("{acknowledged} of {n} uploads were acknowledged around the shutdown");
    assert_eq!(
        std::fs::read(w.root().join("s0")).unwrap(),
        content(size(0), 100)
    );
    let csv = std::fs::read_to_string(&log).unwrap();
    assert!(
        csv.starts_with("unix_time_us,session,path,offset,len\n"),
        "{csv:.200}"
    );
    assert!(csv.lines().count() > 1, "writes were logged");
    assert!(csv.lines().nth(1).unwrap().contains(",/s"), "{csv:.300}");
}

#[test]
fn usage_mistakes_exit_2_with_one_line_naming_the_flag_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = |rel: &str| dir.path().join(rel).to_str().unwrap().to_string();
    std::fs::create_dir(dir.path().join("root")).unwrap();
    std::fs::write(dir.path().join("garbage_keys"), "this is not a key\n").unwrap();
    std::fs::write(dir.path().join("pw"), "pw\n").unwrap();
    let root = d("root");
    let cases: Vec<(Vec<String>, &str, String)> = vec![
        (
            vec!["--authorized-keys".into(), d("missing_keys")],
            "--authorized-keys",
            d("missing_keys"),
        ),
        (
            vec!["--authorized-keys".into(), d("garbage_keys")],
            "--authorized-keys",
            d("garbage_keys"),
        ),
        (
            vec!["--password-file".into(), d("missing_pw")],
            "--password-file",
            d("missing_pw"),
        ),
        (
            vec![
                "--password-file".into(),
                d("pw"),
                "--log-transfers".into(),
                d("no/such/dir/log.csv"),
            ],
            "--log-transfers",
            d("no/such/dir/log.csv"),
        ),
        // russh asserts its rekey limits are at most 1 GiB: a clear line,
        // never that panic.
        (
            vec![
                "--password-file".into(),
                d("pw"),
                "--rekey-limit".into(),
                "2G".into(),
            ],
            "--rekey-limit",
            "2.00 GiB".into(),
        ),
        (
            vec![
                "--password-file".into(),
                d("pw"),
                "--rekey-limit".into(),
                "1K".into(),
            ],
            "--rekey-limit",
            "1.00 KiB".into(),
        ),
    ];
    for (extra, flag, file) in cases {
        let out = xfer()
            .args(["sftp-serve", "--listen", "127.0.0.1:0", "--root", &root])
            .args(&extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{extra:?}: {err}");
        assert!(
            err.contains(flag) && err.contains(&file),
            "{extra:?}: {err}"
        );
        assert!(!err.contains("entity not found"), "{extra:?}: {err}");
        assert!(out.stdout.is_empty(), "{extra:?}");
    }
    // A missing root names --root.
    let out = xfer()
        .args([
            "sftp-serve",
            "--listen",
            "127.0.0.1:0",
            "--root",
            &d("nope"),
        ])
        .args(["--password-file", &d("pw")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--root") && err.contains(&d("nope")), "{err}");
}
