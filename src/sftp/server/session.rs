//! One SSH connection: authentication (password and/or public key, never
//! anonymous), the `sftp` subsystem, the `--max-sessions` refusal and the
//! login deadline, and graceful disconnect at shutdown. What is known about
//! the connection lives in its [`SessionRecord`].

use super::files::SftpHandler;
use super::record::SessionRecord;
use super::{ServerShared, SftpServeConfig, MAX_AUTH_ATTEMPTS, SHUTDOWN_GRACE};
use russh::keys::PrivateKey;
use russh::server::{Auth, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, Disconnect, MethodKind, MethodSet};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// SSH window per channel: large, so a client never waits for an adjust on
/// loopback (backpressure still comes from the bounded channel buffer).
const WINDOW_SIZE: u32 = 16 * 1024 * 1024;
/// Largest channel data packet we accept (russh warns above 65535).
const MAX_PACKET: u32 = 65535;

/// The russh configuration measured to be fast with OpenSSH and libssh2.
pub(crate) fn russh_config(config: &SftpServeConfig, key: PrivateKey) -> russh::server::Config {
    let mut methods = MethodSet::empty();
    if !config.authorized_keys.is_empty() {
        methods.push(MethodKind::PublicKey);
    }
    if config.password.is_some() {
        methods.push(MethodKind::Password);
    }
    russh::server::Config {
        server_id: russh::SshId::Standard(
            concat!("SSH-2.0-xfer_", env!("CARGO_PKG_VERSION")).into(),
        ),
        methods,
        auth_rejection_time: Duration::from_millis(100),
        // OpenSSH clients probe with "none" first; do not make them wait.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        window_size: WINDOW_SIZE,
        maximum_packet_size: MAX_PACKET,
        max_auth_attempts: MAX_AUTH_ATTEMPTS,
        inactivity_timeout: config.idle_timeout,
        // Clamped: russh asserts its limits are at most 1 GiB.
        limits: {
            let bytes = config
                .rekey_limit
                .clamp(super::MIN_REKEY_LIMIT, super::MAX_REKEY_LIMIT)
                as usize;
            russh::Limits::new(bytes, bytes, russh::Limits::default().rekey_time_limit)
        },
        // Without it libssh2 clients crawl (~22 MB/s instead of ~600 MB/s).
        nodelay: true,
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(&[
                russh::cipher::CHACHA20_POLY1305,
                russh::cipher::AES_128_GCM,
                russh::cipher::AES_256_GCM,
                russh::cipher::AES_128_CTR,
                russh::cipher::AES_256_CTR,
            ]),
            ..russh::Preferred::default()
        },
        ..russh::server::Config::default()
    }
}

/// An accepted TCP connection about to become an SSH session.
pub(crate) struct Connection {
    record: Arc<SessionRecord>,
    refuse: bool,
}

impl Connection {
    pub(crate) fn new(
        id: u64,
        peer: SocketAddr,
        shared: Arc<ServerShared>,
        alive: mpsc::Sender<()>,
        refuse: bool,
    ) -> Connection {
        if !refuse {
            shared.active.fetch_add(1, Ordering::SeqCst);
        }
        let record = Arc::new(SessionRecord::new(id, peer, shared, alive, !refuse));
        Connection { record, refuse }
    }

    pub(crate) async fn run(self, socket: TcpStream, mut shutdown: watch::Receiver<bool>) {
        let shared = self.record.shared_arc();
        let handler = SshHandler {
            record: self.record.clone(),
            channels: HashMap::new(),
            live: HashSet::new(),
            sftp_started: false,
        };
        if self.refuse {
            self.record.set_outcome("refused: --max-sessions reached");
        }
        let record = self.record;
        let login_deadline = tokio::time::Instant::now() + shared.config.login_timeout;
        let started = tokio::time::timeout_at(
            login_deadline,
            russh::server::run_stream(shared.russh.clone(), socket, handler),
        )
        .await;
        let session = match started {
            Ok(Ok(s)) => s,
            Ok(Err(_)) | Err(_) => {
                if !record.refused() {
                    record.set_outcome("handshake failed or timed out");
                }
                return;
            }
        };
        let handle = session.handle();
        if self.refuse {
            let max = shared.session_cap.unwrap_or(0);
            let why = if shared.config.max_sessions == Some(max) {
                format!("--max-sessions {max}")
            } else {
                format!("{max}, what the server's file-descriptor limit holds")
            };
            let _ = handle
                .disconnect(
                    Disconnect::TooManyConnections,
                    format!("xfer sftp-serve: too many sessions ({why}); try again later"),
                    String::new(),
                )
                .await;
        }
        tokio::pin!(session);
        // A connection that has not logged in by the deadline is dropped, so
        // idle unauthenticated sockets cannot hold --max-sessions slots.
        let logged_in = || record.logged_in();
        let login_timer = tokio::time::sleep_until(login_deadline);
        tokio::pin!(login_timer);
        let mut login_checked = false;
        loop {
            tokio::select! {
                ended = &mut session => {
                    let live = record.live_channels.load(Ordering::SeqCst);
                    if let Some((how, detail)) = abnormal_end(ended, live) {
                        record.set_end(how, detail);
                    }
                    return;
                }
                _ = &mut login_timer, if !login_checked => {
                    login_checked = true;
                    if !logged_in() {
                        record.set_outcome("login timed out");
                        let _ = handle
                            .disconnect(Disconnect::ByApplication, "xfer sftp-serve: login timed out".into(), String::new())
                            .await;
                        let _ = tokio::time::timeout(Duration::from_secs(1), &mut session).await;
                        return;
                    }
                }
                _ = async { shutdown.wait_for(|&stop| stop).await.is_ok() } => {
                    // Let the uploads under way finish: wait until the session has
                    // no file open (no new ones open once stopping), then leave.
                    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
                    while record.open_files.load(Ordering::SeqCst) > 0 {
                        tokio::select! {
                            _ = record.files_closed.notified() => {}
                            _ = tokio::time::sleep_until(deadline) => break,
                            _ = &mut session => return,
                        }
                    }
                    let _ = handle
                        .disconnect(Disconnect::ByApplication, "xfer sftp-serve: server shutting down".into(), String::new())
                        .await;
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut session).await;
                    return;
                }
            }
        }
    }
}

/// How a logged-in session ended, when not by the client's goodbye: a
/// verb and the detail for its line (`None`: a goodbye). `live` is the
/// number of channels the client had not ended when the session stopped.
fn abnormal_end(ended: Result<(), russh::Error>, live: usize) -> Option<(&'static str, String)> {
    match ended {
        Ok(()) => None,
        Err(russh::Error::InactivityTimeout) => {
            Some(("timed out", "idle for longer than --idle-timeout".into()))
        }
        // Go's x/crypto/ssh (rclone) sends EOF on its channel and then
        // closes the socket, with no CHANNEL_CLOSE or SSH_MSG_DISCONNECT:
        // with every channel ended by the client, that is its goodbye.
        Err(russh::Error::IO(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof && live == 0 => {
            None
        }
        Err(russh::Error::IO(e)) => Some(("failed", format!("connection lost ({e})"))),
        Err(e) => Some(("failed", e.to_string())),
    }
}

/// The russh handler of one connection.
pub(crate) struct SshHandler {
    record: Arc<SessionRecord>,
    channels: HashMap<ChannelId, Channel<Msg>>,
    /// Channels opened and not yet ended by the client (EOF or CLOSE).
    live: HashSet<ChannelId>,
    sftp_started: bool,
}

/// Compares secrets without an early exit: both are hashed first, so neither
/// content nor length leaks through timing.
fn secret_eq(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q))
        == 0
}

impl SshHandler {
    fn config(&self) -> &SftpServeConfig {
        &self.record.shared().config
    }

    /// A failed attempt. Every configured method stays on offer: russh would
    /// otherwise drop the method that just failed, and one mistyped
    /// password would end password logins on this connection. The attempt
    /// limit (`MAX_AUTH_ATTEMPTS`) is what ends a guessing client.
    fn reject(&self) -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(self.record.shared().russh.methods.clone()),
            partial_success: false,
        }
    }

    fn key_allowed(&self, user: &str, key: &russh::keys::PublicKey) -> bool {
        let user_ok = secret_eq(user, &self.config().user);
        let key_ok = self
            .config()
            .authorized_keys
            .iter()
            .any(|k| k.key_data() == key.key_data());
        user_ok && key_ok && !self.record.refused()
    }

    /// The client ended `channel` (EOF or CLOSE, whichever came first).
    fn ended(&mut self, channel: ChannelId) {
        self.live.remove(&channel);
        self.record
            .live_channels
            .store(self.live.len(), Ordering::SeqCst);
    }

    fn accepted(&self, user: &str, method: &'static str) -> Auth {
        self.record.set_logged_in(user, method);
        Auth::Accept
    }
}

impl russh::server::Handler for SshHandler {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(self.reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let ok = match &self.config().password {
            Some(expected) => {
                // Evaluate both comparisons: no early exit on the user name.
                let user_ok = secret_eq(user, &self.config().user);
                let pass_ok = secret_eq(password, expected);
                user_ok & pass_ok
            }
            None => false,
        };
        if ok && !self.record.refused() {
            Ok(self.accepted(user, "password"))
        } else {
            self.record.set_outcome("authentication failed");
            Ok(self.reject())
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.key_allowed(user, offer.public_key) {
            Ok(Auth::Accept)
        } else {
            self.record.set_outcome("authentication failed");
            Ok(self.reject())
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.key_allowed(user, key.public_key) {
            Ok(self.accepted(user, "publickey"))
        } else {
            self.record.set_outcome("authentication failed");
            Ok(self.reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.live.insert(channel.id());
        self.record
            .live_channels
            .store(self.live.len(), Ordering::SeqCst);
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        self.ended(channel);
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.ended(channel);
        session.close(channel)?;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let channel = match self.channels.remove(&channel_id) {
            Some(c) if name == "sftp" && !self.sftp_started => c,
            _ => {
                session.channel_failure(channel_id)?;
                return Ok(());
            }
        };
        self.sftp_started = true;
        session.channel_success(channel_id)?;
        let handler = SftpHandler::new(self.record.clone());
        super::pump::spawn(channel, handler, self.record.clone());
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // SFTP only: no commands, no shell.
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eof() -> Result<(), russh::Error> {
        Err(russh::Error::IO(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "early eof",
        )))
    }

    #[test]
    fn a_socket_closed_after_every_channel_ended_is_a_goodbye() {
        assert_eq!(abnormal_end(Ok(()), 0), None);
        assert_eq!(abnormal_end(Ok(()), 1), None);
        assert_eq!(abnormal_end(eof(), 0), None);
    }

    #[test]
    fn a_socket_closed_with_a_channel_live_is_a_lost_connection() {
        assert_eq!(
            abnormal_end(eof(), 1),
            Some(("failed", "connection lost (early eof)".into()))
        );
        let reset = Err(russh::Error::IO(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        let (how, detail) = abnormal_end(reset, 0).unwrap();
        assert_eq!(how, "failed");
        assert!(detail.starts_with("connection lost ("), "{detail}");
        assert_eq!(
            abnormal_end(Err(russh::Error::InactivityTimeout), 0),
            Some(("timed out", "idle for longer than --idle-timeout".into()))
        );
    }

    #[test]
    fn secret_eq_compares_content_and_length() {
        assert!(secret_eq("hunter2", "hunter2"));
        assert!(!secret_eq("hunter2", "hunter3"));
        assert!(!secret_eq("hunter2", "hunter22"));
        assert!(!secret_eq("", "x"));
        assert!(secret_eq("", ""));
    }
}
