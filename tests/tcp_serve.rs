//! End-to-end tests of `xfer tcp-serve` against real clients: curl, and raw
//! TCP for the malformed input curl refuses to send.

mod support;

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{addr_in, peer, spawn_server, wait, KillOnDrop};

fn serve(root: &Path, extra: &[&str]) -> (KillOnDrop, SocketAddr) {
    let root = root.to_str().unwrap();
    let mut args = vec!["tcp-serve", "--listen", "127.0.0.1:0", "--root", root];
    args.extend_from_slice(extra);
    let (child, line, _out) = spawn_server(&args);
    let canonical = fs::canonicalize(root).unwrap();
    assert!(
        line.starts_with("xfer tcp-serve listening on 127.0.0.1:"),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(" root={}", canonical.display())),
        "{line}"
    );
    (child, addr_in(&line))
}

/// A parsed response as the tests see it.
#[derive(Debug)]
struct Resp {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
    fn keep_alive_secs(&self) -> u64 {
        let v = self.header("keep-alive").expect("Keep-Alive header");
        v.strip_prefix("timeout=").unwrap().parse().unwrap()
    }
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    BufReader::new(s)
}

/// Sends `req` and reads one response (status 0 if the server just closed).
fn exchange(conn: &mut BufReader<TcpStream>, req: &[u8], head_only: bool) -> Resp {
    let _ = conn.get_mut().write_all(req);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match conn.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
        }
    }
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut resp = Resp {
        status,
        head,
        body: Vec::new(),
    };
    let len: usize = resp
        .header("content-length")
        .map_or(0, |v| v.parse().unwrap());
    if !head_only && len > 0 {
        resp.body.resize(len, 0);
        conn.read_exact(&mut resp.body).unwrap();
    }
    resp
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    exchange(&mut connect(addr), req.as_bytes(), false)
}

fn curl(args: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl")
}

fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".xfer-upload."))
        .collect()
}

#[test]
fn curl_gets_posts_heads_and_reuses_the_connection() {
    if peer("curl").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("4k.bin"), vec![7u8; 4096]).unwrap();
    let (_server, addr) = serve(&root, &["--max-upload", "3M"]);
    let url = |p: &str| format!("http://{addr}{p}");

    let out = curl(&[&url("/4k.bin")]);
    assert_eq!(out.stdout, vec![7u8; 4096]);

    // Two URLs on one command line share one connection.
    let out = curl(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}:%{num_connects},",
        &url("/4k.bin"),
        &url("/4k.bin"),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200:1,200:0,");

    // 2.5 MiB: curl sends Expect: 100-continue, which must be answered.
    let upload: Vec<u8> = (0..(5 << 19)).map(|i| (i * 31 % 251) as u8).collect();
    let src = tmp.path().join("upload.bin");
    fs::write(&src, &upload).unwrap();
    let out = curl(&[
        "-v",
        "-w",
        "%{http_code}",
        "--data-binary",
        &format!("@{}", src.display()),
        &url("/up.bin"),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "201");
    assert!(String::from_utf8_lossy(&out.stderr).contains("100 Continue"));
    assert_eq!(fs::read(root.join("up.bin")).unwrap(), upload);

    let out = curl(&["-I", &url("/up.bin")]);
    let head = String::from_utf8_lossy(&out.stdout);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", upload.len())),
        "{head}"
    );
    assert!(head.contains("Keep-Alive: timeout="), "{head}");

    let code = |args: &[&str]| {
        let mut a = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        a.extend_from_slice(args);
        String::from_utf8_lossy(&curl(&a).stdout).into_owned()
    };
    assert_eq!(code(&[&url("/missing")]), "404");
    let big = tmp.path().join("big.bin");
    fs::write(&big, vec![0u8; 4 << 20]).unwrap();
    let at_big = format!("@{}", big.display());
    assert_eq!(code(&["--data-binary", &at_big, &url("/big.bin")]), "413");
    assert!(!root.join("big.bin").exists());
    let chunked = ["-H", "Transfer-Encoding: chunked", "--data-binary", "x"];
    let mut args = chunked.to_vec();
    let u = url("/c.bin");
    args.push(&u);
    assert_eq!(code(&args), "411");
    assert_eq!(code(&["-X", "DELETE", &url("/4k.bin")]), "405");

    let r = exchange(
        &mut connect(addr),
        b"POST /n.bin HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
    );
    assert_eq!(r.status, 411);
    assert!(temp_files(&root).is_empty());
}

#[test]
fn bad_input_is_refused_and_nothing_outside_root_is_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let sibling = tmp.path().join("data2");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir(&sibling).unwrap();
    fs::write(root.join("ok.txt"), "inside").unwrap();
    fs::write(sibling.join("secret.txt"), "SECRET").unwrap();
    std::os::unix::fs::symlink(&sibling, root.join("escape")).unwrap();
    std::os::unix::fs::symlink(sibling.join("secret.txt"), root.join("link.txt")).unwrap();
    // Symlinks that stay inside the root are served, relative or absolute.
    std::os::unix::fs::symlink("ok.txt", root.join("rel-link.txt")).unwrap();
    std::os::unix::fs::symlink(root.join("ok.txt"), root.join("abs-link.txt")).unwrap();
    let (_server, addr) = serve(&root, &[]);
    for p in ["/rel-link.txt", "/abs-link.txt", "/sub/../ok.txt%3Fq"] {
        let r = get(addr, p);
        let want: (u16, &[u8]) = if p.ends_with("%3Fq") {
            (403, b"")
        } else {
            (200, b"inside")
        };
        assert_eq!(r.status, want.0, "{p}");
        if want.0 == 200 {
            assert_eq!(r.body, want.1, "{p}");
        }
    }

    let big_header = format!(
        "GET /ok.txt HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let table: &[(&[u8], u16)] = &[
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET /ok.txt\r\n\r\n", 400),
        (b"GET /ok.txt HTTP/1.1 x\r\n\r\n", 400),
        (
            b"POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
            400,
        ),
        (b"POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400),
        (big_header.as_bytes(), 431),
        (b"GET http://127.0.0.1/ok.txt HTTP/1.1\r\n\r\n", 400),
        (b"GET /%2e%2e/data2/secret.txt HTTP/1.1\r\n\r\n", 403),
        (b"GET /../data2/secret.txt HTTP/1.1\r\n\r\n", 403),
        (
            b"GET /sub/%2E%2E%2F..%2Fdata2/secret.txt HTTP/1.1\r\n\r\n",
            403,
        ),
        (b"GET /ok.txt%00.png HTTP/1.1\r\n\r\n", 400),
        (b"GET /ok.txt\0 HTTP/1.1\r\n\r\n", 400),
        (b"GET /link.txt HTTP/1.1\r\n\r\n", 403),
        (b"GET /escape/secret.txt HTTP/1.1\r\n\r\n", 403),
        (b"HEAD /escape/secret.txt HTTP/1.1\r\n\r\n", 403),
        (
            b"POST /escape/new.txt HTTP/1.1\r\nContent-Length: 3\r\n\r\nbad",
            403,
        ),
        (
            b"POST /link.txt/x HTTP/1.1\r\nContent-Length: 3\r\n\r\nbad",
            403,
        ),
        (b"PUT /ok.txt HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET /ok.txt HTTP/3\r\n\r\n", 505),
    ];
    for (req, want) in table {
        // A response to HEAD has no body, whatever its Content-Length says.
        let r = exchange(&mut connect(addr), req, req.starts_with(b"HEAD"));
        let shown = String::from_utf8_lossy(&req[..req.len().min(60)]);
        assert_eq!(r.status, *want, "{shown:?} -> {}", r.head);
        assert!(!String::from_utf8_lossy(&r.body).contains("SECRET"));
        if *want == 405 {
            assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD, POST"));
        }
    }
    // Root /x/data must not admit /x/data2, and nothing was written there.
    assert_eq!(fs::read_dir(&sibling).unwrap().count(), 1);
    assert_eq!(
        fs::read_to_string(sibling.join("secret.txt")).unwrap(),
        "SECRET"
    );
    // The server keeps serving, also on a connection that saw a 404 first.
    let mut conn = connect(addr);
    let r = exchange(&mut conn, b"GET /nope HTTP/1.1\r\n\r\n", false);
    assert_eq!(r.status, 404);
    let r = exchange(&mut conn, b"GET /ok.txt HTTP/1.1\r\n\r\n", false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"inside"[..]));
}

#[test]
fn idle_connections_close_and_the_timeout_shrinks_with_load() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), "x").unwrap();
    let args = [
        "--timeout-base",
        "8s",
        "--timeout-min",
        "1s",
        "--max-connections",
        "8",
    ];
    let (_server, addr) = serve(tmp.path(), &args);
    // T = max(1, 8 * (1 - others / 8)): 8, 7, ... 1 as connections pile up
    // (a connection does not count itself).
    let mut conns = Vec::new();
    let mut seen = Vec::new();
    for _ in 0..8 {
        let mut c = connect(addr);
        let r = exchange(&mut c, b"GET /f HTTP/1.1\r\n\r\n", false);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection").as_deref(), Some("keep-alive"));
        seen.push(r.keep_alive_secs());
        conns.push(c);
    }
    assert!(seen.windows(2).all(|w| w[0] >= w[1]), "{seen:?}");
    assert!(seen[0] > seen[7] && seen[7] >= 1, "{seen:?}");
    // The most loaded connection (T = 1s) is closed by the server.
    let started = Instant::now();
    let mut rest = Vec::new();
    let n = conns[7].read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(started.elapsed() < Duration::from_secs(12));
}

#[test]
fn idle_connection_is_closed_after_the_advertised_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), "x").unwrap();
    let (_server, addr) = serve(tmp.path(), &["--timeout-base", "2s", "--timeout-min", "1s"]);
    let mut c = connect(addr);
    let r = exchange(&mut c, b"GET /f HTTP/1.1\r\n\r\n", false);
    assert!((1..=2).contains(&r.keep_alive_secs()), "{}", r.head);
    let started = Instant::now();
    let mut rest = Vec::new();
    assert_eq!(c.read_to_end(&mut rest).unwrap(), 0, "closed without data");
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_millis(500) && waited < Duration::from_secs(12),
        "{waited:?}"
    );
}

#[test]
fn cut_off_or_trickling_uploads_leave_the_old_file_and_no_temp_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("keep.txt"), "old contents").unwrap();
    let (_server, addr) = serve(root, &["--read-timeout", "1s", "--header-timeout", "2s"]);

    // Cut off: the client goes away mid-body.
    let mut c = connect(addr);
    c.get_mut()
        .write_all(b"POST /keep.txt HTTP/1.1\r\nContent-Length: 100000\r\n\r\npartial")
        .unwrap();
    drop(c);
    // Trickling: the body stops arriving; the server answers 408 and closes.
    let mut c = connect(addr);
    let r = exchange(
        &mut c,
        b"POST /keep.txt HTTP/1.1\r\nContent-Length: 100000\r\n\r\nslow",
        false,
    );
    assert_eq!(r.status, 408, "{}", r.head);
    // A header block that never ends is cut off too.
    let r = exchange(
        &mut connect(addr),
        b"GET /keep.txt HTTP/1.1\r\nX-Slow: ",
        false,
    );
    assert_eq!(r.status, 408, "{}", r.head);

    assert_no_temp_files_soon(root);
    assert_eq!(get(addr, "/keep.txt").body, b"old contents");
}

#[test]
fn concurrent_posts_to_one_path_leave_one_complete_version() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, addr) = serve(tmp.path(), &[]);
    let versions: Vec<Vec<u8>> = (0..6u8).map(|i| vec![b'a' + i; 300_000]).collect();
    std::thread::scope(|s| {
        for v in &versions {
            s.spawn(move || {
                let head = format!(
                    "POST /same.bin HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                    v.len()
                );
                let mut c = connect(addr);
                c.get_mut().write_all(head.as_bytes()).unwrap();
                let r = exchange(&mut c, v, false);
                assert_eq!(r.status, 201);
            });
        }
    });
    let stored = fs::read(tmp.path().join("same.bin")).unwrap();
    assert!(versions.contains(&stored), "a mix of versions was stored");
    assert!(temp_files(tmp.path()).is_empty());
}

#[test]
fn over_the_cap_clients_get_503_with_retry_after() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), "x").unwrap();
    let args = ["--max-connections", "2", "--min-rate", "1"];
    let (_server, addr) = serve(tmp.path(), &args);
    // Two uploads in progress fill the cap. Their heads are complete and
    // their bodies keep up with --min-rate (1,000 bytes at 1 B/s: for the
    // next 1,000 s), so their slots are busy and never reclaimed (idle ones
    // would be: below; bodies behind the rate too).
    let mut held: Vec<_> = (0..2).map(|_| connect(addr)).collect();
    for c in &mut held {
        c.get_mut()
            .write_all(b"POST /up HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n")
            .unwrap();
        c.get_mut().write_all(&[b'x'; 1000]).unwrap();
    }
    wait::until(10, "uploads did not start", || {
        temp_files(tmp.path()).len() >= 2
    });
    let r = exchange(&mut connect(addr), b"GET /f HTTP/1.1\r\n\r\n", false);
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
}

#[test]
fn when_full_the_longest_idle_keep_alive_connection_makes_room() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), "x").unwrap();
    let (_server, addr) = serve(tmp.path(), &["--max-connections", "2"]);
    let mut held: Vec<_> = (0..2).map(|_| connect(addr)).collect();
    for c in &mut held {
        assert_eq!(exchange(c, b"GET /f HTTP/1.1\r\n\r\n", false).status, 200);
    }
    // Both idle: the newcomer is served, and one of them (the one idle
    // longest; which one that is races with the server thread going back to
    // wait after its response) is closed without a response, as for an
    // expired keep-alive timeout. The other one still works.
    // A server thread counts as busy until it is back to waiting for the
    // next head, a moment after its response left: retry a 503 (bounded).
    let r = retried(&[503], || {
        exchange(&mut connect(addr), b"GET /f HTTP/1.1\r\n\r\n", false)
    });
    assert_eq!(r.status, 200, "{}", r.head);
    let mut statuses: Vec<u16> = held
        .iter_mut()
        .map(|c| exchange(c, b"GET /f HTTP/1.1\r\n\r\n", false).status)
        .collect();
    statuses.sort();
    assert_eq!(statuses, [0, 200], "exactly one idle connection reclaimed");
}

#[test]
fn a_thousand_concurrent_connections_are_held_and_served() {
    // The server inherits the raised limit; each side holds 1,000 sockets.
    support::raise_fd_limit(4096);
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), "hello").unwrap();
    let (_server, addr) = serve(tmp.path(), &["--max-connections", "2000"]);
    let mut conns: Vec<_> = (0..1000).map(|_| connect(addr)).collect();
    for c in &mut conns {
        c.get_mut().write_all(b"GET /f HTTP/1.1\r\n\r\n").unwrap();
    }
    for c in &mut conns {
        let r = exchange(c, b"", false);
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    }
    // All still open: a second round on each.
    for c in &mut conns {
        assert_eq!(exchange(c, b"GET /f HTTP/1.1\r\n\r\n", false).status, 200);
    }
}

#[test]
fn get_or_head_with_a_body_is_refused_not_smuggled() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("hello.txt"), "hello").unwrap();
    let (_server, addr) = serve(tmp.path(), &[]);
    let smuggles: &[&[u8]] = &[
        b"GET /hello.txt HTTP/1.1\r\nContent-Length: 5\r\n\r\nABCDE",
        b"HEAD /hello.txt HTTP/1.1\r\nContent-Length: 5\r\n\r\nABCDE",
        b"GET /hello.txt HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nABCDE\r\n0\r\n\r\n",
    ];
    for req in smuggles {
        let mut conn = connect(addr);
        let head_only = req.starts_with(b"HEAD");
        let r = exchange(&mut conn, req, head_only);
        assert_eq!(r.status, 400, "{}", r.head);
        assert_eq!(r.header("connection").as_deref(), Some("close"));
        // The connection is closed: the body is never read as a request.
        let r = exchange(&mut conn, b"GET /hello.txt HTTP/1.1\r\n\r\n", false);
        assert_eq!(r.status, 0, "{}", r.head);
    }
    // An explicit empty body is harmless and keeps the connection.
    let mut conn = connect(addr);
    let r = exchange(
        &mut conn,
        b"GET /hello.txt HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        false,
    );
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    let r = exchange(&mut conn, b"GET /hello.txt HTTP/1.1\r\n\r\n", false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn head_error_responses_have_no_body_and_keep_alive_works() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("hello.txt"), "hello").unwrap();
    let (_server, addr) = serve(tmp.path(), &[]);
    let mut conn = connect(addr);
    // Pipelined: the GET's status line must follow the HEAD's head directly.
    conn.get_mut()
        .write_all(b"HEAD /nope HTTP/1.1\r\n\r\nGET /hello.txt HTTP/1.1\r\n\r\n")
        .unwrap();
    let r = exchange(&mut conn, b"", true);
    assert_eq!(r.status, 404, "{}", r.head);
    assert!(r.header("content-length").unwrap().parse::<u64>().unwrap() > 0);
    let r = exchange(&mut conn, b"", false);
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"hello"[..]),
        "{}",
        r.head
    );
}

#[test]
fn sigterm_during_an_upload_leaves_no_temp_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (mut server, addr) = serve(root, &[]);
    let mut c = connect(addr);
    c.get_mut()
        .write_all(b"POST /big.bin HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n")
        .unwrap();
    c.get_mut().write_all(&[b'x'; 64 * 1024]).unwrap();
    // Wait (bounded) until the server has created its temporary file.
    wait::until(10, "no temporary file appeared", || {
        !temp_files(root).is_empty()
    });
    let pid = server.0.id() as libc::pid_t;
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = wait::exit(&mut server.0, 10, "server did not exit on SIGTERM");
    assert!(status.success(), "{status:?}");
    assert_eq!(temp_files(root), Vec::<String>::new());
    assert!(!root.join("big.bin").exists());
    drop(c);
}

#[test]
fn idle_timeout_follows_the_current_load_and_a_lone_client_gets_the_base() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), "x").unwrap();
    let args = [
        "--timeout-base",
        "9s",
        "--timeout-min",
        "1s",
        "--max-connections",
        "3",
        "--header-timeout",
        "30s",
        "--read-timeout",
        "30s",
    ];
    let (_server, addr) = serve(tmp.path(), &args);
    // Alone on the server: T = --timeout-base.
    let mut a = connect(addr);
    let r = exchange(&mut a, b"GET /f HTTP/1.1\r\n\r\n", false);
    assert_eq!(r.keep_alive_secs(), 9, "{}", r.head);
    let idle_from = Instant::now();
    // Two more clients arrive and stay (mid-request), so for `a` T = 9 * (1 -
    // 2/3) = 3s from now on, although it was told 9s.
    let mut others = Vec::new();
    for want in [6, 3] {
        let mut c = connect(addr);
        let r = exchange(&mut c, b"GET /f HTTP/1.1\r\n\r\n", false);
        assert_eq!(r.keep_alive_secs(), want, "{}", r.head);
        c.get_mut().write_all(b"GET /f HTTP/1.1\r\n").unwrap();
        others.push(c);
    }
    let mut rest = Vec::new();
    assert_eq!(a.read_to_end(&mut rest).unwrap(), 0, "closed without data");
    let waited = idle_from.elapsed();
    assert!(
        waited > Duration::from_millis(1500) && waited < Duration::from_secs(7),
        "closed after {waited:?}, want about 3s (not the 9s first advertised)"
    );
}

/// A client that sends a request head one byte at a time and never finishes
/// it (slowloris). It reconnects whenever the server closes it, until `stop`.
/// Returns how many connections it opened.
fn slow_sender(
    addr: SocketAddr,
    stop: &std::sync::atomic::AtomicBool,
    opened: &std::sync::atomic::AtomicUsize,
) {
    use std::sync::atomic::Ordering;
    let head = b"GET /f HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut s) = TcpStream::connect(addr) else {
            continue;
        };
        opened.fetch_add(1, Ordering::SeqCst);
        s.set_nonblocking(true).unwrap();
        for &b in head.iter().cycle() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            // Closed by the server (or refused with a 503): reconnect.
            let mut probe = [0u8; 64];
            match s.read(&mut probe) {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
            if s.write_all(&[b]).is_err() {
                break;
            }
            // Pacing of the attack (a byte every 50 ms), not synchronization.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Issue 9 item 4: connections that never complete a request head must not
/// lock out complete requests, not even when the attacker reconnects each time
/// it is cut off. Here twice --max-connections slow senders run against a
/// server whose header timeout (30 s) is far beyond the test, so only the
/// reclaim policy can let a normal client in. Each request of the normal
/// client must get 200 within 5 s: the issue asks for "within a second" on a
/// quiet machine; 5 s leaves room for a loaded 2-core CI box and is still 6x
/// below the 30 s after which the header timeout would free a slot anyway.
#[test]
fn slow_senders_twice_the_cap_do_not_lock_out_a_complete_request() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("f"), "served").unwrap();
    let cap = 4;
    let args = [
        "--max-connections",
        "4",
        "--header-timeout",
        "30s",
        "--read-timeout",
        "30s",
    ];
    let (_server, addr) = serve(tmp.path(), &args);
    let stop = AtomicBool::new(false);
    let opened = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 * cap {
            s.spawn(|| slow_sender(addr, &stop, &opened));
        }
        let _stop = StopOnDrop(&stop);
        // Every slow sender has connected, and the server has dealt with all
        // of them: with only `cap` slots, `cap` of them were closed (refused
        // or reclaimed), so the attackers reconnected at least that often.
        let all_in = wait::poll(Duration::from_secs(20), || {
            opened.load(Ordering::SeqCst) >= 3 * cap
        });
        assert!(
            all_in,
            "slow senders opened only {} connections",
            opened.load(Ordering::SeqCst)
        );
        for i in 0..10 {
            let started = Instant::now();
            let r = get(addr, "/f");
            let took = started.elapsed();
            assert_eq!(
                (r.status, r.body.as_slice()),
                (200, &b"served"[..]),
                "request {i} under attack: {}",
                r.head
            );
            assert!(took < Duration::from_secs(5), "request {i} took {took:?}");
        }
    });
}

/// Issue 9 item 6: every usage mistake exits 2 with one line that names the
/// flag, and no error prints its cause twice.
#[test]
fn usage_mistakes_exit_2_with_one_line_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "x").unwrap();
    // An address in use on loopback: binding it fails without any traffic.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let base = [("--listen", "127.0.0.1:0"), ("--root", dir)];
    let cases: &[(&[&str], &str)] = &[
        (&["--root", "/no/such/dir"], "--root"),
        (&["--root", file.to_str().unwrap()], "--root"),
        (&["--listen", "nowhere"], "--listen"),
        (&["--listen", &taken_addr], "--listen"),
        (&["--max-connections", "0"], "--max-connections"),
        (&["--max-connections", "-1"], "--max-connections"),
        (&["--timeout-base", "0s"], "--timeout-base"),
        (
            &["--timeout-min", "5s", "--timeout-base", "1s"],
            "--timeout-min",
        ),
        (&["--read-timeout", "0s"], "--read-timeout"),
        (&["--header-timeout", "0s"], "--header-timeout"),
        (&["--header-timeout", "later"], "--header-timeout"),
        (&["--max-upload", "1Q"], "--max-upload"),
        (&["--min-rate", "fast"], "--min-rate"),
    ];
    for (extra, flag) in cases {
        // A case's own --listen or --root replaces the default one: given
        // twice, the flag is refused as repeated before its value is read.
        let defaults = base
            .iter()
            .filter(|(f, _)| !extra.contains(f))
            .flat_map(|(f, v)| [*f, *v]);
        let out = support::xfer()
            .arg("tcp-serve")
            .args(defaults)
            .args(*extra)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = support::stderr(&out);
        eprintln!("{extra:?}");
        support::assert_usage(&out, flag);
        assert!(
            !stderr.contains("cannot be used multiple times"),
            "{stderr}"
        );
        // One error, its cause (an OS error, say) printed once.
        assert_eq!(stderr.matches("error:").count(), 1, "{extra:?}: {stderr}");
        assert!(
            stderr.matches("(os error").count() <= 1,
            "{extra:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{extra:?}: started anyway");
    }
    drop(taken);
}

/// After its last response the server drains unread request bytes briefly,
/// so the response is not lost to a reset. A client that keeps trickling
/// bytes must not hold the connection's thread: the drain is bounded in
/// time overall, not per read (per read, a byte every 100 ms kept it for
/// as long as the client went on). The server half-closes at once, so the
/// client sees the end of its own stream only when its writes start to
/// fail (the server's socket is gone and answers with a reset).
#[test]
fn a_client_trickling_bytes_after_a_refusal_is_closed_promptly() {
    let tmp = tempfile::tempdir().unwrap();
    let (_server, addr) = serve(tmp.path(), &[]);
    let mut conn = connect(addr);
    let r = exchange(&mut conn, b"NONSENSE\r\n\r\n", false);
    assert_eq!(r.status, 400);
    let started = Instant::now();
    let writer = conn.get_mut();
    let mut failed = false;
    while started.elapsed() < Duration::from_secs(20) {
        if writer.write_all(b"x").is_err() {
            failed = true;
            break;
        }
        // Pacing of the trickle, not synchronization.
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    // The drain lasts 500 ms; 10 s leaves room for a loaded machine.
    assert!(failed, "the server still read the trickle after {took:?}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
}

/// A client that sends a complete upload head with a large Content-Length,
/// then trickles its body a byte every `pace` (just under the server's
/// --read-timeout, so no single read ever times out). It reconnects whenever
/// the server closes it (a 408, a 503 or a reclaim), until `stop`; it counts
/// its connections.
fn slow_body_sender(
    addr: SocketAddr,
    pace: Duration,
    stop: &std::sync::atomic::AtomicBool,
    opened: &std::sync::atomic::AtomicUsize,
) {
    use std::sync::atomic::Ordering;
    let head = b"POST /victim.bin HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n";
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut s) = TcpStream::connect(addr) else {
            continue;
        };
        opened.fetch_add(1, Ordering::SeqCst);
        if s.write_all(head).is_err() {
            continue;
        }
        s.set_nonblocking(true).unwrap();
        let mut next_byte = Instant::now();
        'conn: while !stop.load(Ordering::SeqCst) {
            let mut buf = [0u8; 256];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break 'conn,
                    // An answer (408, 503): the server closes next.
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => break 'conn,
                }
            }
            if Instant::now() >= next_byte {
                if s.write_all(b"x").is_err() {
                    break;
                }
                next_byte = Instant::now() + pace;
            }
            // Pacing of the attack, not synchronization.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Stops the slow clients however a test ends (a failed assertion would
/// otherwise leave the scope waiting for them forever).
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Sends a request until it is answered (not closed unanswered, not 503),
/// for at most 5 s; returns the last response.
fn until_served(request: impl FnMut() -> Resp) -> Resp {
    retried(&[0, 503], request)
}

/// Sends a request until its status is none of `retry_on`, for at most
/// 5 s; returns the last response.
fn retried(retry_on: &[u16], mut request: impl FnMut() -> Resp) -> Resp {
    let mut last = None;
    wait::poll(Duration::from_secs(5), || {
        let r = request();
        let done = !retry_on.contains(&r.status);
        last = Some(r);
        done
    });
    last.expect("polled at least once")
}

/// Waits (bounded) until no upload temporary file is left in `dir`.
fn assert_no_temp_files_soon(dir: &Path) {
    wait::poll(Duration::from_secs(10), || temp_files(dir).is_empty());
    assert_eq!(temp_files(dir), Vec::<String>::new());
}

/// Upload bodies trickled from twice --max-connections clients, each byte
/// just under --read-timeout after the last, held every slot for good: the
/// slots were busy (their heads were complete), no read ever timed out, and
/// every other request got 503. A body that falls below --min-rate must not
/// lock out other requests, not even when its client reconnects each time
/// it is cut off; and no partial upload ever becomes visible.
#[test]
fn slow_upload_bodies_twice_the_cap_do_not_lock_out_requests() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("f"), "served").unwrap();
    let cap = 4;
    let args = ["--max-connections", "4", "--read-timeout", "3s"];
    let (_server, addr) = serve(root, &args);
    let stop = AtomicBool::new(false);
    let opened = AtomicUsize::new(0);
    let pace = Duration::from_millis(2500);
    std::thread::scope(|s| {
        for _ in 0..2 * cap {
            s.spawn(|| slow_body_sender(addr, pace, &stop, &opened));
        }
        let _stop = StopOnDrop(&stop);
        // Every slow client has connected and the cap is full of bodies in
        // progress (their temporary files exist).
        wait::until(20, "the slow uploads did not start", || {
            opened.load(Ordering::SeqCst) >= 2 * cap && temp_files(root).len() >= cap
        });
        let upload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let post = || {
            let head = format!(
                "POST /normal.bin HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                upload.len()
            );
            let mut c = connect(addr);
            let _ = c.get_mut().write_all(head.as_bytes());
            exchange(&mut c, &upload, false)
        };
        for i in 0..5 {
            // Within 5 s each, well below what the slow clients could hold
            // a slot for if nothing reclaimed it (forever, before the fix).
            // A request may be displaced (closed unanswered, or 503) while
            // its own head waits to be read, if enough attacker reconnects
            // arrive meanwhile (on a loaded machine): like any HTTP client
            // it tries again, within the bound.
            let r = until_served(|| get(addr, "/f"));
            assert_eq!(
                (r.status, r.body.as_slice()),
                (200, &b"served"[..]),
                "GET {i} under attack: {}",
                r.head
            );
            let r = until_served(post);
            assert_eq!(r.status, 201, "POST {i} under attack: {}", r.head);
            assert_eq!(fs::read(root.join("normal.bin")).unwrap(), upload);
            assert!(
                !root.join("victim.bin").exists(),
                "a partial upload appeared"
            );
        }
    });
    assert!(
        !root.join("victim.bin").exists(),
        "a partial upload appeared"
    );
    assert_no_temp_files_soon(root);
}

/// A body that keeps arriving, a byte just under --read-timeout after the
/// last, was read forever. It is cut off with 408 once it falls below
/// --min-rate, also after a fast start (its credit is capped at
/// --read-timeout, so 64 KiB up front buys no more than a fresh start).
#[test]
fn a_body_trickled_under_the_read_timeout_is_cut_off_with_408() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_server, addr) = serve(root, &["--read-timeout", "1s"]);
    for burst in [0usize, 64 * 1024] {
        let mut c = connect(addr);
        let head = b"POST /victim.bin HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n";
        c.get_mut().write_all(head).unwrap();
        c.get_mut().write_all(&vec![b'x'; burst]).unwrap();
        c.get_mut().set_nonblocking(true).unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        let mut buf = [0u8; 256];
        let mut next_byte = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            match c.get_mut().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
            if Instant::now() >= next_byte {
                // The write fails once the server has closed: stop then.
                if c.get_mut().write_all(b"x").is_err() {
                    break;
                }
                next_byte = Instant::now() + Duration::from_millis(600);
            }
            assert!(
                !root.join("victim.bin").exists(),
                "a partial upload appeared"
            );
            // Pacing of the trickle, not synchronization.
            std::thread::sleep(Duration::from_millis(20));
        }
        let took = started.elapsed();
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with("HTTP/1.1 408"),
            "burst {burst}: after {took:?}: {text:?}"
        );
        assert!(text.contains("Connection: close"), "{text}");
    }
    assert!(
        !root.join("victim.bin").exists(),
        "a partial upload appeared"
    );
    assert_no_temp_files_soon(root);
}

/// A client reading a large response below --min-rate held its connection
/// (and slot) for as long as the file lasted: the per-write timeout only
/// bounds a single write, and a reader draining 64 KiB every half second
/// wakes the blocked sender often enough. A response must keep up with
/// --min-rate like an upload body; a reader at full speed is unaffected.
/// In-process, to watch the server's open connections.
#[test]
fn a_response_read_below_the_min_rate_is_cut_off() {
    use xfer::tcp::server::{self, TcpServeConfig};
    let tmp = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..64u32 << 20).map(|i| (i % 253) as u8).collect();
    fs::write(tmp.path().join("big.bin"), &data).unwrap();
    let running = server::spawn(TcpServeConfig {
        root: tmp.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        read_timeout: Duration::from_secs(1),
        // 1 MiB/s: the slow reader below reads about 128 KiB/s.
        min_rate: 1 << 20,
        ..TcpServeConfig::default()
    })
    .unwrap();
    let addr = running.addr();
    // At full speed the whole file arrives.
    let r = get(addr, "/big.bin");
    assert_eq!(r.status, 200);
    assert!(r.body == data, "the download was not byte-identical");

    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /big.bin HTTP/1.1\r\n\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    wait::until(10, "the server accepted the slow reader", || {
        running.accepted_connections() >= 2
    });
    let started = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    // Reads slowly while the server holds the connection.
    while running.open_connections() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "a reader at {} B/s still held its connection after {:?}",
            got as u64 / started.elapsed().as_secs().max(1),
            started.elapsed()
        );
        match slow.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
        // Pacing of the slow reader, not synchronization.
        std::thread::sleep(Duration::from_millis(500));
    }
    // The server let go: what is left in the socket buffers ends in an end
    // of stream (or a reset) short of the whole file, not in a stall.
    loop {
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the response neither went on nor ended for 5 s (after {got} bytes)")
            }
            Err(_) => break,
        }
    }
    assert!(
        got > 0,
        "the slow reader got nothing: not a response cut short"
    );
    assert!(got < data.len(), "the slow reader got the whole file");
    wait::until(10, "the connection stayed open", || {
        running.open_connections() == 0
    });
}
