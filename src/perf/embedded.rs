//! The server `perf` sweeps when it is given no target: an in-process
//! tcp-serve on 127.0.0.1:0 serving a generated `data.bin` from a temporary
//! root (the twin of `sftp::embedded` for sftp-bench). It makes `xfer perf`
//! alone a working demo, and a baseline with no network in the way.

use super::target::{random_bytes, TargetError};
use crate::tcp::server::{self as tcp_server, RunningTcpServer, TcpServeConfig};

/// tcp-serve on 127.0.0.1:0 serving a generated `data.bin` from a temp root.
pub struct EmbeddedTcp {
    server: RunningTcpServer,
    _root: tempfile::TempDir,
}

impl EmbeddedTcp {
    pub fn start(file_size: u64, max_clients: u32) -> Result<Self, TargetError> {
        let root = tempfile::Builder::new()
            .prefix("xfer-embedded-tcp-")
            .tempdir()
            .map_err(|source| TargetError::EmbeddedRoot {
                what: format!("in {}", std::env::temp_dir().display()),
                source,
            })?;
        let data = random_bytes(file_size, "--file-size")?;
        let file = root.path().join("data.bin");
        std::fs::write(&file, &data).map_err(|source| TargetError::EmbeddedRoot {
            what: format!("file {}", file.display()),
            source,
        })?;
        let server = tcp_server::spawn(TcpServeConfig {
            root: root.path().to_path_buf(),
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            // Every client holds a connection, plus warm-up stragglers.
            max_connections: (max_clients as usize * 2).max(256),
            ..TcpServeConfig::default()
        })
        .map_err(TargetError::Embedded)?;
        Ok(EmbeddedTcp {
            server,
            _root: root,
        })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// Stops the server; the root and its file go with `self`.
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}
