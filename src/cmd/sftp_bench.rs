//! `xfer sftp-bench`: flags -> [`SftpBenchConfig`], credentials, Ctrl-C, output.
//!
//! A little over 500 lines, most of them the documented flags and their
//! validation, which belong together; the shared flag groups (login,
//! thresholds, shards) already live in their own modules, and `--op`,
//! `--mix`, `--remote-file` in `ops`.

mod header;
pub(crate) mod ops;

use crate::cmd::interrupt::Interrupt;
use crate::cmd::scale::ScaleArgs;
use crate::cmd::ssh_login::{SshLoginArgs, DEFAULT_CONNECT_TIMEOUT};
use crate::cmd::thresholds::{Gate, ThresholdArgs};
use crate::cmd::{duration_arg, size_arg, EXIT_INTERRUPTED};
use crate::load::{Capacity, EngineConfig, Pacing, RetryPolicy, Shard, StopAfter};
use crate::report::{console, format, run_dir};
use crate::sftp::bench::{self, SftpBenchConfig};
use crate::sftp::client::{self, ClientConfig, Credential, HostKeyTrust, SftpTarget};
use crate::sftp::embedded::EmbeddedServer;
use crate::sftp::source::Source;
use crate::sftp::workload::{ConnectionMode, Verify};
use crate::units::Bytes;
use crate::usage;
use anyhow::Context;
use clap::ValueEnum;
use ops::OpArg;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// `--file-size` when not given.
const DEFAULT_FILE_SIZE: u64 = 8 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// One session per user for the whole run.
    KeepOpen,
    /// Connect, authenticate, open, write, close for every chunk (the seed's --closing).
    Reconnect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyArg {
    /// No check.
    None,
    /// Remote size covers the chunk (the seed's "missing N bytes" check).
    Size,
    /// Read the chunk back and compare SHA-256.
    Sha256,
}

/// Many users upload (or download) a file to an SFTP server in chunks; every
/// chunk and every phase of it is timed.
///
/// Each user is an OS thread with its own libssh2 session, writing the file
/// into its own remote file (<DIR>/<run-id>-u<NNNN>.<ext>) one chunk at a time,
/// at the chunk's offset, pausing --delay after each chunk (or on a --rate
/// grid). Failed chunks are retried with backoff and rewritten at the same
/// offset, so remote files end byte-identical to the source.
///
/// --op download: every user reads one remote file chunk by chunk at its
/// offsets instead (the bytes are discarded): a --remote-file, or the source
/// uploaded once before the run (<DIR>/<run-id>-src.<ext>, not measured).
/// --op mixed: --mix of the users download, the others upload.
///
/// Results go to a run directory as they happen: run.json, chunks.csv (a row per
/// attempt), users.csv, summary.json. Ctrl-C lets in-flight chunks finish,
/// writes everything, prints the summary and exits 130.
///
/// Password: XFER_PASSWORD, --password-file, or a prompt on a terminal, never
/// a flag. Key passphrase: XFER_PASSPHRASE or a prompt.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct SftpBenchArgs {
    /// sftp://[USER@]HOST[:PORT][/DIR]. USER defaults to $USER, PORT to 22, DIR
    /// to the login directory. Without a target, an embedded sftp-serve is started.
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,

    /// Concurrent users, one thread and one SSH session each (seed: -t).
    #[arg(short = 'c', long, visible_alias = "threads", default_value_t = 3)]
    pub users: u32,

    /// File to upload (seed: -f). Without it, a random file of --file-size is
    /// generated. With --remote-file: the local copy --verify sha256 compares with.
    #[arg(short, long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Size of the generated file when no --file is given [default: 8M].
    #[arg(long, value_name = "SIZE", value_parser = size_arg)]
    pub file_size: Option<u64>,

    /// upload: every user writes its own file; download: every user reads
    /// one remote file; mixed: --mix of the users download, the others upload.
    #[arg(long, value_enum, default_value_t = OpArg::Upload)]
    pub op: OpArg,

    /// Share of downloading users with --op mixed, 0 < F < 1 [default: 0.5].
    #[arg(long, value_name = "F")]
    pub mix: Option<f64>,

    /// Download this existing remote file (absolute, or relative to the login
    /// directory) instead of a copy of the source uploaded before the run.
    #[arg(long, value_name = "PATH")]
    pub remote_file: Option<String>,

    /// Bytes per chunk: 100K, 1M, 1MiB (seed: -s, in MB).
    #[arg(short = 's', long, value_name = "SIZE", value_parser = size_arg, default_value = "1M")]
    pub chunk_size: u64,

    /// Pause after each chunk: 0, 500ms, 5s [default: 5s, as the seed; 200ms with the embedded server].
    #[arg(short, long, value_name = "DURATION", value_parser = duration_arg, conflicts_with = "rate")]
    pub delay: Option<Duration>,

    /// Fixed rate per user, chunks per second (e.g. 2 or 0.5), instead of --delay.
    /// Latency is then also reported from each chunk's intended start.
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,

    /// keep-open: one session per user; reconnect: a new session per chunk.
    #[arg(long, value_enum, default_value_t = ModeArg::KeepOpen)]
    pub mode: ModeArg,

    /// Spread user starts over this long [default: 0.5s per user, as the seed].
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub ramp_up: Option<Duration>,

    /// Upload the file this many times per user.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        conflicts_with = "duration"
    )]
    pub repeat: u64,

    /// Keep uploading (the file over and over) for this long instead of --repeat.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub duration: Option<Duration>,

    /// Remote directory; overrides the target's /DIR (seed: --remPath).
    #[arg(long, value_name = "DIR")]
    pub remote_dir: Option<String>,

    #[command(flatten)]
    pub login: SshLoginArgs,

    /// Check each chunk after writing it.
    #[arg(long, value_enum, default_value_t = VerifyArg::None)]
    pub verify: VerifyArg,

    /// Remove the uploaded files at the end.
    #[arg(long)]
    pub cleanup: bool,

    /// Attempts per chunk before a user gives up.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub retries: u32,

    /// Pause before a retry, drawn from [D, 3D) (the seed paused 1-3 s).
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, default_value = "1s")]
    pub backoff: Duration,

    /// TCP connect timeout [default: the ssh config's ConnectTimeout, else 10s].
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    pub connect_timeout: Option<Duration>,

    /// Longest any single SSH operation may block (libssh2 waits forever without it).
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, default_value = "60s")]
    pub io_timeout: Duration,

    /// Run directory [default: xfer-results/<run id>-sftp-bench]. A non-empty
    /// directory is refused unless --overwrite is given.
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Write into a non-empty --out directory (files of the same names are replaced).
    #[arg(long, requires = "out")]
    pub overwrite: bool,

    /// Print summary.json on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub scale: ScaleArgs,

    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

pub fn run(args: SftpBenchArgs) -> anyhow::Result<ExitCode> {
    // First of all, so that no moment of the run ignores Ctrl-C.
    let interrupt = Interrupt::install("stopping before the first chunk")?;
    check_capacity(&args)?;
    let op_mix = ops::op_mix(&args)?;
    let gate = args.thresholds.parse(client::PHASES)?;
    let embedded = match args.target {
        None => Some(EmbeddedServer::start().context("starting the embedded sftp-serve")?),
        Some(_) => None,
    };
    let (client, ssh_login) = match &embedded {
        Some(server) => {
            let (target, credentials, trust) = server.client(args.remote_dir.as_deref());
            (client_config(&args, target, credentials, trust)?, None)
        }
        None => {
            let url = args.target.as_deref().unwrap_or_default();
            let login = args.login.resolve(url, args.connect_timeout)?;
            let provenance = login.provenance.clone();
            let mut client = login.client_config(args.io_timeout);
            if let Some(dir) = &args.remote_dir {
                client.target.dir = dir.clone();
            }
            (client, Some(provenance))
        }
    };
    let mut cfg = config(&args, client, embedded.is_some())?;
    cfg.ops = op_mix;
    cfg.ssh_login = ssh_login;
    cfg.remote_file = args
        .remote_file
        .as_ref()
        .map(|path| format::bench::RemoteFile {
            path: path.clone(),
            size: 0,
            uploaded_by_run: false,
        });

    // The preflight may wait out a whole --io-timeout on a stalled server;
    // nothing is measured yet, so Ctrl-C abandons it at once.
    let client = cfg.client.clone();
    let preflight = match interrupt.abortable(move || bench::preflight(&client))? {
        Some(p) => p?,
        None => {
            eprintln!("xfer: interrupted before the first chunk; nothing was measured");
            if let Some(server) = embedded {
                server.shutdown();
            }
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
    };
    if let Some(notice) = &preflight.notice {
        eprintln!("xfer: {notice}");
    }
    cfg.client = bench::pinned(&cfg.client, preflight.host_key.clone());
    if let Some(server) = &embedded {
        eprintln!(
            "target: embedded sftp-serve on {} (root {}, removed at exit)",
            cfg.client.target.host_port(),
            server.root().display()
        );
    }
    if !ops::prepare(&mut cfg, &interrupt)? {
        eprintln!("xfer: interrupted before the first chunk; nothing was measured");
        if let Some(server) = embedded {
            server.shutdown();
        }
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    header::print(&cfg, &preflight.session.cipher_client_to_server);
    interrupt.set_on_first("letting in-flight chunks finish, then writing every file");
    let code = run_and_report(&cfg, &preflight.session, args.json, &gate, &interrupt);
    if let Some(server) = embedded {
        server.shutdown();
    }
    code
}

/// Refuses a user count the machine cannot hold (threads, pids, file
/// descriptors, memory) before anything is allocated for it.
fn check_capacity(args: &SftpBenchArgs) -> anyhow::Result<()> {
    let capacity = Capacity::probe();
    // A generated file is held in memory (a --file is mapped, not copied).
    let file_size = args.file_size.unwrap_or(DEFAULT_FILE_SIZE);
    if let (None, Some(avail)) = (&args.file, capacity.mem_available) {
        if file_size > avail {
            return Err(usage!(
                "--file-size {} does not fit in memory ({} available); upload a file from disk with --file",
                Bytes(file_size),
                Bytes(avail)
            ));
        }
    }
    // Per user: its thread's stack, libssh2's session buffers, and the copies
    // of a chunk libssh2 keeps in flight (it pipelines the whole buffer);
    // the read-back buffer with --verify sha256; with the embedded server,
    // its end of the session and its window's worth of the chunk. A chunk is
    // never more than the file.
    const BASE: u64 = 128 << 10;
    let file_len = match (&args.file, &args.remote_file) {
        (Some(path), _) => std::fs::metadata(path).map_or(args.chunk_size, |m| m.len()),
        // Its size is known once logged in; a chunk is the most it can take.
        (None, Some(_)) => args.chunk_size,
        (None, None) => file_size,
    };
    let chunk = args.chunk_size.min(file_len);
    let mut bytes = BASE.saturating_add(chunk);
    let mut fds = 1;
    if args.verify == VerifyArg::Sha256 {
        bytes = bytes.saturating_add(chunk);
    }
    if args.target.is_none() {
        bytes = bytes.saturating_add(BASE + chunk);
        fds += 1;
    }
    // A shard holds only its share (a bad --shard is refused later).
    let here = match args.scale.shard.as_deref().map(str::parse::<Shard>) {
        Some(Ok(shard)) => shard.users(args.users).len() as u64,
        _ => u64::from(args.users),
    };
    match capacity.max_users(fds, bytes) {
        Some(limit) if here > limit.max_users => Err(usage!(
            "--users {} is more than this machine can hold: {limit}; lower --users, or split the run across machines (--shard)",
            args.users
        )),
        _ => Ok(()),
    }
}

fn client_config(
    args: &SftpBenchArgs,
    target: SftpTarget,
    credentials: Vec<Credential>,
    trust: HostKeyTrust,
) -> anyhow::Result<ClientConfig> {
    Ok(ClientConfig {
        target,
        credentials,
        trust,
        ciphers: args.login.ciphers()?,
        connect_timeout: args.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        io_timeout: args.io_timeout,
        proxy: None,
    })
}

/// Everything but the target and credentials: sizes, pacing, output.
fn config(
    args: &SftpBenchArgs,
    client: ClientConfig,
    embedded: bool,
) -> anyhow::Result<SftpBenchConfig> {
    if args.users == 0 {
        return Err(usage!("--users must be at least 1, got 0"));
    }
    if args.chunk_size == 0 {
        return Err(usage!("--chunk-size must be at least 1 byte, got 0"));
    }
    if args.repeat == 0 {
        return Err(usage!("--repeat must be at least 1, got 0"));
    }
    if args.duration == Some(Duration::ZERO) {
        return Err(usage!("--duration must be longer than 0, got 0"));
    }
    // libssh2 reads a timeout of 0 ms as "wait forever".
    if args.io_timeout < Duration::from_millis(1) {
        return Err(usage!(
            "--io-timeout must be at least 1ms, got {:?}",
            args.io_timeout
        ));
    }
    if let Some(t) = args
        .connect_timeout
        .filter(|t| *t < Duration::from_millis(1))
    {
        return Err(usage!("--connect-timeout must be at least 1ms, got {t:?}"));
    }
    if args.retries == 0 {
        return Err(usage!(
            "--retries must be at least 1 (the first attempt counts), got 0"
        ));
    }
    let pacing = match (args.rate, args.delay) {
        (Some(r), _) => Pacing::rate(r).ok_or_else(|| {
            usage!("--rate must be a positive number of chunks per second, got {r}")
        })?,
        (None, Some(d)) => Pacing::Delay(d),
        (None, None) if embedded => Pacing::Delay(Duration::from_millis(200)),
        (None, None) => Pacing::Delay(Duration::from_secs(5)),
    };
    let (source, data, extension) = match &args.file {
        // The remote file's size decides; the source, if the run needs
        // one, is made once it is known (`ops::prepare`).
        None if args.remote_file.is_some() => (
            "none".to_string(),
            Source::from(Vec::new()),
            "bin".to_string(),
        ),
        Some(path) => {
            if path.is_dir() {
                return Err(usage!(
                    "--file {} is a directory; give a file to upload",
                    path.display()
                ));
            }
            let bytes = Source::open(path).map_err(|e| usage!("--file {}: {e}", path.display()))?;
            if bytes.is_empty() {
                return Err(usage!(
                    "--file {} is empty: there is nothing to upload",
                    path.display()
                ));
            }
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("bin")
                .to_string();
            (path.display().to_string(), bytes, ext)
        }
        None => {
            let file_size = args.file_size.unwrap_or(DEFAULT_FILE_SIZE);
            if file_size == 0 {
                return Err(usage!("--file-size must be at least 1 byte, got 0"));
            }
            let size = usize::try_from(file_size)
                .map_err(|_| usage!("--file-size {file_size} is too large"))?;
            (
                "generated".to_string(),
                Source::random(size),
                "bin".to_string(),
            )
        }
    };
    let scale = args.scale.parse(args.users, chrono::Utc::now())?;
    let run_id = scale.run_id();
    if let Some(dir) = &args.out {
        run_dir::check_out_dir(dir, args.overwrite).map_err(|e| usage!("--out {e}"))?;
    }
    let kind = scale.kind("sftp-bench");
    Ok(SftpBenchConfig {
        client,
        source,
        file_size: data.len() as u64,
        data: Arc::new(data),
        ops: crate::sftp::workload::OpMix::UPLOAD,
        remote_file: None,
        ssh_login: None,
        chunk_size: args.chunk_size,
        mode: match args.mode {
            ModeArg::KeepOpen => ConnectionMode::KeepOpen,
            ModeArg::Reconnect => ConnectionMode::Reconnect,
        },
        verify: match args.verify {
            VerifyArg::None => Verify::None,
            VerifyArg::Size => Verify::Size,
            VerifyArg::Sha256 => Verify::Sha256,
        },
        engine: EngineConfig {
            users: args.users,
            // User i starts at i * ramp_up / users: 0.5 s apart by default, as the seed.
            ramp_up: args
                .ramp_up
                .unwrap_or(Duration::from_millis(500) * args.users),
            pacing,
            stop: match args.duration {
                Some(d) => StopAfter::Duration(d),
                None => StopAfter::Passes(args.repeat),
            },
            retry: RetryPolicy {
                max_attempts: args.retries,
                backoff: args.backoff,
            },
            shard: scale.shard,
        },
        interval: scale.interval,
        start_at: scale.start_at,
        cleanup: args.cleanup,
        out_dir: match &args.out {
            Some(d) => d.clone(),
            None => run_dir::default_run_dir(&run_id, &kind),
        },
        run_id,
        extension,
    })
}

/// Runs, cleans up when asked, and prints the result; maps the outcome to
/// the exit code: 0 done, 1 fatal error or users that gave up, 130
/// interrupted.
fn run_and_report(
    cfg: &SftpBenchConfig,
    session: &client::SessionInfo,
    json: bool,
    gate: &Gate,
    interrupt: &Interrupt,
) -> anyhow::Result<ExitCode> {
    let outcome = bench::run(cfg, session, interrupt.stopper())?;
    if cfg.cleanup {
        // After a Ctrl-C during the run, the next one exits at once; before
        // it, the first Ctrl-C stops the cleanup and keeps the results.
        let during_run = interrupt.interrupted();
        let report = bench::cleanup(&cfg.client, &cfg.cleanup_paths(), || {
            during_run || !interrupt.interrupted()
        });
        for w in &report.warnings {
            eprintln!("xfer: warning: {w}");
        }
        if report.left > 0 && interrupt.interrupted() {
            eprintln!(
                "xfer: --cleanup interrupted; {} remote file(s) left",
                report.left
            );
        }
    }
    let was_interrupted = interrupt.interrupted();
    let mut summary = outcome.summary;
    summary.interrupted = was_interrupted || outcome.fatal.is_some();
    // Checked after every file is written; summary.json is rewritten with
    // the results, so a failed gate never costs a figure.
    let thresholds = gate.check(&summary, "xfer sftp-bench", summary.elapsed_s)?;
    let summary_bytes = format::bench::summary_json_with(&summary, thresholds.as_ref());
    if thresholds.is_some() {
        let path = cfg.out_dir.join(format::SUMMARY_JSON);
        crate::report::write_atomic(&path, &summary_bytes)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        println!("{}", String::from_utf8_lossy(&summary_bytes));
    } else {
        print!("{}", console::render(&summary, "chunks"));
        println!("results: {}", cfg.out_dir.display());
    }
    gate.print(thresholds.as_ref(), json);
    if let Some(fatal) = outcome.fatal {
        anyhow::bail!("{fatal}");
    }
    if was_interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if thresholds.as_ref().is_some_and(|t| !t.pass) {
        return Ok(gate.exit_code(thresholds.as_ref(), 0));
    }
    if summary.users_gave_up > 0 {
        eprintln!(
            "xfer: {} of {} users gave up on a chunk (after {} attempts, or {} identical refusals such as a full disk)",
            summary.users_gave_up,
            summary.users,
            cfg.engine.retry.max_attempts,
            crate::load::PERMANENT_ATTEMPTS
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
