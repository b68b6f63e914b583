//! The SFTP chunk workloads: each user either writes the source file into its
//! own remote file (`upload`) or reads one remote file (`download`), one
//! chunk per step, at the chunk's own offset.
//!
//! Explicit offsets (not appending, as the seed did) are what make a retry
//! exact: a chunk that failed halfway is written or read again at the same
//! place, so after a reconnect a user resumes at the failing offset, and an
//! uploaded file ends byte-identical to the source.
//!
//! Both directions share this module's connection handling (keep-open or
//! reconnect per chunk), the error helpers, and the rule that decides which
//! users of a mixed run download ([`OpMix::downloads`]).

mod download;
mod upload;

use super::client::{self, classify_ssh, phase, ClientConfig, Connection, IoFailure, PHASES};
use super::source::Source;
use crate::load::{PhaseTimer, Severity, StepDone, StepError, Workload, WorkloadShape};
use ssh2::File;
use std::sync::Arc;

/// Whether a user keeps its session between chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionMode {
    /// One session and one open file per user for the whole run.
    KeepOpen,
    /// Connect, authenticate, open, transfer, close and disconnect for every
    /// chunk (the seed's `--closing`).
    Reconnect,
}

/// What is checked for each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verify {
    None,
    /// Uploads: the remote size covers the chunk (the seed's "missing N
    /// bytes" check). Downloads: the remote size is the expected one, checked
    /// once per open.
    Size,
    /// Uploads: the chunk is read back and its SHA-256 compared with the
    /// source's. Downloads: each chunk read is compared with the source's
    /// bytes at its offset.
    Sha256,
}

/// Which way the users move the bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// Every user writes its own remote file.
    #[default]
    Upload,
    /// Every user reads the same remote file.
    Download,
    /// A share of the users download, the others upload.
    Mixed,
}

/// An [`Op`] with the share of downloading users a mixed run has.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpMix {
    pub op: Op,
    /// Share of downloading users, 0 < mix < 1; read for [`Op::Mixed`] only.
    pub mix: f64,
}

impl OpMix {
    pub const UPLOAD: OpMix = OpMix {
        op: Op::Upload,
        mix: 0.0,
    };

    /// Whether global user `user` downloads. Decided by the global id alone,
    /// so that the shards of one run agree, and spread evenly: of the first
    /// n users, floor(n * mix) download, every prefix as close to the share
    /// as whole users allow.
    pub fn downloads(&self, user: u32) -> bool {
        match self.op {
            Op::Upload => false,
            Op::Download => true,
            Op::Mixed => {
                let u = f64::from(user);
                ((u + 1.0) * self.mix).floor() > (u * self.mix).floor()
            }
        }
    }
}

/// Moves the source in chunks of `chunk_size`: uploading users write
/// `remote_paths[user]`, downloading users read it.
pub struct ChunkTransfer {
    pub client: ClientConfig,
    /// What uploaders write and what `--verify sha256` compares downloaded
    /// chunks with. May be empty when nothing needs it (a download of an
    /// existing remote file without `--verify sha256`).
    pub data: Arc<Source>,
    /// Bytes in one pass over the file: the source's size, or for a
    /// download of an existing remote file, that file's.
    pub file_size: u64,
    pub chunk_size: u64,
    pub mode: ConnectionMode,
    pub verify: Verify,
    pub ops: OpMix,
    /// The remote file of global user `i`: the one it writes, or the one it
    /// reads.
    pub remote_paths: Vec<String>,
}

/// A user's open session and file, and where the file's position is.
struct Open {
    conn: Connection,
    file: File,
    /// The file position after the last read (downloads only; `None` when
    /// unknown), so that a sequential read needs no seek.
    pos: Option<u64>,
}

/// One user's state: its direction, and its session in keep-open mode.
pub struct UserState {
    user: u32,
    downloads: bool,
    open: Option<Open>,
    /// The chunk read back (uploads with `--verify sha256`) or read (downloads).
    buf: Vec<u8>,
    /// Said at the end, through the engine (never printed from here).
    warnings: Vec<String>,
}

pub(crate) fn fail(kind: &'static str, message: String, offset: u64) -> StepError {
    StepError {
        kind,
        message,
        severity: Severity::Retry,
        offset,
    }
}

/// A failed operation on an open channel, `doing` what, as a step error.
pub(crate) fn failed(f: IoFailure, doing: String, offset: u64) -> StepError {
    StepError {
        kind: f.kind,
        message: format!("{doing}: {}", f.message),
        severity: if f.permanent {
            Severity::Permanent
        } else {
            Severity::Retry
        },
        offset,
    }
}

fn from_connect(e: client::ConnectError, offset: u64) -> StepError {
    StepError {
        kind: e.kind(),
        severity: if e.is_fatal() {
            Severity::Fatal
        } else {
            Severity::Retry
        },
        message: e.to_string(),
        offset,
    }
}

impl ChunkTransfer {
    /// Chunks in one pass over the file (an empty file still takes one step).
    pub fn chunks(&self) -> u64 {
        self.file_size.div_ceil(self.chunk_size).max(1)
    }

    /// The offset and length of chunk `step`.
    fn span(&self, step: u64) -> (u64, usize) {
        let start = (step * self.chunk_size).min(self.file_size);
        let end = (start + self.chunk_size).min(self.file_size);
        (start, (end - start) as usize)
    }

    /// The source's bytes of chunk `step` (empty when there is no source).
    fn source_chunk(&self, step: u64) -> &[u8] {
        let (offset, len) = self.span(step);
        let start = (offset as usize).min(self.data.len());
        &self.data[start..(start + len).min(self.data.len())]
    }

    fn path(&self, user: u32) -> &str {
        &self.remote_paths[user as usize]
    }

    /// Connects and opens the user's file, timed as phases.
    fn open(
        &self,
        u: &UserState,
        pass: u64,
        step: u64,
        timer: &mut PhaseTimer,
    ) -> Result<Open, StepError> {
        let (offset, _) = self.span(step);
        let conn = client::connect(&self.client, timer).map_err(|e| from_connect(e, offset))?;
        let path = self.path(u.user);
        let file = if u.downloads {
            download::open(self, &conn, path, offset, timer)?
        } else {
            let truncate = pass == 0 && step == 0;
            upload::open(self, &conn, path, truncate, offset, timer)?
        };
        Ok(Open {
            conn,
            file,
            pos: Some(0),
        })
    }

    /// Moves one chunk over an open file.
    fn transfer(
        &self,
        downloads: bool,
        open: &mut Open,
        buf: &mut Vec<u8>,
        pass: u64,
        step: u64,
        timer: &mut PhaseTimer,
    ) -> Result<(), StepError> {
        if downloads {
            download::read_chunk(self, open, buf, step, timer)
        } else {
            upload::write_chunk(self, &open.conn, &mut open.file, buf, pass, step, timer)
        }
    }
}

impl WorkloadShape for ChunkTransfer {
    fn phases(&self) -> &'static [&'static str] {
        PHASES
    }

    /// `read` for a download run, `write` otherwise: a mixed run's response
    /// time (and `schedule_true`) is its uploads'; its downloads have the
    /// `read` phase.
    fn response_phase(&self) -> usize {
        match self.ops.op {
            Op::Download => phase::READ,
            Op::Upload | Op::Mixed => phase::WRITE,
        }
    }

    fn steps_per_pass(&self) -> u64 {
        self.chunks()
    }

    fn error_kinds(&self) -> &'static [&'static str] {
        crate::report::timeseries::SFTP_ERROR_KINDS
    }
}

impl Workload for ChunkTransfer {
    type User = UserState;

    fn new_user(&self, user: u32) -> UserState {
        UserState {
            user,
            downloads: self.ops.downloads(user),
            open: None,
            buf: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn step(
        &self,
        u: &mut UserState,
        pass: u64,
        step: u64,
        timer: &mut PhaseTimer,
    ) -> Result<StepDone, StepError> {
        let (offset, len) = self.span(step);
        let done = StepDone {
            offset,
            bytes: len as u64,
        };
        match self.mode {
            ConnectionMode::KeepOpen => {
                if u.open.is_none() {
                    u.open = Some(self.open(u, pass, step, timer)?);
                }
                let open = u.open.as_mut().expect("opened above");
                let result = self.transfer(u.downloads, open, &mut u.buf, pass, step, timer);
                if result.is_err() {
                    // The session may be wedged: the retry starts from a fresh
                    // one and moves this chunk again at the same offset.
                    if let Some(open) = u.open.take() {
                        drop(open.file);
                        open.conn.disconnect();
                    }
                }
                result.map(|()| done)
            }
            ConnectionMode::Reconnect => {
                let mut open = self.open(u, pass, step, timer)?;
                self.transfer(u.downloads, &mut open, &mut u.buf, pass, step, timer)?;
                // Explicitly: dropping a File swallows the close status.
                timer
                    .time(phase::CLOSE, || open.file.close())
                    .map_err(|e| {
                        failed(
                            classify_ssh(&e, "close"),
                            format!("closing {}", self.path(u.user)),
                            offset,
                        )
                    })?;
                drop(open.file);
                open.conn.disconnect();
                Ok(done)
            }
        }
    }

    fn finish(&self, u: &mut UserState) {
        if let Some(mut open) = u.open.take() {
            // Every chunk was acknowledged already, so this is no sample; but
            // a failed close can mean the server lost data: say so.
            if let Err(e) = open.file.close() {
                u.warnings
                    .push(format!("closing {} failed: {e}", self.path(u.user)));
            }
            drop(open.file);
            open.conn.disconnect();
        }
    }

    fn take_warnings(&self, u: &mut UserState) -> Vec<String> {
        std::mem::take(&mut u.warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixed(mix: f64) -> OpMix {
        OpMix { op: Op::Mixed, mix }
    }

    #[test]
    fn a_mixed_run_downloads_its_share_evenly_spread() {
        for mix in [0.1, 0.25, 0.3, 0.5, 0.7, 0.999] {
            let m = mixed(mix);
            // Every prefix holds floor(n * mix) downloaders: never bunched.
            let mut count = 0u32;
            for u in 0..1000u32 {
                count += u32::from(m.downloads(u));
                let want = (f64::from(u + 1) * mix).floor() as u32;
                assert_eq!(count, want, "mix {mix}, first {} users", u + 1);
            }
        }
        // Half: every second user, starting with user 1.
        let half: Vec<bool> = (0..4).map(|u| mixed(0.5).downloads(u)).collect();
        assert_eq!(half, [false, true, false, true]);
    }

    #[test]
    fn shards_agree_on_who_downloads_because_only_the_global_id_counts() {
        let m = mixed(0.3);
        let whole: Vec<bool> = (0..100).map(|u| m.downloads(u)).collect();
        let shard = crate::load::Shard { index: 1, count: 3 };
        for u in shard.users(100) {
            assert_eq!(m.downloads(u), whole[u as usize], "user {u}");
        }
        assert!((0..100).all(|u| !OpMix::UPLOAD.downloads(u)));
        let all = OpMix {
            op: Op::Download,
            mix: 0.0,
        };
        assert!((0..100).all(|u| all.downloads(u)));
    }
}
