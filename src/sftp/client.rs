//! The libssh2 client: one blocking SSH session per user thread, each phase of
//! getting to an open SFTP channel timed on its own (connect, handshake, auth,
//! sftp_init), every failure classified by a short stable kind.
//!
//! Facts measured on this machine kind (see DESIGN.md) that shape this code:
//! TCP_NODELAY is worth 1.5-6x on small chunks; chacha20-poly1305 costs half the
//! client CPU of AES in libssh2 (which encrypts AES 16 bytes per call); libssh2
//! waits forever unless `set_timeout` is called.

use crate::load::PhaseTimer;
use base64::Engine as _;
use ssh2::{CheckResult, HostKeyType, KnownHostFileKind, MethodType, Session, Sftp};
use std::fmt;
use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

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
}

/// Names of the phases, in the order they happen.
pub const PHASES: &[&str] = &[
    "connect",
    "handshake",
    "auth",
    "sftp_init",
    "open",
    "write",
    "verify",
    "close",
];

/// Ciphers offered when none is pinned: chacha20 first (cheapest in libssh2).
pub const DEFAULT_CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes256-ctr";

/// `sftp://[USER@]HOST[:PORT][/DIR]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SftpTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
    /// Remote directory; relative paths are relative to the login directory.
    pub dir: String,
}

impl fmt::Display for SftpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An absolute DIR prints as `//abs/dir`, which parses back to itself.
        write!(f, "sftp://{}@{}/{}", self.user, self.host_port(), self.dir)
    }
}

impl SftpTarget {
    /// `host:port`, with IPv6 hosts in brackets.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The host as OpenSSH writes it in known_hosts: `host` on port 22,
    /// `[host]:port` elsewhere.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

/// Why an `sftp://` target did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not an SFTP target: {why} (expected sftp://[USER@]HOST[:PORT][/DIR])")]
pub struct TargetError {
    input: String,
    why: &'static str,
}

impl FromStr for SftpTarget {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| TargetError {
            input: s.to_string(),
            why,
        };
        let rest = s
            .strip_prefix("sftp://")
            .ok_or_else(|| err("it must start with sftp://"))?;
        let (authority, dir) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i + 1..].to_string()),
            None => (rest, String::new()),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) if !u.is_empty() => (u.to_string(), h),
            Some(_) => return Err(err("the user name is empty")),
            None => (default_user(), authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| err("an IPv6 address needs a closing ]"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(err("unexpected text after the IPv6 address")),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(err("the host is empty"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| err("the port is not a number from 1 to 65535"))?,
            None => 22,
        };
        let dir = if dir.is_empty() { ".".to_string() } else { dir };
        Ok(SftpTarget {
            user,
            host: host.to_string(),
            port,
            dir,
        })
    }
}

/// The login name to use when a target names none: `$USER`, else the name of
/// the effective user (containers often leave `$USER` unset).
pub fn default_user() -> String {
    if let Some(u) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        return u;
    }
    // Safety: getpwuid returns null or a pointer to a static passwd entry,
    // read at once before any other call could overwrite it.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_string_lossy()
                .into_owned();
        }
    }
    "root".to_string()
}

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

/// How an unknown host key is treated (OpenSSH's StrictHostKeyChecking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyCheck {
    /// Only keys already in known_hosts are accepted.
    Strict,
    /// Unknown keys are added to known_hosts; changed keys are refused.
    AcceptNew,
    /// Any key is accepted (tests on throwaway servers only).
    Off,
}

/// Which host key the client trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyTrust {
    KnownHosts {
        file: PathBuf,
        check: HostKeyCheck,
    },
    /// Exactly this raw key blob (after a first connection checked it, or for
    /// the embedded server whose key is known in-process).
    Pinned(Vec<u8>),
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
}

/// An authenticated session with an SFTP channel.
pub struct Connection {
    pub session: Session,
    pub sftp: Sftp,
}

impl Connection {
    /// Ends the session politely; errors are irrelevant at this point.
    pub fn disconnect(self) {
        let Connection { session, sftp } = self;
        drop(sftp);
        let _ = session.disconnect(None, "xfer done", None);
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

/// A failure to connect, log in or open SFTP.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("connection to {addr} refused")]
    Refused { addr: String },
    #[error("connecting to {addr} timed out after {timeout:?}")]
    ConnectTimeout { addr: String, timeout: Duration },
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("SSH handshake with {addr} failed: {message} (a server over its MaxStartups drops connections like this)")]
    Handshake { addr: String, message: String },
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

const LIBSSH2_ERROR_TIMEOUT: i32 = -9;

/// Whether an ssh2 error is libssh2's timeout.
pub fn is_timeout(e: &ssh2::Error) -> bool {
    matches!(e.code(), ssh2::ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT))
}

/// Connects, handshakes, checks the host key, authenticates and starts SFTP,
/// timing each phase into `timer`.
pub fn connect(cfg: &ClientConfig, timer: &mut PhaseTimer) -> Result<Connection, ConnectError> {
    let addr = cfg.target.host_port();
    let tcp = timer.time(phase::CONNECT, || tcp_connect(cfg))?;
    let mut session = Session::new().map_err(|e| ConnectError::Handshake {
        addr: addr.clone(),
        message: e.to_string(),
    })?;
    session.set_timeout(u32::try_from(cfg.io_timeout.as_millis()).unwrap_or(u32::MAX));
    session.set_tcp_stream(tcp);
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
            if is_timeout(&e) {
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
    check_host_key(cfg, &session)?;
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
    Ok(Connection { session, sftp })
}

fn tcp_connect(cfg: &ClientConfig) -> Result<TcpStream, ConnectError> {
    let t = &cfg.target;
    let addr = t.host_port();
    let addrs: Vec<SocketAddr> = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|source| ConnectError::Resolve {
            host: t.host.clone(),
            source,
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
        Some(source) => ConnectError::Connect { addr, source },
        None => ConnectError::Resolve {
            host: t.host.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address found"),
        },
    })
}

/// The OpenSSH name of a host key type.
pub fn key_type_name(t: HostKeyType) -> &'static str {
    match t {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

/// `SHA256:<base64>` of a raw key blob, as `ssh-keygen -lf` prints it.
pub fn fingerprint(blob: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

fn check_host_key(cfg: &ClientConfig, session: &Session) -> Result<(), ConnectError> {
    let t = &cfg.target;
    let (blob, key_type) = session.host_key().ok_or_else(|| ConnectError::Handshake {
        addr: t.host_port(),
        message: "the server sent no host key".into(),
    })?;
    let fp = fingerprint(blob);
    let type_name = key_type_name(key_type).to_string();
    match &cfg.trust {
        HostKeyTrust::Pinned(pinned) if pinned.as_slice() == blob => Ok(()),
        HostKeyTrust::Pinned(pinned) => Err(ConnectError::HostKeyMismatch {
            host: t.host_port(),
            fingerprint: fp,
            key_type: type_name,
            source_of_trust: format!("this run (first seen as {})", fingerprint(pinned)),
        }),
        HostKeyTrust::KnownHosts {
            check: HostKeyCheck::Off,
            ..
        } => Ok(()),
        HostKeyTrust::KnownHosts { file, check } => {
            let kh_err = |message: String| ConnectError::KnownHosts {
                file: file.display().to_string(),
                message,
            };
            let mut kh = session.known_hosts().map_err(|e| kh_err(e.to_string()))?;
            if file.exists() {
                kh.read_file(file, KnownHostFileKind::OpenSSH)
                    .map_err(|e| kh_err(e.message().to_string()))?;
            }
            match kh.check_port(&t.host, t.port, blob) {
                CheckResult::Match => Ok(()),
                CheckResult::Mismatch => Err(ConnectError::HostKeyMismatch {
                    host: t.known_hosts_name(),
                    fingerprint: fp,
                    key_type: type_name,
                    source_of_trust: file.display().to_string(),
                }),
                CheckResult::NotFound if *check == HostKeyCheck::AcceptNew => {
                    // Appended by hand: libssh2's write_file would rewrite the
                    // whole file and drop what it cannot parse.
                    let line = format!(
                        "{} {} {}\n",
                        t.known_hosts_name(),
                        type_name,
                        base64::engine::general_purpose::STANDARD.encode(blob)
                    );
                    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(|e| kh_err(e.to_string()))?;
                    }
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(file)
                        .and_then(|mut f| f.write_all(line.as_bytes()))
                        .map_err(|e| kh_err(e.to_string()))?;
                    eprintln!(
                        "xfer: added host key of {} ({fp}, {type_name}) to {}",
                        t.known_hosts_name(),
                        file.display()
                    );
                    Ok(())
                }
                CheckResult::NotFound => Err(ConnectError::HostKeyUnknown {
                    host: t.known_hosts_name(),
                    hostname: t.host.clone(),
                    port: t.port,
                    fingerprint: fp,
                    key_type: type_name,
                    file: file.display().to_string(),
                }),
                CheckResult::Failure => Err(kh_err("libssh2 could not check the host key".into())),
            }
        }
    }
}

/// libssh2 codes that mean "the server said no", as opposed to a dropped socket.
const LIBSSH2_ERROR_FILE: i32 = -16;
const LIBSSH2_ERROR_AUTHENTICATION_FAILED: i32 = -18;
const LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED: i32 = -19;
const LIBSSH2_ERROR_AGENT_PROTOCOL: i32 = -42;

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
                ssh2::ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT) => {
                    return Err(ConnectError::Timeout {
                        addr,
                        phase: "auth",
                    })
                }
                ssh2::ErrorCode::Session(
                    LIBSSH2_ERROR_AUTHENTICATION_FAILED | LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED,
                ) => tried.push(cred.describe()),
                ssh2::ErrorCode::Session(LIBSSH2_ERROR_FILE) => tried.push(format!(
                    "{} (unreadable, or wrong passphrase: {})",
                    cred.describe(),
                    e.message()
                )),
                ssh2::ErrorCode::Session(LIBSSH2_ERROR_AGENT_PROTOCOL)
                | ssh2::ErrorCode::SFTP(_) => {
                    tried.push(format!("{} ({})", cred.describe(), e.message()))
                }
                ssh2::ErrorCode::Session(c)
                    if cred == &Credential::Agent && c != -43 && c != -7 =>
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

mod ffi {
    extern "C" {
        // Part of libssh2's public API; libssh2-sys links the library but does
        // not declare this one.
        pub fn libssh2_version(required: std::os::raw::c_int) -> *const std::os::raw::c_char;
    }
}

/// The version of the libssh2 linked into this binary.
pub fn libssh2_version() -> String {
    // Safety: with 0 as the required version libssh2 returns a pointer to its
    // static version string, never null.
    unsafe { std::ffi::CStr::from_ptr(ffi::libssh2_version(0)) }
        .to_string_lossy()
        .into_owned()
}

/// The ciphers this libssh2 supports for client-to-server traffic.
pub fn supported_ciphers() -> Vec<&'static str> {
    Session::new()
        .and_then(|s| s.supported_algs(MethodType::CryptCs))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_defaults() {
        let t: SftpTarget = "sftp://alice@example.com:2222/upload/in".parse().unwrap();
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port, t.dir.as_str()),
            ("alice", "example.com", 2222, "upload/in")
        );
        assert_eq!(t.known_hosts_name(), "[example.com]:2222");
        let t: SftpTarget = "sftp://bob@host".parse().unwrap();
        assert_eq!((t.port, t.dir.as_str()), (22, "."));
        assert_eq!(t.known_hosts_name(), "host");
        let t: SftpTarget = "sftp://carol@[::1]:2022//abs".parse().unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.dir.as_str()),
            ("::1", 2022, "/abs")
        );
        assert_eq!(t.host_port(), "[::1]:2022");
    }

    #[test]
    fn targets_print_back_to_what_parses_to_them() {
        for s in [
            "sftp://a@h:22/rel/dir",
            "sftp://a@h:2222//abs/dir",
            "sftp://a@[::1]:22/.",
        ] {
            let t: SftpTarget = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
            assert_eq!(t.to_string().parse::<SftpTarget>().unwrap(), t);
        }
    }

    #[test]
    fn bad_targets_say_why() {
        for (s, why) in [
            ("ftp://h", "sftp://"),
            ("sftp://@h", "user name"),
            ("sftp://u@:22", "host is empty"),
            ("sftp://u@h:0", "port"),
            ("sftp://u@h:x", "port"),
            ("sftp://u@[::1", "closing ]"),
        ] {
            let e = s.parse::<SftpTarget>().unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn fingerprints_match_ssh_keygen() {
        // ssh-keygen -lf of this ed25519 public key prints this fingerprint.
        let blob = base64::engine::general_purpose::STANDARD
            .decode("AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
            .unwrap();
        assert_eq!(
            fingerprint(&blob),
            "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = Credential::Password("hunter2".into());
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn the_linked_libssh2_offers_chacha20() {
        assert!(libssh2_version().starts_with("1."));
        assert!(
            supported_ciphers().contains(&"chacha20-poly1305@openssh.com"),
            "{:?}",
            supported_ciphers()
        );
    }
}
