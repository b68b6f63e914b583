//! The temporary files of uploads in progress. An upload is written to
//! `.xfer-upload.<random>.tmp` in its target's directory and renamed into
//! place; until then it is registered here, so that stopping the server
//! removes every temporary file an unfinished upload left, and no upload can
//! start once that has happened.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Prefix of upload temporary files; such names are never served.
pub(super) const TEMP_PREFIX: &str = ".xfer-upload.";

/// Whether the last component of `path` is an upload's temporary file.
pub(super) fn is_temp_name(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with(TEMP_PREFIX))
}

/// The temporary files of uploads in progress. Once closed, no new
/// temporary file is created.
#[derive(Default)]
pub(super) struct TempRegistry {
    inner: Mutex<TempSet>,
}

#[derive(Default)]
struct TempSet {
    closed: bool,
    paths: HashSet<PathBuf>,
}

impl TempRegistry {
    fn lock(&self) -> MutexGuard<'_, TempSet> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates and registers a temporary file in `dir`. Holding the lock
    /// while creating means shutdown cannot miss a file being created.
    pub(super) fn create(&self, dir: &Path) -> io::Result<(File, PathBuf)> {
        let mut set = self.lock();
        if set.closed {
            return Err(io::Error::other("server shutting down"));
        }
        let (file, path) = create_temp(dir)?;
        set.paths.insert(path.clone());
        Ok((file, path))
    }

    /// Forgets `path` (renamed into place or removed by its upload).
    pub(super) fn forget(&self, path: &Path) {
        self.lock().paths.remove(path);
    }

    /// Removes `path` and forgets it.
    pub(super) fn remove(&self, path: &Path) {
        let _ = fs::remove_file(path);
        self.forget(path);
    }

    /// Removes every registered file and refuses new ones from now on.
    pub(super) fn close_and_remove_all(&self) {
        let mut set = self.lock();
        set.closed = true;
        for path in set.paths.drain() {
            let _ = fs::remove_file(&path);
        }
    }
}

/// Creates a uniquely named temporary file in `dir` (never an existing one).
fn create_temp(dir: &Path) -> io::Result<(File, PathBuf)> {
    loop {
        let path = dir.join(format!("{TEMP_PREFIX}{:016x}.tmp", rand::random::<u64>()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_registry_removes_live_temp_files_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let reg = TempRegistry::default();
        let (_f, done) = reg.create(dir.path()).unwrap();
        let (_g, live) = reg.create(dir.path()).unwrap();
        reg.remove(&done);
        reg.close_and_remove_all();
        assert!(!live.exists() && !done.exists());
        assert!(reg.create(dir.path()).is_err(), "closed registry refuses");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn only_the_last_component_marks_a_temp_file() {
        assert!(is_temp_name("/d/.xfer-upload.0123.tmp"));
        assert!(!is_temp_name("/.xfer-upload.d/file"));
    }
}
