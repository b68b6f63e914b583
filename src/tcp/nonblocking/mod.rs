//! The `perf` request workload (GET of a path, POST of a generated body,
//! keep-alive or a new connection per request) for the event-loop driver
//! ([`crate::load::event_loop`]): one non-blocking HTTP/1.1 client
//! connection per user, as a state machine driven by readiness events.
//!
//! It behaves as the blocking [`super::client::Connection`] does for `perf`:
//! the same phases (`connect`, only on steps that opened a connection, and
//! `request`, from the first byte of the request written to the last byte of
//! the response read), the same error kinds, and the same single retry on a
//! fresh connection when a reused one turns out to have been closed by the
//! server while idle (before any response byte). Response heads are parsed
//! by [`super::protocol`]; bodies are counted and dropped by
//! [`ResponseReader`], an incremental parser that keeps nothing but a
//! partial line, so 10,000 idle connections cost a few hundred bytes each.

mod reader;

pub use reader::{Feed, Response, ResponseReader};

use super::protocol;
use crate::load::event_loop::{EventWorkload, Io, Progress};
use crate::load::{Severity, StepDone, StepError};
use crate::tcp::client::is_peer_close;
use crate::tcp::workload::{phase, status_kind, Connections, TcpRequests};
use mio::net::TcpStream;
use mio::Interest;
use rand::{Rng, SeedableRng};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Where a user's connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// No request in flight.
    Idle,
    /// Non-blocking connect issued at this time.
    Connecting(Instant),
    /// Writing the request; `written` bytes of head + body are out.
    Writing {
        written: usize,
    },
    Reading,
}

/// One user of the event-loop workload: its connection, request and reader.
pub struct NbUser {
    addr: Option<SocketAddr>,
    conn: Option<TcpStream>,
    stage: Stage,
    /// When the request's first byte was written.
    request_start: Instant,
    /// A response was already read on this connection.
    reused: bool,
    /// Bytes of the current response arrived.
    got_bytes: bool,
    /// The current attempt already retried a stale keep-alive connection.
    retried: bool,
    post: bool,
    get_head: Vec<u8>,
    post_head: Vec<u8>,
    reader: ResponseReader,
    /// Bytes read but not used yet (an incomplete line).
    pending: Vec<u8>,
    rng: rand::rngs::StdRng,
}

fn io_kind(e: &io::Error) -> &'static str {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "refused",
        TimedOut | WouldBlock => "timeout",
        ConnectionReset | ConnectionAborted | BrokenPipe => "reset",
        UnexpectedEof => "closed",
        _ => "io",
    }
}

fn failed(kind: &'static str, message: String) -> Progress {
    Progress::Done(Err(StepError {
        kind,
        message,
        severity: Severity::Retry,
        offset: 0,
    }))
}

fn request_head(method: &str, path: &str, host: &str, body: Option<usize>) -> Vec<u8> {
    let mut out = format!(
        "{method} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: xfer\r\n",
        protocol::encode_path(path)
    );
    if let Some(n) = body {
        out.push_str(&format!("Content-Length: {n}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

impl NbUser {
    fn drop_conn(&mut self, io: &mut Io<'_>) {
        if let Some(mut c) = self.conn.take() {
            let _ = io.registry.deregister(&mut c);
        }
        self.stage = Stage::Idle;
        self.reused = false;
        self.pending.clear();
    }
}

impl TcpRequests {
    fn describe(&self, post: bool) -> String {
        if post {
            format!("POST {}", self.mix.post_path)
        } else {
            format!("GET {}", self.mix.get_path)
        }
    }

    fn resolve(&self, u: &mut NbUser) -> io::Result<SocketAddr> {
        if let Some(a) = u.addr {
            return Ok(a);
        }
        let a =
            self.addr.to_socket_addrs()?.next().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "no address resolved")
            })?;
        u.addr = Some(a);
        Ok(a)
    }

    /// Opens a connection (non-blocking); `Pending` until it is established.
    fn connect(&self, u: &mut NbUser, io: &mut Io<'_>) -> Progress {
        let opened = self.resolve(u).and_then(|addr| {
            let mut c = TcpStream::connect(addr)?;
            io.registry
                .register(&mut c, io.token, Interest::READABLE | Interest::WRITABLE)?;
            Ok(c)
        });
        match opened {
            Ok(c) => {
                u.conn = Some(c);
                u.reused = false;
                u.stage = Stage::Connecting(io.now);
                Progress::Pending
            }
            Err(e) => failed(io_kind(&e), format!("connecting to {}: {e}", self.addr)),
        }
    }

    /// The connection is established (or failed): records the connect phase.
    fn connected(&self, u: &mut NbUser, since: Instant, io: &mut Io<'_>) -> Progress {
        let Some(c) = &u.conn else {
            return failed("io", "connection vanished".into());
        };
        let err = match c.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match c.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Progress::Pending,
                Err(e) => Some(e),
            },
        };
        io.timer.record(phase::CONNECT, io.now - since);
        if let Some(e) = err {
            u.drop_conn(io);
            return failed(io_kind(&e), format!("connecting to {}: {e}", self.addr));
        }
        let _ = c.set_nodelay(true);
        self.begin_request(u, io)
    }

    fn begin_request(&self, u: &mut NbUser, io: &mut Io<'_>) -> Progress {
        u.request_start = io.now;
        u.got_bytes = false;
        u.reader = ResponseReader::new(false);
        u.pending.clear();
        u.stage = Stage::Writing { written: 0 };
        self.write(u, io)
    }

    fn write(&self, u: &mut NbUser, io: &mut Io<'_>) -> Progress {
        let Stage::Writing { mut written } = u.stage else {
            return Progress::Pending;
        };
        let (head, body): (&[u8], &[u8]) = if u.post {
            (&u.post_head, &self.mix.post_body)
        } else {
            (&u.get_head, &[])
        };
        let total = head.len() + body.len();
        let conn = u.conn.as_mut().expect("writing needs a connection");
        while written < total {
            let r = if written < head.len() {
                conn.write_vectored(&[io::IoSlice::new(&head[written..]), io::IoSlice::new(body)])
            } else {
                conn.write(&body[written - head.len()..])
            };
            match r {
                Ok(0) => return self.io_failed(u, io::ErrorKind::WriteZero.into(), io),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    u.stage = Stage::Writing { written };
                    return Progress::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.io_failed(u, e, io),
            }
        }
        u.stage = Stage::Reading;
        Progress::Pending
    }

    fn read(&self, u: &mut NbUser, io: &mut Io<'_>) -> Progress {
        loop {
            let conn = u.conn.as_mut().expect("reading needs a connection");
            match conn.read(io.scratch) {
                Ok(0) => {
                    if let Some(r) = u.reader.finish_at_eof() {
                        return self.answered(u, r, io);
                    }
                    return self.io_failed(u, io::ErrorKind::UnexpectedEof.into(), io);
                }
                Ok(n) => {
                    u.got_bytes = true;
                    // Bytes after a complete response: we never pipeline,
                    // so the connection is out of step.
                    let (fed, extra) = if u.pending.is_empty() {
                        let fed = u.reader.feed(&io.scratch[..n]);
                        let extra = match &fed {
                            Ok(Feed::NeedMore { used }) => {
                                u.pending.extend_from_slice(&io.scratch[*used..n]);
                                false
                            }
                            Ok(Feed::Done { used, .. }) => *used < n,
                            Err(_) => false,
                        };
                        (fed, extra)
                    } else {
                        u.pending.extend_from_slice(&io.scratch[..n]);
                        let fed = u.reader.feed(&u.pending);
                        let extra = match &fed {
                            Ok(Feed::NeedMore { used }) => {
                                u.pending.drain(..*used);
                                false
                            }
                            Ok(Feed::Done { used, .. }) => *used < u.pending.len(),
                            Err(_) => false,
                        };
                        (fed, extra)
                    };
                    match fed {
                        Ok(Feed::NeedMore { .. }) => {}
                        Ok(Feed::Done { response, .. }) => {
                            let r = self.answered(u, response, io);
                            if extra {
                                u.drop_conn(io);
                            }
                            return r;
                        }
                        Err(e) => {
                            io.timer.record(phase::REQUEST, io.now - u.request_start);
                            u.drop_conn(io);
                            return failed(
                                "protocol",
                                format!("{}: from {}: {e}", self.describe(u.post), self.addr),
                            );
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.io_failed(u, e, io),
            }
        }
    }

    /// A socket error or end of stream during the exchange. A reused
    /// connection that failed before any response byte was closed by the
    /// server while idle: retried once on a fresh connection.
    fn io_failed(&self, u: &mut NbUser, e: io::Error, io: &mut Io<'_>) -> Progress {
        let stale = u.reused && !u.got_bytes && !u.retried && is_peer_close(e.kind());
        u.drop_conn(io);
        if stale {
            u.retried = true;
            return self.connect(u, io);
        }
        io.timer.record(phase::REQUEST, io.now - u.request_start);
        failed(
            io_kind(&e),
            format!("{}: talking to {}: {e}", self.describe(u.post), self.addr),
        )
    }

    fn answered(&self, u: &mut NbUser, r: Response, io: &mut Io<'_>) -> Progress {
        io.timer.record(phase::REQUEST, io.now - u.request_start);
        u.stage = Stage::Idle;
        u.pending.clear();
        if self.connections == Connections::KeepAlive && !r.connection_close {
            u.reused = true;
        } else {
            // Reconnect on the next step, in its own timed phase.
            u.drop_conn(io);
        }
        if (200..300).contains(&r.status) {
            Progress::Done(Ok(StepDone {
                offset: 0,
                bytes: if u.post {
                    self.mix.post_body.len() as u64
                } else {
                    r.body_bytes
                },
            }))
        } else {
            failed(
                status_kind(r.status),
                format!("{}: {} {}", self.describe(u.post), r.status, r.reason),
            )
        }
    }
}

impl EventWorkload for TcpRequests {
    type User = NbUser;

    fn step_timeout(&self) -> Duration {
        self.timeout
    }

    fn new_user(&self, user: u32) -> NbUser {
        NbUser {
            addr: None,
            conn: None,
            stage: Stage::Idle,
            request_start: Instant::now(),
            reused: false,
            got_bytes: false,
            retried: false,
            post: false,
            get_head: request_head("GET", &self.mix.get_path, &self.addr, None),
            post_head: request_head(
                "POST",
                &self.mix.post_path,
                &self.addr,
                Some(self.mix.post_body.len()),
            ),
            reader: ResponseReader::new(false),
            pending: Vec::new(),
            // The same seed as the blocking workload: the same mix per user.
            rng: rand::rngs::StdRng::seed_from_u64(0x9e37_79b9 ^ u64::from(user)),
        }
    }

    fn start(&self, u: &mut NbUser, _pass: u64, _step: u64, io: &mut Io<'_>) -> Progress {
        u.post = match self.mix.post_ratio {
            r if r <= 0.0 => false,
            r if r >= 1.0 => true,
            r => u.rng.gen_bool(r),
        };
        u.retried = false;
        if u.conn.is_some() {
            self.begin_request(u, io)
        } else {
            self.connect(u, io)
        }
    }

    fn ready(&self, u: &mut NbUser, io: &mut Io<'_>) -> Progress {
        match u.stage {
            Stage::Idle => Progress::Pending,
            Stage::Connecting(since) => self.connected(u, since, io),
            Stage::Writing { .. } => match self.write(u, io) {
                // The answer may have come with the same event (an early 413).
                Progress::Pending if u.stage == Stage::Reading => self.read(u, io),
                p => p,
            },
            Stage::Reading => self.read(u, io),
        }
    }

    fn idle_ready(&self, u: &mut NbUser, io: &mut Io<'_>) {
        let Some(conn) = u.conn.as_mut() else {
            return;
        };
        // Anything but "nothing to read" means the idle connection is over
        // (closed by the server, or bytes we never asked for).
        let mut probe = [0u8; 1];
        match conn.read(&mut probe) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            _ => u.drop_conn(io),
        }
    }

    fn abort(&self, u: &mut NbUser, io: &mut Io<'_>) {
        u.drop_conn(io);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_carry_host_and_length() {
        let h = request_head("POST", "/a b", "h:1", Some(3));
        assert_eq!(
            std::str::from_utf8(&h).unwrap(),
            "POST /a%20b HTTP/1.1\r\nHost: h:1\r\nUser-Agent: xfer\r\nContent-Length: 3\r\n\r\n"
        );
    }
}
