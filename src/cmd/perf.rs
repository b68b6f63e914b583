//! `xfer perf`: flags -> a validated [`SweepConfig`] and [`TargetConfig`],
//! then `perf::target` makes the target ready and runs the sweep; here are
//! Ctrl-C, the console table and the charts; and `xfer perf plot`.

use crate::cmd::interrupt::Interrupt;
use crate::cmd::scale::ScaleArgs;
use crate::cmd::sftp_bench::ops::{self, OpArg};
use crate::cmd::ssh_login::SshLoginArgs;
use crate::cmd::thresholds::{Gate, ThresholdArgs};
use crate::cmd::{duration_arg, size_arg, EXIT_INTERRUPTED};
use crate::load::{shard, Pacing, RetryPolicy, StopAfter};
use crate::perf::clients::parse_clients;
use crate::perf::sweep::{self, SweepConfig, SweepOutcome};
use crate::perf::target::SftpOptions;
use crate::perf::target::{self, Prepared, RequestOptions, TargetConfig, TargetError, TargetUrl};
use crate::perf::{plot, table, write_charts};
use crate::report::run_dir;
use crate::sftp::workload::ConnectionMode;
use crate::tcp::workload::Connections;
use crate::usage;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
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
/// Exit codes: 0 done, 1 an error or a client that gave up after --retries
/// attempts of a request (everything is still written), 2 bad usage, 130
/// interrupted.
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

    /// sftp:// targets: bytes per chunk write (or read).
    #[arg(short = 's', long, value_name = "SIZE", value_parser = size_arg, default_value = "64K")]
    pub chunk_size: u64,

    /// sftp:// targets: upload (each client writes its own file), download
    /// (every client reads one file) or mixed (--mix of the clients download).
    #[arg(long, value_enum, default_value_t = OpArg::Upload)]
    pub op: OpArg,

    /// sftp:// targets, --op mixed: share of downloading clients, 0 < F < 1 [default: 0.5].
    #[arg(long, value_name = "F")]
    pub mix: Option<f64>,

    /// sftp:// targets: downloads read this existing remote file instead of
    /// one uploaded before the sweep (its size sets the chunks per pass).
    #[arg(long, value_name = "PATH")]
    pub remote_file: Option<String>,

    /// Connect timeout and longest wait for any read or write.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, default_value = "10s")]
    pub timeout: Duration,

    /// Attempts per request before a client gives up (failed ones are counted
    /// as errors; a client that gives up makes perf exit 1).
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

    /// Event-loop threads driving tcp:// targets (sftp:// targets use one
    /// thread per client: libssh2 is blocking) [default: one per core].
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true)]
    pub threads: usize,

    /// Print perf.json on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,

    #[command(flatten)]
    pub scale: ScaleArgs,
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
/// user_throughput.png. Any run directory with a time series also gives
/// timeseries.png (sftp-bench) or timeseries-cNNNN-rR.png per run (perf):
/// throughput, p50/p99 and active users over time. With --compare A B, two runs of the same kind share
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
    let target = target_config(&args)?;
    let gate = args.thresholds.parse(target.phases())?;
    // Installed before the preflight, so no moment of a sweep ignores Ctrl-C.
    let interrupt = Interrupt::install("stopping before the first run")?;
    let stopper = interrupt.stopper().clone();
    let prepared = match target::prepare(target, &mut cfg, &|| !stopper.is_stopped()) {
        Ok(p) => p,
        Err(e @ target::TargetError::Interrupted { .. }) => {
            eprintln!("xfer: {e}");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        Err(e) => return Err(target_err(e)),
    };
    if let Some(notice) = &prepared.notice {
        eprintln!("{notice}");
    }
    interrupt.set_on_first("finishing in-flight requests and writing results");
    let code = if interrupt.interrupted() {
        eprintln!("xfer: interrupted before the first run; nothing was measured");
        Ok(ExitCode::from(EXIT_INTERRUPTED))
    } else {
        sweep_and_report(&prepared, &cfg, &interrupt, args.json, &gate)
    };
    // As in sftp-bench: after a Ctrl-C during the sweep the next one exits at
    // once; before it, the first Ctrl-C stops the cleanup.
    let during_sweep = interrupt.interrupted();
    for warning in prepared.finish(|| during_sweep || !interrupt.interrupted()) {
        eprintln!("xfer: warning: {warning}");
    }
    code
}

/// A target error in what the user typed exits 2; any other exits 1.
fn target_err(e: TargetError) -> anyhow::Error {
    if e.is_usage() {
        usage!("{e}")
    } else {
        anyhow::Error::new(e)
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
    // A shard must get users at every client count: check the smallest.
    let scale = args.scale.parse(
        clients.iter().copied().min().unwrap_or(1),
        chrono::Utc::now(),
    )?;
    let run_id = scale.run_id();
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
            .unwrap_or_else(|| run_dir::default_run_dir(&run_id, &scale.kind("perf"))),
        samples: args.samples,
        target: String::new(),
        workload: String::new(),
        requests_per_client: args.duration.is_none().then_some(args.requests),
        interval: scale.interval,
        shard: scale.shard,
        start_at: scale.start_at,
    })
}

/// The target and the flags that apply to it.
fn target_config(args: &PerfArgs) -> anyhow::Result<TargetConfig> {
    let requests = || -> anyhow::Result<RequestOptions> {
        let post_ratio = match (args.post, args.post_ratio) {
            (None, _) => 0.0,
            (Some(_), None) => 1.0,
            (Some(_), Some(f)) if (0.0..=1.0).contains(&f) => f,
            (Some(_), Some(f)) => {
                return Err(usage!("--post-ratio must be between 0 and 1, got {f}"));
            }
        };
        Ok(RequestOptions {
            post_size: args.post.unwrap_or(0),
            post_ratio,
            connections: if args.new_connection {
                Connections::NewConnection
            } else {
                Connections::KeepAlive
            },
            timeout: args.timeout,
            loop_threads: args.threads,
        })
    };
    let parsed = target::parse_target(args.target.as_deref()).map_err(target_err)?;
    if !matches!(parsed, TargetUrl::Sftp(_)) {
        let flag = match (args.op, args.mix, &args.remote_file) {
            (OpArg::Upload, None, None) => None,
            (_, _, Some(_)) => Some("--remote-file"),
            (_, Some(_), _) => Some("--mix"),
            _ => Some("--op"),
        };
        if let Some(flag) = flag {
            return Err(usage!("{flag} applies to sftp:// targets only"));
        }
    }
    Ok(match parsed {
        TargetUrl::Embedded => TargetConfig::Embedded {
            file_size: args.file_size,
            requests: requests()?,
        },
        TargetUrl::Tcp { addr, path } => TargetConfig::Tcp {
            addr,
            path,
            requests: requests()?,
        },
        TargetUrl::Sftp(_) => {
            if args.post.is_some() {
                return Err(usage!("--post applies to tcp:// targets only"));
            }
            if args.chunk_size == 0 {
                return Err(usage!("--chunk-size must be at least 1 byte, got 0"));
            }
            let url = args.target.as_deref().unwrap_or_default();
            let ops = ops::check(ops::OpFlags {
                op: args.op.into(),
                mix: args.mix,
                remote_file: args.remote_file.is_some(),
                ..ops::OpFlags::default()
            })?;
            TargetConfig::Sftp {
                client: args
                    .login
                    .resolve(url, Some(args.timeout))?
                    .client_config(args.timeout.max(Duration::from_secs(30))),
                options: SftpOptions {
                    chunk_size: args.chunk_size,
                    mode: if args.new_connection {
                        ConnectionMode::Reconnect
                    } else {
                        ConnectionMode::KeepOpen
                    },
                    ops,
                    remote_file: args.remote_file.clone(),
                },
            }
        }
    })
}

/// Runs the sweep with Ctrl-C handling, prints the table, draws the charts.
/// Exit: 0 done, 130 interrupted, an error for a fatal one (after writing).
fn sweep_and_report(
    prepared: &Prepared,
    cfg: &SweepConfig,
    interrupt: &Interrupt,
    json: bool,
    gate: &Gate,
) -> anyhow::Result<ExitCode> {
    let stopper = interrupt.stopper();

    eprintln!("xfer perf: {} · {}", cfg.target, cfg.workload);
    eprintln!("run directory: {}", cfg.out_dir.display());
    if cfg.shard.is_sharded() {
        eprintln!(
            "shard {}: its share of the users at each client count",
            cfg.shard
        );
    }
    // After the preflight (in `prepare`): the sweep starts at the instant.
    if let Some(at) = cfg.start_at {
        eprintln!(
            "waiting for --start-at {} (Ctrl-C to abandon)",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        if !shard::wait_until(at, stopper).map_err(|e| anyhow::anyhow!("{e}"))? {
            eprintln!("xfer: interrupted before the first run; nothing was measured");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
    }
    if !json {
        println!("{}", table::header());
    }
    let SweepOutcome { mut report, fatal } = prepared.sweep(cfg, stopper, |r| {
        if !json {
            println!("{}", table::run_row(r));
        }
    })?;
    // Checked at every client count once everything is written; perf.json
    // is rewritten with the results.
    report.thresholds = gate.check_sweep(&report.runs, prepared.response_phase(), "xfer perf")?;
    if report.thresholds.is_some() {
        sweep::write_report(&cfg.out_dir, &report)?;
    }
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
    if let Some(f) = fatal {
        anyhow::bail!("{f}");
    }
    gate.print(report.thresholds.as_ref(), json);
    if interrupt.interrupted() {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if report.thresholds.as_ref().is_some_and(|t| !t.pass) {
        return Ok(gate.exit_code(report.thresholds.as_ref(), 0));
    }
    // As sftp-bench: a client that gave up is a failed run (exit 1), even
    // though every file was written.
    let gave_up: u32 = report.runs.iter().map(|r| r.users_gave_up).sum();
    if gave_up > 0 {
        eprintln!(
            "xfer: {gave_up} client(s) gave up after {} attempts of a request; see the errors columns",
            cfg.retry.max_attempts
        );
        return Ok(ExitCode::FAILURE);
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
        (None, Some(path)) => {
            let run = plot::load(path)?;
            let mut charts = plot::charts_for(&run);
            charts.extend(plot::timeseries_charts(path, &plot::target_of(&run))?);
            (charts, path.clone())
        }
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
