//! A scripted byte stream for targets that read from a socket: the input is
//! handed out in reads of varying sizes, a marker makes one read time out,
//! and what the code under test writes is collected (up to a cap).
//!
//! Input layout: byte 0 picks how reads are cut (0: everything at once;
//! otherwise a random mix of 1 byte, a few bytes, up to 1 KiB, the rest, from
//! a stream seeded by that byte); the rest is the stream. [`TIMEOUT`] inside
//! the stream is not data: the read that reaches it fails with `WouldBlock`,
//! as a socket read does when its timeout expires.

use crate::engine::Rng;
use std::io::{self, Read, Write};

/// Marks a read timeout in a scripted stream.
pub const TIMEOUT: &[u8] = b"\xff\xfeT";

/// Most bytes collected from the code under test; writes past it fail as if
/// the peer stopped reading (bounds memory when a script asks for many files).
const OUT_CAP: usize = 4 << 20;

pub struct Script<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offsets in `data` of the timeout markers, and the next one ahead.
    markers: Vec<usize>,
    next: usize,
    rng: Option<Rng>,
    pub out: Vec<u8>,
    /// The code under test half-closed the stream.
    pub write_closed: bool,
}

/// The offsets of the (non-overlapping) timeout markers in `data`.
fn markers(data: &[u8]) -> Vec<usize> {
    let mut at = Vec::new();
    let mut i = 0;
    while i + TIMEOUT.len() <= data.len() {
        if data[i..].starts_with(TIMEOUT) {
            at.push(i);
            i += TIMEOUT.len();
        } else {
            i += 1;
        }
    }
    at
}

impl<'a> Script<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        let (mode, data) = input.split_first().map_or((0, input), |(m, d)| (*m, d));
        Self {
            data,
            pos: 0,
            markers: markers(data),
            next: 0,
            rng: (mode & 0x7f != 0).then(|| Rng::new(u64::from(mode))),
            out: Vec::new(),
            write_closed: false,
        }
    }

    /// The output reached its cap (later writes failed).
    pub fn out_full(&self) -> bool {
        self.out.len() >= OUT_CAP
    }

    /// The stream without its timeout markers: what a peer actually sent.
    pub fn payload(input: &[u8]) -> Vec<u8> {
        let data = input.get(1..).unwrap_or_default();
        let mut out = Vec::with_capacity(data.len());
        let mut from = 0;
        for at in markers(data) {
            out.extend_from_slice(&data[from..at]);
            from = at + TIMEOUT.len();
        }
        out.extend_from_slice(&data[from..]);
        out
    }

    /// Whether the script holds any timeout.
    pub fn has_timeouts(input: &[u8]) -> bool {
        !markers(input.get(1..).unwrap_or_default()).is_empty()
    }
}

impl Read for Script<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.data.len() || buf.is_empty() {
            return Ok(0);
        }
        let marker = self.markers.get(self.next).copied();
        if marker == Some(self.pos) {
            self.pos += TIMEOUT.len();
            self.next += 1;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // A read ends where a timeout is scripted.
        let ahead = marker.unwrap_or(self.data.len()) - self.pos;
        let want = match &mut self.rng {
            None => ahead,
            Some(rng) => match rng.below(4) {
                0 => 1,
                1 => 1 + rng.below(16),
                2 => 1 + rng.below(1024),
                _ => ahead,
            },
        };
        let n = want.min(ahead).min(buf.len());
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Script<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.out_full() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = buf.len().min(OUT_CAP - self.out.len());
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
