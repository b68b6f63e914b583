//! One persistent HTTP/1.1 connection to a file server, shared by the
//! `tcp-client` REPL and the `perf` workload: GET into any writer, POST from
//! bytes or a file, with buffers reused across requests and TCP_NODELAY.
//!
//! When a reused connection fails before any byte of the response arrived
//! because the server closed it (end of stream, reset, broken pipe: typically
//! its keep-alive timeout expired while we were idle), the request is retried
//! once on a fresh connection. A timeout is never retried: it is returned at
//! once, so `timeout` bounds each read or write of a request. Bodies of non-2xx
//! responses are read (so the connection stays usable) but never written to
//! the caller's sink: an error page is not a download.
//!
//! A little over 500 lines: the connection, the response reader that the
//! fuzzer drives without a socket ([`read_response`]) and the one retry rule
//! share their buffers and error type, and read best in one place.

use super::protocol::{self, ResponseError, ResponseHead};
use std::fmt;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

const BUF_SIZE: usize = 64 * 1024;

/// What a request came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Body bytes received (also for error statuses, whose body is dropped).
    pub body_bytes: u64,
    /// The server's advertised idle timeout (`Keep-Alive: timeout=N`).
    pub keep_alive_timeout: Option<Duration>,
    /// The server closes the connection after this response.
    pub connection_close: bool,
}

impl Response {
    /// Whether the status is a success (2xx).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {addr}: {error}")]
    Connect { addr: String, error: io::Error },
    #[error("talking to {addr}: {error}")]
    Io { addr: SocketAddr, error: io::Error },
    #[error("from {addr}: {error}")]
    Protocol {
        addr: SocketAddr,
        error: ResponseError,
    },
    #[error("writing the response body: {0}")]
    Sink(io::Error),
    #[error("reading the upload body: {0}")]
    Body(io::Error),
}

/// A failed attempt, and whether it may be retried on a fresh connection:
/// only when the server closed the connection before any response byte
/// arrived (if the connection was a reused one, it was closed while idle).
struct Failed {
    error: ClientError,
    peer_closed_before_response: bool,
}

/// The errors by which a server's close of an idle connection shows.
pub(crate) fn is_peer_close(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// Errors of `io::copy` from an upload body to the socket that come from the
/// socket (the rest, e.g. EIO, come from reading the local body).
fn is_socket_error(kind: io::ErrorKind) -> bool {
    is_peer_close(kind)
        || matches!(
            kind,
            io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::NotConnected
                | io::ErrorKind::WriteZero
        )
}

/// The body of a request.
enum Body<'a, R> {
    Empty,
    Bytes(&'a [u8]),
    Reader(&'a mut R, u64),
}

/// A keep-alive connection to one server.
pub struct Connection {
    stream: TcpStream,
    addr: SocketAddr,
    host: String,
    timeout: Duration,
    reader: Reader,
    request: Vec<u8>,
    /// A response was already read on this stream (it is being reused).
    reused: bool,
    /// The stream cannot carry another request; reconnect first.
    broken: bool,
}

/// The receiving half of a connection: a buffer over the bytes of the
/// responses, which reads from whatever source it is handed (the socket, or
/// the fuzzer's script, see [`read_response`]).
struct Reader {
    addr: SocketAddr,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Some byte of the current response arrived.
    got_bytes: bool,
}

/// Reads one response from `src` exactly as [`Connection`] reads it (head,
/// interim 1xx responses skipped, then a body delimited by Content-Length,
/// chunked encoding or the end of the stream); a 2xx body goes to `sink`.
/// `method` matters for HEAD, whose response has no body. This is the
/// client's whole parser of untrusted bytes, for the fuzzer to drive.
pub fn read_response(
    src: &mut impl Read,
    method: &str,
    sink: &mut impl Write,
) -> Result<Response, ClientError> {
    let mut reader = Reader::new(SocketAddr::from(([0, 0, 0, 0], 0)));
    reader.receive(src, method, sink).map_err(|f| f.error)
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.addr)
            .finish()
    }
}

fn open(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

impl Connection {
    /// Connects to `addr` (`SocketAddr` or `"host:port"`); `timeout` bounds
    /// the connect and every later read or write.
    pub fn connect(addr: impl ToSocketAddrs + fmt::Display, timeout: Duration) -> io::Result<Self> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address resolved");
        for sa in addr.to_socket_addrs()? {
            match open(sa, timeout) {
                Ok(stream) => {
                    return Ok(Self {
                        stream,
                        addr: sa,
                        host: addr.to_string(),
                        timeout,
                        reader: Reader::new(sa),
                        request: Vec::with_capacity(512),
                        reused: false,
                        broken: false,
                    })
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// GETs `path`; a 2xx body is written to `sink`, other bodies are dropped.
    pub fn get(&mut self, path: &str, sink: &mut impl Write) -> Result<Response, ClientError> {
        self.exchange::<Cursor<&[u8]>>("GET", path, Body::Empty, sink)
    }

    /// HEADs `path` (status and headers only).
    pub fn head(&mut self, path: &str) -> Result<Response, ClientError> {
        self.exchange::<Cursor<&[u8]>>("HEAD", path, Body::Empty, &mut io::sink())
    }

    /// POSTs `body` to `path`.
    pub fn post(&mut self, path: &str, body: &[u8]) -> Result<Response, ClientError> {
        self.exchange::<Cursor<&[u8]>>("POST", path, Body::Bytes(body), &mut io::sink())
    }

    /// POSTs `len` bytes read from `body` (a `File` goes out via sendfile);
    /// `body` is rewound if the request has to be retried.
    pub fn post_reader<R: Read + Seek>(
        &mut self,
        path: &str,
        body: &mut R,
        len: u64,
    ) -> Result<Response, ClientError> {
        self.exchange("POST", path, Body::Reader(body, len), &mut io::sink())
    }

    fn reconnect(&mut self) -> Result<(), ClientError> {
        self.stream = open(self.addr, self.timeout).map_err(|error| ClientError::Connect {
            addr: self.host.clone(),
            error,
        })?;
        self.reader.start = 0;
        self.reader.end = 0;
        self.reused = false;
        self.broken = false;
        Ok(())
    }

    fn exchange<R: Read + Seek>(
        &mut self,
        method: &str,
        path: &str,
        mut body: Body<'_, R>,
        sink: &mut impl Write,
    ) -> Result<Response, ClientError> {
        if self.broken {
            self.reconnect()?;
        }
        let start_pos = match &mut body {
            Body::Reader(r, _) => Some(r.stream_position().map_err(ClientError::Body)?),
            _ => None,
        };
        let reused = self.reused;
        match self.attempt(method, path, &mut body, sink) {
            Ok(r) => Ok(r),
            Err(f) if reused && f.peer_closed_before_response => {
                self.reconnect()?;
                if let (Body::Reader(r, _), Some(pos)) = (&mut body, start_pos) {
                    r.seek(SeekFrom::Start(pos)).map_err(ClientError::Body)?;
                }
                self.attempt(method, path, &mut body, sink)
                    .map_err(|f| f.error)
            }
            Err(f) => Err(f.error),
        }
    }

    fn attempt<R: Read + Seek>(
        &mut self,
        method: &str,
        path: &str,
        body: &mut Body<'_, R>,
        sink: &mut impl Write,
    ) -> Result<Response, Failed> {
        self.reader.got_bytes = false;
        let result = match self.send(method, path, body) {
            Ok(()) => self.reader.receive(&mut self.stream, method, sink),
            // The server closing while we send may be it refusing the body
            // early (413): its response, if any, is more useful than the
            // broken pipe. A send timeout is returned as is.
            Err(f) if f.peer_closed_before_response => {
                self.reader.receive(&mut self.stream, method, sink)
            }
            Err(f) => Err(f),
        };
        match &result {
            Ok(r) => {
                self.reused = true;
                self.broken = r.connection_close;
            }
            Err(_) => self.broken = true,
        }
        result
    }

    fn io_err(&self, error: io::Error) -> Failed {
        self.reader.io_err(error)
    }

    fn send<R: Read + Seek>(
        &mut self,
        method: &str,
        path: &str,
        body: &mut Body<'_, R>,
    ) -> Result<(), Failed> {
        let len = match body {
            Body::Empty => None,
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Reader(_, n) => Some(*n),
        };
        self.request.clear();
        let _ = write!(
            self.request,
            "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: xfer\r\n",
            protocol::encode_path(path),
            self.host
        );
        if let Some(n) = len {
            let _ = write!(self.request, "Content-Length: {n}\r\n");
        }
        self.request.extend_from_slice(b"\r\n");
        if let Body::Bytes(b) = body {
            if b.len() <= BUF_SIZE {
                self.request.extend_from_slice(b);
                *body = Body::Empty;
            }
        }
        let sent = self.stream.write_all(&self.request);
        sent.map_err(|e| self.io_err(e))?;
        match body {
            Body::Empty => Ok(()),
            Body::Bytes(b) => self.stream.write_all(b).map_err(|e| self.io_err(e)),
            Body::Reader(r, n) => {
                let n = *n;
                let copied = io::copy(&mut r.take(n), &mut self.stream);
                match copied {
                    Ok(c) if c == n => Ok(()),
                    Ok(c) => Err(Failed {
                        error: ClientError::Body(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("body ended after {c} of {n} bytes"),
                        )),
                        peer_closed_before_response: false, // never retried
                    }),
                    // io::copy (sendfile for a File) does not say which side
                    // failed; socket errors have their own kinds.
                    Err(e) if is_socket_error(e.kind()) => Err(self.io_err(e)),
                    Err(e) => Err(Failed {
                        error: ClientError::Body(e),
                        peer_closed_before_response: false,
                    }),
                }
            }
        }
    }
}

impl Reader {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
            got_bytes: false,
        }
    }

    fn io_err(&self, error: io::Error) -> Failed {
        Failed {
            peer_closed_before_response: !self.got_bytes && is_peer_close(error.kind()),
            error: ClientError::Io {
                addr: self.addr,
                error,
            },
        }
    }

    /// Reads more bytes into the buffer; `Ok(false)` at end of stream.
    fn fill(&mut self, src: &mut dyn Read) -> Result<bool, Failed> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(self.protocol_err("response head larger than 64 KiB"));
        }
        loop {
            match src.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    self.got_bytes = true;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_err(e)),
            }
        }
    }

    fn protocol_err(&self, what: &'static str) -> Failed {
        Failed {
            error: ClientError::Protocol {
                addr: self.addr,
                error: ResponseError(what),
            },
            peer_closed_before_response: false,
        }
    }

    fn eof(&self) -> Failed {
        self.io_err(io::ErrorKind::UnexpectedEof.into())
    }

    fn read_head(&mut self, src: &mut dyn Read) -> Result<ResponseHead, Failed> {
        // Bytes after `start` already searched (fill() keeps them after it).
        let mut scanned = 0;
        loop {
            let window = &self.buf[self.start..self.end];
            let found = protocol::find_head_end_from(window, scanned);
            scanned = window.len();
            if let Some(n) = found {
                let head = protocol::parse_response(&self.buf[self.start..self.start + n]);
                self.start += n;
                scanned = 0;
                match head {
                    Ok(h) if (100..200).contains(&h.status) => continue,
                    Ok(h) => return Ok(h),
                    Err(e) => return Err(self.protocol_err(e.0)),
                }
            }
            if !self.fill(src)? {
                return Err(self.eof());
            }
        }
    }

    fn receive(
        &mut self,
        src: &mut dyn Read,
        method: &str,
        sink: &mut impl Write,
    ) -> Result<Response, Failed> {
        let head = self.read_head(src)?;
        let success = (200..300).contains(&head.status);
        let mut dropped = io::sink();
        let out: &mut dyn Write = if success { sink } else { &mut dropped };
        let mut connection_close = head.connection_close;
        let no_body = method == "HEAD" || head.status == 204 || head.status == 304;
        let body_bytes = if no_body {
            0
        } else if head.chunked {
            self.copy_chunked(src, out)?
        } else if let Some(n) = head.content_length {
            self.copy_exact(src, n, out)?
        } else {
            connection_close = true;
            self.copy_to_eof(src, out)?
        };
        Ok(Response {
            status: head.status,
            reason: head.reason,
            body_bytes,
            keep_alive_timeout: head.keep_alive_timeout,
            connection_close,
        })
    }

    fn sink_err(e: io::Error) -> Failed {
        Failed {
            error: ClientError::Sink(e),
            peer_closed_before_response: false,
        }
    }

    fn copy_exact(
        &mut self,
        src: &mut dyn Read,
        n: u64,
        out: &mut dyn Write,
    ) -> Result<u64, Failed> {
        let mut left = n;
        while left > 0 {
            if self.start == self.end && !self.fill(src)? {
                return Err(self.eof());
            }
            let take = ((self.end - self.start) as u64).min(left) as usize;
            out.write_all(&self.buf[self.start..self.start + take])
                .map_err(Self::sink_err)?;
            self.start += take;
            left -= take as u64;
        }
        Ok(n)
    }

    fn copy_to_eof(&mut self, src: &mut dyn Read, out: &mut dyn Write) -> Result<u64, Failed> {
        let mut total = 0;
        loop {
            out.write_all(&self.buf[self.start..self.end])
                .map_err(Self::sink_err)?;
            total += (self.end - self.start) as u64;
            self.start = self.end;
            if !self.fill(src)? {
                return Ok(total);
            }
        }
    }

    /// Reads one CRLF-terminated line (without the CRLF) as a range of `buf`.
    fn read_line(&mut self, src: &mut dyn Read) -> Result<(usize, usize), Failed> {
        // Bytes after `start` already searched, minus one: a CRLF may straddle.
        let mut scanned: usize = 0;
        loop {
            let window = &self.buf[self.start..self.end];
            let from = scanned.saturating_sub(1).min(window.len());
            scanned = window.len();
            if let Some(i) = window[from..].windows(2).position(|w| w == b"\r\n") {
                let i = from + i;
                let range = (self.start, self.start + i);
                self.start += i + 2;
                return Ok(range);
            }
            if !self.fill(src)? {
                return Err(self.eof());
            }
        }
    }

    fn copy_chunked(&mut self, src: &mut dyn Read, out: &mut dyn Write) -> Result<u64, Failed> {
        let mut total = 0;
        loop {
            let (a, b) = self.read_line(src)?;
            let line = &self.buf[a..b];
            let digits = line.split(|&c| c == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(digits.trim_ascii())
                .ok()
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or_else(|| self.protocol_err("bad chunk size"))?;
            if size == 0 {
                // Trailer fields, up to the blank line.
                while self.read_line(src).map(|(a, b)| a != b)? {}
                return Ok(total);
            }
            total += self.copy_exact(src, size, out)?;
            let (a, b) = self.read_line(src)?;
            if a != b {
                return Err(self.protocol_err("chunk not followed by CRLF"));
            }
        }
    }
}
