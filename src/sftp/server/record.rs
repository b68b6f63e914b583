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
    outcome: Mutex<&'static str>,
    pub(crate) bytes_read: AtomicU64,
    pub(crate) bytes_written: AtomicU64,
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
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
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

    pub(crate) fn set_user(&self, user: &str) {
        *self.user.lock().unwrap_or_else(|e| e.into_inner()) = Some(user.to_string());
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
        let outcome = *self.outcome.lock().unwrap_or_else(|e| e.into_inner());
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
