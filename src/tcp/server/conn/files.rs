//! Serving and storing files for the connection state machine: GET/HEAD
//! from a file under the root (large files by sendfile, under the minimum
//! rate), and POST bodies stored atomically (a temporary file, fsync,
//! rename) while they keep up with the minimum rate (`../pace.rs`). Split
//! from `conn.rs`, which keeps the request loop and the head reading.

use super::super::pace::Pace;
use super::super::temps::{is_temp_name, TEMP_PREFIX};
use super::{is_timeout, write_timeout, Conn, Transport};
use crate::confine::ConfineError;
use crate::tcp::protocol::{self, Method, Request, RequestError};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Files up to this size are sent in the same `write` as the response head.
pub(super) const SMALL_FILE: u64 = 16 * 1024;
/// Most bytes of a file handed to one sendfile(2): a blocked sendfile waits
/// up to the write timeout per page batch (64 KiB), not per call, so a
/// reader draining a batch now and then would keep a large call going;
/// the rate is checked between calls.
const SEND_CHUNK: u64 = 256 * 1024;
/// How far past a body's deadline a read may wait: the socket timeout is
/// re-armed only when it is off by more, not on every read (a setsockopt
/// per read would cost uploads a syscall per 16 KiB).
const TIMEOUT_SLACK: Duration = Duration::from_millis(50);

impl<T: Transport> Conn<'_, T> {
    pub(super) fn send_file(&mut self, req: &Request) -> Result<bool, RequestError> {
        let (mut file, len) = self.open_for_read(&req.path)?;
        let keep = req.keep_alive;
        self.out.clear();
        let ka = self.keep_alive(keep);
        protocol::write_response_head(&mut self.out, 200, len, ka, "");
        let sent = if req.method == Method::Head {
            self.stream.write_all(&self.out)
        } else if len <= SMALL_FILE {
            let start = self.out.len();
            self.out.resize(start + len as usize, 0);
            match file.read_exact(&mut self.out[start..]) {
                Ok(()) => self.stream.write_all(&self.out),
                Err(_) => return Err(RequestError::NotFound),
            }
        } else {
            self.stream
                .write_all(&self.out)
                .and_then(|()| self.send_paced(&mut file, len))
        };
        // A failed send means the client is gone (or the file changed under
        // us); the response is already started, so just close.
        Ok(sent.is_ok() && keep)
    }

    pub(super) fn receive_file(&mut self, req: &Request) -> Result<bool, RequestError> {
        // From its head on, an upload counts as a body in progress: the
        // slot may be reclaimed while the body is behind the minimum rate
        // (a slot merely busy here would be safe from reclaim for as long
        // as opening the temporary file takes).
        if self.slot.as_ref().is_some_and(|slot| !slot.body()) {
            return Ok(false);
        }
        let cfg = &self.shared.config;
        let Some(len) = req.content_length.filter(|_| !req.transfer_encoding) else {
            return Err(RequestError::LengthRequired);
        };
        if len > cfg.max_upload {
            return Err(RequestError::PayloadTooLarge);
        }
        let target = self.resolve_for_write(&req.path)?;
        if req.expect_continue {
            let _ = self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let dir = target.parent().unwrap_or(&cfg.root).to_path_buf();
        let temps = Arc::clone(&self.shared.temps);
        let (mut tmp, tmp_path) = temps.create(&dir).map_err(|e| local_error(&e))?;
        let copied = self.copy_body(&mut tmp, len);
        // Reclaimed while the body arrived (too slow, and the server full):
        // the socket is shut down, nothing can be answered.
        let copied = match copied {
            Ok(()) if !self.slot_busy() => {
                Err(BodyError::Net(io::ErrorKind::ConnectionAborted.into()))
            }
            other => other,
        };
        match copied {
            Ok(()) => {}
            Err(BodyError::Local(e)) => {
                drop(tmp);
                temps.remove(&tmp_path);
                // handle() answers and closes (the rest of the body is unread).
                return Err(local_error(&e));
            }
            Err(BodyError::Net(e)) => {
                drop(tmp);
                temps.remove(&tmp_path);
                if is_timeout(&e) {
                    // The body stopped arriving; say so, then close.
                    let _ = self.respond_error(&RequestError::Timeout, false, Method::Post);
                }
                return Ok(false);
            }
        }
        let committed = tmp.sync_all().and_then(|()| fs::rename(&tmp_path, &target));
        if let Err(e) = committed {
            temps.remove(&tmp_path);
            return Err(match e.raw_os_error() {
                Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST) => RequestError::Conflict,
                _ => local_error(&e),
            });
        }
        temps.forget(&tmp_path);
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        self.out.clear();
        let keep = req.keep_alive;
        let ka = self.keep_alive(keep);
        protocol::write_response_head(&mut self.out, 201, 0, ka, "");
        Ok(self.stream.write_all(&self.out).is_ok() && keep)
    }

    /// Moves exactly `len` body bytes (buffered ones first) into `file`,
    /// as long as they keep up with the minimum rate (see `pace.rs`); a
    /// body that falls behind fails with `TimedOut`.
    fn copy_body(&mut self, file: &mut File, len: u64) -> Result<(), BodyError> {
        let cfg = &self.shared.config;
        let mut pace = Pace::new(cfg.min_rate, cfg.read_timeout, Instant::now());
        let buffered = (self.filled as u64).min(len) as usize;
        file.write_all(&self.inbuf[..buffered])
            .map_err(BodyError::Local)?;
        self.consume(buffered);
        let mut left = len - buffered as u64;
        self.body_arrived(&mut pace, buffered as u64, len - left);
        while left > 0 {
            let now = Instant::now();
            let credit = pace.left(now);
            if credit.is_zero() {
                return Err(BodyError::Net(io::ErrorKind::TimedOut.into()));
            }
            let armed_until = now + self.arm_read_timeout(credit);
            let want = (self.inbuf.len() as u64).min(left) as usize;
            let n = match self.stream.read(&mut self.inbuf[..want]) {
                Ok(0) => return Err(BodyError::Net(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Silent for the whole credit: too slow. A shorter timeout
                // (armed when the credit was lower) just looks again.
                Err(e) if is_timeout(&e) && armed_until + TIMEOUT_SLACK < pace.deadline() => {
                    continue
                }
                Err(e) if is_timeout(&e) => {
                    return Err(BodyError::Net(io::ErrorKind::TimedOut.into()))
                }
                Err(e) => return Err(BodyError::Net(e)),
            };
            file.write_all(&self.inbuf[..n]).map_err(BodyError::Local)?;
            left -= n as u64;
            self.body_arrived(&mut pace, n as u64, len - left);
        }
        Ok(())
    }

    /// Credits `n` more body bytes (`total` so far) to the pace, and to the
    /// slot, whose reclaim policy looks at the body's progress.
    fn body_arrived(&self, pace: &mut Pace, n: u64, total: u64) {
        pace.arrived(n, Instant::now());
        if let Some(slot) = &self.slot {
            slot.body_progress(total);
        }
    }

    /// Arms the read timeout for at most `credit` (within the slack, to
    /// spare a setsockopt per read) and returns the timeout armed.
    fn arm_read_timeout(&mut self, credit: Duration) -> Duration {
        if !timeout_fits(self.read_timeout, credit) {
            self.set_read_timeout(credit);
        }
        self.read_timeout.unwrap_or(credit)
    }

    /// Sends `len` bytes of `file` as long as the client reads them at the
    /// minimum rate (see `pace.rs`, as for upload bodies); a reader that
    /// falls behind fails with `TimedOut`.
    fn send_paced(&mut self, file: &mut File, len: u64) -> io::Result<()> {
        let cfg = &self.shared.config;
        let mut pace = Pace::new(cfg.min_rate, cfg.read_timeout, Instant::now());
        let mut left = len;
        let sent = loop {
            if left == 0 {
                break Ok(());
            }
            let now = Instant::now();
            let credit = pace.left(now);
            if credit.is_zero() {
                break Err(io::ErrorKind::TimedOut.into());
            }
            let armed_until = now + self.arm_write_timeout(credit);
            match self.stream.send_file(file, left.min(SEND_CHUNK)) {
                Ok(0) => break Err(io::Error::other("file shrank")),
                Ok(n) => {
                    left -= n.min(left);
                    pace.arrived(n, Instant::now());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A shorter timeout than the credit: look again.
                Err(e) if is_timeout(&e) && armed_until + TIMEOUT_SLACK < pace.deadline() => {}
                Err(e) => break Err(e),
            }
        };
        // Back to the usual write timeout for the responses that follow.
        if self.write_timeout.take().is_some() {
            let _ = self.stream.set_write_timeout(write_timeout(cfg));
        }
        sent
    }

    /// Arms the write timeout for at most `credit`, like
    /// [`Self::arm_read_timeout`], and returns the timeout armed.
    fn arm_write_timeout(&mut self, credit: Duration) -> Duration {
        if !timeout_fits(self.write_timeout, credit)
            && self.stream.set_write_timeout(credit).is_ok()
        {
            self.write_timeout = Some(credit);
        }
        self.write_timeout.unwrap_or(credit)
    }

    /// Opens a regular file under the root for GET/HEAD (symlinks followed
    /// only while they stay inside it). Directories and temporary files of
    /// uploads are 404.
    fn open_for_read(&mut self, path: &str) -> Result<(File, u64), RequestError> {
        if is_temp_name(path) {
            return Err(RequestError::NotFound);
        }
        let file = match self.shared.root.open_read(path, &mut self.cpath) {
            Ok(f) => f,
            Err(ConfineError::Escapes) => return Err(RequestError::Forbidden),
            Err(ConfineError::Io(e)) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(RequestError::Forbidden)
            }
            Err(ConfineError::Io(_)) => return Err(RequestError::NotFound),
        };
        let meta = file.metadata().map_err(|_| RequestError::NotFound)?;
        if !meta.is_file() {
            return Err(RequestError::NotFound);
        }
        Ok((file, meta.len()))
    }

    /// Where a POST to `path` lands: the parent must exist inside the root
    /// (after resolving symlinks); the target itself is replaced by rename,
    /// so a symlink there is replaced, never followed.
    fn resolve_for_write(&self, path: &str) -> Result<PathBuf, RequestError> {
        let rel = path.trim_start_matches('/');
        let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        if name.is_empty() || name.starts_with(TEMP_PREFIX) {
            return Err(RequestError::Conflict);
        }
        let parent = match self.shared.root.resolve_dir(parent) {
            Ok(dir) => dir,
            Err(ConfineError::Escapes) => return Err(RequestError::Forbidden),
            Err(ConfineError::Io(_)) => return Err(RequestError::NotFound),
        };
        let target = parent.join(name);
        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            return Err(RequestError::Conflict);
        }
        Ok(target)
    }
}

/// Whether the socket timeout already armed (`armed`) will do for `credit`:
/// not past it by more than the slack, and not so short that the body
/// would wake for nothing more than once.
fn timeout_fits(armed: Option<Duration>, credit: Duration) -> bool {
    armed.is_some_and(|t| t <= credit + TIMEOUT_SLACK && t * 2 >= credit)
}

/// Why an upload body could not be stored.
enum BodyError {
    /// Reading from the client failed (gone, or too slow).
    Net(io::Error),
    /// Writing the temporary file failed (disk full, I/O error...).
    Local(io::Error),
}

/// The answer to a local I/O error while storing an upload: 403 only for
/// permission errors, 507 for a full disk or quota, 500 otherwise.
fn local_error(e: &io::Error) -> RequestError {
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => RequestError::InsufficientStorage,
        _ if e.kind() == io::ErrorKind::PermissionDenied => RequestError::Forbidden,
        _ => RequestError::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_io_errors_are_500_or_507_and_only_permission_is_403() {
        let status = |e: io::Error| local_error(&e).status();
        assert_eq!(status(io::Error::from_raw_os_error(libc::ENOSPC)), 507);
        assert_eq!(status(io::Error::from_raw_os_error(libc::EDQUOT)), 507);
        assert_eq!(status(io::Error::from_raw_os_error(libc::EIO)), 500);
        assert_eq!(status(io::Error::from_raw_os_error(libc::EROFS)), 500);
        assert_eq!(status(io::Error::from_raw_os_error(libc::EACCES)), 403);
        assert_eq!(status(io::Error::other("x")), 500);
    }
}
