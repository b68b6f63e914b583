//! The download direction: a user reads one remote file, each chunk at its
//! offset, into a buffer that is thrown away (the server is measured, not
//! our disk), and checks it as `--verify` asks.
//!
//! A read that ends early is `missing_bytes`, not a lost connection: the
//! remote file is shorter than the run expects (truncated under the run),
//! and a retry at the same offset will say so again.

use super::{fail, failed, ChunkTransfer, Open, Verify};
use crate::load::{PhaseTimer, StepError};
use crate::sftp::client::{classify_io, classify_ssh, phase, Connection};
use ssh2::{File, OpenFlags, OpenType};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::Path;

/// Opens the file for reading, timed as `open`; with `--verify size`, its
/// size is checked once here, timed as `verify`.
pub(super) fn open(
    w: &ChunkTransfer,
    conn: &Connection,
    path: &str,
    offset: u64,
    timer: &mut PhaseTimer,
) -> Result<File, StepError> {
    let mut file = timer.time(phase::OPEN, || {
        conn.sftp
            .open_mode(Path::new(path), OpenFlags::READ, 0, OpenType::File)
            .map_err(|e| failed(classify_ssh(&e, "open"), format!("opening {path}"), offset))
    })?;
    if w.verify == Verify::Size {
        let stat = timer.time(phase::VERIFY, || file.stat()).map_err(|e| {
            failed(
                classify_ssh(&e, "verify"),
                format!("stat of {path}"),
                offset,
            )
        })?;
        check_size(stat.size.unwrap_or(0), w.file_size, path, offset)?;
    }
    Ok(file)
}

fn check_size(size: u64, expected: u64, path: &str, offset: u64) -> Result<(), StepError> {
    if size < expected {
        return Err(fail(
            "missing_bytes",
            format!(
                "missing {} bytes: {path} is {size} bytes, the run reads {expected}",
                expected - size
            ),
            offset,
        ));
    }
    if size > expected {
        return Err(fail(
            "verify",
            format!("{path} is {size} bytes, the run expected {expected}"),
            offset,
        ));
    }
    Ok(())
}

/// Reads one chunk at its offset, timed as `read`; with `--verify sha256`
/// compares it with the source's bytes there, timed as `verify`.
pub(super) fn read_chunk(
    w: &ChunkTransfer,
    open: &mut Open,
    buf: &mut Vec<u8>,
    step: u64,
    timer: &mut PhaseTimer,
) -> Result<(), StepError> {
    let (offset, len) = w.span(step);
    buf.resize(len, 0);
    let Open { conn, file, pos } = open;
    let got = timer
        .time(phase::READ, || read_at(file, pos, offset, buf))
        .map_err(|e| {
            *pos = None;
            failed(
                classify_io(&e, conn.last_error_code(), "read"),
                format!("reading {len} bytes at offset {offset}"),
                offset,
            )
        })?;
    *pos = Some(offset + got as u64);
    if got < len {
        return Err(fail(
            "missing_bytes",
            format!(
                "missing {} bytes: the remote file ended at offset {}, inside the chunk at offset {offset}",
                len - got,
                offset + got as u64
            ),
            offset,
        ));
    }
    if w.verify == Verify::Sha256 {
        timer.time(phase::VERIFY, || verify_chunk(w, step, buf, offset))?;
    }
    Ok(())
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_at(
    file: &mut File,
    pos: &Option<u64>,
    offset: u64,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    // Only when the position is elsewhere: libssh2 drops its read-ahead on
    // every seek, so seeking a sequential reader would refetch and waste it.
    if *pos != Some(offset) {
        file.seek(SeekFrom::Start(offset))?;
    }
    let mut got = 0;
    while got < buf.len() {
        let ask = read_size(buf.len() - got);
        match file.read(&mut buf[got..got + ask]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// The largest SFTP read request libssh2 sends (its `MAX_SFTP_READ_SIZE`).
const MAX_READ_REQUEST: usize = 30_000;

/// How much to hand libssh2's read when `left` bytes of the chunk remain.
///
/// libssh2 keeps up to 4x the buffer it is handed requested ahead of the
/// position, in requests of at most 30,000 bytes, none smaller than the
/// buffer. Handed the whole chunk, it fetched up to 4 chunks past it: a
/// reconnecting user downloaded ~3x its bytes, and a keep-open user's next
/// chunk arrived during this one (and its pause). A quarter of what is left
/// keeps the requests inside the chunk and the pipeline as deep as the
/// chunk; a multiple of 7,500 (4x: whole requests) keeps the last request
/// from being inflated to the buffer's size past the chunk's end.
fn read_size(left: usize) -> usize {
    if left >= MAX_READ_REQUEST {
        MAX_READ_REQUEST / 4 * (left / MAX_READ_REQUEST)
    } else {
        (left / 4).max(1)
    }
}

/// The chunk read against the source's bytes at the same offset. Compared
/// byte for byte, which is what a SHA-256 comparison would decide, without
/// hashing both.
fn verify_chunk(w: &ChunkTransfer, step: u64, buf: &[u8], offset: u64) -> Result<(), StepError> {
    let want = w.source_chunk(step);
    if want != buf {
        let at = want
            .iter()
            .zip(buf)
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(buf.len()));
        return Err(fail(
            "checksum",
            format!(
                "the chunk at offset {offset} differs from the source (first at byte {})",
                offset + at as u64
            ),
            offset,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libssh2's read-ahead (sftp.c, `sftp_read`, 1.11), as far as where it
    /// sends requests, every response arriving whole: returns how far past
    /// the chunk's end it asked, and the deepest pipeline.
    fn simulate(chunk: usize) -> (usize, usize) {
        let (mut pos, mut sent, mut depth) = (0usize, 0usize, 0usize);
        let mut pending: std::collections::VecDeque<usize> = Default::default();
        let mut buffered = 0;
        while pos < chunk {
            let buf = read_size(chunk - pos);
            if buffered > 0 {
                let n = buf.min(buffered);
                buffered -= n;
                pos += n;
                continue;
            }
            let mut count = (4 * buf).saturating_sub(sent - pos);
            while count > 0 {
                let size = count.max(buf).min(MAX_READ_REQUEST);
                pending.push_back(size);
                sent += size;
                count -= size.min(count);
            }
            depth = depth.max(sent - pos);
            let first = pending.pop_front().expect("a request is pending");
            let n = buf.min(first);
            buffered = first - n;
            pos += n;
        }
        (sent.saturating_sub(chunk), depth)
    }

    #[test]
    fn reads_ask_libssh2_for_nothing_past_the_chunk_and_pipeline_all_of_it() {
        for chunk in (4..300_000)
            .step_by(997)
            .chain([65_536, 300_123, 1 << 20, 4 << 20])
        {
            let (past, depth) = simulate(chunk);
            // A tail under 4 bytes is asked for as 4: libssh2 never asks
            // for less than 4x the buffer, and the buffer is at least 1.
            assert!(past <= 3, "chunk {chunk}: {past} bytes past its end");
            // Everything but the last partial request is in flight at once.
            assert!(
                depth + MAX_READ_REQUEST > chunk,
                "chunk {chunk}: depth {depth}"
            );
        }
    }

    #[test]
    fn a_short_or_long_remote_file_is_named_with_both_sizes() {
        assert!(check_size(10, 10, "/f", 0).is_ok());
        let e = check_size(4, 10, "/f", 0).unwrap_err();
        assert_eq!(e.kind, "missing_bytes");
        assert!(e.message.contains("missing 6 bytes"), "{}", e.message);
        let e = check_size(12, 10, "/f", 0).unwrap_err();
        assert_eq!(e.kind, "verify");
        assert!(
            e.message.contains("12") && e.message.contains("10"),
            "{}",
            e.message
        );
    }
}
