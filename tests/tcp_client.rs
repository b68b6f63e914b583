//! End-to-end tests of `xfer tcp-client` (one-shot, pipe, a real terminal via
//! tmux) and of the `Connection` library API, against `xfer tcp-serve` and a
//! real nginx.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{addr_in, peer, spawn_server, xfer, KillOnDrop};
use xfer::tcp::client::{ClientError, Connection};
use xfer::tcp::server::{self, TcpServeConfig};

fn serve(root: &Path, extra: &[&str]) -> (KillOnDrop, SocketAddr) {
    let mut args = vec!["tcp-serve", "--listen", "127.0.0.1:0", "--root"];
    args.push(root.to_str().unwrap());
    args.extend_from_slice(extra);
    let (child, line, _out) = spawn_server(&args);
    (child, addr_in(&line))
}

fn client(addr: SocketAddr, args: &[&str]) -> std::process::Output {
    xfer()
        .arg("tcp-client")
        .arg(addr.to_string())
        .args(args)
        .output()
        .expect("run xfer tcp-client")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn one_shot_get_saves_2xx_and_never_saves_an_error_page() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("a b.txt"), "spaced name").unwrap();
    let (_server, addr) = serve(&root, &[]);

    let out_file = tmp.path().join("out.txt");
    let out = client(addr, &["get", "/a b.txt", "-o", out_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(line.starts_with("200 OK  11 B in "), "{line}");
    assert!(line.contains("(keep-alive timeout=30s)"), "{line}");
    assert_eq!(fs::read_to_string(&out_file).unwrap(), "spaced name");

    let missing = tmp.path().join("missing.txt");
    let out = client(addr, &["get", "/nope", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).starts_with("404 Not Found"));
    assert!(!missing.exists());
    let leftovers = fs::read_dir(tmp.path()).unwrap().filter(|e| {
        let name = e.as_ref().unwrap().file_name();
        name.to_string_lossy().starts_with(".xfer-download.")
    });
    assert_eq!(leftovers.count(), 0);

    let out = client(addr, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "a usage mistake");
    assert!(text(&out.stderr).contains("unknown command"));
    let out = xfer()
        .args(["tcp-client", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("HOST:PORT"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn piped_commands_post_get_and_report_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    let (_server, addr) = serve(&root, &["--timeout-base", "20s"]);
    let local = tmp.path().join("data.bin");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    fs::write(&local, &data).unwrap();
    let back = tmp.path().join("back.bin");
    let script = format!(
        "help\npost {} /up/../data.bin\npost {}\nclient_get /data.bin {}\ntimeout\nquit\nget /never\n",
        local.display(),
        local.display(),
        back.display()
    );
    let mut child = xfer()
        .args(["tcp-client", &addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    // The first post is refused (a `..` segment), so the run fails overall.
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("403 Forbidden"), "{stdout}");
    assert!(stdout.contains("201 Created"), "{stdout}");
    assert!(stdout.contains("200 OK  195 KiB in"), "{stdout}");
    assert!(stdout.contains("keep-alive timeout="), "{stdout}");
    assert!(!stdout.contains("/never"));
    assert_eq!(fs::read(&back).unwrap(), data);
    assert_eq!(fs::read(root.join("data.bin")).unwrap(), data);
}

#[test]
fn library_connection_reconnects_after_the_server_closed_it_idle() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), "abc").unwrap();
    let running = server::spawn(TcpServeConfig {
        root: tmp.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        timeout_base: Duration::from_secs(1),
        timeout_min: Duration::from_secs(1),
        ..TcpServeConfig::default()
    })
    .unwrap();
    let mut conn = Connection::connect(running.addr(), Duration::from_secs(5)).unwrap();
    let mut body = Vec::new();
    let r = conn.get("/f", &mut body).unwrap();
    assert_eq!(
        (r.status, r.body_bytes, body.as_slice()),
        (200, 3, &b"abc"[..])
    );
    assert_eq!(r.keep_alive_timeout, Some(Duration::from_secs(1)));
    assert_eq!(running.accepted_connections(), 1);
    // Wait (bounded) until the server has dropped the idle connection
    // (T = 1s), then reuse it: the client must notice and reconnect.
    let deadline = Instant::now() + Duration::from_secs(15);
    while running.open_connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "the server kept the idle connection"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    body.clear();
    let r = conn.get("/f", &mut body).unwrap();
    assert_eq!((r.status, body.as_slice()), (200, &b"abc"[..]));
    assert_eq!(
        running.accepted_connections(),
        2,
        "the second request went over a new connection"
    );
    let r = conn.post("/g", b"posted").unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(fs::read(tmp.path().join("g")).unwrap(), b"posted");
    let r = conn.get("/missing", &mut body).unwrap();
    assert_eq!(
        (r.status, body.len()),
        (404, 3),
        "error body not written to the sink"
    );
    assert_eq!(conn.head("/g").unwrap().status, 200);
    running.shutdown();
}

/// Polls a tmux pane until it shows `want` (bounded).
fn wait_for_pane(tmux: &dyn Fn(&[&str]) -> String, want: &str, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let pane = tmux(&["capture-pane", "-p", "-t", "xfer"]);
        if pane.matches(want).count() >= count || Instant::now() > deadline {
            return pane;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn interactive_prompt_in_a_terminal_with_history() {
    let Some(tmux_bin) = peer("tmux") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("hello.txt"), "hi there").unwrap();
    let (_server, addr) = serve(tmp.path(), &[]);
    let socket = tmp.path().join("tmux.sock");
    let tmux = |args: &[&str]| {
        let out = Command::new(&tmux_bin)
            .arg("-S")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap();
        text(&out.stdout)
    };
    let dest = tmp.path().join("dl.txt");
    let cmd = format!(
        "{} tcp-client {addr}; sleep 30",
        support::xfer_bin().display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "xfer",
        "-x",
        "200",
        "-y",
        "50",
        &cmd,
    ]);
    struct KillTmux<'a>(&'a dyn Fn(&[&str]) -> String);
    impl Drop for KillTmux<'_> {
        fn drop(&mut self) {
            (self.0)(&["kill-server"]);
        }
    }
    let _guard = KillTmux(&tmux);
    wait_for_pane(&tmux, "xfer>", 1);
    let get = format!("get /hello.txt {}", dest.display());
    tmux(&["send-keys", "-t", "xfer", &get, "Enter"]);
    let pane = wait_for_pane(&tmux, "200 OK", 1);
    assert!(pane.contains("200 OK  8 B in"), "{pane}");
    // History: Up recalls the last command.
    tmux(&["send-keys", "-t", "xfer", "Up", "Enter"]);
    let pane = wait_for_pane(&tmux, "200 OK", 2);
    assert_eq!(pane.matches("200 OK").count(), 2, "{pane}");
    tmux(&["send-keys", "-t", "xfer", "timeout", "Enter"]);
    let pane = wait_for_pane(&tmux, "keep-alive timeout=", 3);
    assert!(pane.contains("\nkeep-alive timeout="), "{pane}");
    assert_eq!(fs::read_to_string(&dest).unwrap(), "hi there");
    tmux(&["send-keys", "-t", "xfer", "quit", "Enter"]);
}

#[test]
fn works_against_a_real_nginx() {
    let Some(nginx) = support::nginx::Nginx::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    nginx.put("file.bin", &data);
    let addr = nginx.addr;

    let got = tmp.path().join("got.bin");
    let not_saved = tmp.path().join("404.html");
    let script = format!(
        "get /file.bin {}\nget /missing.html {}\nget /file.bin {}\n",
        got.display(),
        not_saved.display(),
        got.display()
    );
    let mut child = xfer()
        .args(["tcp-client", &addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}\n{}", text(&out.stderr));
    assert!(lines[0].starts_with("200 OK  293 KiB in"), "{stdout}");
    assert!(lines[1].starts_with("404 Not Found"), "{stdout}");
    assert!(lines[1].ends_with("(not saved)"), "{stdout}");
    assert!(lines[2].starts_with("200 OK"), "{stdout}");
    assert_eq!(fs::read(&got).unwrap(), data);
    assert!(!not_saved.exists());
    assert_eq!(out.status.code(), Some(1), "the 404 fails the run");

    // The library sees nginx's keep-alive and error pages the same way.
    let mut conn = Connection::connect(addr, Duration::from_secs(5)).unwrap();
    let mut sink = Vec::new();
    let r = conn.get("/missing.html", &mut sink).unwrap();
    assert!(
        r.status == 404 && r.body_bytes > 0 && sink.is_empty(),
        "{r:?}"
    );
    let r = conn.get("/file.bin", &mut sink).unwrap();
    assert_eq!((r.status, sink.len()), (200, data.len()));
}

/// Reads one request head (no body) from `s`.
fn read_request_head(s: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "client closed early");
        head.push(byte[0]);
    }
}

#[test]
fn a_read_timeout_is_returned_at_once_and_never_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // Answers the first request (so the connection is a reused one), reads
    // the second and never answers it.
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        read_request_head(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        read_request_head(&mut s);
        let _ = done_rx.recv_timeout(Duration::from_secs(20));
        // Any retry would have connected by now (the kernel completes the
        // handshake without accept).
        listener.set_nonblocking(true).unwrap();
        let mut more = 0;
        while listener.accept().is_ok() {
            more += 1;
        }
        drop(s);
        1 + more
    });
    let mut conn = Connection::connect(addr, Duration::from_secs(1)).unwrap();
    assert_eq!(conn.get("/a", &mut Vec::new()).unwrap().status, 200);
    let started = Instant::now();
    let err = conn.get("/b", &mut Vec::new()).unwrap_err();
    let took = started.elapsed();
    done_tx.send(()).unwrap();
    assert!(matches!(err, ClientError::Io { .. }), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}: retried?");
    assert_eq!(server.join().unwrap(), 1, "exactly one connection");
}

/// A body reader that fails like a bad disk.
struct FailingReader;

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("local disk error"))
    }
}

impl std::io::Seek for FailingReader {
    fn seek(&mut self, _: std::io::SeekFrom) -> std::io::Result<u64> {
        Ok(0)
    }
}

#[test]
fn a_failing_upload_body_is_a_body_error_not_a_network_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut conn =
        Connection::connect(listener.local_addr().unwrap(), Duration::from_secs(5)).unwrap();
    let err = conn.post_reader("/up", &mut FailingReader, 10).unwrap_err();
    assert!(matches!(err, ClientError::Body(_)), "{err}");
}

/// Issue 9 item 6: every usage mistake exits 2 with one line that names the
/// flag, argument or file, and no error prints its cause twice.
#[test]
fn usage_mistakes_exit_2_with_one_line_naming_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    // A loopback port that accepts nothing: no request is ever sent.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let dir = tmp.path().to_str().unwrap();
    let missing_dir_dest = format!("{dir}/no-such-dir/out");
    let cases: &[(&[&str], &str)] = &[
        (&["not-an-address", "get", "/f"], "HOST:PORT"),
        (&[&addr, "--timeout", "0s", "get", "/f"], "--timeout"),
        (&[&addr, "--timeout", "soon", "get", "/f"], "--timeout"),
        (&[&addr, "frobnicate"], "unknown command 'frobnicate'"),
        (&[&addr, "get"], "usage: get REMOTE"),
        (&[&addr, "get", "/a", "b", "c"], "usage: get REMOTE"),
        (&[&addr, "get", "/"], "give a LOCAL file name"),
        (&[&addr, "get", "/f", &missing_dir_dest], "LOCAL"),
        (&[&addr, "post"], "usage: post LOCAL"),
        (&[&addr, "post", "/no/such/file"], "/no/such/file"),
        (&[&addr, "post", dir], "not a regular file"),
    ];
    for (args, want) in cases {
        let out = xfer().arg("tcp-client").args(*args).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(first.contains(want), "{args:?}: {stderr}");
        // One error, its cause (an OS error, say) printed once.
        assert_eq!(stderr.matches("error:").count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.matches("(os error").count() <= 1,
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // From a pipe, a usage mistake anywhere makes the whole run exit 2.
    let mut child = xfer()
        .args(["tcp-client", &addr])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"help\nget\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    drop(listener);
}
