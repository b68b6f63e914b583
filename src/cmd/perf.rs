//! `xfer perf`: flags -> [`SweepConfig`] and a workload, the embedded server,
//! Ctrl-C, the console table, charts; and `xfer perf plot`.

use crate::cmd::ssh_login::SshLoginArgs;
use crate::cmd::{duration_arg, size_arg, EXIT_INTERRUPTED};
use crate::load::{Pacing, RetryPolicy, StopAfter, Stopper, Workload};
use crate::perf::clients::parse_clients;
use crate::perf::sweep::{self, SweepConfig, SweepOutcome};
use crate::perf::workload::{Connections, RequestMix, TcpRequests};
use crate::perf::{plot, table, write_charts};
use crate::report::run_dir;
use crate::sftp::bench as sftp_bench;
use crate::sftp::client::{ClientConfig, SftpTarget};
use crate::sftp::source::Source;
use crate::sftp::workload::{ChunkUpload, ConnectionMode, Verify};
use crate::tcp::client::Connection;
use crate::tcp::server::{self as tcp_server, TcpServeConfig};
use crate::units::Bytes;
use crate::usage;
use anyhow::Context;
use rand::RngCore;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Sweep the number of concurrent clients; a CSV, a JSON and PNG charts.
///
/// For each client count in --clients, every client (an OS thread with its own
/// connection) sends --requests requests (or keeps sending for --duration),
/// --repeat times. A request's response time runs from its first byte written
/// to the last byte of the response read; connecting is timed apart.
///
/// --clients LIST: counts separated by commas, each a number (8), a range of
/// every integer (1-8 = 1,2,...,8) or a geometric sequence START..ENDxFACTOR
/// (1..64x2 = 1,2,4,...,64); mixed freely (1-4,8..64x2), sorted, duplicates
/// dropped.
///
/// Warm-up: before the first run at each client count, that many clients send
/// requests for --warmup without being recorded (new threads, server pools and
/// caches settle); --warmup 0 skips it.
///
/// Targets:
///   tcp://HOST:PORT/PATH        GET PATH (--post SIZE: POST generated bodies
///                               to PATH; --post-ratio F: a mix, F of them POSTs)
///   sftp://USER@HOST:PORT/DIR   chunk writes of --chunk-size, as sftp-bench
///                               (response time = one chunk's write); --requests
///                               N is N chunks per client
///   (none)                      an embedded tcp-serve on 127.0.0.1 serving a
///                               generated file of --file-size
///
/// Outputs, in the run directory (-o): perf.csv (a row per client count and
/// repeat, written as each run ends), perf.json (settings, runs, and min /
/// median / max per client count), latency.png and throughput.png. Ctrl-C
/// stops the sweep, keeps what was measured, draws it and exits 130.
///
/// `xfer perf plot DIR` redraws the charts of a perf run directory, or draws
/// an sftp-bench run directory's; `--compare A B` puts two runs on one chart.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment, args_conflicts_with_subcommands = true)]
pub struct PerfArgs {
    #[command(subcommand)]
    pub action: Option<PerfAction>,

    /// tcp://HOST:PORT/PATH or sftp://USER@HOST:PORT/DIR; none: embedded tcp-serve.
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,

    /// Client counts: 1,2,4 or 1-8 (every integer) or 1..64x2 (doubling).
    #[arg(short, long, value_name = "LIST", default_value = "1,2,4,8,16,32,64")]
    pub clients: String,

    /// Requests per client at each client count.
    #[arg(
        short = 'n',
        long,
        value_name = "N",
        default_value_t = 200,
        conflicts_with = "duration"
    )]
    pub requests: u64,

    /// Send for this long at each client count instead of --requests.
    #[arg(short, long, value_name = "DURATION", value_parser = duration_arg)]
    pub duration: Option<Duration>,

    /// Measured runs per client count (the table and charts show medians).
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub repeat: u32,

    /// Unrecorded load before the first run at each client count (0: none).
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, default_value = "1s")]
    pub warmup: Duration,

    /// Limit each client to this many requests per second (open model: latency
    /// is also measured from each request's intended start in perf.json).
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,

    /// POST generated bodies of this size to PATH instead of GETting it.
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub post: Option<u64>,

    /// With --post: the fraction of requests that are POSTs (0 to 1), the rest GETs.
    #[arg(long, value_name = "F", requires = "post")]
    pub post_ratio: Option<f64>,

    /// A new connection for every request instead of keep-alive
    /// (sftp: a new session for every chunk).
    #[arg(long)]
    pub new_connection: bool,

    /// Size of the file the embedded server serves (no TARGET).
    #[arg(long, value_name = "SIZE", value_parser = size_arg, default_value = "4K")]
    pub file_size: u64,

    /// sftp:// targets: bytes per chunk write.
    #[arg(short = 's', long, value_name = "SIZE", value_parser = size_arg, default_value = "64K")]
    pub chunk_size: u64,

    /// Connect timeout and longest wait for any read or write.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, default_value = "10s")]
    pub timeout: Duration,

    /// Attempts per request before a client gives up (failed ones are counted as errors).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,

    /// Pause before a retry, drawn from [D, 3D).
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, default_value = "50ms")]
    pub backoff: Duration,

    /// sftp:// targets: how to log in.
    #[command(flatten)]
    pub login: SshLoginArgs,

    /// Also write every request to samples/c<CLIENTS>-r<RUN>.csv (sftp-bench's chunks.csv columns).
    #[arg(long)]
    pub samples: bool,

    /// Run directory [default: xfer-results/<run id>-perf]. A non-empty
    /// directory is refused unless --overwrite is given.
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Write into a non-empty --out directory (files of the same names are replaced).
    #[arg(long, requires = "out")]
    pub overwrite: bool,

    /// Print perf.json on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum PerfAction {
    /// Draw charts from a perf or sftp-bench run directory.
    Plot(PlotArgs),
}

/// Charts from an earlier run directory.
///
/// A perf run directory (perf.json, or perf.csv) gives latency.png and
/// throughput.png; an sftp-bench run directory (run.json, chunks.csv,
/// users.csv) gives chunk_latency.png, latency_distribution.png and
/// user_throughput.png. With --compare A B, two runs of the same kind share
/// one chart each (compare-*.png).
#[derive(Debug, clap::Args)]
pub struct PlotArgs {
    /// The run directory.
    #[arg(value_name = "PATH", required_unless_present = "compare")]
    pub path: Option<PathBuf>,

    /// Compare two run directories on one chart.
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with = "path")]
    pub compare: Option<Vec<PathBuf>>,

    /// Where the PNGs go [default: PATH itself; with --compare, A].
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(args: PerfArgs) -> anyhow::Result<ExitCode> {
    if let Some(PerfAction::Plot(p)) = args.action {
        return run_plot(p);
    }
    let mut cfg = sweep_config(&args)?;
    match parse_target(args.target.as_deref())? {
        Target::Embedded => {
            let server = EmbeddedTcp::start(args.file_size, *cfg.clients.last().unwrap_or(&1))?;
            let addr = server.server.addr().to_string();
            let w = tcp_workload(&args, addr.clone(), "/data.bin", "/upload.bin")?;
            let body = preflight_tcp(&w)?;
            cfg.target = format!("tcp://{addr}/data.bin");
            cfg.workload = describe_tcp(&w, body, &args);
            eprintln!(
                "target: embedded tcp-serve on {addr} serving a generated {} file (removed at exit)",
                Bytes(args.file_size)
            );
            let code = sweep_and_report(&w, &cfg, args.json);
            server.server.shutdown();
            code
        }
        Target::Tcp { addr, path } => {
            let w = tcp_workload(&args, addr.clone(), &path, &path)?;
            let body = preflight_tcp(&w)?;
            cfg.target = format!("tcp://{addr}{path}");
            cfg.workload = describe_tcp(&w, body, &args);
            sweep_and_report(&w, &cfg, args.json)
        }
        Target::Sftp(target) => {
            let w = sftp_workload(&args, &mut cfg, target)?;
            let code = sweep_and_report(&w, &cfg, args.json);
            for warning in sftp_bench::cleanup(&w.client, &w.remote_paths, || true).warnings {
                eprintln!("xfer: warning: {warning}");
            }
            code
        }
    }
}

/// Everything but the target: clients, lengths, pacing, output.
fn sweep_config(args: &PerfArgs) -> anyhow::Result<SweepConfig> {
    let clients = parse_clients(&args.clients).map_err(|e| usage!("--clients: {e}"))?;
    if args.requests == 0 {
        return Err(usage!("--requests must be at least 1, got 0"));
    }
    if args.duration.is_some_and(|d| d.is_zero()) {
        return Err(usage!("--duration must be longer than 0"));
    }
    if args.repeat == 0 {
        return Err(usage!("--repeat must be at least 1, got 0"));
    }
    // A zero socket timeout means "wait forever" (std and libssh2 alike).
    if args.timeout < Duration::from_millis(1) {
        return Err(usage!(
            "--timeout must be at least 1ms, got {:?}",
            args.timeout
        ));
    }
    if args.retries == 0 {
        return Err(usage!(
            "--retries must be at least 1 (the first attempt counts), got 0"
        ));
    }
    let pacing = match args.rate {
        Some(r) => Pacing::rate(r).ok_or_else(|| {
            usage!("--rate must be a positive number of requests per second, got {r}")
        })?,
        None => Pacing::Delay(Duration::ZERO),
    };
    let run_id = run_dir::new_run_id();
    if let Some(dir) = &args.out {
        run_dir::check_out_dir(dir, args.overwrite).map_err(|e| usage!("--out {e}"))?;
    }
    Ok(SweepConfig {
        run_id: run_id.clone(),
        clients,
        stop: match args.duration {
            Some(d) => StopAfter::Duration(d),
            None => StopAfter::Passes(args.requests),
        },
        repeat: args.repeat,
        warmup: args.warmup,
        pacing,
        retry: RetryPolicy {
            max_attempts: args.retries,
            backoff: args.backoff,
        },
        out_dir: args
            .out
            .clone()
            .unwrap_or_else(|| run_dir::default_run_dir(&run_id, "perf")),
        samples: args.samples,
        target: String::new(),
        workload: String::new(),
        requests_per_client: args.duration.is_none().then_some(args.requests),
    })
}

enum Target {
    Embedded,
    Tcp { addr: String, path: String },
    Sftp(SftpTarget),
}

fn parse_target(t: Option<&str>) -> anyhow::Result<Target> {
    let Some(t) = t else {
        return Ok(Target::Embedded);
    };
    if let Some(rest) = t.strip_prefix("tcp://") {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let bad = |why: &str| usage!("TARGET '{t}': {why} (expected tcp://HOST:PORT/PATH)");
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| bad("the port is missing"))?;
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        port.parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        return Ok(Target::Tcp {
            addr: authority.to_string(),
            path: path.to_string(),
        });
    }
    if t.starts_with("sftp://") {
        return t
            .parse()
            .map(Target::Sftp)
            .map_err(|e| usage!("TARGET {e}"));
    }
    Err(usage!(
        "TARGET '{t}' is not supported: use tcp://HOST:PORT/PATH or sftp://USER@HOST:PORT/DIR, or no target for an embedded server"
    ))
}

fn tcp_workload(
    args: &PerfArgs,
    addr: String,
    get_path: &str,
    post_path: &str,
) -> anyhow::Result<TcpRequests> {
    let post_ratio = match (args.post, args.post_ratio) {
        (None, _) => 0.0,
        (Some(_), None) => 1.0,
        (Some(_), Some(f)) if (0.0..=1.0).contains(&f) => f,
        (Some(_), Some(f)) => {
            return Err(usage!("--post-ratio must be between 0 and 1, got {f}"));
        }
    };
    let size = usize::try_from(args.post.unwrap_or(0))
        .map_err(|_| usage!("--post {} is too large", args.post.unwrap_or(0)))?;
    let mut body = vec![0u8; size];
    rand::thread_rng().fill_bytes(&mut body);
    Ok(TcpRequests {
        addr,
        mix: RequestMix {
            get_path: get_path.to_string(),
            post_path: post_path.to_string(),
            post_body: Arc::from(body),
            post_ratio,
        },
        connections: if args.new_connection {
            Connections::NewConnection
        } else {
            Connections::KeepAlive
        },
        timeout: args.timeout,
    })
}

/// One request of each kind the sweep sends, so that a wrong path or a
/// refused POST is one clear error instead of N clients' retries. Returns the
/// GET body size, when GETs are sent.
fn preflight_tcp(w: &TcpRequests) -> anyhow::Result<Option<u64>> {
    let mut conn = Connection::connect(w.addr.as_str(), w.timeout)
        .with_context(|| format!("connecting to {}", w.addr))?;
    let mut body = None;
    if w.mix.post_ratio < 1.0 {
        let r = conn
            .get(&w.mix.get_path, &mut std::io::sink())
            .with_context(|| format!("GET {} on {}", w.mix.get_path, w.addr))?;
        if !r.is_success() {
            anyhow::bail!(
                "GET {} on {}: {} {} (the sweep needs a path that answers 2xx)",
                w.mix.get_path,
                w.addr,
                r.status,
                r.reason
            );
        }
        body = Some(r.body_bytes);
    }
    if w.mix.post_ratio > 0.0 {
        let r = conn
            .post(&w.mix.post_path, &w.mix.post_body)
            .with_context(|| format!("POST {} on {}", w.mix.post_path, w.addr))?;
        if !r.is_success() {
            anyhow::bail!(
                "POST {} on {}: {} {} (the server does not accept uploads there)",
                w.mix.post_path,
                w.addr,
                r.status,
                r.reason
            );
        }
    }
    Ok(body)
}

fn describe_length(args: &PerfArgs) -> String {
    let mut s = match args.duration {
        Some(d) => format!("{} per run", crate::units::Micros(d.as_micros() as u64)),
        None => format!("{} requests per client", args.requests),
    };
    if let Some(r) = args.rate {
        s.push_str(&format!(", {r}/s per client"));
    }
    if args.repeat > 1 {
        s.push_str(&format!(", {} runs", args.repeat));
    }
    s
}

fn describe_tcp(w: &TcpRequests, get_body: Option<u64>, args: &PerfArgs) -> String {
    let get = format!(
        "GET {}{}",
        w.mix.get_path,
        get_body
            .map(|b| format!(" ({})", Bytes(b)))
            .unwrap_or_default()
    );
    let post = format!(
        "POST {} to {}",
        Bytes(w.mix.post_body.len() as u64),
        w.mix.post_path
    );
    let what = match w.mix.post_ratio {
        r if r <= 0.0 => get,
        r if r >= 1.0 => post,
        r => format!("{get} + {:.0}% {post}", r * 100.0),
    };
    let conn = match w.connections {
        Connections::KeepAlive => "keep-alive",
        Connections::NewConnection => "new connection per request",
    };
    format!("{what}, {conn}, {}", describe_length(args))
}

/// The largest divisor of `n` that is at most `cap`: chunks per remote file,
/// so that N chunk writes are whole passes over a small file.
fn chunks_per_file(n: u64, cap: u64) -> u64 {
    (1..=cap.min(n)).rev().find(|d| n % d == 0).unwrap_or(1)
}

fn sftp_workload(
    args: &PerfArgs,
    cfg: &mut SweepConfig,
    mut target: SftpTarget,
) -> anyhow::Result<ChunkUpload> {
    if args.post.is_some() {
        return Err(usage!("--post applies to tcp:// targets only"));
    }
    if args.chunk_size == 0 {
        return Err(usage!("--chunk-size must be at least 1 byte, got 0"));
    }
    if target.dir.is_empty() {
        target.dir = ".".into();
    }
    let client = ClientConfig {
        credentials: args.login.credentials(&target)?,
        trust: args.login.trust(),
        ciphers: args.login.ciphers()?,
        connect_timeout: args.timeout,
        io_timeout: args.timeout.max(Duration::from_secs(30)),
        target,
    };
    let sftp_bench::Preflight {
        session, host_key, ..
    } = sftp_bench::preflight(&client)?;
    let client = sftp_bench::pinned(&client, host_key);
    let chunks = match cfg.stop {
        StopAfter::Passes(n) => {
            let per_file = chunks_per_file(n, 32);
            cfg.stop = StopAfter::Passes(n / per_file);
            per_file
        }
        StopAfter::Duration(_) => 16,
    };
    let size = usize::try_from(args.chunk_size.saturating_mul(chunks))
        .map_err(|_| usage!("--chunk-size {} is too large", args.chunk_size))?;
    let mut data = vec![0u8; size];
    rand::thread_rng().fill_bytes(&mut data);
    let run_id = &cfg.run_id;
    let dir = client.target.dir.trim_end_matches('/').to_string();
    let max_clients = *cfg.clients.last().unwrap_or(&1);
    let remote_paths = (0..max_clients)
        .map(|u| format!("{dir}/xfer-perf-{run_id}-u{u:04}.bin"))
        .collect();
    cfg.target = client.target.to_string();
    cfg.workload = format!(
        "SFTP chunk writes of {}, {} ({}), {}",
        Bytes(args.chunk_size),
        if args.new_connection {
            "new session per chunk"
        } else {
            "keep-open session"
        },
        session.cipher_client_to_server,
        describe_length(args)
    );
    Ok(ChunkUpload {
        client,
        data: Arc::new(Source::from(data)),
        chunk_size: args.chunk_size,
        mode: if args.new_connection {
            ConnectionMode::Reconnect
        } else {
            ConnectionMode::KeepOpen
        },
        verify: Verify::None,
        remote_paths,
    })
}

/// tcp-serve on 127.0.0.1:0 serving a generated `data.bin` from a temp root.
struct EmbeddedTcp {
    server: tcp_server::RunningTcpServer,
    _root: tempfile::TempDir,
}

impl EmbeddedTcp {
    fn start(file_size: u64, max_clients: u32) -> anyhow::Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("xfer-embedded-tcp-")
            .tempdir()
            .context("creating the embedded server's root")?;
        let size = usize::try_from(file_size)
            .map_err(|_| usage!("--file-size {file_size} is too large"))?;
        let mut data = vec![0u8; size];
        rand::thread_rng().fill_bytes(&mut data);
        let file = root.path().join("data.bin");
        std::fs::write(&file, &data).with_context(|| format!("writing {}", file.display()))?;
        let server = tcp_server::spawn(TcpServeConfig {
            root: root.path().to_path_buf(),
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            // Every client holds a connection, plus warm-up stragglers.
            max_connections: (max_clients as usize * 2).max(256),
            ..TcpServeConfig::default()
        })
        .context("starting the embedded tcp-serve")?;
        Ok(EmbeddedTcp {
            server,
            _root: root,
        })
    }
}

/// Runs the sweep with Ctrl-C handling, prints the table, draws the charts.
/// Exit: 0 done, 130 interrupted, an error for a fatal one (after writing).
fn sweep_and_report<W: Workload>(w: &W, cfg: &SweepConfig, json: bool) -> anyhow::Result<ExitCode> {
    let stopper = Stopper::new();
    let on_signal = stopper.clone();
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nxfer: second interrupt, exiting now");
            std::process::exit(EXIT_INTERRUPTED.into());
        }
        eprintln!("\nxfer: interrupted; finishing in-flight requests and writing results (Ctrl-C again to quit at once)");
        on_signal.stop();
    })
    .context("installing the Ctrl-C handler")?;

    eprintln!("xfer perf: {} · {}", cfg.target, cfg.workload);
    eprintln!("run directory: {}", cfg.out_dir.display());
    if !json {
        println!("{}", table::header());
    }
    let SweepOutcome { report, fatal } = sweep::run(w, cfg, &stopper, |r| {
        if !json {
            println!("{}", table::run_row(r));
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if cfg.repeat > 1 && !report.points.is_empty() {
        println!("\nmedians of {} runs per client count:", cfg.repeat);
        print!("{}", table::aggregate_table(&report.points));
    }
    if report.runs.is_empty() {
        eprintln!("xfer: no run finished; no charts drawn");
    } else {
        let written = write_charts(&cfg.out_dir, &plot::perf_charts(&report))?;
        if !json {
            let names: Vec<String> = written
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            println!(
                "results: {} (perf.csv, perf.json, {})",
                cfg.out_dir.display(),
                names.join(", ")
            );
        }
    }
    let gave_up: u32 = report.runs.iter().map(|r| r.users_gave_up).sum();
    if gave_up > 0 {
        eprintln!(
            "xfer: warning: {gave_up} client(s) gave up after {} attempts of a request; see the errors columns",
            cfg.retry.max_attempts
        );
    }
    if let Some(f) = fatal {
        anyhow::bail!("{f}");
    }
    if interrupted.load(Ordering::SeqCst) {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_plot(args: PlotArgs) -> anyhow::Result<ExitCode> {
    let (charts, default_out) = match (&args.compare, &args.path) {
        (Some(ab), _) => {
            let (a, b) = (&ab[0], &ab[1]);
            let (ra, rb) = (plot::load(a)?, plot::load(b)?);
            (plot::compare_charts((a, &ra), (b, &rb))?, a.clone())
        }
        (None, Some(path)) => (plot::charts_for(&plot::load(path)?), path.clone()),
        (None, None) => {
            return Err(usage!(
                "perf plot needs a run directory PATH or --compare A B"
            ))
        }
    };
    let out = args.out.as_deref().unwrap_or(Path::new(&default_out));
    for p in write_charts(out, &charts)? {
        println!("{}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_or_name_the_problem() {
        assert!(matches!(
            parse_target(Some("tcp://127.0.0.1:8080/a/b.bin")).unwrap(),
            Target::Tcp { addr, path } if addr == "127.0.0.1:8080" && path == "/a/b.bin"
        ));
        assert!(matches!(
            parse_target(Some("tcp://localhost:80")).unwrap(),
            Target::Tcp { path, .. } if path == "/"
        ));
        assert!(matches!(parse_target(None).unwrap(), Target::Embedded));
        for (t, want) in [
            ("ftp://x", "not supported"),
            ("tcp://host/x", "port is missing"),
            ("tcp://:80/x", "host is empty"),
            ("tcp://h:0/x", "port is not a number"),
            ("sftp://", "host is empty"),
        ] {
            let e = parse_target(Some(t)).err().unwrap().to_string();
            assert!(e.contains(want), "{t}: {e}");
        }
    }

    #[test]
    fn chunk_counts_divide_the_requests() {
        assert_eq!(chunks_per_file(200, 32), 25);
        assert_eq!(chunks_per_file(50, 32), 25);
        assert_eq!(chunks_per_file(37, 32), 1);
        assert_eq!(chunks_per_file(8, 32), 8);
    }
}
