//! The event-loop driver (`xfer::load::event_loop`) with the non-blocking
//! TCP workload, against real peers: nginx and an in-process `tcp-serve`
//! (every request accounted for, 0 errors), the delay proxy (latency within
//! 1 ms of the model at 1 and 64 connections; the wrk2 schedule under a
//! stall), servers that refuse, close, answer 503 or stall (errors by kind),
//! and 10,000 keep-alive connections against `xfer tcp-serve`.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::delay_proxy::DelayProxy;
use support::nginx::Nginx;
use support::wait;
use xfer::load::event_loop::{self, EventLoopOutcome};
use xfer::load::{EngineConfig, Event, Pacing, RetryPolicy, Sample, Shard, StopAfter, Stopper};
use xfer::tcp::server::{self, TcpServeConfig};
use xfer::tcp::workload::{Connections, RequestMix, TcpRequests};

const MS: Duration = Duration::from_millis(1);

/// Held by the tests whose figures are timed to the millisecond and by the
/// 10,000-connection run, so that the latter does not starve the former
/// (and the delay proxy's threads) of the machine's two cores.
static TIMED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn timed() -> std::sync::MutexGuard<'static, ()> {
    TIMED.lock().unwrap_or_else(|e| e.into_inner())
}
const REQUEST: usize = 1;
const CONNECT: usize = 0;

fn requests(addr: &str, get: &str, post_ratio: f64, connections: Connections) -> TcpRequests {
    TcpRequests {
        addr: addr.to_string(),
        mix: RequestMix {
            get_path: get.into(),
            post_path: "/upload.bin".into(),
            post_body: Arc::from(vec![7u8; 3000]),
            post_ratio,
        },
        connections,
        timeout: Duration::from_secs(10),
    }
}

fn config(users: u32, passes: u64) -> EngineConfig {
    EngineConfig {
        users,
        ramp_up: Duration::ZERO,
        pacing: Pacing::Delay(Duration::ZERO),
        stop: StopAfter::Passes(passes),
        retry: RetryPolicy {
            max_attempts: 3,
            backoff: Duration::from_millis(5),
        },
        shard: Shard::WHOLE,
    }
}

/// Runs the driver, stopped after `bound` whatever happens (tests are bounded).
fn run(
    w: &TcpRequests,
    c: &EngineConfig,
    threads: usize,
    bound: Duration,
) -> (Vec<Event>, EventLoopOutcome) {
    let stopper = Stopper::new();
    let s2 = stopper.clone();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done2 = Arc::clone(&done);
    let guard = std::thread::spawn(move || {
        if !wait::poll(bound, || done2.load(std::sync::atomic::Ordering::SeqCst)) {
            s2.stop();
        }
    });
    let mut events = Vec::new();
    let out = event_loop::run(w, c, threads, &stopper, Instant::now(), |e| events.push(e));
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    guard.join().unwrap();
    assert!(
        !stopper.is_stopped() || out.run.fatal.is_some(),
        "the run hit its {bound:?} bound"
    );
    (events, out)
}

fn samples(events: &[Event]) -> Vec<&Sample> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Sample(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn errors(s: &[&Sample]) -> Vec<String> {
    s.iter()
        .filter_map(|s| s.error.as_ref().map(|e| format!("{}: {}", e.0, e.1)))
        .collect()
}

/// Every user started and finished once, and each did `per_user` steps.
fn assert_accounted(events: &[Event], users: u32, per_user: u64) {
    let started = events
        .iter()
        .filter(|e| matches!(e, Event::UserStarted { .. }))
        .count();
    let finished = events
        .iter()
        .filter(|e| matches!(e, Event::UserFinished { gave_up: false, .. }))
        .count();
    assert_eq!((started, finished), (users as usize, users as usize));
    let s = samples(events);
    assert_eq!(s.len() as u64, u64::from(users) * per_user);
    for u in 0..users {
        let mut passes: Vec<u64> = s.iter().filter(|s| s.user == u).map(|s| s.pass).collect();
        passes.sort_unstable();
        assert_eq!(passes, (0..per_user).collect::<Vec<_>>(), "user {u}");
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn mean(v: &[Duration]) -> Duration {
    v.iter().sum::<Duration>() / v.len() as u32
}

#[test]
fn every_request_to_nginx_is_accounted_for_with_no_errors() {
    let Some(ng) = Nginx::start() else { return };
    ng.put("4k.bin", &[b'x'; 4096]);
    let w = requests(&ng.addr.to_string(), "/4k.bin", 0.0, Connections::KeepAlive);
    let (events, out) = run(&w, &config(16, 50), 2, Duration::from_secs(60));
    assert!(out.run.fatal.is_none());
    let s = samples(&events);
    assert_eq!(errors(&s), Vec::<String>::new());
    assert_accounted(&events, 16, 50);
    assert!(s.iter().all(|s| s.bytes == 4096 && s.attempt == 1));
    // Keep-alive: one connect per user, on its first request only.
    let connects = s.iter().filter(|s| s.phases[CONNECT].is_some()).count();
    assert_eq!(connects, 16);
    assert!(s.iter().all(|s| s.phases[REQUEST].is_some()));
    assert!(s.iter().all(|s| s.started >= s.intended));
    assert_eq!(out.loops.len(), 2);
    assert!(out.loops.iter().all(|l| l.events > 0 && l.p50 <= l.max));
}

#[test]
fn gets_and_posts_to_tcp_serve_are_accounted_for_in_both_connection_modes() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f.bin"), vec![1u8; 10_000]).unwrap();
    let srv = server::spawn(TcpServeConfig {
        root: root.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..TcpServeConfig::default()
    })
    .unwrap();
    for mode in [Connections::KeepAlive, Connections::NewConnection] {
        let w = requests(&srv.addr().to_string(), "/f.bin", 0.3, mode);
        let (events, out) = run(&w, &config(8, 40), 2, Duration::from_secs(60));
        assert!(out.run.fatal.is_none());
        let s = samples(&events);
        assert_eq!(errors(&s), Vec::<String>::new(), "{mode:?}");
        assert_accounted(&events, 8, 40);
        let posts = s.iter().filter(|s| s.bytes == 3000).count();
        let gets = s.iter().filter(|s| s.bytes == 10_000).count();
        assert_eq!(posts + gets, 320);
        assert!((40..160).contains(&posts), "{posts} POSTs of 320 at 0.3");
        let connects = s.iter().filter(|s| s.phases[CONNECT].is_some()).count();
        match mode {
            Connections::KeepAlive => assert_eq!(connects, 8),
            Connections::NewConnection => assert_eq!(connects, 320),
        }
    }
    let uploaded = std::fs::read(root.path().join("upload.bin")).unwrap();
    assert_eq!(uploaded, vec![7u8; 3000]);
}

/// Keep-alive through a proxy adding `d` each way: the model is 2d per
/// request (plus nginx's few microseconds), whatever the concurrency.
fn latency_through_delay(users: u32) {
    let _timed = timed();
    // Up to three measurements: a shared machine can only make a run slower
    // than the model, never faster, so one run within 1 ms of it shows the
    // driver adds nothing; every run must still be at or above the model.
    let mut last = None;
    for _ in 0..3 {
        match measure_through_delay(users) {
            Ok(()) => return,
            Err(e) => last = Some(e),
        }
    }
    panic!("{}", last.unwrap_or_default());
}

fn measure_through_delay(users: u32) -> Result<(), String> {
    let Some(ng) = Nginx::start() else {
        return Ok(());
    };
    ng.put("4k.bin", &[b'x'; 4096]);
    let one_way = 10 * MS;
    let proxy = DelayProxy::start(ng.addr, one_way);
    let w = requests(
        &proxy.addr.to_string(),
        "/4k.bin",
        0.0,
        Connections::KeepAlive,
    );
    let (events, _) = run(&w, &config(users, 20), 2, Duration::from_secs(60));
    let s = samples(&events);
    assert_eq!(errors(&s), Vec::<String>::new());
    assert_accounted(&events, users, 20);
    let model = 2 * one_way;
    // Each connection's first request waits for the proxy's single accept
    // thread to connect upstream and start its pipes (64 at once): the
    // proxy's set-up, not the model, so it is left out.
    let times: Vec<Duration> = s
        .iter()
        .filter(|s| s.pass > 0)
        .filter_map(|s| s.phases[REQUEST])
        .collect();
    let (med, avg) = (median(times.clone()), mean(&times));
    eprintln!("{users} connections: model {model:?}, median {med:?}, mean {avg:?}");
    // The median is the model's figure: on a shared 2-core machine the
    // proxy's own threads are sometimes descheduled for several ms, which
    // moves the mean (a benchmark's figure: scripts/bench-peers P4) but not
    // the median. Nothing may come in under the model, mean included.
    assert!(
        med >= model && avg >= model,
        "{users} connections: median {med:?} / mean {avg:?} under the model {model:?}"
    );
    if med <= model + MS {
        Ok(())
    } else {
        Err(format!(
            "{users} connections: median {med:?} is not within 1 ms of {model:?}"
        ))
    }
}

#[test]
fn latency_through_the_delay_proxy_matches_the_model_at_1_connection() {
    latency_through_delay(1);
}

#[test]
fn latency_through_the_delay_proxy_matches_the_model_at_64_connections() {
    latency_through_delay(64);
}

#[test]
fn with_a_rate_a_stalled_server_shows_from_the_intended_start() {
    let Some(ng) = Nginx::start() else { return };
    ng.put("a", b"a");
    let one_way = 20 * MS;
    let proxy = DelayProxy::start(ng.addr, one_way);
    let w = requests(&proxy.addr.to_string(), "/a", 0.0, Connections::KeepAlive);
    let interval = 10 * MS;
    let mut c = config(1, 8);
    c.pacing = Pacing::Interval(interval);
    let (events, _) = run(&w, &c, 1, Duration::from_secs(30));
    let s = samples(&events);
    assert_eq!(errors(&s), Vec::<String>::new());
    assert_eq!(s.len(), 8);
    let round_trip = 2 * one_way;
    for (k, s) in s.iter().enumerate() {
        // On wrk2's grid, whatever the server does.
        assert_eq!(s.intended, interval * k as u32, "sample {k}");
        // Each request waits for the previous one (40 ms each), so the k-th
        // starts about k * (40 - 10) ms late, and that lateness counts.
        let late = (round_trip - interval) * k as u32;
        let from_intended = s.response_from_intended(REQUEST).unwrap();
        assert!(
            from_intended + MS >= late + round_trip,
            "sample {k}: {from_intended:?} < {late:?} + {round_trip:?}"
        );
        assert!(s.response(REQUEST).unwrap() >= round_trip);
    }
}

#[test]
fn a_keep_alive_connection_closed_by_tcp_serve_while_idle_is_reopened_without_an_error() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"f").unwrap();
    let srv = server::spawn(TcpServeConfig {
        root: root.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        timeout_base: Duration::from_secs(1),
        timeout_min: Duration::from_secs(1),
        ..TcpServeConfig::default()
    })
    .unwrap();
    let w = requests(&srv.addr().to_string(), "/f", 0.0, Connections::KeepAlive);
    let mut c = config(1, 3);
    // Longer than the server's 1 s idle timeout: each request finds its
    // connection closed and must open a new one, in its connect phase.
    c.pacing = Pacing::Delay(1500 * MS);
    let (events, _) = run(&w, &c, 1, Duration::from_secs(30));
    let s = samples(&events);
    assert_eq!(errors(&s), Vec::<String>::new());
    assert_accounted(&events, 1, 3);
    let connects = s.iter().filter(|s| s.phases[CONNECT].is_some()).count();
    assert_eq!(connects, 3);
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    samples(events)
        .iter()
        .filter_map(|s| s.error.as_ref().map(|e| e.0))
        .collect()
}

fn gave_up(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::UserFinished { gave_up: true, .. }))
        .count()
}

#[test]
fn a_refused_connection_is_counted_as_refused_and_retried() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let w = requests(
        &format!("127.0.0.1:{port}"),
        "/",
        0.0,
        Connections::KeepAlive,
    );
    let (events, _) = run(&w, &config(2, 1), 1, Duration::from_secs(30));
    assert_eq!(kinds(&events), vec!["refused"; 6], "3 attempts x 2 users");
    assert_eq!(gave_up(&events), 2);
    let s = samples(&events);
    assert!(s
        .iter()
        .all(|s| s.phases[CONNECT].is_some() && s.bytes == 0));
}

#[test]
fn tcp_serve_over_its_connection_cap_is_counted_as_http_503() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"f").unwrap();
    let srv = server::spawn(TcpServeConfig {
        root: root.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        max_connections: 1,
        // No body-rate floor: the stalled upload below must keep its slot
        // (with one, tcp-serve would reclaim it for a newcomer).
        min_rate: 0,
        ..TcpServeConfig::default()
    })
    .unwrap();
    // The only slot is held by an upload in progress (a complete request
    // head, its body still coming): tcp-serve reclaims idle and incomplete
    // connections when full, and bodies behind --min-rate, but never an
    // upload that keeps up, so every other connection is answered 503.
    let mut holder = std::net::TcpStream::connect(srv.addr()).unwrap();
    holder
        .write_all(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\npart")
        .unwrap();
    // Being served: the upload's temporary file exists beside `f`.
    wait::until(10, "the upload never started", || {
        std::fs::read_dir(root.path()).unwrap().count() >= 2
    });
    let w = requests(&srv.addr().to_string(), "/f", 0.0, Connections::KeepAlive);
    let (events, _) = run(&w, &config(3, 2), 1, Duration::from_secs(30));
    let k = kinds(&events);
    assert_eq!(k, vec!["http_503"; 9], "3 attempts x 3 users: {k:?}");
    assert_eq!(gave_up(&events), 3);
    drop(holder);
}

/// A server that reads a request and then closes (or stalls) without answering.
fn rude_server(stall: bool) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let mut held = Vec::new();
        for _ in 0..3 {
            let Ok((mut c, _)) = l.accept() else { return };
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            if stall {
                held.push(c);
            } else {
                let _ = c.flush();
            }
        }
        // Keep stalled sockets open until the client gave up on them.
        std::thread::sleep(Duration::from_millis(500));
    });
    (addr, h)
}

#[test]
fn a_server_closing_without_an_answer_is_counted_as_closed() {
    let (addr, h) = rude_server(false);
    let w = requests(&addr.to_string(), "/", 0.0, Connections::KeepAlive);
    let (events, _) = run(&w, &config(1, 1), 1, Duration::from_secs(30));
    h.join().unwrap();
    let k = kinds(&events);
    assert_eq!(k.len(), 3, "{k:?}");
    assert!(k.iter().all(|&k| k == "closed" || k == "reset"), "{k:?}");
    assert!(samples(&events).iter().all(|s| s.phases[REQUEST].is_some()));
}

#[test]
fn a_server_that_never_answers_is_counted_as_timeout() {
    let (addr, h) = rude_server(true);
    let mut w = requests(&addr.to_string(), "/", 0.0, Connections::KeepAlive);
    w.timeout = 100 * MS;
    let t0 = Instant::now();
    let (events, _) = run(&w, &config(1, 1), 1, Duration::from_secs(30));
    assert_eq!(kinds(&events), vec!["timeout"; 3]);
    assert!(t0.elapsed() >= 300 * MS);
    let s = samples(&events);
    assert!(s.iter().all(|s| s.elapsed >= 100 * MS));
    h.join().unwrap();
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn ten_thousand_keep_alive_connections_to_tcp_serve_without_an_error() {
    const USERS: u32 = 10_000;
    let _timed = timed();
    if support::raise_fd_limit(u64::MAX) < u64::from(USERS) + 200 {
        eprintln!("skipping: the open-file limit cannot be raised above {USERS}");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f.bin"), vec![1u8; 4096]).unwrap();
    // In its own process: its 10,000 sockets count against its own limit.
    let root_arg = root.path().display().to_string();
    let (srv, line, _out) = support::spawn_server(&[
        "tcp-serve",
        "--listen",
        "127.0.0.1:0",
        "--root",
        &root_arg,
        "--max-connections",
        "10100",
    ]);
    let addr = support::addr_in(&line);
    let mut w = requests(&addr.to_string(), "/f.bin", 0.0, Connections::KeepAlive);
    // 10,000 connections set up at once on 2 shared cores: a slow answer is
    // the machine, an error is what this test is about.
    w.timeout = Duration::from_secs(60);
    let mut c = config(USERS, 3);
    c.ramp_up = Duration::from_secs(2);
    let before = rss_kib(std::process::id(), "VmRSS:");
    let t0 = Instant::now();
    let (events, out) = run(&w, &c, 2, Duration::from_secs(120));
    let s = samples(&events);
    eprintln!(
        "10,000 connections: {} requests in {:?}; test process RSS {} -> {} KiB (peak {} KiB); \
         tcp-serve RSS {} KiB; loop lag {:?}",
        s.len(),
        t0.elapsed(),
        before,
        rss_kib(std::process::id(), "VmRSS:"),
        rss_kib(std::process::id(), "VmHWM:"),
        rss_kib(srv.0.id(), "VmRSS:"),
        out.loops
    );
    let errs = errors(&s);
    assert!(
        errs.is_empty(),
        "{} errors, first {:?}",
        errs.len(),
        errs.first()
    );
    assert_accounted(&events, USERS, 3);
    let connects = s.iter().filter(|s| s.phases[CONNECT].is_some()).count();
    assert_eq!(connects, USERS as usize, "one keep-alive connection each");
}
