//! A third protocol through the public `WorkloadShape` and `Workload`
//! traits: a line echo over TCP. The example starts its own echo server on
//! 127.0.0.1:0, then sweeps 1, 2 and 4 clients with perf's sweep, which
//! writes perf.csv, perf.json, samples/ and the charts. Nothing in the
//! engine, recorder, CSV or charts knows about this protocol.
//!
//!     cargo run --example custom_workload [-- OUT_DIR]
//!
//! tests/examples.rs compiles this file into the test suite and runs it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;
use xfer::load::{Pacing, RetryPolicy, StopAfter};
use xfer::load::{PhaseTimer, Severity, StepDone, StepError, Stopper, Workload, WorkloadShape};
use xfer::perf::results::PerfReport;
use xfer::perf::sweep::{self, SweepConfig, Threads};
use xfer::perf::{plot, write_charts};

/// Each step sends one line and reads it back, on the user's connection.
struct LineEcho {
    addr: std::net::SocketAddr,
}

const PHASES: &[&str] = &["connect", "echo"];
type StepResult = Result<StepDone, StepError>;

fn failed(kind: &'static str, e: std::io::Error) -> StepError {
    StepError {
        kind,
        message: e.to_string(),
        severity: Severity::Retry,
        offset: 0,
    }
}

/// What the engine, recorder and files need to know about the workload: its
/// phases (CSV columns), which one is the response time, and steps per pass.
impl WorkloadShape for LineEcho {
    fn phases(&self) -> &'static [&'static str] {
        PHASES
    }
    fn response_phase(&self) -> usize {
        1
    }
    fn steps_per_pass(&self) -> u64 {
        1
    }
}

/// How one step runs, on the user's own thread.
impl Workload for LineEcho {
    type User = Option<(BufReader<TcpStream>, TcpStream)>;

    fn new_user(&self, _user: u32) -> Self::User {
        None // connecting is part of a step, so that it is timed and retried
    }

    fn step(&self, conn: &mut Self::User, pass: u64, _: u64, t: &mut PhaseTimer) -> StepResult {
        if conn.is_none() {
            *conn = Some(self.connect(t).map_err(|e| failed("connect", e))?);
        }
        let (reader, writer) = conn.as_mut().expect("connected above");
        let line = format!("hello {pass}\n");
        let mut back = String::new();
        t.time(1, || {
            writer.write_all(line.as_bytes())?;
            reader.read_line(&mut back)?;
            match back == line {
                true => Ok(StepDone {
                    offset: 0,
                    bytes: line.len() as u64,
                }),
                false => Err(std::io::Error::other(format!("echoed {back:?}"))),
            }
        })
        .map_err(|e| {
            *conn = None; // reconnect on the retry
            failed("echo", e)
        })
    }
}

impl LineEcho {
    fn connect(&self, t: &mut PhaseTimer) -> std::io::Result<(BufReader<TcpStream>, TcpStream)> {
        let s = t.time(0, || TcpStream::connect(self.addr))?;
        s.set_nodelay(true)?;
        Ok((BufReader::new(s.try_clone()?), s))
    }
}

/// The embedded server: a thread per connection, each line written back.
fn echo_server() -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = stream.try_clone()?;
                for line in BufReader::new(stream).lines() {
                    w.write_all(format!("{}\n", line?).as_bytes())?;
                }
                std::io::Result::Ok(())
            });
        }
    });
    Ok(addr)
}

fn main() -> anyhow::Result<()> {
    let out_dir = std::env::args_os().nth(1).map_or_else(
        || xfer::report::run_dir::default_run_dir(&xfer::report::run_dir::new_run_id(), "echo"),
        Into::into,
    );
    sweep_echo(&out_dir, &[1, 2, 4], 500)?;
    println!("results: {}", out_dir.display());
    Ok(())
}

/// Sweeps `clients`, `requests` echoes each, into `out_dir` (tests/examples.rs
/// calls this too).
pub fn sweep_echo(out_dir: &Path, clients: &[u32], requests: u64) -> anyhow::Result<PerfReport> {
    let addr = echo_server()?;
    let cfg = SweepConfig {
        clients: clients.to_vec(),
        stop: StopAfter::Passes(requests),
        repeat: 1,
        warmup: Duration::ZERO,
        pacing: Pacing::Delay(Duration::ZERO),
        retry: RetryPolicy::default(),
        out_dir: out_dir.to_path_buf(),
        run_id: xfer::report::run_dir::new_run_id(),
        samples: true,
        target: format!("echo://{addr}"),
        workload: "one line echoed, keep-open".into(),
        requests_per_client: Some(requests),
        interval: Some(Duration::from_secs(1)),
        shard: xfer::load::Shard::WHOLE,
        start_at: None,
    };
    let outcome = sweep::run(&Threads(&LineEcho { addr }), &cfg, &Stopper::new(), |r| {
        println!(
            "{} clients: {} echoes, p50 {} us",
            r.clients, r.requests, r.latency.p50_us
        );
    })?;
    write_charts(out_dir, &plot::perf_charts(&outcome.report))?;
    Ok(outcome.report)
}
