//! `sftp-serve`: a real SFTP server (russh + russh-sftp on tokio) confined to
//! one root directory, so that `sftp-bench` and the tests have a target that
//! is fast, scriptable and safe to point at a temporary directory.
//!
//! [`spawn`] runs the server on its own runtime thread and returns once the
//! socket is bound; the CLI (`xfer sftp-serve`) and `xfer sftp-bench` with no
//! target both use it. Modules: [`confine`] (paths can never leave the root),
//! [`session`] (SSH authentication, login deadline, shutdown), [`record`]
//! (what is known about one connection),
//! [`files`] (the SFTP operations), [`attrs`] (file attributes to and from
//! the file system), [`pump`] (moves packets between the SSH
//! channel and the handler without either direction stalling the other),
//! [`dispatch`] (one decoded request to one reply), [`reads`] (downloads:
//! READs in batches, file bytes read into the reply), [`limits`] (sessions
//! the descriptor limit holds), [`hostkey`],
//! [`translog`] (`--log-transfers`).

pub mod attrs;
pub mod confine;
pub mod dispatch;
pub mod files;
pub mod hostkey;
pub mod limits;
pub mod pump;
pub mod reads;
pub mod record;
pub mod session;
pub mod translog;

pub use hostkey::HostKeySource;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PublicKey;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// Failed attempts (the OpenSSH client's initial "none" probe included)
/// before a connection is disconnected.
pub const MAX_AUTH_ATTEMPTS: usize = 6;
/// How long a connection may take to authenticate by default (OpenSSH's
/// LoginGraceTime is 120 s; a test server has no slow humans to wait for).
pub const LOGIN_GRACE: Duration = Duration::from_secs(30);
/// How long sessions may take, after a shutdown request, to finish the
/// files they have open before they are disconnected anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// First pause after a failed accept; doubled up to the maximum while
/// accepts keep failing.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The largest `rekey_limit`: 1 GiB, what RFC 4253 section 9 recommends and
/// russh's default (russh refuses more).
pub const MAX_REKEY_LIMIT: u64 = 1 << 30;
/// The smallest `rekey_limit`: below this a key exchange would come every
/// few packets.
pub const MIN_REKEY_LIMIT: u64 = 16 * 1024;

/// Everything `sftp-serve` needs, validated by the caller (the CLI).
#[derive(Debug, Clone)]
pub struct SftpServeConfig {
    /// Directory served as `/`; must exist.
    pub root: PathBuf,
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Host key file, or an ephemeral key.
    pub host_key: HostKeySource,
    /// The only user name accepted.
    pub user: String,
    /// Password accepted for `user`, if password authentication is wanted.
    pub password: Option<String>,
    /// Public keys accepted for `user` (parsed authorized_keys entries; see
    /// [`read_authorized_keys`]). Empty disables public-key authentication.
    pub authorized_keys: Vec<PublicKey>,
    /// Connections served at once; further ones are disconnected with a message.
    pub max_sessions: Option<usize>,
    /// Disconnect a connection after this long without traffic.
    pub idle_timeout: Option<Duration>,
    /// Disconnect a connection that has not authenticated after this long.
    pub login_timeout: Duration,
    /// Start a key exchange after this many bytes in either direction
    /// (sshd's `RekeyLimit`); at most [`MAX_REKEY_LIMIT`], russh's default.
    pub rekey_limit: u64,
    /// Refuse every operation that would change the file system.
    pub read_only: bool,
    /// CSV of every write's arrival (`unix_time_us,session,path,offset,len`).
    pub log_transfers: Option<PathBuf>,
    /// Print one line per finished session on stderr (off when embedded in
    /// `sftp-bench`, whose progress bar owns stderr).
    pub log_sessions: bool,
}

impl Default for SftpServeConfig {
    fn default() -> Self {
        SftpServeConfig {
            root: PathBuf::from("."),
            listen: SocketAddr::from(([127, 0, 0, 1], 2222)),
            host_key: HostKeySource::Ephemeral,
            user: "xfer".to_string(),
            password: None,
            authorized_keys: Vec::new(),
            max_sessions: None,
            idle_timeout: None,
            login_timeout: LOGIN_GRACE,
            rekey_limit: MAX_REKEY_LIMIT,
            read_only: false,
            log_transfers: None,
            log_sessions: true,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SftpServeError {
    #[error("no credentials: give a password (--password-env VAR or --password-file FILE) and/or --authorized-keys FILE; anonymous access is not offered")]
    NoCredentials,
    #[error("root directory {path}: {source}")]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("host key {path}: {reason}")]
    HostKey { path: PathBuf, reason: String },
    #[error("authorized keys {path}: {reason}")]
    AuthorizedKeys { path: PathBuf, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("transfer log {path}: {source}")]
    TransferLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the server runtime: {0}")]
    Runtime(std::io::Error),
}

/// Reads an OpenSSH authorized_keys file (options before a key are allowed
/// and ignored; comments and blank lines are skipped).
pub fn read_authorized_keys(path: &std::path::Path) -> Result<Vec<PublicKey>, SftpServeError> {
    let failed = |reason: String| SftpServeError::AuthorizedKeys {
        path: path.to_path_buf(),
        reason,
    };
    // Read it ourselves: ssh-key's own reader reports a missing file as
    // "entity not found", without saying which.
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let mut keys = Vec::new();
    for (n, entry) in russh::keys::ssh_key::AuthorizedKeys::new(&text).enumerate() {
        let entry = entry.map_err(|e| failed(format!("entry {}: {e}", n + 1)))?;
        keys.push(entry.public_key().clone());
    }
    if keys.is_empty() {
        return Err(SftpServeError::AuthorizedKeys {
            path: path.to_path_buf(),
            reason: "no keys in the file".to_string(),
        });
    }
    Ok(keys)
}

/// A server running on its own runtime thread.
pub struct RunningSftpServer {
    addr: SocketAddr,
    fingerprint: String,
    host_key_openssh: String,
    host_key: PublicKey,
    root: PathBuf,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningSftpServer {
    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The host key fingerprint, `SHA256:...` as `ssh-keygen -lf` prints it.
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// The host public key, `ssh-ed25519 AAAA...`, for a known_hosts line.
    pub fn host_key_openssh(&self) -> String {
        self.host_key_openssh.clone()
    }

    /// The host public key itself, for clients in this process to pin.
    pub fn host_key(&self) -> &PublicKey {
        &self.host_key
    }

    /// The canonical root directory being served.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// The line printed first by `xfer sftp-serve`.
    pub fn banner(&self) -> String {
        let algo = self
            .host_key_openssh
            .split_whitespace()
            .next()
            .unwrap_or("?");
        format!(
            "xfer sftp-serve listening on {} host-key {} ({algo}) root={}",
            self.addr,
            self.fingerprint,
            self.root.display()
        )
    }

    /// Stops accepting and opening files, lets each session close the files
    /// it has open (up to [`SHUTDOWN_GRACE`]), disconnects it, flushes the
    /// transfer log, joins the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningSftpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// State shared by every connection of one server.
pub(crate) struct ServerShared {
    pub(crate) config: SftpServeConfig,
    pub(crate) jail: confine::Jail,
    pub(crate) russh: Arc<russh::server::Config>,
    pub(crate) translog: Option<translog::TransferLog>,
    pub(crate) active: AtomicUsize,
    /// Sessions served at once: `--max-sessions`, lowered to what the
    /// descriptor limit holds.
    pub(crate) session_cap: Option<usize>,
    pub(crate) next_session: AtomicU64,
    /// Set at shutdown: no new files are opened.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
}

/// What the server says on stderr, from one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Note {
    /// The line of a finished session; only with `log_sessions` (off when
    /// embedded in sftp-bench, whose progress bar owns stderr).
    Session,
    /// Something an operator must know (out of descriptors, a transfer log
    /// that could not be written): always.
    Warning,
}

/// Writes one line, `xfer sftp-serve: ...`, on stderr: the one place the
/// server prints from.
pub(crate) fn note(kind: Note, log_sessions: bool, line: std::fmt::Arguments<'_>) {
    if kind == Note::Session && !log_sessions {
        return;
    }
    eprintln!("xfer sftp-serve: {line}");
}

impl ServerShared {
    pub(crate) fn note(&self, kind: Note, line: std::fmt::Arguments<'_>) {
        note(kind, self.config.log_sessions, line);
    }
}

/// Binds and starts the server on a background thread with its own tokio
/// runtime; returns once the socket is bound.
pub fn spawn(config: SftpServeConfig) -> Result<RunningSftpServer, SftpServeError> {
    if config.password.is_none() && config.authorized_keys.is_empty() {
        return Err(SftpServeError::NoCredentials);
    }
    let jail = confine::Jail::new(&config.root).map_err(|source| SftpServeError::Root {
        path: config.root.clone(),
        source,
    })?;
    let key = hostkey::load(&config.host_key)?;
    let fingerprint = hostkey::fingerprint(&key);
    let host_key_openssh = hostkey::public_line(&key);
    let host_key = key.public_key().clone();
    let (translog, translog_writer) = match &config.log_transfers {
        Some(path) => {
            let (log, writer) = translog::TransferLog::create(path).map_err(|source| {
                SftpServeError::TransferLog {
                    path: path.clone(),
                    source,
                }
            })?;
            (Some(log), Some(writer))
        }
        None => (None, None),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("xfer-sftp-serve")
        .enable_all()
        .build()
        .map_err(SftpServeError::Runtime)?;
    let listener = runtime
        .block_on(TcpListener::bind(config.listen))
        .map_err(|source| SftpServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SftpServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let root = jail.root().to_path_buf();
    let session_cap = limits::session_cap(config.max_sessions, limits::nofile_limit());
    let shared = Arc::new(ServerShared {
        russh: Arc::new(session::russh_config(&config, key)),
        config,
        jail,
        session_cap,
        translog,
        active: AtomicUsize::new(0),
        next_session: AtomicU64::new(1),
        stopping: std::sync::atomic::AtomicBool::new(false),
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let thread = std::thread::Builder::new()
        .name("xfer-sftp-serve".into())
        .spawn(move || {
            // `shared` goes with the loop: the transfer log's writer below
            // finishes only once every handle on the log is gone.
            runtime.block_on(accept_loop(listener, shared, shutdown_rx));
            // Blocking file operations still running finish before this returns.
            drop(runtime);
            if let Some(writer) = translog_writer {
                if let Err(e) = writer.finish() {
                    note(Note::Warning, true, format_args!("transfer log: {e}"));
                }
            }
        })
        .map_err(SftpServeError::Runtime)?;
    Ok(RunningSftpServer {
        addr,
        fingerprint,
        host_key_openssh,
        host_key,
        root,
        shutdown,
        thread: Some(thread),
    })
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<ServerShared>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Every session holds a clone of `alive`; when all are dropped, `recv`
    // returns None and every session (and its SFTP handler) has ended.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    let mut accept_backoff = ACCEPT_BACKOFF_MIN;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    let id = shared.next_session.fetch_add(1, Ordering::Relaxed);
                    accept_backoff = ACCEPT_BACKOFF_MIN;
                    let over = shared
                        .session_cap
                        .is_some_and(|max| shared.active.load(Ordering::SeqCst) >= max);
                    let conn = session::Connection::new(id, peer, shared.clone(), alive.clone(), over);
                    tokio::spawn(conn.run(socket, shutdown.clone()));
                }
                Err(e) => {
                    // Out of descriptors: the pending connection stays in the
                    // backlog and accept fails again at once, so back off
                    // (doubling) instead of spinning, and say it once per streak.
                    if accept_backoff == ACCEPT_BACKOFF_MIN {
                        if limits::is_fd_exhaustion(&e) {
                            shared.note(Note::Warning, format_args!(
                                "out of file descriptors (limit {}, {} sessions open): \
                                 not accepting for now; raise `ulimit -n` or lower --max-sessions",
                                limits::nofile_limit().map_or("unlimited".to_string(), |n| n.to_string()),
                                shared.active.load(Ordering::SeqCst)
                            ));
                        } else {
                            shared.note(Note::Warning, format_args!("accept failed: {e}"));
                        }
                    }
                    tokio::time::sleep(accept_backoff).await;
                    accept_backoff = (accept_backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
            }
        }
    }
    shared.stopping.store(true, Ordering::SeqCst);
    drop(listener);
    drop(alive);
    // A session may wait SHUTDOWN_GRACE for its files, then as long again
    // for its disconnect to be delivered.
    let _ = tokio::time::timeout(2 * SHUTDOWN_GRACE, all_done.recv()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_binds_port_zero_reports_the_key_and_shuts_down() {
        let dir = tempfile::tempdir().unwrap();
        let server = spawn(SftpServeConfig {
            root: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            password: Some("pw".into()),
            ..SftpServeConfig::default()
        })
        .unwrap();
        assert_ne!(server.addr().port(), 0);
        assert!(server.fingerprint().starts_with("SHA256:"));
        assert!(server.host_key_openssh().starts_with("ssh-ed25519 AAAA"));
        let banner = server.banner();
        assert!(
            banner.starts_with(&format!(
                "xfer sftp-serve listening on {} host-key SHA256:",
                server.addr()
            )),
            "{banner}"
        );
        assert!(banner.ends_with(&format!("(ssh-ed25519) root={}", server.root().display())));
        // Something answers with an SSH banner.
        let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
        let mut buf = [0u8; 8];
        std::io::Read::read_exact(&mut s, &mut buf).unwrap();
        assert_eq!(&buf, b"SSH-2.0-");
        drop(s);
        server.shutdown();
    }

    #[test]
    fn spawn_refuses_to_serve_without_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let err = spawn(SftpServeConfig {
            root: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            ..SftpServeConfig::default()
        })
        .err()
        .unwrap();
        assert!(matches!(err, SftpServeError::NoCredentials));
    }
}
