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
//! [`IDLE_SLICE`]), so a server that fills up frees threads held by idle
//! clients sooner, even those told a longer timeout earlier. Slow senders are cut off by a
//! per-read timeout and an overall deadline for the header block (408).
//!
//! Connection cap: when all `max_connections` slots are taken, a new
//! connection reclaims the slot of the connection that has waited longest
//! for a request head (idle keep-alive, or a head still arriving, as a
//! slowloris attacker sends it); only when every connection is serving a
//! request whose head arrived in full is the newcomer answered 503. So
//! connections without a complete head never lock out complete requests,
//! not even when an attacker reconnects each time it is cut off (see
//! [`super::slots`]).
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

use super::protocol::{self, Method, Request, RequestError};
use super::slots::{SlotGuard, Slots};
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Files up to this size are sent in the same `write` as the response head.
const SMALL_FILE: u64 = 16 * 1024;
/// How often an idle connection recomputes its timeout from the current load.
const IDLE_SLICE: Duration = Duration::from_millis(200);
/// Longest drain of unread request bytes before closing a connection.
const DRAIN_TIME: Duration = Duration::from_millis(500);
/// Prefix of upload temporary files; such names are never served.
const TEMP_PREFIX: &str = ".xfer-upload.";

/// What the server serves and how it limits clients.
#[derive(Debug, Clone)]
pub struct TcpServeConfig {
    /// Directory served; nothing outside it is read or written.
    pub root: PathBuf,
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Connections served at once; more are answered 503 and closed.
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

/// The temporary files of uploads in progress, so that shutdown can remove
/// them. Once closed, no new temporary file is created.
#[derive(Default)]
struct TempRegistry {
    inner: Mutex<TempSet>,
}

#[derive(Default)]
struct TempSet {
    closed: bool,
    paths: HashSet<PathBuf>,
}

impl TempRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, TempSet> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates and registers a temporary file in `dir`. Holding the lock
    /// while creating means shutdown cannot miss a file being created.
    fn create(&self, dir: &Path) -> io::Result<(File, PathBuf)> {
        let mut set = self.lock();
        if set.closed {
            return Err(io::Error::other("server shutting down"));
        }
        let (file, path) = create_temp(dir)?;
        set.paths.insert(path.clone());
        Ok((file, path))
    }

    /// Forgets `path` (renamed into place or removed by its upload).
    fn forget(&self, path: &Path) {
        self.lock().paths.remove(path);
    }

    /// Removes `path` and forgets it.
    fn remove(&self, path: &Path) {
        let _ = fs::remove_file(path);
        self.forget(path);
    }

    fn close_and_remove_all(&self) {
        let mut set = self.lock();
        set.closed = true;
        for path in set.paths.drain() {
            let _ = fs::remove_file(&path);
        }
    }
}

/// State shared by the accept thread and every connection thread.
struct Shared {
    config: TcpServeConfig,
    /// One per open connection; see [`super::slots`] for the reclaim policy.
    slots: Arc<Slots>,
    /// The root directory, opened once: GETs resolve paths beneath it.
    root_dir: File,
    /// openat2(2) works here (it may be missing or filtered by seccomp).
    openat2: AtomicBool,
    /// Temporary files of uploads in progress.
    temps: Arc<TempRegistry>,
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

/// Binds `config.listen` and serves `config.root` on background threads.
pub fn spawn(mut config: TcpServeConfig) -> Result<RunningTcpServer, TcpServeError> {
    let root = fs::canonicalize(&config.root).map_err(|error| TcpServeError::Root {
        path: config.root.clone(),
        error,
    })?;
    if !root.is_dir() {
        return Err(TcpServeError::RootNotDir(config.root));
    }
    config.root = root.clone();
    config.max_connections = config.max_connections.max(1);
    let listener = TcpListener::bind(config.listen).map_err(|error| TcpServeError::Bind {
        addr: config.listen,
        error,
    })?;
    let addr = listener.local_addr().map_err(|error| TcpServeError::Bind {
        addr: config.listen,
        error,
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let root_dir = File::open(&root).map_err(|error| TcpServeError::Root {
        path: root.clone(),
        error,
    })?;
    let temps = Arc::new(TempRegistry::default());
    let shared = Arc::new(Shared {
        slots: Arc::new(Slots::new(config.max_connections)),
        config,
        root_dir,
        openat2: AtomicBool::new(cfg!(target_os = "linux")),
        temps: Arc::clone(&temps),
    });
    let stop2 = Arc::clone(&stop);
    let accept = std::thread::Builder::new()
        .name("tcp-serve-accept".into())
        .spawn(move || accept_loop(listener, shared, stop2))
        .map_err(TcpServeError::Thread)?;
    Ok(RunningTcpServer {
        addr,
        root,
        stop,
        accept: Some(accept),
        temps,
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
        // All slots taken: the longest-waiting connection without a
        // complete request head makes room, or (all busy) a 503.
        let Some(slot) = shared.slots.admit(stream.as_raw_fd()) else {
            refuse_busy(stream);
            continue;
        };
        let shared2 = Arc::clone(&shared);
        // A failed spawn drops the closure, hence the slot, then the stream.
        let _ = std::thread::Builder::new()
            .name("tcp-serve-conn".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let _ = serve_connection(stream, slot, &shared2);
            });
    }
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

/// One connection's reusable buffers.
struct Conn<'a> {
    /// Declared before `stream` so that it is dropped first: the slot
    /// table may shut down the socket only while the slot is registered.
    slot: SlotGuard,
    stream: TcpStream,
    shared: &'a Shared,
    /// Bytes read but not yet consumed (a head, maybe part of a body).
    inbuf: Vec<u8>,
    filled: usize,
    /// The response being assembled (head, and small bodies).
    out: Vec<u8>,
    /// The relative path of a GET as a C string (reused).
    cpath: Vec<u8>,
    /// The socket's current read timeout, to skip redundant setsockopt calls.
    read_timeout: Option<Duration>,
}

fn serve_connection(stream: TcpStream, slot: SlotGuard, shared: &Shared) -> io::Result<()> {
    let mut conn = Conn {
        slot,
        stream,
        shared,
        inbuf: vec![0; shared.config.max_header_bytes.max(1024) + 1],
        filled: 0,
        out: Vec::with_capacity(SMALL_FILE as usize + 512),
        cpath: Vec::with_capacity(256),
        read_timeout: None,
    };
    conn.stream.set_nodelay(true)?;
    let write_timeout = shared.config.read_timeout.max(Duration::from_secs(1));
    conn.stream.set_write_timeout(Some(write_timeout))?;
    loop {
        let head_len = match conn.read_head() {
            Ok(Some(n)) => n,
            Ok(None) => return Ok(()),
            Err(e) => {
                conn.respond_error(&e, false, Method::Get)?;
                return conn.close_gracefully();
            }
        };
        // A head that does not parse may hide a body we cannot delimit, so
        // every parse error closes the connection after its response.
        let parsed = protocol::parse_request(&conn.inbuf[..head_len]);
        conn.consume(head_len);
        let keep = match parsed {
            Ok(req) => conn.handle(&req)?,
            Err(e) => {
                conn.respond_error(&e, false, Method::Get)?;
                false
            }
        };
        if !keep {
            return conn.close_gracefully();
        }
    }
}

impl Conn<'_> {
    fn set_read_timeout(&mut self, t: Duration) {
        if self.read_timeout != Some(t) && self.stream.set_read_timeout(Some(t)).is_ok() {
            self.read_timeout = Some(t);
        }
    }

    fn consume(&mut self, n: usize) {
        self.inbuf.copy_within(n..self.filled, 0);
        self.filled -= n;
    }

    /// Waits for a request to start, for at most the idle timeout (recomputed
    /// every [`IDLE_SLICE`] from the current load), then reads its head under
    /// the per-read timeout and the header deadline. `Ok(None)`: the client
    /// closed or stayed idle too long (closed without a response).
    fn read_head(&mut self) -> Result<Option<usize>, RequestError> {
        let cfg = &self.shared.config;
        let limit = cfg.max_header_bytes;
        let mut deadline = None;
        let idle_since = Instant::now();
        let mut marked_waiting = false;
        loop {
            if let Some(end) = protocol::find_head_end(&self.inbuf[..self.filled]) {
                if !self.slot.busy() {
                    // Reclaimed for a newer connection: the socket is shut.
                    return Ok(None);
                }
                return if end > limit {
                    Err(RequestError::HeadersTooLarge)
                } else {
                    Ok(Some(end))
                };
            }
            if self.filled > limit {
                return Err(RequestError::HeadersTooLarge);
            }
            if !marked_waiting {
                // No complete head yet: this slot may be reclaimed.
                self.slot.waiting();
                marked_waiting = true;
            }
            let wait = match deadline {
                None if self.filled == 0 => {
                    let idle = self.shared.idle_timeout();
                    let waited = idle_since.elapsed();
                    if waited >= idle {
                        return Ok(None);
                    }
                    (idle - waited).min(IDLE_SLICE)
                }
                None => {
                    deadline = Some(Instant::now() + cfg.header_deadline);
                    cfg.read_timeout
                }
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(RequestError::Timeout);
                    }
                    left.min(cfg.read_timeout)
                }
            };
            self.set_read_timeout(wait);
            match self.stream.read(&mut self.inbuf[self.filled..]) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    self.filled += n;
                    if deadline.is_none() {
                        deadline = Some(Instant::now() + cfg.header_deadline);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Still idle: recompute the timeout and wait again.
                Err(e) if is_timeout(&e) && self.filled == 0 => {}
                Err(e) if is_timeout(&e) => return Err(RequestError::Timeout),
                Err(_) => return Ok(None),
            }
        }
    }

    /// Serves one request; returns whether the connection stays open.
    fn handle(&mut self, req: &Request) -> io::Result<bool> {
        if req.method != Method::Post
            && (req.transfer_encoding || req.content_length.is_some_and(|n| n > 0))
        {
            // A body we would not read would be parsed as the next request
            // (request smuggling): refuse it and close the connection.
            self.respond_error(&RequestError::UnexpectedBody, false, req.method)?;
            return Ok(false);
        }
        let result = match req.method {
            Method::Get | Method::Head => self.send_file(req),
            Method::Post => self.receive_file(req),
        };
        match result {
            Ok(keep) => Ok(keep),
            Err(e) => {
                // A body the client may still send was not read: close after.
                let keep = req.keep_alive && req.method != Method::Post;
                self.respond_error(&e, keep, req.method)?;
                Ok(keep)
            }
        }
    }

    /// The keep-alive timeout to advertise, or `None` when closing.
    fn keep_alive(&self, keep: bool) -> Option<Duration> {
        keep.then(|| self.shared.idle_timeout())
    }

    /// Sends `e` as a short text/plain response; `keep` keeps the connection.
    /// A response to HEAD has the same headers (Content-Length included) but
    /// no body, or the client would read the body as the next response.
    fn respond_error(&mut self, e: &RequestError, keep: bool, method: Method) -> io::Result<()> {
        let status = e.status();
        let extra = match status {
            405 => "Allow: GET, HEAD, POST\r\nContent-Type: text/plain\r\n",
            _ => "Content-Type: text/plain\r\n",
        };
        let body = e.to_string();
        self.out.clear();
        let ka = self.keep_alive(keep);
        protocol::write_response_head(&mut self.out, status, body.len() as u64 + 1, ka, extra);
        if method != Method::Head {
            self.out.extend_from_slice(body.as_bytes());
            self.out.push(b'\n');
        }
        self.stream.write_all(&self.out)
    }

    fn send_file(&mut self, req: &Request) -> Result<bool, RequestError> {
        let (mut file, len) = self.open_for_read(&req.path)?;
        let keep = req.keep_alive;
        self.out.clear();
        let ka = self.keep_alive(keep);
        protocol::write_response_head(&mut self.out, 200, len, ka, "");
        let sent = if req.method == Method::Head {
            self.stream.write_all(&self.out)
        } else if len <= SMALL_FILE {
            let start = self.out.len();
            self.out.resize(start + len as usize, 0);
            match file.read_exact(&mut self.out[start..]) {
                Ok(()) => self.stream.write_all(&self.out),
                Err(_) => return Err(RequestError::NotFound),
            }
        } else {
            // std::io::copy uses sendfile(2) for File -> TcpStream on Linux.
            self.stream
                .write_all(&self.out)
                .and_then(|()| io::copy(&mut (&mut file).take(len), &mut self.stream))
                .and_then(|n| {
                    (n == len)
                        .then_some(())
                        .ok_or_else(|| io::Error::other("file shrank"))
                })
        };
        // A failed send means the client is gone (or the file changed under
        // us); the response is already started, so just close.
        Ok(sent.is_ok() && keep)
    }

    fn receive_file(&mut self, req: &Request) -> Result<bool, RequestError> {
        let cfg = &self.shared.config;
        let Some(len) = req.content_length.filter(|_| !req.transfer_encoding) else {
            return Err(RequestError::LengthRequired);
        };
        if len > cfg.max_upload {
            return Err(RequestError::PayloadTooLarge);
        }
        let target = resolve_for_write(&cfg.root, &req.path)?;
        if req.expect_continue {
            let _ = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let dir = target.parent().unwrap_or(&cfg.root).to_path_buf();
        let temps = Arc::clone(&self.shared.temps);
        let (mut tmp, tmp_path) = temps.create(&dir).map_err(|e| local_error(&e))?;
        match self.copy_body(&mut tmp, len) {
            Ok(()) => {}
            Err(BodyError::Local(e)) => {
                drop(tmp);
                temps.remove(&tmp_path);
                // handle() answers and closes (the rest of the body is unread).
                return Err(local_error(&e));
            }
            Err(BodyError::Net(e)) => {
                drop(tmp);
                temps.remove(&tmp_path);
                if is_timeout(&e) {
                    // The body stopped arriving; say so, then close.
                    let _ = self.respond_error(&RequestError::Timeout, false, Method::Post);
                }
                return Ok(false);
            }
        }
        let committed = tmp.sync_all().and_then(|()| fs::rename(&tmp_path, &target));
        if let Err(e) = committed {
            temps.remove(&tmp_path);
            return Err(match e.raw_os_error() {
                Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST) => RequestError::Conflict,
                _ => local_error(&e),
            });
        }
        temps.forget(&tmp_path);
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        self.out.clear();
        let keep = req.keep_alive;
        let ka = self.keep_alive(keep);
        protocol::write_response_head(&mut self.out, 201, 0, ka, "");
        Ok(self.stream.write_all(&self.out).is_ok() && keep)
    }

    /// Moves exactly `len` body bytes (buffered ones first) into `file`.
    fn copy_body(&mut self, file: &mut File, len: u64) -> Result<(), BodyError> {
        let buffered = (self.filled as u64).min(len) as usize;
        file.write_all(&self.inbuf[..buffered])
            .map_err(BodyError::Local)?;
        self.consume(buffered);
        let mut left = len - buffered as u64;
        self.set_read_timeout(self.shared.config.read_timeout);
        while left > 0 {
            let want = (self.inbuf.len() as u64).min(left) as usize;
            let n = match self.stream.read(&mut self.inbuf[..want]) {
                Ok(0) => return Err(BodyError::Net(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BodyError::Net(e)),
            };
            file.write_all(&self.inbuf[..n]).map_err(BodyError::Local)?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Half-closes and drains briefly, so the last response is not lost to a
    /// reset caused by unread request bytes. Bounded in bytes and in time
    /// (a client trickling bytes must not hold the thread), and reclaimable
    /// like any connection without a request in progress.
    fn close_gracefully(mut self) -> io::Result<()> {
        self.slot.waiting();
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + DRAIN_TIME;
        let mut sink = [0u8; 8192];
        let mut budget = 1usize << 20;
        while budget > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.set_read_timeout(left);
            match self.stream.read(&mut sink) {
                Ok(n) if n > 0 => budget = budget.saturating_sub(n),
                _ => break,
            }
        }
        Ok(())
    }
}

/// Why an upload body could not be stored.
enum BodyError {
    /// Reading from the client failed (gone, or too slow).
    Net(io::Error),
    /// Writing the temporary file failed (disk full, I/O error...).
    Local(io::Error),
}

/// The answer to a local I/O error while storing an upload: 403 only for
/// permission errors, 507 for a full disk or quota, 500 otherwise.
fn local_error(e: &io::Error) -> RequestError {
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => RequestError::InsufficientStorage,
        _ if e.kind() == io::ErrorKind::PermissionDenied => RequestError::Forbidden,
        _ => RequestError::Internal,
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn is_temp_name(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with(TEMP_PREFIX))
}

impl Conn<'_> {
    /// Opens a regular file under the root for GET/HEAD. Symlinks are
    /// followed only while they stay inside the root: openat2(2) with
    /// RESOLVE_BENEATH where the kernel has it (one syscall), else by checking
    /// the real path of the opened file.
    fn open_for_read(&mut self, path: &str) -> Result<(File, u64), RequestError> {
        if is_temp_name(path) {
            return Err(RequestError::NotFound);
        }
        let root = &self.shared.config.root;
        let rel = path.trim_start_matches('/');
        let fast = if self.shared.openat2.load(Ordering::Relaxed) {
            self.cpath.clear();
            self.cpath
                .extend_from_slice(if rel.is_empty() { b"." } else { rel.as_bytes() });
            self.cpath.push(0);
            open_beneath(&self.shared.root_dir, &self.cpath)
        } else {
            Beneath::Unsupported
        };
        let file = match fast {
            Beneath::Opened(f) => f,
            Beneath::Failed(e) => return Err(open_error(&e)),
            Beneath::Unsupported | Beneath::Escapes => {
                if matches!(fast, Beneath::Unsupported) {
                    self.shared.openat2.store(false, Ordering::Relaxed);
                }
                // Absolute symlinks that land inside the root are fine too.
                let full = root.join(rel);
                let file = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                    .open(&full)
                    .map_err(|e| open_error(&e))?;
                let real = real_path_of(&file, &full).ok_or(RequestError::NotFound)?;
                if !real.starts_with(root) {
                    return Err(RequestError::Forbidden);
                }
                file
            }
        };
        let meta = file.metadata().map_err(|_| RequestError::NotFound)?;
        if !meta.is_file() {
            return Err(RequestError::NotFound);
        }
        Ok((file, meta.len()))
    }
}

fn open_error(e: &io::Error) -> RequestError {
    match e.kind() {
        io::ErrorKind::PermissionDenied => RequestError::Forbidden,
        _ => RequestError::NotFound,
    }
}

/// What openat2(RESOLVE_BENEATH) said.
enum Beneath {
    Opened(File),
    /// The path (or a symlink on it) leaves the root, or is absolute.
    Escapes,
    /// The kernel has no openat2, or a sandbox forbids it.
    Unsupported,
    Failed(io::Error),
}

/// Opens `rel` (NUL-terminated, relative) beneath `root` without ever
/// resolving outside it. A FIFO must not block the thread, hence O_NONBLOCK
/// (harmless on regular files).
#[cfg(target_os = "linux")]
fn open_beneath(root: &File, rel: &[u8]) -> Beneath {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: open_how is plain data; zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `rel` is NUL-terminated, `how` lives across the call and its
    // size is passed; the returned fd is owned by the File.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd >= 0 {
        // SAFETY: a fresh fd from openat2, owned by nobody else.
        return Beneath::Opened(unsafe { File::from_raw_fd(fd as i32) });
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EXDEV) => Beneath::Escapes,
        Some(libc::ENOSYS | libc::EPERM) => Beneath::Unsupported,
        _ => Beneath::Failed(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_beneath(_root: &File, _rel: &[u8]) -> Beneath {
    Beneath::Unsupported
}

/// The real path of an open file: one readlink of /proc/self/fd on Linux,
/// which costs less than canonicalizing every component.
fn real_path_of(file: &File, path: &Path) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let link = format!("/proc/self/fd/{}", file.as_raw_fd());
        if let Ok(p) = fs::read_link(link) {
            return Some(p);
        }
    }
    let _ = file;
    fs::canonicalize(path).ok()
}

/// Where a POST to `path` lands: the parent must exist inside the root (after
/// resolving symlinks); the target itself is replaced by rename, so a symlink
/// there is replaced, never followed.
fn resolve_for_write(root: &Path, path: &str) -> Result<PathBuf, RequestError> {
    let rel = path.trim_start_matches('/');
    let (parent, name) = match rel.rsplit_once('/') {
        Some((p, n)) => (root.join(p), n),
        None => (root.to_path_buf(), rel),
    };
    if name.is_empty() || name.starts_with(TEMP_PREFIX) {
        return Err(RequestError::Conflict);
    }
    let parent = fs::canonicalize(&parent).map_err(|_| RequestError::NotFound)?;
    if !parent.starts_with(root) {
        return Err(RequestError::Forbidden);
    }
    if !parent.is_dir() {
        return Err(RequestError::NotFound);
    }
    let target = parent.join(name);
    if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Err(RequestError::Conflict);
    }
    Ok(target)
}

/// Creates a uniquely named temporary file in `dir` (never an existing one).
fn create_temp(dir: &Path) -> io::Result<(File, PathBuf)> {
    loop {
        let path = dir.join(format!("{TEMP_PREFIX}{:016x}.tmp", rand::random::<u64>()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_io_errors_are_500_or_507_and_only_permission_is_403() {
        let status = |e: io::Error| local_error(&e).status();
        assert_eq!(status(io::Error::from_raw_os_error(libc::ENOSPC)), 507);
        assert_eq!(status(io::Error::from_raw_os_error(libc::EDQUOT)), 507);
        assert_eq!(status(io::Error::from_raw_os_error(libc::EIO)), 500);
        assert_eq!(status(io::Error::from_raw_os_error(libc::EROFS)), 500);
        assert_eq!(status(io::Error::from_raw_os_error(libc::EACCES)), 403);
        assert_eq!(status(io::Error::other("x")), 500);
    }

    #[test]
    fn temp_registry_removes_live_temp_files_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let reg = TempRegistry::default();
        let (_f, done) = reg.create(dir.path()).unwrap();
        let (_g, live) = reg.create(dir.path()).unwrap();
        reg.remove(&done);
        reg.close_and_remove_all();
        assert!(!live.exists() && !done.exists());
        assert!(reg.create(dir.path()).is_err(), "closed registry refuses");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
