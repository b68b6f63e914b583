//! The threaded file server behind `xfer tcp-serve` (and the target `perf`
//! starts for itself): one OS thread per connection, as in the seed, bounded
//! by a connection cap, serving GET/HEAD/POST of files under one root.
//!
//! Idle timeout: with `active` other connections open (this one not
//! counted), a connection waiting for its next request is closed after
//! `T = max(timeout_min, timeout_base * (1 - active / max_connections))`,
//! rounded to whole seconds (at least 1 s); every keep-alive response
//! advertises T as `Keep-Alive: timeout=T`. A lone client gets
//! `timeout_base`. T is recomputed while the connection waits (every
//! 200 ms), so a server that fills up frees threads held by idle
//! clients sooner, even those told a longer timeout earlier. Slow senders are cut off by a
//! per-read timeout and an overall deadline for the header block (408), and
//! an upload body, or a client reading a file, by a minimum rate
//! (`pace.rs`: `min_rate` bytes per second on average, with at most
//! `read_timeout` of credit; an upload gets 408 and its temporary file is
//! removed, a download is closed).
//!
//! Connection cap: when all `max_connections` slots are taken, a new
//! connection reclaims the slot of the connection that has waited longest
//! for a request head (idle keep-alive, or a head still arriving, as a
//! slowloris attacker sends it) or whose upload body has fallen below the
//! minimum rate; only when every connection is serving a request whose
//! head arrived in full (and whose body keeps up) is the newcomer answered
//! 503. So connections without a complete head, or trickling their body,
//! never lock out other requests, not even when an attacker reconnects
//! each time it is cut off (see `slots.rs`).
//!
//! Uploads are atomic: the body goes to `.xfer-upload.<random>.tmp` in the
//! target's directory, is fsynced and renamed over the target, so readers see
//! the old file or the new one, never a mix; a failed upload removes its
//! temporary file. Chunked uploads are refused with 411. Temporary files of
//! uploads still in progress are registered, and [`RunningTcpServer::shutdown`]
//! (or dropping the server) removes them, so stopping the server (SIGINT or
//! SIGTERM for `xfer tcp-serve`) leaves none behind. Local I/O errors while
//! storing an upload are answered 500 (507 when the disk is full); 403 is only
//! for permission errors.
//!
//! This module holds the lifecycle (configuration, bind, the accept loop,
//! shutdown); the rest is split along its seams: `conn.rs` the
//! per-connection state machine (`conn/files.rs` its GET and POST of
//! files), `slots.rs` the connection cap and its reclaim policy, `pace.rs`
//! the minimum rate of bodies (up and down), `temps.rs` the registry of
//! upload temporary files, and
//! [`crate::confine`] the path confinement (openat2 RESOLVE_BENEATH),
//! which another server can reuse. [`Service`] runs the state machine
//! without a listener, over any [`Transport`] (the fuzzer drives it so).

mod conn;
mod pace;
mod slots;
mod temps;

pub use conn::Transport;

use super::protocol;
use crate::confine::ConfinedRoot;
use slots::Slots;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use temps::TempRegistry;

/// What the server serves and how it limits clients.
#[derive(Debug, Clone)]
pub struct TcpServeConfig {
    /// Directory served; nothing outside it is read or written.
    pub root: PathBuf,
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Connections open at once. When full, the one waiting longest for a
    /// request head is closed to make room; if every one is serving a
    /// request, the newcomer is answered 503 and closed.
    pub max_connections: usize,
    /// Idle timeout when no other connection is active.
    pub timeout_base: Duration,
    /// Idle timeout floor, however many connections are active.
    pub timeout_min: Duration,
    /// Largest accepted upload body, in bytes (413 above).
    pub max_upload: u64,
    /// Largest request head, in bytes (431 above).
    pub max_header_bytes: usize,
    /// Longest wait for any single read while a request is arriving.
    pub read_timeout: Duration,
    /// Longest time from the first byte of a request head to its blank line.
    pub header_deadline: Duration,
    /// Slowest upload body or file download kept, in bytes per second on
    /// average, with at most `read_timeout` of credit (see `pace.rs`); 0:
    /// no minimum.
    pub min_rate: u64,
}

impl Default for TcpServeConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("."),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 256,
            timeout_base: Duration::from_secs(30),
            timeout_min: Duration::from_secs(1),
            max_upload: 1 << 30,
            max_header_bytes: 16 * 1024,
            read_timeout: Duration::from_secs(10),
            header_deadline: Duration::from_secs(10),
            min_rate: 1024,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum TcpServeError {
    #[error("--root {path}: {error}")]
    Root { path: PathBuf, error: io::Error },
    #[error("--root {0}: not a directory")]
    RootNotDir(PathBuf),
    #[error("--listen {addr}: {error}")]
    Bind { addr: SocketAddr, error: io::Error },
    #[error("cannot start the accept thread: {0}")]
    Thread(io::Error),
}

/// A server serving on background threads; [`RunningTcpServer::shutdown`] stops it.
pub struct RunningTcpServer {
    addr: SocketAddr,
    root: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    temps: Arc<TempRegistry>,
    shared: Arc<Shared>,
}

impl RunningTcpServer {
    /// The bound address (with the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The canonical root directory being served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Connections open now (each holds a slot of `max_connections`).
    pub fn open_connections(&self) -> usize {
        self.shared.slots.active()
    }

    /// Connections accepted since the start, refused ones included.
    pub fn accepted_connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Stops accepting connections, joins the accept thread and removes the
    /// temporary files of uploads still in progress (those uploads then fail;
    /// no new one can start). Connections already open finish their current
    /// request and close at their timeout.
    pub fn shutdown(mut self) {
        self.stop_accepting();
        self.temps.close_and_remove_all();
    }

    fn stop_accepting(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.accept.take() {
            // Wake the blocking accept() with a connection of our own.
            let mut wake = self.addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(if wake.is_ipv4() {
                    [127, 0, 0, 1].into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                });
            }
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
            let _ = handle.join();
        }
    }
}

impl Drop for RunningTcpServer {
    fn drop(&mut self) {
        self.stop_accepting();
        self.temps.close_and_remove_all();
    }
}

/// State shared by the accept thread and every connection thread.
struct Shared {
    config: TcpServeConfig,
    /// One per open connection; see [`slots`] for the reclaim policy.
    slots: Arc<Slots>,
    /// The root, opened once: every path is resolved beneath it.
    root: ConfinedRoot,
    /// Temporary files of uploads in progress.
    temps: Arc<TempRegistry>,
    /// Connections accepted so far (for observers such as tests).
    accepted: AtomicU64,
}

impl Shared {
    /// The idle timeout of a connection now: `active` counts the other open
    /// connections (the caller's own is one of `self.active`).
    fn idle_timeout(&self) -> Duration {
        let c = &self.config;
        let active = self.slots.active().saturating_sub(1);
        protocol::idle_timeout(c.timeout_base, c.timeout_min, active, c.max_connections)
    }
}

/// The server without a listener: serves one connection at a time over any
/// [`Transport`], with the configuration's limits and root. [`spawn`] runs
/// the same code for every accepted socket; the fuzzer drives it with
/// scripted bytes. Dropping it removes the temporary files of uploads that
/// did not finish.
pub struct Service {
    shared: Arc<Shared>,
}

impl Service {
    /// Opens `config.root` (canonicalized) for serving.
    pub fn new(mut config: TcpServeConfig) -> Result<Self, TcpServeError> {
        let root = ConfinedRoot::open(&config.root).map_err(|error| {
            if error.kind() == io::ErrorKind::NotADirectory {
                TcpServeError::RootNotDir(config.root.clone())
            } else {
                TcpServeError::Root {
                    path: config.root.clone(),
                    error,
                }
            }
        })?;
        config.root = root.path().to_path_buf();
        config.max_connections = config.max_connections.max(1);
        Ok(Self {
            shared: Arc::new(Shared {
                slots: Arc::new(Slots::new(config.max_connections, config.min_rate)),
                config,
                root,
                temps: Arc::new(TempRegistry::default()),
                accepted: AtomicU64::new(0),
            }),
        })
    }

    /// The canonical root directory being served.
    pub fn root(&self) -> &Path {
        self.shared.root.path()
    }

    /// Serves requests on `stream` until it closes, times out or fails. It
    /// holds no connection slot: the cap applies to accepted sockets only.
    pub fn serve<T: Transport>(&self, stream: T) -> io::Result<()> {
        conn::serve(stream, None, &self.shared)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // The accept thread shares `temps`; only the last owner cleans up.
        if Arc::strong_count(&self.shared) == 1 {
            self.shared.temps.close_and_remove_all();
        }
    }
}

/// Binds `config.listen` and serves `config.root` on background threads.
pub fn spawn(config: TcpServeConfig) -> Result<RunningTcpServer, TcpServeError> {
    let service = Service::new(config)?;
    let shared = Arc::clone(&service.shared);
    let shared2 = Arc::clone(&shared);
    let listen = shared.config.listen;
    let listener = TcpListener::bind(listen).map_err(|error| TcpServeError::Bind {
        addr: listen,
        error,
    })?;
    let addr = listener.local_addr().map_err(|error| TcpServeError::Bind {
        addr: listen,
        error,
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let accept = std::thread::Builder::new()
        .name("tcp-serve-accept".into())
        .spawn(move || accept_loop(listener, shared2, stop2))
        .map_err(TcpServeError::Thread)?;
    Ok(RunningTcpServer {
        addr,
        root: service.root().to_path_buf(),
        stop,
        accept: Some(accept),
        temps: Arc::clone(&service.shared.temps),
        shared,
    })
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // EMFILE and friends: back off briefly instead of spinning.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        // All slots taken: the longest-waiting connection without a
        // complete request head makes room, or (all busy) a 503.
        let Some(slot) = shared.slots.admit(stream.as_raw_fd()) else {
            refuse_busy(stream);
            continue;
        };
        let shared2 = Arc::clone(&shared);
        // One tuple, so that a failed spawn drops the slot before the socket.
        let accepted = (slot, stream);
        let _ = std::thread::Builder::new()
            .name("tcp-serve-conn".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let (slot, stream) = accepted;
                let _ = serve_socket(stream, slot, &shared2);
            });
    }
}

fn serve_socket(stream: TcpStream, slot: slots::SlotGuard, shared: &Shared) -> io::Result<()> {
    let tuned = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_write_timeout(Some(conn::write_timeout(&shared.config))));
    if let Err(e) = tuned {
        drop(slot);
        return Err(e);
    }
    conn::serve(stream, Some(slot), shared)
}

/// Over the cap: a 503 with `Retry-After`, then close without reading much.
fn refuse_busy(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = stream.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nServer: xfer\r\nRetry-After: 1\r\n\
          Content-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let _ = stream.shutdown(Shutdown::Write);
    // Drain what already arrived so close() sends FIN, not RST over the 503.
    if stream.set_nonblocking(true).is_ok() {
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    }
}
