//! What is known about one connection (peer, user, bytes, open files,
//! outcome), shared by its SSH handler ([`session`](super::session)) and
//! its SFTP handler ([`files`](super::files)). Its own module so that
//! neither of those imports the other. Dropped when both are gone, which
//! frees the session's slot and writes the session's line.

use super::{Note, ServerShared};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

/// What is known about one connection; shared by its SSH and SFTP handlers.
/// Dropped when both are gone, which prints the session line.
pub struct SessionRecord {
    pub(crate) id: u64,
    peer: SocketAddr,
    started: Instant,
    user: Mutex<Option<String>>,
    /// How the session ended short of a login ("authentication failed",
    /// "login timed out", ...); unused once `method` is set.
    outcome: Mutex<&'static str>,
    /// The authentication method that logged the user in.
    method: Mutex<Option<&'static str>>,
    /// What ended a logged-in session other than the client's goodbye (a
    /// lost connection, a protocol error, the idle timeout): a verb and the
    /// detail.
    end: Mutex<Option<(&'static str, String)>>,
    pub(crate) bytes_read: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
    /// Channels the client opened and has not ended yet (by EOF or
    /// CLOSE): a connection whose socket closes with none live ended by
    /// the client's choice, with or without SSH_MSG_DISCONNECT.
    pub(crate) live_channels: AtomicUsize,
    /// Files open in the SFTP handler; shutdown waits for them to close.
    pub(crate) open_files: AtomicUsize,
    /// Signalled whenever `open_files` drops to zero.
    pub(crate) files_closed: tokio::sync::Notify,
    counted: bool,
    shared: Arc<ServerShared>,
    _alive: mpsc::Sender<()>,
}

impl SessionRecord {
    pub(crate) fn new(
        id: u64,
        peer: SocketAddr,
        shared: Arc<ServerShared>,
        alive: mpsc::Sender<()>,
        counted: bool,
    ) -> SessionRecord {
        SessionRecord {
            id,
            peer,
            started: Instant::now(),
            user: Mutex::new(None),
            outcome: Mutex::new("unauthenticated"),
            method: Mutex::new(None),
            end: Mutex::new(None),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            live_channels: AtomicUsize::new(0),
            open_files: AtomicUsize::new(0),
            files_closed: tokio::sync::Notify::new(),
            counted,
            shared,
            _alive: alive,
        }
    }

    pub(crate) fn shared(&self) -> &ServerShared {
        &self.shared
    }

    pub(crate) fn shared_arc(&self) -> Arc<ServerShared> {
        self.shared.clone()
    }

    /// Over the session cap: counted nowhere, disconnected after the handshake.
    pub(crate) fn refused(&self) -> bool {
        !self.counted
    }

    pub(crate) fn logged_in(&self) -> bool {
        self.user.lock().map(|u| u.is_some()).unwrap_or(true)
    }

    /// `user` logged in by `method` ("password", "publickey").
    pub(crate) fn set_logged_in(&self, user: &str, method: &'static str) {
        *self.user.lock().unwrap_or_else(|e| e.into_inner()) = Some(user.to_string());
        *self.method.lock().unwrap_or_else(|e| e.into_inner()) = Some(method);
    }

    /// The session ended other than by the client's goodbye: `how`
    /// ("failed", "timed out") and `detail`, for the session line.
    pub(crate) fn set_end(&self, how: &'static str, detail: String) {
        *self.end.lock().unwrap_or_else(|e| e.into_inner()) = Some((how, detail));
    }

    /// The end of the session line: `ok (METHOD)` after the client's
    /// goodbye, `HOW (METHOD): DETAIL` when something else ended a
    /// logged-in session, or why there was no login.
    fn ending(&self) -> String {
        let method = *self.method.lock().unwrap_or_else(|e| e.into_inner());
        let end = self.end.lock().unwrap_or_else(|e| e.into_inner()).take();
        match (method, end) {
            (Some(m), None) => format!("ok ({m})"),
            (Some(m), Some((how, detail))) => format!("{how} ({m}): {detail}"),
            (None, _) => (*self.outcome.lock().unwrap_or_else(|e| e.into_inner())).to_string(),
        }
    }

    pub(crate) fn set_outcome(&self, outcome: &'static str) {
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = outcome;
    }
}

impl Drop for SessionRecord {
    fn drop(&mut self) {
        if self.counted {
            self.shared.active.fetch_sub(1, Ordering::SeqCst);
        }
        let user = self
            .user
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "-".to_string());
        let outcome = self.ending();
        self.shared.note(
            Note::Session,
            format_args!(
                "session {} user={} peer={} read={} written={} duration={:.3}s {}",
                self.id,
                user,
                self.peer,
                self.bytes_read.load(Ordering::Relaxed),
                self.bytes_written.load(Ordering::Relaxed),
                self.started.elapsed().as_secs_f64(),
                outcome,
            ),
        );
    }
}
