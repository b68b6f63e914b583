//! The chunk-upload workload: each user writes the source file into its own
//! remote file, one chunk per step, at the chunk's own offset.
//!
//! Writing at explicit offsets (not appending, as the seed did) is what makes
//! a retry exact: a chunk that failed halfway is written again at the same
//! place, so after a reconnect the remote file resumes at the right offset and
//! ends byte-identical to the source.

use super::client::{
    self, classify_io, classify_ssh, phase, ClientConfig, Connection, IoFailure, PHASES,
};
use super::source::Source;
use crate::load::{PhaseTimer, Severity, StepDone, StepError, Workload};
use sha2::{Digest, Sha256};
use ssh2::{File, OpenFlags, OpenType};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

/// Whether a user keeps its session between chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionMode {
    /// One session and one open file per user for the whole run.
    KeepOpen,
    /// Connect, authenticate, open, write, close and disconnect for every
    /// chunk (the seed's `--closing`).
    Reconnect,
}

/// What is checked after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verify {
    None,
    /// The remote size covers the chunk (the seed's "missing N bytes" check).
    Size,
    /// The chunk is read back and its SHA-256 compared with the source's.
    Sha256,
}

/// Uploads `data` in chunks of `chunk_size` to one remote path per user.
pub struct ChunkUpload {
    pub client: ClientConfig,
    pub data: Arc<Source>,
    pub chunk_size: u64,
    pub mode: ConnectionMode,
    pub verify: Verify,
    /// Remote path of user `i` is `remote_paths[i]`.
    pub remote_paths: Vec<String>,
}

/// A user's open session and file (keep-open mode only).
pub struct UserState {
    user: u32,
    open: Option<(Connection, File)>,
    readback: Vec<u8>,
    /// Said at the end, through the engine (never printed from here).
    warnings: Vec<String>,
}

fn fail(kind: &'static str, message: String, offset: u64) -> StepError {
    StepError {
        kind,
        message,
        severity: Severity::Retry,
        offset,
    }
}

/// A failed operation on an open channel, `doing` what, as a step error.
fn failed(f: IoFailure, doing: String, offset: u64) -> StepError {
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

impl ChunkUpload {
    /// Chunks in one pass over the file (an empty file still takes one step).
    pub fn chunks(&self) -> u64 {
        (self.data.len() as u64).div_ceil(self.chunk_size).max(1)
    }

    fn chunk(&self, step: u64) -> (u64, &[u8]) {
        let start = (step * self.chunk_size).min(self.data.len() as u64);
        let end = (start + self.chunk_size).min(self.data.len() as u64);
        (start, &self.data[start as usize..end as usize])
    }

    fn open(
        &self,
        conn: &Connection,
        user: u32,
        truncate: bool,
        offset: u64,
    ) -> Result<File, StepError> {
        let mut flags = OpenFlags::WRITE | OpenFlags::CREATE;
        if truncate {
            flags |= OpenFlags::TRUNCATE;
        }
        if self.verify == Verify::Sha256 {
            flags |= OpenFlags::READ;
        }
        let path = &self.remote_paths[user as usize];
        conn.sftp
            .open_mode(Path::new(path), flags, 0o644, OpenType::File)
            .map_err(|e| failed(classify_ssh(&e, "open"), format!("opening {path}"), offset))
    }

    /// Writes one chunk at its offset and checks it; `Ok` means the server
    /// acknowledged every byte.
    fn write_chunk(
        &self,
        conn: &Connection,
        file: &mut File,
        readback: &mut Vec<u8>,
        pass: u64,
        step: u64,
        timer: &mut PhaseTimer,
    ) -> Result<(), StepError> {
        let (offset, chunk) = self.chunk(step);
        // write_all, not write: libssh2 returns after at most 30,000 bytes per
        // call, and pipelines only as deep as the buffer it is handed.
        timer
            .time(phase::WRITE, || {
                file.seek(SeekFrom::Start(offset))?;
                file.write_all(chunk)
            })
            .map_err(|e| {
                failed(
                    classify_io(&e, conn.last_error_code(), "write"),
                    format!("writing {} bytes at offset {offset}", chunk.len()),
                    offset,
                )
            })?;
        match self.verify {
            Verify::None => Ok(()),
            Verify::Size => {
                let stat = timer.time(phase::VERIFY, || file.stat()).map_err(|e| {
                    failed(
                        classify_ssh(&e, "verify"),
                        format!("stat after writing at offset {offset}"),
                        offset,
                    )
                })?;
                // On the first pass the file grows chunk by chunk; later passes
                // overwrite a file that is already whole.
                let expected = if pass == 0 {
                    offset + chunk.len() as u64
                } else {
                    self.data.len() as u64
                };
                let size = stat.size.unwrap_or(0);
                if size < expected {
                    return Err(fail(
                        "missing_bytes",
                        format!(
                            "missing {} bytes: remote size {size} after writing up to {expected}",
                            expected - size
                        ),
                        offset,
                    ));
                }
                Ok(())
            }
            Verify::Sha256 => timer.time(phase::VERIFY, || {
                readback.resize(chunk.len(), 0);
                file.seek(SeekFrom::Start(offset))
                    .and_then(|_| file.read_exact(readback))
                    .map_err(|e| {
                        failed(
                            classify_io(&e, conn.last_error_code(), "verify"),
                            format!("reading back {} bytes at offset {offset}", chunk.len()),
                            offset,
                        )
                    })?;
                if Sha256::digest(&readback[..]) != Sha256::digest(chunk) {
                    return Err(fail(
                        "checksum",
                        format!("SHA-256 of the chunk at offset {offset} differs on the server"),
                        offset,
                    ));
                }
                Ok(())
            }),
        }
    }
}

impl Workload for ChunkUpload {
    type User = UserState;

    fn phases(&self) -> &'static [&'static str] {
        PHASES
    }

    fn response_phase(&self) -> usize {
        phase::WRITE
    }

    fn steps_per_pass(&self) -> u64 {
        self.chunks()
    }

    fn error_kinds(&self) -> &'static [&'static str] {
        crate::report::timeseries::SFTP_ERROR_KINDS
    }

    fn new_user(&self, user: u32) -> UserState {
        UserState {
            user,
            open: None,
            readback: Vec::new(),
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
        let (offset, chunk) = self.chunk(step);
        let truncate = pass == 0 && step == 0;
        let done = StepDone {
            offset,
            bytes: chunk.len() as u64,
        };
        match self.mode {
            ConnectionMode::KeepOpen => {
                if u.open.is_none() {
                    let conn = client::connect(&self.client, timer)
                        .map_err(|e| from_connect(e, offset))?;
                    let file =
                        timer.time(phase::OPEN, || self.open(&conn, u.user, truncate, offset))?;
                    u.open = Some((conn, file));
                }
                let (conn, file) = u.open.as_mut().expect("opened above");
                let result = self.write_chunk(conn, file, &mut u.readback, pass, step, timer);
                if result.is_err() {
                    // The session may be wedged: the retry starts from a fresh
                    // one and rewrites this chunk at the same offset.
                    if let Some((conn, file)) = u.open.take() {
                        drop(file);
                        conn.disconnect();
                    }
                }
                result.map(|()| done)
            }
            ConnectionMode::Reconnect => {
                let conn =
                    client::connect(&self.client, timer).map_err(|e| from_connect(e, offset))?;
                let mut file =
                    timer.time(phase::OPEN, || self.open(&conn, u.user, truncate, offset))?;
                self.write_chunk(&conn, &mut file, &mut u.readback, pass, step, timer)?;
                // Explicitly: dropping a File swallows the close status.
                timer.time(phase::CLOSE, || file.close()).map_err(|e| {
                    failed(
                        classify_ssh(&e, "close"),
                        format!("closing {}", self.remote_paths[u.user as usize]),
                        offset,
                    )
                })?;
                drop(file);
                conn.disconnect();
                Ok(done)
            }
        }
    }

    fn finish(&self, u: &mut UserState) {
        if let Some((conn, mut file)) = u.open.take() {
            // Every chunk was acknowledged already, so this is no sample; but
            // a failed close can mean the server lost data: say so.
            if let Err(e) = file.close() {
                u.warnings.push(format!(
                    "closing {} failed: {e}",
                    self.remote_paths[u.user as usize]
                ));
            }
            drop(file);
            conn.disconnect();
        }
    }

    fn take_warnings(&self, u: &mut UserState) -> Vec<String> {
        std::mem::take(&mut u.warnings)
    }
}
