//! What a sweep runs against, made ready before the first client starts.
//!
//! A target URL becomes a workload here: `tcp://` gets the request workload
//! after one preflight request of each kind (a wrong path is one clear error,
//! not N clients' retries); no target does the same against an embedded
//! tcp-serve (`perf::embedded`); `sftp://`
//! gets sftp-bench's chunk workload (`sftp`): uploads, downloads or both.
//!
//! [`Prepared::sweep`] is the one place where a target's driver is chosen:
//! every target runs on the load engine's thread-per-user driver today; an
//! event-loop driver for `tcp://` slots in there without touching the sweep.
//!
//! The `tcp://` and embedded targets' preparation stays here beside the one
//! `match` that picks a driver; the `sftp://` one is in `sftp`.

use super::embedded::EmbeddedTcp;
use super::sweep::{self, EventLoop, SweepConfig, SweepOutcome, Threads};
use super::PerfError;
use crate::load::{Pacing, StopAfter, Stopper, WorkloadShape};
use crate::perf::results::PointRun;
use crate::sftp::bench::{self as sftp_bench, BenchError};
use crate::sftp::client::{ClientConfig, SftpTarget};
use crate::sftp::workload::ChunkTransfer;
use crate::tcp::client::{ClientError, Connection};
use crate::tcp::server::TcpServeError;
use crate::tcp::workload::{Connections, RequestMix, TcpRequests};
use crate::units::{Bytes, Micros};
use rand::RngCore;
use std::sync::Arc;
use std::time::Duration;

mod sftp;
pub use sftp::SftpOptions;

/// A target as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetUrl {
    /// No target: an embedded tcp-serve.
    Embedded,
    /// `tcp://HOST:PORT/PATH`.
    Tcp { addr: String, path: String },
    /// `sftp://USER@HOST:PORT/DIR`.
    Sftp(SftpTarget),
}

/// Why a target could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("TARGET '{target}': {why} (expected tcp://HOST:PORT/PATH)")]
    TcpUrl { target: String, why: &'static str },
    #[error("TARGET {0}")]
    SftpUrl(crate::sftp::client::TargetError),
    #[error("TARGET '{0}' is not supported: use tcp://HOST:PORT/PATH or sftp://USER@HOST:PORT/DIR, or no target for an embedded server")]
    Unsupported(String),
    #[error("{flag} {size} is too large for this machine")]
    TooLarge { flag: &'static str, size: u64 },
    #[error("the embedded server's root {what}: {source}")]
    EmbeddedRoot {
        what: String,
        source: std::io::Error,
    },
    #[error("starting the embedded tcp-serve: {0}")]
    Embedded(TcpServeError),
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("{request} on {addr}: {source}")]
    Request {
        request: String,
        addr: String,
        source: ClientError,
    },
    #[error("{request} on {addr}: {status} {reason} ({hint})")]
    Status {
        request: String,
        addr: String,
        status: u16,
        reason: String,
        hint: &'static str,
    },
    #[error(transparent)]
    Sftp(#[from] BenchError),
    /// Ctrl-C during the preflight; what it left behind, if anything.
    #[error("interrupted before the first run; nothing was measured{}", left.as_deref().map(|w| format!(" ({w})")).unwrap_or_default())]
    Interrupted { left: Option<String> },
}

impl TargetError {
    /// Whether the error is in what the user typed (exit 2), not in the world.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            TargetError::TcpUrl { .. }
                | TargetError::SftpUrl(_)
                | TargetError::Unsupported(_)
                | TargetError::TooLarge { .. }
        ) || matches!(self, TargetError::Sftp(e) if e.is_usage())
    }
}

/// Parses a target URL; `None` is the embedded server.
pub fn parse_target(t: Option<&str>) -> Result<TargetUrl, TargetError> {
    let Some(t) = t else {
        return Ok(TargetUrl::Embedded);
    };
    if let Some(rest) = t.strip_prefix("tcp://") {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let bad = |why| TargetError::TcpUrl {
            target: t.to_string(),
            why,
        };
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| bad("the port is missing"))?;
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        port.parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        return Ok(TargetUrl::Tcp {
            addr: authority.to_string(),
            path: path.to_string(),
        });
    }
    if t.starts_with("sftp://") {
        return t.parse().map(TargetUrl::Sftp).map_err(TargetError::SftpUrl);
    }
    Err(TargetError::Unsupported(t.to_string()))
}

/// What HTTP requests are sent (validated).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestOptions {
    /// Size of the generated POST body (0 when only GETs are sent).
    pub post_size: u64,
    /// Fraction of requests that are POSTs, 0 to 1.
    pub post_ratio: f64,
    pub connections: Connections,
    /// Bounds the connect and every read or write.
    pub timeout: Duration,
    /// Event-loop threads that drive the connections (0: one per core).
    pub loop_threads: usize,
}

/// A validated target with what it needs to be made ready.
#[derive(Debug, Clone)]
pub enum TargetConfig {
    /// An embedded tcp-serve serving a generated file of `file_size` bytes.
    Embedded {
        file_size: u64,
        requests: RequestOptions,
    },
    Tcp {
        addr: String,
        path: String,
        requests: RequestOptions,
    },
    /// Chunk writes or reads, as sftp-bench does them.
    Sftp {
        client: ClientConfig,
        options: SftpOptions,
    },
}

impl TargetConfig {
    /// The phases a request of this target is timed in, so that `--fail-if`
    /// can refuse a phase it will never have before anything runs.
    pub fn phases(&self) -> &'static [&'static str] {
        match self {
            TargetConfig::Embedded { .. } | TargetConfig::Tcp { .. } => {
                crate::tcp::workload::PHASES
            }
            TargetConfig::Sftp { .. } => crate::sftp::client::PHASES,
        }
    }
}

enum Driven {
    /// Requests, and the event-loop threads that drive them.
    Tcp(TcpRequests, usize),
    /// The workload, and the source the preflight uploaded for downloads.
    Sftp(ChunkTransfer, Option<String>),
}

/// A target ready to sweep: its workload, and what must be undone after.
pub struct Prepared {
    driven: Driven,
    /// The global user ids this shard runs at some client count.
    own_users: std::collections::BTreeSet<u32>,
    embedded: Option<EmbeddedTcp>,
    /// A line about the target for stderr (the embedded server), if any.
    pub notice: Option<String>,
}

/// Makes `target` ready: starts the embedded server, sends the preflight
/// requests or logs in, and fills in `cfg.target` and `cfg.workload` (for
/// sftp, `cfg.stop` too: N requests become passes over a small file).
/// `keep_going` is asked during long preflight work (the upload of a
/// download source), which tidies up and ends with
/// [`TargetError::Interrupted`] when it says stop.
pub fn prepare(
    target: TargetConfig,
    cfg: &mut SweepConfig,
    keep_going: &dyn Fn() -> bool,
) -> Result<Prepared, TargetError> {
    let own_users = cfg
        .clients
        .iter()
        .flat_map(|&c| cfg.shard.users(c))
        .collect();
    match target {
        TargetConfig::Embedded {
            file_size,
            requests,
        } => {
            let server = EmbeddedTcp::start(file_size, *cfg.clients.last().unwrap_or(&1))?;
            let addr = server.addr().to_string();
            let w = tcp_requests(&requests, addr.clone(), "/data.bin", "/upload.bin")?;
            let body = preflight_tcp(&w)?;
            cfg.target = format!("tcp://{addr}/data.bin");
            cfg.workload = describe_tcp(&w, body, cfg);
            Ok(Prepared {
                own_users,
                driven: Driven::Tcp(w, requests.loop_threads),
                embedded: Some(server),
                notice: Some(format!(
                    "target: embedded tcp-serve on {addr} serving a generated {} file (removed at exit)",
                    Bytes(file_size)
                )),
            })
        }
        TargetConfig::Tcp {
            addr,
            path,
            requests,
        } => {
            let w = tcp_requests(&requests, addr.clone(), &path, &path)?;
            let body = preflight_tcp(&w)?;
            cfg.target = format!("tcp://{addr}{path}");
            cfg.workload = describe_tcp(&w, body, cfg);
            Ok(Prepared {
                own_users,
                driven: Driven::Tcp(w, requests.loop_threads),
                embedded: None,
                notice: None,
            })
        }
        TargetConfig::Sftp { client, options } => {
            let t = sftp::chunk_transfer(client, &options, cfg, keep_going)?;
            Ok(Prepared {
                own_users,
                driven: Driven::Sftp(t.workload, t.uploaded_source),
                embedded: None,
                notice: t.notice,
            })
        }
    }
}

impl Prepared {
    /// The name of the phase a threshold on `request`/`write` latency reads.
    pub fn response_phase(&self) -> &'static str {
        match &self.driven {
            Driven::Tcp(w, _) => w.phases()[w.response_phase()],
            Driven::Sftp(w, _) => w.phases()[w.response_phase()],
        }
    }

    /// Runs the sweep. This is where each target's driver is chosen.
    pub fn sweep(
        &self,
        cfg: &SweepConfig,
        stopper: &Stopper,
        on_run: impl FnMut(&PointRun),
    ) -> Result<SweepOutcome, PerfError> {
        match &self.driven {
            // HTTP requests can be non-blocking: an event loop, so that a
            // thread wake-up per request does not end up in the latency.
            Driven::Tcp(w, threads) => {
                sweep::run(&EventLoop::new(w, *threads), cfg, stopper, on_run)
            }
            // libssh2 is blocking: one thread per user is the only choice.
            Driven::Sftp(w, _) => sweep::run(&Threads(w), cfg, stopper, on_run),
        }
    }

    /// Removes what the sweep left: uploaded files (while `keep_going()`
    /// says so), the embedded server. Returns warnings for the caller to print.
    pub fn finish(self, keep_going: impl Fn() -> bool) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Driven::Sftp(w, uploaded_source) = &self.driven {
            let own = sftp_bench::cleanup_paths(
                &w.remote_paths,
                self.own_users.iter().copied(),
                &w.ops,
                uploaded_source.as_deref(),
            );
            warnings = sftp_bench::cleanup(&w.client, &own, keep_going).warnings;
        }
        if let Some(e) = self.embedded {
            e.shutdown();
        }
        warnings
    }
}

pub(super) fn random_bytes(len: u64, flag: &'static str) -> Result<Vec<u8>, TargetError> {
    let n = usize::try_from(len).map_err(|_| TargetError::TooLarge { flag, size: len })?;
    let mut data = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut data);
    Ok(data)
}

fn tcp_requests(
    o: &RequestOptions,
    addr: String,
    get_path: &str,
    post_path: &str,
) -> Result<TcpRequests, TargetError> {
    Ok(TcpRequests {
        addr,
        mix: RequestMix {
            get_path: get_path.to_string(),
            post_path: post_path.to_string(),
            post_body: Arc::from(random_bytes(o.post_size, "--post")?),
            post_ratio: o.post_ratio,
        },
        connections: o.connections,
        timeout: o.timeout,
    })
}

/// One request of each kind the sweep sends, so that a wrong path or a
/// refused POST is one clear error instead of N clients' retries. Returns the
/// GET body size, when GETs are sent.
fn preflight_tcp(w: &TcpRequests) -> Result<Option<u64>, TargetError> {
    let mut conn =
        Connection::connect(w.addr.as_str(), w.timeout).map_err(|source| TargetError::Connect {
            addr: w.addr.clone(),
            source,
        })?;
    let failed = |request: String, source| TargetError::Request {
        request,
        addr: w.addr.clone(),
        source,
    };
    let mut body = None;
    if w.mix.post_ratio < 1.0 {
        let request = format!("GET {}", w.mix.get_path);
        let r = conn
            .get(&w.mix.get_path, &mut std::io::sink())
            .map_err(|e| failed(request.clone(), e))?;
        if !r.is_success() {
            return Err(TargetError::Status {
                request,
                addr: w.addr.clone(),
                status: r.status,
                reason: r.reason,
                hint: "the sweep needs a path that answers 2xx",
            });
        }
        body = Some(r.body_bytes);
    }
    if w.mix.post_ratio > 0.0 {
        let request = format!("POST {}", w.mix.post_path);
        let r = conn
            .post(&w.mix.post_path, &w.mix.post_body)
            .map_err(|e| failed(request.clone(), e))?;
        if !r.is_success() {
            return Err(TargetError::Status {
                request,
                addr: w.addr.clone(),
                status: r.status,
                reason: r.reason,
                hint: "the server does not accept uploads there",
            });
        }
    }
    Ok(body)
}

/// How long each run lasts, for the one-line workload description.
pub(super) fn describe_length(cfg: &SweepConfig) -> String {
    let mut s = match cfg.stop {
        StopAfter::Duration(d) => format!("{} per run", Micros(d.as_micros() as u64)),
        StopAfter::Passes(n) => format!(
            "{} requests per client",
            cfg.requests_per_client.unwrap_or(n)
        ),
    };
    if let Pacing::Interval(i) = cfg.pacing {
        // Rounded, so that --rate 3 does not read 2.9999999999999996.
        let rate = (1e6 / i.as_secs_f64()).round() / 1e6;
        s.push_str(&format!(", {rate}/s per client"));
    }
    if cfg.repeat > 1 {
        s.push_str(&format!(", {} runs", cfg.repeat));
    }
    s
}

fn describe_tcp(w: &TcpRequests, get_body: Option<u64>, cfg: &SweepConfig) -> String {
    let get = format!(
        "GET {}{}",
        w.mix.get_path,
        get_body
            .map(|b| format!(" ({})", Bytes(b)))
            .unwrap_or_default()
    );
    let post = format!(
        "POST {} to {}",
        Bytes(w.mix.post_body.len() as u64),
        w.mix.post_path
    );
    let what = match w.mix.post_ratio {
        r if r <= 0.0 => get,
        r if r >= 1.0 => post,
        r => format!("{get} + {:.0}% {post}", r * 100.0),
    };
    let conn = match w.connections {
        Connections::KeepAlive => "keep-alive",
        Connections::NewConnection => "new connection per request",
    };
    format!("{what}, {conn}, {}", describe_length(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_or_name_the_problem() {
        assert!(matches!(
            parse_target(Some("tcp://127.0.0.1:8080/a/b.bin")).unwrap(),
            TargetUrl::Tcp { addr, path } if addr == "127.0.0.1:8080" && path == "/a/b.bin"
        ));
        assert!(matches!(
            parse_target(Some("tcp://localhost:80")).unwrap(),
            TargetUrl::Tcp { path, .. } if path == "/"
        ));
        assert!(matches!(parse_target(None).unwrap(), TargetUrl::Embedded));
        for (t, want) in [
            ("ftp://x", "not supported"),
            ("tcp://host/x", "port is missing"),
            ("tcp://:80/x", "host is empty"),
            ("tcp://h:0/x", "port is not a number"),
            ("sftp://", "host is empty"),
        ] {
            let e = parse_target(Some(t)).err().unwrap();
            assert!(e.is_usage(), "{t}: {e}");
            assert!(e.to_string().contains(want), "{t}: {e}");
        }
    }
}
