//! Getting to an open SFTP channel: TCP connect, SSH handshake, host-key
//! check, authentication and SFTP start, each timed as its own phase and
//! each failure classified; and the polite goodbye.

use super::error::{self, code, is_timeout, ConnectError};
use super::ffi::libssh2_version;
use super::known_hosts::{check_host_key, fingerprint, key_type_name, HostKeyTrust};
use super::proxy::{ProxyCommand, ProxyStream};
use super::{phase, SftpTarget};
use crate::load::PhaseTimer;
use ssh2::{MethodType, Session, Sftp};
use std::fmt;
use std::mem::ManuallyDrop;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

/// One way to authenticate; several are tried in order.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Password(String),
    KeyFile {
        path: PathBuf,
        passphrase: Option<String>,
    },
    Agent,
}

impl fmt::Debug for Credential {
    // Never print secrets, not even in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password(***)"),
            Credential::KeyFile { path, passphrase } => write!(
                f,
                "KeyFile({}{})",
                path.display(),
                if passphrase.is_some() {
                    ", passphrase ***"
                } else {
                    ""
                }
            ),
            Credential::Agent => f.write_str("Agent"),
        }
    }
}

impl Credential {
    fn describe(&self) -> String {
        match self {
            Credential::Password(_) => "password".into(),
            Credential::KeyFile { path, .. } => format!("key {}", path.display()),
            Credential::Agent => "ssh-agent".into(),
        }
    }
}

/// Everything needed to open an SFTP session.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub target: SftpTarget,
    pub credentials: Vec<Credential>,
    pub trust: HostKeyTrust,
    /// libssh2 cipher preference list (comma-separated).
    pub ciphers: String,
    pub connect_timeout: Duration,
    /// Longest libssh2 may block on one operation.
    pub io_timeout: Duration,
    /// Reach the server through this command's stdin/stdout instead of TCP
    /// (ssh config ProxyCommand / ProxyJump).
    pub proxy: Option<ProxyCommand>,
}

/// An authenticated session with an SFTP channel. Dropping it says goodbye
/// (see [`Connection::disconnect`]), so that every path, failed steps
/// included, ends the session cleanly.
pub struct Connection {
    pub session: Session,
    /// Dropped before the session's goodbye, so the channel closes first.
    pub sftp: ManuallyDrop<Sftp>,
    /// What the host-key check wants the user told (a key added to
    /// known_hosts); printed by whoever owns the terminal.
    pub notice: Option<String>,
    /// The session's socket, owned by `session`; kept for the goodbye.
    fd: RawFd,
    io_timeout: Duration,
}

/// Longest a goodbye waits for the server to close its side.
const GOODBYE_WAIT: Duration = Duration::from_secs(2);

impl Connection {
    /// The session's last libssh2 error code (ssh2's `io::Error`s do not
    /// carry it), to tell a lost connection from a refusal.
    pub fn last_error_code(&self) -> Option<i32> {
        match ssh2::Error::last_session_error(&self.session)?.code() {
            ssh2::ErrorCode::Session(c) => Some(c),
            ssh2::ErrorCode::SFTP(_) => Some(error::code::SFTP_PROTOCOL),
        }
    }

    /// Ends the session as OpenSSH's own client does: close the SFTP
    /// channel, send SSH_MSG_DISCONNECT, then let the server close the TCP
    /// connection first. Closing the socket at once makes the server's last
    /// writes (channel close, exit status) hit a closed socket, and a server
    /// logs "Broken pipe" or "Connection reset"; a session dropped without
    /// SSH_MSG_DISCONNECT is logged as a lost connection. Errors are
    /// irrelevant at this point. Same as dropping the connection.
    pub fn disconnect(self) {
        drop(self);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Safety: `sftp` is not used again; the session outlives it.
        unsafe { ManuallyDrop::drop(&mut self.sftp) };
        let _ = self.session.disconnect(None, "xfer done", None);
        wait_for_server_close(self.fd, self.io_timeout.min(GOODBYE_WAIT));
    }
}

/// Half-closes our side of `fd` and reads until the server closes its own
/// (or `wait` passes), so the server is never writing to a closed socket.
fn wait_for_server_close(fd: RawFd, wait: Duration) {
    use std::io::Read;
    use std::os::fd::FromRawFd;
    // Safety: `fd` is the session's open socket, which the session still
    // owns and closes; ManuallyDrop keeps this borrowed view from closing it.
    let stream = std::mem::ManuallyDrop::new(unsafe { TcpStream::from_raw_fd(fd) });
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let deadline = std::time::Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match (&*stream).read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// What the server negotiated, for `run.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionInfo {
    pub server_banner: String,
    pub kex: String,
    pub host_key_type: String,
    pub host_key_fingerprint: String,
    pub cipher_client_to_server: String,
    pub cipher_server_to_client: String,
    pub mac_client_to_server: String,
    pub libssh2_version: String,
}

/// Connects, handshakes, checks the host key, authenticates and starts SFTP,
/// timing each phase into `timer`.
pub fn connect(cfg: &ClientConfig, timer: &mut PhaseTimer) -> Result<Connection, ConnectError> {
    let addr = cfg.target.host_port();
    let mut session = Session::new().map_err(|e| ConnectError::Handshake {
        addr: addr.clone(),
        message: e.to_string(),
    })?;
    session.set_timeout(u32::try_from(cfg.io_timeout.as_millis()).unwrap_or(u32::MAX));
    // The proxy process, asked why when the handshake fails.
    let mut proxy = None;
    let fd = match &cfg.proxy {
        None => {
            let tcp = timer.time(phase::CONNECT, || tcp_connect(cfg))?;
            let fd = tcp.as_raw_fd();
            session.set_tcp_stream(tcp);
            fd
        }
        Some(cmd) => {
            let stream = timer
                .time(phase::CONNECT, || ProxyStream::spawn(cmd))
                .map_err(|cause| ConnectError::Proxy {
                    addr: addr.clone(),
                    message: format!("cannot start `{cmd}`: {cause}"),
                })?;
            let fd = stream.as_raw_fd();
            proxy = Some(stream.child());
            session.set_tcp_stream(stream);
            fd
        }
    };
    let prefs = session
        .method_pref(MethodType::CryptCs, &cfg.ciphers)
        .and_then(|()| session.method_pref(MethodType::CryptSc, &cfg.ciphers));
    if let Err(e) = prefs {
        return Err(ConnectError::Handshake {
            addr,
            message: format!("cipher list '{}': {e}", cfg.ciphers),
        });
    }
    timer
        .time(phase::HANDSHAKE, || session.handshake())
        .map_err(|e| {
            let proxy_said = proxy.as_ref().and_then(|p| p.exit_message(GOODBYE_WAIT));
            if let Some(message) = proxy_said {
                ConnectError::Proxy {
                    addr: addr.clone(),
                    message,
                }
            } else if is_timeout(&e) {
                ConnectError::Timeout {
                    addr: addr.clone(),
                    phase: "handshake",
                }
            } else {
                ConnectError::Handshake {
                    addr: addr.clone(),
                    message: e.message().to_string(),
                }
            }
        })?;
    // Past the handshake the server keeps state for us: a refusal from here
    // on still ends with a goodbye, as a finished session does.
    let logged_in = (|| {
        let notice = check_host_key(cfg, &session)?;
        timer.time(phase::AUTH, || authenticate(cfg, &session))?;
        let sftp = timer
            .time(phase::SFTP_INIT, || session.sftp())
            .map_err(|e| {
                if is_timeout(&e) {
                    ConnectError::Timeout {
                        addr: addr.clone(),
                        phase: "sftp_init",
                    }
                } else {
                    ConnectError::SftpInit {
                        addr: addr.clone(),
                        message: e.message().to_string(),
                    }
                }
            })?;
        Ok((notice, sftp))
    })();
    let (notice, sftp) = match logged_in {
        Ok(v) => v,
        Err(e) => {
            if !matches!(
                e,
                ConnectError::Dropped { .. } | ConnectError::Timeout { .. }
            ) {
                let _ = session.disconnect(None, "xfer: giving up", None);
                wait_for_server_close(fd, cfg.io_timeout.min(GOODBYE_WAIT));
            }
            return Err(e);
        }
    };
    Ok(Connection {
        session,
        sftp: ManuallyDrop::new(sftp),
        notice,
        fd,
        io_timeout: cfg.io_timeout,
    })
}

fn tcp_connect(cfg: &ClientConfig) -> Result<TcpStream, ConnectError> {
    let t = &cfg.target;
    let addr = t.host_port();
    let addrs: Vec<SocketAddr> = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|cause| ConnectError::Resolve {
            host: t.host.clone(),
            cause,
        })?
        .collect();
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, cfg.connect_timeout) {
            Ok(s) => {
                // Worth 1.5-6x on small chunks: libssh2 writes many small packets.
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            ConnectError::Refused { addr }
        }
        Some(e) if e.kind() == std::io::ErrorKind::TimedOut => ConnectError::ConnectTimeout {
            addr,
            timeout: cfg.connect_timeout,
        },
        Some(cause) => ConnectError::Connect { addr, cause },
        None => ConnectError::Resolve {
            host: t.host.clone(),
            cause: std::io::Error::new(std::io::ErrorKind::NotFound, "no address found"),
        },
    })
}

fn authenticate(cfg: &ClientConfig, session: &Session) -> Result<(), ConnectError> {
    let user = &cfg.target.user;
    let addr = cfg.target.host_port();
    let mut tried = Vec::new();
    for cred in &cfg.credentials {
        let result = match cred {
            Credential::Password(p) => session.userauth_password(user, p),
            Credential::KeyFile { path, passphrase } => {
                session.userauth_pubkey_file(user, None, path, passphrase.as_deref())
            }
            Credential::Agent => session.userauth_agent(user),
        };
        match result {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push(cred.describe()),
            Err(e) => match e.code() {
                ssh2::ErrorCode::Session(code::TIMEOUT) => {
                    return Err(ConnectError::Timeout {
                        addr,
                        phase: "auth",
                    })
                }
                ssh2::ErrorCode::Session(
                    code::AUTHENTICATION_FAILED | code::PUBLICKEY_UNVERIFIED,
                ) => tried.push(cred.describe()),
                ssh2::ErrorCode::Session(code::FILE) => tried.push(format!(
                    "{} (unreadable, or wrong passphrase: {})",
                    cred.describe(),
                    e.message()
                )),
                ssh2::ErrorCode::Session(code::AGENT_PROTOCOL) | ssh2::ErrorCode::SFTP(_) => {
                    tried.push(format!("{} ({})", cred.describe(), e.message()))
                }
                // An agent that fails for its own reasons is one credential
                // that did not work; a socket error is the server gone.
                ssh2::ErrorCode::Session(c)
                    if cred == &Credential::Agent
                        && c != code::SOCKET_RECV
                        && c != code::SOCKET_SEND =>
                {
                    tried.push(format!("{} ({})", cred.describe(), e.message()))
                }
                _ => {
                    return Err(ConnectError::Dropped {
                        addr,
                        phase: "auth",
                        message: e.message().to_string(),
                    })
                }
            },
        }
    }
    Err(ConnectError::Auth {
        user: user.clone(),
        addr,
        tried: if tried.is_empty() {
            "no credentials".into()
        } else {
            tried.join(", ")
        },
    })
}

/// The negotiated algorithms and server identity of a session.
pub fn session_info(session: &Session) -> SessionInfo {
    let m = |t| session.methods(t).unwrap_or("").to_string();
    let (fp, kt) = session
        .host_key()
        .map(|(blob, t)| (fingerprint(blob), key_type_name(t).to_string()))
        .unwrap_or_default();
    SessionInfo {
        server_banner: session.banner().unwrap_or("").to_string(),
        kex: m(MethodType::Kex),
        host_key_type: kt,
        host_key_fingerprint: fp,
        cipher_client_to_server: m(MethodType::CryptCs),
        cipher_server_to_client: m(MethodType::CryptSc),
        // AEAD ciphers carry their own integrity; libssh2 still names a MAC.
        mac_client_to_server: if m(MethodType::CryptCs).contains("gcm")
            || m(MethodType::CryptCs).contains("poly1305")
        {
            "implicit (AEAD cipher)".to_string()
        } else {
            m(MethodType::MacCs)
        },
        libssh2_version: libssh2_version(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = Credential::Password("hunter2".into());
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
