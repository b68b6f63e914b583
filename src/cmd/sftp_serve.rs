//! `xfer sftp-serve`: the command line of the SFTP server. Validates flags into
//! an [`SftpServeConfig`], starts the server with
//! [`crate::sftp::server::spawn`], prints the bound address and host-key
//! fingerprint first, then waits for SIGINT/SIGTERM and shuts down gracefully.

use crate::sftp::server::{self, HostKeySource, SftpServeConfig, SftpServeError};
use crate::usage;
use anyhow::Context;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `xfer sftp-serve`.
#[derive(Debug, clap::Args)]
pub struct SftpServeArgs {
    /// Directory served as `/`; clients cannot leave it.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2222")]
    pub listen: SocketAddr,
    /// The user name clients must log in as [default: $USER, else "xfer"].
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    pub password_env: Option<String>,
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Accept the public keys in this OpenSSH authorized_keys file.
    #[arg(long, value_name = "FILE")]
    pub authorized_keys: Option<PathBuf>,
    /// OpenSSH private host key; created (ed25519, mode 0600) if missing
    /// [default: a new key for this run only].
    #[arg(long, value_name = "FILE")]
    pub host_key: Option<PathBuf>,
    /// Serve at most N connections at once; more are disconnected with a message.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_sessions: Option<u64>,
    /// Disconnect a connection idle for this long (e.g. 5m).
    #[arg(long, value_name = "DURATION", value_parser = super::duration_arg)]
    pub idle_timeout: Option<Duration>,
    /// Disconnect a connection that has not logged in after this long, so that
    /// idle sockets cannot hold --max-sessions slots.
    #[arg(long, value_name = "DURATION", value_parser = super::duration_arg, default_value = "30s")]
    pub login_timeout: Duration,
    /// Start a new key exchange after this many bytes in either direction,
    /// as sshd's RekeyLimit does (16K to 1G).
    #[arg(long, value_name = "SIZE", value_parser = super::size_arg, default_value = "1G")]
    pub rekey_limit: u64,
    /// Refuse every write, rename, removal and attribute change.
    #[arg(long)]
    pub read_only: bool,
    /// Write one CSV row per SFTP write: unix_time_us,session,path,offset,len.
    #[arg(long, value_name = "FILE")]
    pub log_transfers: Option<PathBuf>,
}

fn default_user() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "xfer".to_string())
}

/// Turns flags into a validated configuration (reads secrets and key files).
pub fn config_from(args: SftpServeArgs) -> anyhow::Result<SftpServeConfig> {
    if args.password_env.is_none() && args.password_file.is_none() && args.authorized_keys.is_none()
    {
        return Err(usage!(
            "sftp-serve needs credentials: --password-env VAR, --password-file FILE and/or --authorized-keys FILE (anonymous access is not offered)"
        ));
    }
    if args.login_timeout.is_zero() {
        return Err(usage!("--login-timeout must be more than 0, got '0'"));
    }
    if args.idle_timeout == Some(Duration::ZERO) {
        return Err(usage!("--idle-timeout must be more than 0, got '0'"));
    }
    if !(server::MIN_REKEY_LIMIT..=server::MAX_REKEY_LIMIT).contains(&args.rekey_limit) {
        return Err(usage!(
            "--rekey-limit must be between 16K and 1G (bytes each way before new keys), got {}",
            crate::units::Bytes(args.rekey_limit)
        ));
    }
    let password = match (&args.password_env, &args.password_file) {
        (Some(var), _) => Some(std::env::var(var).map_err(|_| {
            usage!("--password-env {var}: the environment variable {var} is not set (or not UTF-8)")
        })?),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| usage!("--password-file {}: {e}", file.display()))?;
            Some(text.lines().next().unwrap_or("").to_string())
        }
        (None, None) => None,
    };
    if password.as_deref() == Some("") {
        return Err(usage!(
            "the password is empty: an empty password is not accepted"
        ));
    }
    let authorized_keys = match &args.authorized_keys {
        Some(path) => server::read_authorized_keys(path).map_err(flag_error)?,
        None => Vec::new(),
    };
    Ok(SftpServeConfig {
        root: args.root,
        listen: args.listen,
        host_key: args
            .host_key
            .map_or(HostKeySource::Ephemeral, HostKeySource::File),
        user: args.user.unwrap_or_else(default_user),
        password,
        authorized_keys,
        max_sessions: args.max_sessions.map(|n| n as usize),
        idle_timeout: args.idle_timeout,
        login_timeout: args.login_timeout,
        rekey_limit: args.rekey_limit,
        read_only: args.read_only,
        log_transfers: args.log_transfers,
        log_sessions: true,
    })
}

/// What the user named and can fix (a flag, a file) is a usage error that
/// names the flag: one line, exit 2. Failing to bind or to start is not.
fn flag_error(e: SftpServeError) -> anyhow::Error {
    match e {
        SftpServeError::Root { path, source } => usage!("--root {}: {source}", path.display()),
        SftpServeError::HostKey { path, reason } => {
            usage!("--host-key {}: {reason}", path.display())
        }
        SftpServeError::AuthorizedKeys { path, reason } => {
            usage!("--authorized-keys {}: {reason}", path.display())
        }
        SftpServeError::TransferLog { path, source } => {
            usage!("--log-transfers {}: {source}", path.display())
        }
        SftpServeError::NoCredentials => usage!("{e}"),
        e @ (SftpServeError::Bind { .. } | SftpServeError::Runtime(_)) => anyhow::Error::new(e),
    }
}

pub fn run(args: SftpServeArgs) -> anyhow::Result<ExitCode> {
    let config = config_from(args)?;
    let root = config.root.clone();
    let max_sessions = config.max_sessions;
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("installing the SIGINT/SIGTERM handler")?;
    // What the user named and can fix (a flag, a file) is a usage error:
    // one line, exit 2. Failing to bind or to start is not.
    let running = server::spawn(config).map_err(|e| match e {
        e @ (SftpServeError::Bind { .. } | SftpServeError::Runtime(_)) => {
            anyhow::Error::new(e).context(format!("starting sftp-serve on {}", root.display()))
        }
        e => flag_error(e),
    })?;
    // Both lines in one write: a reader that stops after the first line
    // (and closes the pipe) must not make the second write fail.
    let lines = format!(
        "{}\nhost key for known_hosts: {}\n",
        running.banner(),
        running.host_key_openssh()
    );
    let mut out = std::io::stdout().lock();
    out.write_all(lines.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to stdout")?;
    drop(out);
    if let (Some(max), Some(nofile)) = (max_sessions, server::limits::nofile_limit()) {
        let held = server::limits::sessions_held(nofile);
        if held < max {
            eprintln!(
                "xfer sftp-serve: warning: --max-sessions {max} cannot be held: the file-descriptor \
                 limit {nofile} holds about {held} sessions ({} per session); sessions over {held} \
                 are refused. Raise the hard limit (ulimit -Hn) to serve more.",
                server::limits::FDS_PER_SESSION
            );
        }
    }
    let _ = stop_rx.recv();
    eprintln!(
        "xfer sftp-serve: stopping: no new connections or files; open files get {}s to finish",
        server::SHUTDOWN_GRACE.as_secs()
    );
    running.shutdown();
    Ok(ExitCode::SUCCESS)
}
