//! `xfer tcp-serve`: flags of the threaded file server, validated into a
//! [`TcpServeConfig`]; the server runs until SIGINT or SIGTERM.

use crate::tcp::server::{self, TcpServeConfig, TcpServeError};
use crate::usage;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Serve files under --root over an HTTP/1.1 subset (GET, HEAD, POST).
///
/// Idle timeout: with ACTIVE other connections open, an idle keep-alive
/// connection is closed after T = max(--timeout-min, --timeout-base * (1 -
/// ACTIVE / --max-connections)), rounded to whole seconds, at least 1 s,
/// recomputed while it waits; every response advertises it as
/// `Keep-Alive: timeout=T`. Uploads (POST with
/// Content-Length; chunked is refused with 411) are written to a temporary
/// file and renamed into place.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Idle timeout: with ACTIVE other connections open (a lone client gets --timeout-base), an
idle keep-alive connection is closed after
  T = max(--timeout-min, --timeout-base * (1 - ACTIVE / --max-connections))
rounded to whole seconds (at least 1s), recomputed while it waits (so it shrinks as the
server fills up), advertised on every keep-alive response as `Keep-Alive: timeout=T`. Uploads: POST with Content-Length (chunked gets 411), written to a
temporary file in the target directory, fsynced and renamed into place.

Connection cap: when --max-connections are open, a new connection takes the place of the
one that has waited longest for a request head (idle keep-alive, or a head still arriving,
e.g. a slow sender), which is closed. Only when every connection is serving a complete
request does the newcomer get 503 with Retry-After: 1. Slow senders therefore cannot lock
out complete requests, even by reconnecting.

Slow bodies: an upload body, and a file sent to a client, must keep up with --min-rate on
average. It starts with --read-timeout of credit, every byte earns 1/--min-rate seconds
(never more than --read-timeout ahead), time spends it; at zero an upload is cut off with
408 and its temporary file removed, a download is closed. So a steady sender below the rate is cut off, one at or above it
never, and a pause may last up to --read-timeout. When the server is full, a body below
--min-rate on average since it started also gives up its connection to a newcomer, as an
incomplete head does.")]
pub struct TcpServeArgs {
    /// Directory to serve; nothing outside it is read or written.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Connections open at once. When full, the one waiting longest for a
    /// request head makes room; if all are serving requests, 503.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 256,
        allow_negative_numbers = true
    )]
    pub max_connections: usize,
    /// Idle timeout of a keep-alive connection on an otherwise idle server
    /// (no other connection open); shrinks as others connect.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = super::duration_arg)]
    pub timeout_base: Duration,
    /// Lowest idle timeout, however busy the server is.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = super::duration_arg)]
    pub timeout_min: Duration,
    /// Largest upload accepted (413 above), e.g. 64M, 1GiB.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = super::size_arg)]
    pub max_upload: u64,
    /// Longest wait for any single read of a request (slow senders get 408).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::duration_arg)]
    pub read_timeout: Duration,
    /// Longest time to receive a whole header block.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::duration_arg)]
    pub header_timeout: Duration,
    /// Slowest upload body or download kept, in bytes per second on average
    /// (e.g. 500, 1KiB, 1M/s); slower uploads get 408, slower readers are
    /// disconnected. 0 turns it off.
    #[arg(long, value_name = "RATE", default_value = "1KiB/s", value_parser = rate_arg)]
    pub min_rate: u64,
}

/// clap value parser for a rate in bytes per second: a size, `/s` optional.
fn rate_arg(s: &str) -> Result<u64, String> {
    super::size_arg(s.trim().strip_suffix("/s").unwrap_or(s)).map_err(|_| {
        format!("'{s}' is not a rate: bytes per second, e.g. 0 (off), 500, 1KiB/s, 1M/s")
    })
}

impl TcpServeArgs {
    /// Checks flag combinations and builds the server configuration.
    pub fn into_config(self) -> anyhow::Result<TcpServeConfig> {
        if self.max_connections == 0 {
            return Err(usage!("--max-connections must be at least 1, got 0"));
        }
        for (flag, d) in [
            ("--timeout-base", self.timeout_base),
            ("--read-timeout", self.read_timeout),
            ("--header-timeout", self.header_timeout),
        ] {
            if d.is_zero() {
                return Err(usage!("{flag} must be more than 0"));
            }
        }
        if self.timeout_min > self.timeout_base {
            return Err(usage!(
                "--timeout-min ({:?}) must not exceed --timeout-base ({:?})",
                self.timeout_min,
                self.timeout_base
            ));
        }
        if !self.root.is_dir() {
            return Err(usage!(
                "--root {}: not an existing directory",
                self.root.display()
            ));
        }
        Ok(TcpServeConfig {
            root: self.root,
            listen: self.listen,
            max_connections: self.max_connections,
            timeout_base: self.timeout_base,
            timeout_min: self.timeout_min,
            max_upload: self.max_upload,
            read_timeout: self.read_timeout,
            header_deadline: self.header_timeout,
            min_rate: self.min_rate,
            ..TcpServeConfig::default()
        })
    }
}

pub fn run(args: TcpServeArgs) -> anyhow::Result<ExitCode> {
    let config = args.into_config()?;
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })?;
    let server = server::spawn(config).map_err(|e| match e {
        // The address is not on this machine, taken, or privileged: the
        // flag is what to change.
        TcpServeError::Bind { addr, error } => {
            usage!("--listen {addr}: {error} (choose another address, or port 0 for any free port)")
        }
        other => anyhow::Error::new(other),
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "xfer tcp-serve listening on {} root={}",
        server.addr(),
        server.root().display()
    )?;
    out.flush()?;
    drop(out);
    let _ = rx.recv();
    server.shutdown();
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_a_size_per_second() {
        assert_eq!(rate_arg("1KiB/s"), Ok(1024));
        assert_eq!(rate_arg("500"), Ok(500));
        assert_eq!(rate_arg("1M"), Ok(1 << 20));
        assert_eq!(rate_arg("0"), Ok(0));
        let e = rate_arg("fast").unwrap_err();
        assert!(e.starts_with("'fast' is not a rate"), "{e}");
        assert!(rate_arg("1K/min").is_err());
    }
}
