//! The per-connection state machine of `tcp-serve`: read a request head
//! under the idle timeout, the per-read timeout and the header deadline,
//! parse it, serve GET/HEAD from a file or store a POST body atomically
//! (both under the minimum rate of `pace.rs`), answer, and loop while the
//! connection is kept alive.
//!
//! It runs over any [`Transport`], so the same code serves a TCP socket on
//! its own thread and a scripted in-memory stream in the fuzzer
//! (`tests/fuzz/`). Every malformed head is answered and closes the
//! connection (the body it may hide cannot be delimited); every local I/O
//! error while storing an upload is a 500 (507 for a full disk), 403 being
//! only for permission errors.

use super::slots::SlotGuard;
use super::Shared;
use crate::tcp::protocol::{self, Method, Request, RequestError};
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

mod files;

/// How often an idle connection recomputes its timeout from the current load.
const IDLE_SLICE: Duration = Duration::from_millis(200);
/// Longest drain of unread request bytes before closing a connection.
const DRAIN_TIME: Duration = Duration::from_millis(500);

/// What the connection state machine needs from its byte stream: a TCP
/// socket when serving, a scripted in-memory stream when fuzzing.
pub trait Transport: Read + Write {
    /// Bounds every later read; a read that times out fails with
    /// `WouldBlock` or `TimedOut`.
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()>;
    /// Sends end of stream (half close); reads still work.
    fn shutdown_write(&mut self);
    /// Bounds every later write; a write that times out having sent
    /// nothing fails with `WouldBlock` or `TimedOut`.
    fn set_write_timeout(&mut self, _timeout: Duration) -> io::Result<()> {
        Ok(())
    }
    /// Sends up to `len` bytes of `file` from its current position,
    /// returning how many were sent (fewer when the write timeout expired
    /// part way; 0 only at the end of the file).
    fn send_file(&mut self, file: &mut File, len: u64) -> io::Result<u64> {
        io::copy(&mut file.take(len), self)
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        TcpStream::set_read_timeout(self, Some(timeout))
    }

    fn shutdown_write(&mut self) {
        let _ = self.shutdown(Shutdown::Write);
    }

    fn set_write_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        TcpStream::set_write_timeout(self, Some(timeout))
    }

    fn send_file(&mut self, file: &mut File, len: u64) -> io::Result<u64> {
        // One sendfile(2), so the caller can account for the rate between
        // calls (std::io::copy would loop until done).
        let count = usize::try_from(len).unwrap_or(usize::MAX).min(1 << 30);
        // SAFETY: both descriptors are open for the duration of the call;
        // a null offset uses and advances the file's own position.
        let n = unsafe {
            libc::sendfile(
                self.as_raw_fd(),
                file.as_raw_fd(),
                std::ptr::null_mut(),
                count,
            )
        };
        u64::try_from(n).map_err(|_| io::Error::last_os_error())
    }
}

/// One connection's state and reusable buffers.
struct Conn<'a, T: Transport> {
    /// Declared before `stream` so that it is dropped first: the slot
    /// table may shut down the socket only while the slot is registered.
    /// `None` for a transport served without a listener (no cap applies).
    slot: Option<SlotGuard>,
    stream: T,
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
    /// The socket's current write timeout, when it is not the usual one
    /// (`write_timeout()`), which is set while sending a file.
    write_timeout: Option<Duration>,
}

/// Serves requests on one connection until it closes, times out, fails or
/// is reclaimed (see [`super::slots`]).
pub(super) fn serve<T: Transport>(
    stream: T,
    slot: Option<SlotGuard>,
    shared: &Shared,
) -> io::Result<()> {
    let mut conn = Conn {
        slot,
        stream,
        shared,
        inbuf: vec![0; shared.config.max_header_bytes.max(1024) + 1],
        filled: 0,
        out: Vec::with_capacity(files::SMALL_FILE as usize + 512),
        cpath: Vec::with_capacity(256),
        read_timeout: None,
        write_timeout: None,
    };
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

impl<T: Transport> Conn<'_, T> {
    /// The connection waits for a request head: its slot may be reclaimed.
    fn slot_waiting(&self) {
        if let Some(slot) = &self.slot {
            slot.waiting();
        }
    }

    /// A complete head arrived; false if the slot was reclaimed meanwhile.
    fn slot_busy(&self) -> bool {
        self.slot.as_ref().is_none_or(SlotGuard::busy)
    }

    fn set_read_timeout(&mut self, t: Duration) {
        if self.read_timeout != Some(t) && self.stream.set_read_timeout(t).is_ok() {
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
        // Bytes already searched for the blank line (see find_head_end_from).
        let mut scanned = 0;
        loop {
            let found = protocol::find_head_end_from(&self.inbuf[..self.filled], scanned);
            scanned = self.filled;
            if let Some(end) = found {
                if !self.slot_busy() {
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
                self.slot_waiting();
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

    /// Half-closes and drains briefly, so the last response is not lost to a
    /// reset caused by unread request bytes. Bounded in bytes and in time
    /// (a client trickling bytes must not hold the thread), and reclaimable
    /// like any connection without a request in progress.
    fn close_gracefully(mut self) -> io::Result<()> {
        self.slot_waiting();
        self.stream.shutdown_write();
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

/// The write timeout of a connection outside file sends: a slow reader
/// gets as long as a slow sender, but at least a second for a small write.
pub(super) fn write_timeout(cfg: &super::TcpServeConfig) -> Duration {
    cfg.read_timeout.max(Duration::from_secs(1))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
