//! The request workload of `perf` against `tcp://` targets: each step is one
//! HTTP/1.1 request (GET of a path, or POST of a generated body), on the
//! user's keep-alive connection or on a fresh one.
//!
//! Phases: `connect` (TCP connect, only on steps that opened a connection)
//! and `request` (the response time: from the first byte of the request
//! written to the last byte of the response read). Keeping the connect out of
//! `request` is what makes keep-alive and `--new-connection` comparable: the
//! connection cost shows up in its own phase and in the cycle time.
//!
//! It lives beside the protocol it speaks, as `sftp::workload` does; `perf`
//! only chooses it for `tcp://` targets.

use super::client::{ClientError, Connection};
use crate::load::{PhaseTimer, Severity, StepDone, StepError, Workload, WorkloadShape};
use rand::Rng;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Phase names, in order; [`phase`] has their indices.
pub const PHASES: &[&str] = &["connect", "request"];

/// Indices into [`PHASES`].
pub mod phase {
    pub const CONNECT: usize = 0;
    pub const REQUEST: usize = 1;
}

/// Whether a user reuses its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Connections {
    /// One persistent connection per user (HTTP keep-alive).
    KeepAlive,
    /// A new connection for every request, closed after it.
    NewConnection,
}

/// What requests are sent.
#[derive(Debug, Clone)]
pub struct RequestMix {
    /// Path GETs go to.
    pub get_path: String,
    /// Path POSTs go to.
    pub post_path: String,
    /// Body of every POST (shared by all users; one allocation).
    pub post_body: Arc<[u8]>,
    /// Fraction of requests that are POSTs: 0.0 all GET, 1.0 all POST.
    pub post_ratio: f64,
}

/// Requests to one server.
#[derive(Debug, Clone)]
pub struct TcpRequests {
    /// `host:port` of the server.
    pub addr: String,
    pub mix: RequestMix,
    pub connections: Connections,
    /// Bounds the connect and every read or write.
    pub timeout: Duration,
}

/// A user's connection (if open) and its random source for the mix.
pub struct TcpUser {
    conn: Option<Connection>,
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

/// The error kind of a non-2xx status (shared with the non-blocking client).
pub(crate) fn status_kind(status: u16) -> &'static str {
    match status {
        404 => "http_404",
        408 => "http_408",
        413 => "http_413",
        429 => "http_429",
        503 => "http_503",
        400..=499 => "http_4xx",
        500..=599 => "http_5xx",
        _ => "http_other",
    }
}

fn retry(kind: &'static str, message: String) -> StepError {
    StepError {
        kind,
        message,
        severity: Severity::Retry,
        offset: 0,
    }
}

impl TcpRequests {
    /// Whether step `step` of `pass` is a POST: decided by the user's random
    /// source so that a mix is spread evenly over users and time.
    fn is_post(&self, rng: &mut impl Rng) -> bool {
        match self.mix.post_ratio {
            r if r <= 0.0 => false,
            r if r >= 1.0 => true,
            r => rng.gen_bool(r),
        }
    }
}

/// The same for both drivers: the event-loop client
/// ([`super::nonblocking`]) times the same phases and reports the same kinds.
impl WorkloadShape for TcpRequests {
    fn phases(&self) -> &'static [&'static str] {
        PHASES
    }

    fn response_phase(&self) -> usize {
        phase::REQUEST
    }

    fn steps_per_pass(&self) -> u64 {
        1
    }

    fn error_kinds(&self) -> &'static [&'static str] {
        crate::report::timeseries::HTTP_ERROR_KINDS
    }
}

impl Workload for TcpRequests {
    type User = TcpUser;

    fn new_user(&self, user: u32) -> TcpUser {
        use rand::SeedableRng;
        TcpUser {
            conn: None,
            rng: rand::rngs::StdRng::seed_from_u64(0x9e37_79b9 ^ u64::from(user)),
        }
    }

    fn step(
        &self,
        u: &mut TcpUser,
        _pass: u64,
        _step: u64,
        timer: &mut PhaseTimer,
    ) -> Result<StepDone, StepError> {
        let post = self.is_post(&mut u.rng);
        let conn = match &mut u.conn {
            Some(c) => c,
            None => {
                let c = timer
                    .time(phase::CONNECT, || {
                        Connection::connect(self.addr.as_str(), self.timeout)
                    })
                    .map_err(|e| retry(io_kind(&e), format!("connecting to {}: {e}", self.addr)))?;
                u.conn.insert(c)
            }
        };
        let result = timer.time(phase::REQUEST, || {
            if post {
                conn.post(&self.mix.post_path, &self.mix.post_body)
            } else {
                conn.get(&self.mix.get_path, &mut io::sink())
            }
        });
        let reuse = self.connections == Connections::KeepAlive
            && matches!(&result, Ok(r) if !r.connection_close);
        if !reuse {
            // Reconnect on the next step, in its own timed phase, rather than
            // inside the next request's response time.
            u.conn = None;
        }
        let (method, path) = if post {
            ("POST", &self.mix.post_path)
        } else {
            ("GET", &self.mix.get_path)
        };
        match result {
            Ok(r) if r.is_success() => Ok(StepDone {
                offset: 0,
                bytes: if post {
                    self.mix.post_body.len() as u64
                } else {
                    r.body_bytes
                },
            }),
            Ok(r) => Err(retry(
                status_kind(r.status),
                format!("{method} {path}: {} {}", r.status, r.reason),
            )),
            Err(e) => {
                let kind = match &e {
                    ClientError::Connect { error, .. } | ClientError::Io { error, .. } => {
                        io_kind(error)
                    }
                    ClientError::Protocol { .. } => "protocol",
                    ClientError::Sink(_) | ClientError::Body(_) => "io",
                };
                Err(retry(kind, format!("{method} {path}: {e}")))
            }
        }
    }

    fn finish(&self, u: &mut TcpUser) {
        u.conn = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_stable_kinds() {
        assert_eq!(status_kind(404), "http_404");
        assert_eq!(status_kind(418), "http_4xx");
        assert_eq!(status_kind(502), "http_5xx");
        assert_eq!(status_kind(503), "http_503");
    }

    #[test]
    fn the_mix_follows_the_ratio() {
        let mix = |r| TcpRequests {
            addr: "127.0.0.1:1".into(),
            mix: RequestMix {
                get_path: "/a".into(),
                post_path: "/b".into(),
                post_body: Arc::from(vec![0u8; 4]),
                post_ratio: r,
            },
            connections: Connections::KeepAlive,
            timeout: Duration::from_secs(1),
        };
        let mut u = mix(0.0).new_user(0);
        assert!((0..100).all(|_| !mix(0.0).is_post(&mut u.rng)));
        assert!((0..100).all(|_| mix(1.0).is_post(&mut u.rng)));
        let w = mix(0.25);
        let posts = (0..10_000).filter(|_| w.is_post(&mut u.rng)).count();
        assert!((2_000..3_000).contains(&posts), "{posts}");
    }
}
