//! The server `sftp-bench` starts when it is given no target: an in-process
//! `sftp-serve` on 127.0.0.1:0 with a temporary root and throwaway
//! credentials, its host key trusted in-process. It makes `xfer sftp-bench`
//! alone a working demo, and a baseline with no network in the way.

use super::client::{Credential, HostKeyTrust, SftpTarget};
use super::server::{self, RunningSftpServer, SftpServeConfig, SftpServeError};
use rand::RngCore;
use std::net::SocketAddr;

/// A running embedded server; files live until it is dropped.
pub struct EmbeddedServer {
    server: RunningSftpServer,
    password: String,
    _root: tempfile::TempDir,
}

/// The user name the embedded server accepts.
pub const USER: &str = "xfer";

impl EmbeddedServer {
    pub fn start() -> Result<Self, SftpServeError> {
        let root = tempfile::Builder::new()
            .prefix("xfer-embedded-sftp-")
            .tempdir()
            .map_err(|source| SftpServeError::Root {
                path: std::env::temp_dir(),
                source,
            })?;
        let mut secret = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut secret);
        let password = hex::encode(secret);
        let server = server::spawn(SftpServeConfig {
            root: root.path().to_path_buf(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            user: USER.to_string(),
            password: Some(password.clone()),
            log_sessions: false,
            ..SftpServeConfig::default()
        })?;
        Ok(EmbeddedServer {
            server,
            password,
            _root: root,
        })
    }

    /// The target, credentials and host-key trust for a client of this
    /// server, writing into `dir` under its root (`/` by default).
    pub fn client(&self, dir: Option<&str>) -> (SftpTarget, Vec<Credential>, HostKeyTrust) {
        let addr = self.server.addr();
        let target = SftpTarget {
            user: USER.to_string(),
            host: addr.ip().to_string(),
            port: addr.port(),
            dir: dir.unwrap_or("/").to_string(),
        };
        let blob = self
            .server
            .host_key()
            .to_bytes()
            .expect("a key the server loaded always encodes");
        (
            target,
            vec![Credential::Password(self.password.clone())],
            HostKeyTrust::Pinned(blob),
        )
    }

    /// The server's root directory (temporary; removed on shutdown).
    pub fn root(&self) -> &std::path::Path {
        self.server.root()
    }

    pub fn shutdown(self) {
        self.server.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn clients_pin_the_key_the_server_announces() {
        let server = EmbeddedServer::start().unwrap();
        let (_, _, trust) = server.client(None);
        let announced = server.server.host_key_openssh();
        let b64 = announced.split_whitespace().nth(1).unwrap();
        let expected = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        match trust {
            HostKeyTrust::Pinned(blob) => assert_eq!(blob, expected),
            _ => panic!("the embedded server's key is not pinned"),
        }
        server.shutdown();
    }
}
