//! The bytes every user uploads: a file mapped into memory, or generated
//! random bytes.
//!
//! Mapping instead of reading: a 256 MiB `--file` costs no copy before the
//! run (measured here: reading it into a Vec took as long as a third of the
//! upload) and no private memory, since every user reads the same page-cache
//! pages. The file must not be truncated while a run uses it; as with any
//! mapping, that would fault (SIGBUS).

use rand::RngCore;
use std::io;
use std::ops::Deref;
use std::path::Path;

/// Upload data, shared read-only by every user thread.
pub struct Source(Inner);

enum Inner {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Source {
    /// Maps the file at `path` (an empty file needs no mapping).
    pub fn open(path: &Path) -> io::Result<Source> {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(Source(Inner::Owned(Vec::new())));
        }
        // Safety: the mapping is read-only and private to this process; the
        // module docs state that the file must not be truncated during a run.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Source(Inner::Mapped(map)))
    }

    /// `size` random bytes (incompressible, so no link-level compression
    /// can flatter a result).
    pub fn random(size: usize) -> Source {
        let mut bytes = vec![0u8; size];
        rand::thread_rng().fill_bytes(&mut bytes);
        Source(Inner::Owned(bytes))
    }
}

impl From<Vec<u8>> for Source {
    fn from(bytes: Vec<u8>) -> Self {
        Source(Inner::Owned(bytes))
    }
}

impl Deref for Source {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Inner::Mapped(m) => m,
            Inner::Owned(v) => v,
        }
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.0 {
            Inner::Mapped(_) => "mapped",
            Inner::Owned(_) => "in memory",
        };
        write!(f, "Source({} bytes, {kind})", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_file_reads_back_its_bytes_and_an_empty_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(&*Source::open(&path).unwrap(), b"0123456789");
        std::fs::write(&path, b"").unwrap();
        assert!(Source::open(&path).unwrap().is_empty());
        assert!(Source::open(&dir.path().join("missing")).is_err());
        assert_eq!(Source::random(1000).len(), 1000);
    }
}
