//! How the client fails, in words a user can act on: [`ConnectError`] for
//! getting to an open SFTP channel, [`IoFailure`] for a failed write, read or
//! close on one, and the libssh2 error codes that tell "the server said no"
//! from "the connection is gone".
//!
//! Display strings carry their cause in the text and the cause is not also
//! an error `source`: `xfer: error: {err:#}` prints the chain, and a cause in
//! both would be printed twice.

use std::time::Duration;

/// libssh2 error codes this client tells apart (libssh2.h).
pub mod code {
    pub const SOCKET_SEND: i32 = -7;
    pub const TIMEOUT: i32 = -9;
    pub const SOCKET_DISCONNECT: i32 = -13;
    pub const FILE: i32 = -16;
    pub const AUTHENTICATION_FAILED: i32 = -18;
    pub const PUBLICKEY_UNVERIFIED: i32 = -19;
    pub const CHANNEL_CLOSED: i32 = -26;
    pub const CHANNEL_EOF_SENT: i32 = -27;
    pub const SOCKET_TIMEOUT: i32 = -30;
    /// The server answered with an SFTP status other than OK.
    pub const SFTP_PROTOCOL: i32 = -31;
    pub const AGENT_PROTOCOL: i32 = -42;
    pub const SOCKET_RECV: i32 = -43;
}

/// Whether an ssh2 error is libssh2's timeout.
pub fn is_timeout(e: &ssh2::Error) -> bool {
    matches!(e.code(), ssh2::ErrorCode::Session(code::TIMEOUT))
}

/// Whether a libssh2 session code means the connection is gone (the peer
/// closed or reset it), as opposed to the server refusing a request.
pub fn is_connection_lost(session_code: i32) -> bool {
    matches!(
        session_code,
        code::SOCKET_SEND
            | code::SOCKET_RECV
            | code::SOCKET_DISCONNECT
            | code::CHANNEL_CLOSED
            | code::CHANNEL_EOF_SENT
    )
}

/// A failure to connect, log in or open SFTP.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot resolve {host}: {cause}")]
    Resolve { host: String, cause: std::io::Error },
    #[error("connection to {addr} refused")]
    Refused { addr: String },
    #[error("connecting to {addr} timed out after {timeout:?}")]
    ConnectTimeout { addr: String, timeout: Duration },
    #[error("connecting to {addr}: {cause}")]
    Connect { addr: String, cause: std::io::Error },
    #[error("SSH handshake with {addr} failed: {message} (a server over its MaxStartups drops connections like this)")]
    Handshake { addr: String, message: String },
    /// The ProxyCommand / ProxyJump process failed to start or exited.
    #[error("reaching {addr} through the proxy: {message}")]
    Proxy { addr: String, message: String },
    #[error("{addr} timed out during {phase}")]
    Timeout { addr: String, phase: &'static str },
    #[error("host key of {host} is not known ({fingerprint}, {key_type}). If you trust it, rerun with --host-key-check accept-new, or add it yourself: ssh-keyscan -p {port} {hostname} >> {file}")]
    HostKeyUnknown {
        host: String,
        hostname: String,
        port: u16,
        fingerprint: String,
        key_type: String,
        file: String,
    },
    #[error("HOST KEY MISMATCH for {host}: the server presented {fingerprint} ({key_type}), which is not the key on record in {source_of_trust}. Someone may be intercepting the connection, or the server was reinstalled")]
    HostKeyMismatch {
        host: String,
        fingerprint: String,
        key_type: String,
        source_of_trust: String,
    },
    #[error("known hosts file {file}: {message}")]
    KnownHosts { file: String, message: String },
    #[error("authentication failed for {user}@{addr} (tried: {tried})")]
    Auth {
        user: String,
        addr: String,
        tried: String,
    },
    #[error("{addr} dropped the connection during {phase}: {message}")]
    Dropped {
        addr: String,
        phase: &'static str,
        message: String,
    },
    #[error("starting SFTP on {addr}: {message}")]
    SftpInit { addr: String, message: String },
}

impl ConnectError {
    /// Short stable name for counting.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectError::Resolve { .. } => "resolve",
            ConnectError::Refused { .. } => "refused",
            ConnectError::ConnectTimeout { .. } | ConnectError::Timeout { .. } => "timeout",
            ConnectError::Connect { .. } => "connect",
            ConnectError::Handshake { .. } => "handshake",
            ConnectError::Proxy { .. } => "proxy",
            ConnectError::HostKeyUnknown { .. }
            | ConnectError::HostKeyMismatch { .. }
            | ConnectError::KnownHosts { .. } => "host_key",
            ConnectError::Auth { .. } => "auth",
            ConnectError::Dropped { .. } => "dropped",
            ConnectError::SftpInit { .. } => "sftp_init",
        }
    }

    /// Errors that must stop a run that is under way: a host key that is
    /// not the one trusted. A failed login or name lookup is not among them:
    /// the run's preflight connection proved both, so during the run they are
    /// the server or resolver under load, and they are retried. (Before the
    /// run, the preflight reports every error at once.)
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ConnectError::HostKeyUnknown { .. }
                | ConnectError::HostKeyMismatch { .. }
                | ConnectError::KnownHosts { .. }
        )
    }
}

/// What went wrong with an SFTP operation on an open channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoFailure {
    /// `dropped`, `timeout`, `short_write`, or the operation's own kind.
    pub kind: &'static str,
    /// What happened, in words; the caller adds what it was doing.
    pub message: String,
    /// The server refused in a way a retry will not change (full disk,
    /// permission denied).
    pub permanent: bool,
}

/// Classifies a failed SFTP operation from the I/O error ssh2 returned and
/// the session's last libssh2 error (ssh2's `io::Error` keeps only the
/// message, so the code comes from the session).
pub fn classify_io(
    err: &std::io::Error,
    session_code: Option<i32>,
    otherwise: &'static str,
) -> IoFailure {
    use std::io::ErrorKind;
    let text = err.to_string();
    let lost = session_code.is_some_and(is_connection_lost)
        || matches!(
            err.kind(),
            ErrorKind::BrokenPipe
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::UnexpectedEof
        );
    let failure = |kind, message: String, permanent| IoFailure {
        kind,
        message,
        permanent,
    };
    if err.kind() == ErrorKind::TimedOut
        || matches!(session_code, Some(code::TIMEOUT | code::SOCKET_TIMEOUT))
    {
        return failure("timeout", format!("timed out ({text})"), false);
    }
    if lost {
        return failure(
            "dropped",
            format!("the connection was lost ({text})"),
            false,
        );
    }
    if err.kind() == ErrorKind::WriteZero {
        return failure("short_write", text, false);
    }
    if session_code == Some(code::SFTP_PROTOCOL) || session_code.is_none() {
        // ssh2 words SFTP statuses as in its table: "failure" is
        // SSH_FX_FAILURE, which OpenSSH's sftp-server (protocol 3) also
        // sends for ENOSPC, EDQUOT and EFBIG.
        match text.as_str() {
            "failure" => {
                return failure(
                    otherwise,
                    "the server reported a failure (SFTP status FAILURE); this is what a full disk or an exceeded quota looks like".into(),
                    true,
                )
            }
            "no space on filesystem" | "quota exceeded" => {
                return failure(otherwise, format!("the server reported: {text}"), true)
            }
            "permission denied" | "file is write protected" | "operation unsupported" => {
                return failure(otherwise, format!("the server refused: {text}"), true)
            }
            _ => {}
        }
    }
    failure(otherwise, text, false)
}

/// [`classify_io`] for an error ssh2 returned as itself (open, stat, close).
pub fn classify_ssh(err: &ssh2::Error, otherwise: &'static str) -> IoFailure {
    let session_code = match err.code() {
        ssh2::ErrorCode::Session(c) => c,
        ssh2::ErrorCode::SFTP(_) => code::SFTP_PROTOCOL,
    };
    let io = std::io::Error::other(err.message().to_string());
    classify_io(&io, Some(session_code), otherwise)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn a_lost_connection_is_dropped_whatever_the_operation() {
        let e = Error::other("Unable to send FXP_WRITE");
        let f = classify_io(&e, Some(code::SOCKET_SEND), "write");
        assert_eq!((f.kind, f.permanent), ("dropped", false));
        let e = Error::new(ErrorKind::ConnectionReset, "reset");
        assert_eq!(classify_io(&e, None, "write").kind, "dropped");
        let e = Error::other("x");
        assert_eq!(
            classify_io(&e, Some(code::SOCKET_RECV), "close").kind,
            "dropped"
        );
    }

    #[test]
    fn a_server_failure_says_it_may_be_a_full_disk_and_is_permanent() {
        let e = Error::other("failure");
        let f = classify_io(&e, Some(code::SFTP_PROTOCOL), "write");
        assert_eq!((f.kind, f.permanent), ("write", true));
        assert!(f.message.contains("full disk"), "{}", f.message);
        let e = Error::other("permission denied");
        assert!(classify_io(&e, Some(code::SFTP_PROTOCOL), "open").permanent);
    }

    #[test]
    fn timeouts_and_short_writes_keep_their_kinds() {
        let e = Error::new(ErrorKind::TimedOut, "timed out");
        assert_eq!(classify_io(&e, None, "write").kind, "timeout");
        let e = Error::new(ErrorKind::WriteZero, "zero");
        assert_eq!(classify_io(&e, None, "write").kind, "short_write");
        let e = Error::other("odd");
        let f = classify_io(&e, Some(-99), "write");
        assert_eq!((f.kind, f.permanent), ("write", false));
    }

    #[test]
    fn causes_print_once_in_an_error_chain() {
        let e = ConnectError::Connect {
            addr: "h:22".into(),
            cause: Error::new(ErrorKind::PermissionDenied, "Permission denied"),
        };
        let chain = format!("{:#}", anyhow::Error::new(e));
        assert_eq!(chain.matches("Permission denied").count(), 1, "{chain}");
    }
}
