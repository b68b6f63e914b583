//! The upload direction: a user writes the source into its own remote file,
//! each chunk at its offset, and checks it as `--verify` asks.

use super::{fail, failed, ChunkTransfer, Verify};
use crate::load::{PhaseTimer, StepError};
use crate::sftp::client::{classify_io, classify_ssh, phase, Connection};
use sha2::{Digest, Sha256};
use ssh2::{File, OpenFlags, OpenType};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Opens (creating, and at the very first chunk truncating) the user's file,
/// timed as `open`.
pub(super) fn open(
    w: &ChunkTransfer,
    conn: &Connection,
    path: &str,
    truncate: bool,
    offset: u64,
    timer: &mut PhaseTimer,
) -> Result<File, StepError> {
    let mut flags = OpenFlags::WRITE | OpenFlags::CREATE;
    if truncate {
        flags |= OpenFlags::TRUNCATE;
    }
    if w.verify == Verify::Sha256 {
        flags |= OpenFlags::READ;
    }
    timer.time(phase::OPEN, || {
        conn.sftp
            .open_mode(Path::new(path), flags, 0o644, OpenType::File)
            .map_err(|e| failed(classify_ssh(&e, "open"), format!("opening {path}"), offset))
    })
}

/// Writes one chunk at its offset and checks it; `Ok` means the server
/// acknowledged every byte.
pub(super) fn write_chunk(
    w: &ChunkTransfer,
    conn: &Connection,
    file: &mut File,
    readback: &mut Vec<u8>,
    pass: u64,
    step: u64,
    timer: &mut PhaseTimer,
) -> Result<(), StepError> {
    let (offset, _) = w.span(step);
    let chunk = w.source_chunk(step);
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
    match w.verify {
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
                w.file_size
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
