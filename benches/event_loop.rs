//! One closed-loop GET load against a running HTTP server, for comparing
//! load generators side by side (`scripts/bench-peers P4` alternates it with
//! wrk on the same nginx): the event-loop driver with the non-blocking TCP
//! workload (`--driver mio`, what `perf` uses for tcp:// targets), or a
//! minimal tokio client with one current-thread runtime per loop thread
//! (`--driver tokio`), the alternative the driver was chosen against.
//!
//! ```text
//! cargo bench --bench event_loop -- --target 127.0.0.1:8080 --path /4k.bin \
//!     --connections 64 --seconds 5 [--threads 2] [--driver mio|tokio]
//! ```
//!
//! Prints one JSON line: requests/s, mean and p99 response time (µs, from
//! the first byte written to the last byte read), errors, each loop's lag.

use std::sync::Arc;
use std::time::{Duration, Instant};
use xfer::load::event_loop;
use xfer::load::{EngineConfig, Event, Pacing, RetryPolicy, StopAfter, Stopper};
use xfer::tcp::workload::{Connections, RequestMix, TcpRequests};

struct Args {
    target: String,
    path: String,
    connections: u32,
    seconds: u64,
    threads: usize,
    driver: String,
}

fn usage(msg: &str) -> ! {
    eprintln!("event_loop bench: {msg}");
    eprintln!(
        "usage: --target HOST:PORT [--path /4k.bin] [--connections N] [--seconds S] \
         [--threads N] [--driver mio|tokio]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        target: String::new(),
        path: "/4k.bin".into(),
        connections: 64,
        seconds: 5,
        threads: event_loop::default_threads(),
        driver: "mio".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--bench" {
            continue; // added by `cargo bench`
        }
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        let num = |v: String| -> u64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag} must be a number, got {v:?}")))
        };
        match flag.as_str() {
            "--target" => a.target = value(),
            "--path" => a.path = value(),
            "--connections" => a.connections = num(value()) as u32,
            "--seconds" => a.seconds = num(value()),
            "--threads" => a.threads = num(value()) as usize,
            "--driver" => a.driver = value(),
            _ => usage(&format!("unknown argument {flag:?}")),
        }
    }
    if a.target.is_empty() {
        usage("--target is required");
    }
    if a.connections == 0 || a.seconds == 0 || a.threads == 0 {
        usage("--connections, --seconds and --threads must be at least 1");
    }
    a
}

fn raise_fd_limit() {
    // Safety: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Response times (ns) of successful requests, and the error count.
struct Result {
    times: Vec<u64>,
    errors: u64,
    /// Errors by kind (the event-loop driver only).
    kinds: std::collections::BTreeMap<&'static str, u64>,
    lag: String,
}

fn run_mio(a: &Args) -> Result {
    let w = TcpRequests {
        addr: a.target.clone(),
        mix: RequestMix {
            get_path: a.path.clone(),
            post_path: a.path.clone(),
            post_body: Arc::from(Vec::new()),
            post_ratio: 0.0,
        },
        connections: Connections::KeepAlive,
        timeout: Duration::from_secs(30),
    };
    let cfg = EngineConfig {
        users: a.connections,
        ramp_up: Duration::ZERO,
        pacing: Pacing::Delay(Duration::ZERO),
        stop: StopAfter::Duration(Duration::from_secs(a.seconds)),
        retry: RetryPolicy {
            max_attempts: 1,
            backoff: Duration::from_millis(10),
        },
        ..EngineConfig::default()
    };
    let mut r = Result {
        times: Vec::with_capacity(1 << 20),
        errors: 0,
        kinds: Default::default(),
        lag: String::new(),
    };
    let out = event_loop::run(&w, &cfg, a.threads, &Stopper::new(), Instant::now(), |e| {
        if let Event::Sample(s) = e {
            match (&s.error, s.phases[1]) {
                (None, Some(t)) => r.times.push(t.as_nanos() as u64),
                _ => {
                    r.errors += 1;
                    let kind = s.error.as_ref().map_or("no_time", |e| e.0);
                    *r.kinds.entry(kind).or_default() += 1;
                }
            }
        }
    });
    r.lag = serde_json::to_string(&out.loops).unwrap_or_default();
    r
}

fn run_tokio(a: &Args) -> Result {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let request = Arc::new(
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: xfer\r\n\r\n",
            a.path, a.target
        )
        .into_bytes(),
    );
    let handles: Vec<_> = (0..a.threads)
        .map(|t| {
            let conns = (t as u32..a.connections).step_by(a.threads).count();
            let (target, request) = (a.target.clone(), Arc::clone(&request));
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let tasks: Vec<_> = (0..conns)
                        .map(|_| {
                            let (target, request) = (target.clone(), Arc::clone(&request));
                            tokio::spawn(async move {
                                let mut times = Vec::new();
                                let Ok(mut s) = tokio::net::TcpStream::connect(&target).await
                                else {
                                    return (times, 1u64);
                                };
                                let _ = s.set_nodelay(true);
                                let mut buf = vec![0u8; 64 * 1024];
                                while Instant::now() < deadline {
                                    let t0 = Instant::now();
                                    if s.write_all(&request).await.is_err() {
                                        return (times, 1);
                                    }
                                    let mut have = 0;
                                    let need = loop {
                                        match s.read(&mut buf[have..]).await {
                                            Ok(0) | Err(_) => return (times, 1),
                                            Ok(n) => have += n,
                                        }
                                        let h = &buf[..have];
                                        if let Some(end) = xfer::tcp::protocol::find_head_end(h) {
                                            let Ok(head) =
                                                xfer::tcp::protocol::parse_response(&h[..end])
                                            else {
                                                return (times, 1);
                                            };
                                            break end + head.content_length.unwrap_or(0) as usize;
                                        }
                                    };
                                    while have < need {
                                        match s.read(&mut buf[have..need]).await {
                                            Ok(0) | Err(_) => return (times, 1),
                                            Ok(n) => have += n,
                                        }
                                    }
                                    times.push(t0.elapsed().as_nanos() as u64);
                                }
                                (times, 0)
                            })
                        })
                        .collect();
                    let mut all = (Vec::new(), 0);
                    for t in tasks {
                        if let Ok((times, errs)) = t.await {
                            all.0.extend(times);
                            all.1 += errs;
                        }
                    }
                    all
                })
            })
        })
        .collect();
    let mut r = Result {
        times: Vec::new(),
        errors: 0,
        kinds: Default::default(),
        lag: "null".into(),
    };
    for h in handles {
        let (times, errors) = h.join().expect("tokio thread");
        r.times.extend(times);
        r.errors += errors;
    }
    r
}

fn main() {
    // `cargo test --all-targets` runs bench binaries with no arguments (and
    // `cargo bench` with only `--bench`): there is nothing to measure without
    // a target, which scripts/bench-peers P4 provides.
    if std::env::args().skip(1).all(|a| a == "--bench") {
        eprintln!("event_loop bench: no --target; run it through scripts/bench-peers P4");
        return;
    }
    let a = parse_args();
    raise_fd_limit();
    let mut r = match a.driver.as_str() {
        "mio" => run_mio(&a),
        "tokio" => run_tokio(&a),
        other => usage(&format!("--driver must be mio or tokio, got {other:?}")),
    };
    r.times.sort_unstable();
    let n = r.times.len().max(1) as u64;
    let mean = r.times.iter().sum::<u64>() / n;
    let p99 = r
        .times
        .get((r.times.len() * 99 / 100).min(r.times.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0);
    println!(
        r#"{{"driver":"{}","connections":{},"threads":{},"requests_per_s":{:.1},"mean_us":{:.1},"p99_us":{:.1},"errors":{},"error_kinds":{},"loop_lag":{}}}"#,
        a.driver,
        a.connections,
        a.threads,
        r.times.len() as f64 / a.seconds as f64,
        mean as f64 / 1e3,
        p99 as f64 / 1e3,
        r.errors,
        serde_json::to_string(&r.kinds).unwrap_or_default(),
        r.lag
    );
}
