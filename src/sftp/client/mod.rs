//! The libssh2 client: one blocking SSH session per user thread, each phase of
//! getting to an open SFTP channel timed on its own (connect, handshake, auth,
//! sftp_init), every failure classified by a short stable kind.
//!
//! - [`target`]: `sftp://` targets and the default login name.
//! - [`error`]: what fails and how it is counted; libssh2's error codes.
//! - [`connect`](mod@connect): connect, authenticate, start SFTP; the polite goodbye.
//! - [`known_hosts`]: host-key trust.
//! - [`proxy`]: ProxyCommand / ProxyJump through a child process.
//! - [`ssh_config`]: `~/.ssh/config` (`-F`), read as OpenSSH reads it.
//! - [`ffi`]: libssh2 calls the ssh2 crate does not wrap.
//!
//! Facts measured on this machine (README, "What is measured") that shape
//! this code: TCP_NODELAY is worth 1.5-6x on small chunks; chacha20-poly1305
//! costs half the client CPU of AES in libssh2 (which encrypts AES 16 bytes
//! per call); libssh2 waits forever unless `set_timeout` is called.

pub mod connect;
pub mod error;
pub mod ffi;
pub mod known_hosts;
pub mod proxy;
pub mod ssh_config;
pub mod target;

pub use connect::{connect, session_info, ClientConfig, Connection, Credential, SessionInfo};
pub use error::{classify_io, classify_ssh, is_timeout, ConnectError, IoFailure};
pub use ffi::{libssh2_version, supported_ciphers};
pub use known_hosts::{fingerprint, key_type_name, HostKeyCheck, HostKeyTrust};
pub use proxy::ProxyCommand;
pub use ssh_config::{Origin, Provenance};
pub use target::{default_user, SftpTarget, TargetError, TargetParts};

/// Phase indices of an SFTP step; `PHASES[i]` is phase `i`'s name.
pub mod phase {
    pub const CONNECT: usize = 0;
    pub const HANDSHAKE: usize = 1;
    pub const AUTH: usize = 2;
    pub const SFTP_INIT: usize = 3;
    pub const OPEN: usize = 4;
    pub const WRITE: usize = 5;
    pub const VERIFY: usize = 6;
    pub const CLOSE: usize = 7;
    /// Appended after the upload phases so that older run directories'
    /// phase indices (and columns) stay as they were.
    pub const READ: usize = 8;
}

/// Names of the phases, in the order they happen (`read`, appended last to
/// keep older indices, takes `write`'s place in a download).
pub const PHASES: &[&str] = &[
    "connect",
    "handshake",
    "auth",
    "sftp_init",
    "open",
    "write",
    "verify",
    "close",
    "read",
];

/// Ciphers offered when none is pinned: chacha20 first (cheapest in libssh2).
pub const DEFAULT_CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes256-ctr";
