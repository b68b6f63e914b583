//! Run ids and run directories: one run never writes over another's results.
//!
//! A run id is the UTC start time to the second plus 32 random bits
//! (`20261205T102530Z-9f3a61c2`). The time keeps directories sorted; the random
//! part makes two runs started in the same second (two shells, two pods) differ,
//! in their default run directory and in every remote file name derived from
//! the id.
//!
//! A run directory the user names with `-o DIR` must not hold another run's
//! files: [`check_out_dir`] refuses a non-empty one unless the user passed
//! `--overwrite`.

use std::io;
use std::path::{Path, PathBuf};

/// A fresh run id: `YYYYMMDDTHHMMSSZ-xxxxxxxx` (UTC, 32 random bits in hex).
pub fn new_run_id() -> String {
    let now = chrono::Utc::now();
    format!(
        "{}-{:08x}",
        now.format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>()
    )
}

/// Where a run's results go when `-o` is not given: `xfer-results/<run id>-<kind>`.
pub fn default_run_dir(run_id: &str, kind: &str) -> PathBuf {
    PathBuf::from("xfer-results").join(format!("{run_id}-{kind}"))
}

/// Why a run directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// The directory exists and holds files, and `--overwrite` was not given.
    #[error("{}: directory is not empty (another run's results?); choose a new directory or pass --overwrite to write into it anyway", .0.display())]
    NotEmpty(PathBuf),
    /// The path exists and is not a directory.
    #[error("{}: exists and is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The directory could not be read or created.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Checks that `dir` may receive a run's results: it does not exist yet, or it
/// is an empty directory, or `overwrite` is set (files of the same names are
/// then replaced; other files are left alone).
pub fn check_out_dir(dir: &Path, overwrite: bool) -> Result<(), RunDirError> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(RunDirError::Io {
            path: dir.to_path_buf(),
            source,
        }),
        Ok(m) if !m.is_dir() => Err(RunDirError::NotADirectory(dir.to_path_buf())),
        Ok(_) if overwrite => Ok(()),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir).map_err(|source| RunDirError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            match entries.next() {
                None => Ok(()),
                Some(_) => Err(RunDirError::NotEmpty(dir.to_path_buf())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_of_the_same_second_differ() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_run_id()).collect();
        assert_eq!(ids.len(), 1000);
        let id = new_run_id();
        assert_eq!(id.len(), "20261205T102530Z-9f3a61c2".len(), "{id}");
        assert_eq!(&id[16..17], "-", "{id}");
    }

    #[test]
    fn a_non_empty_out_dir_is_refused_unless_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("new");
        check_out_dir(&missing, false).unwrap();
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        check_out_dir(&empty, false).unwrap();
        std::fs::write(empty.join("chunks.csv"), "x").unwrap();
        let err = check_out_dir(&empty, false).unwrap_err();
        assert!(matches!(err, RunDirError::NotEmpty(_)), "{err}");
        assert!(err.to_string().contains("--overwrite"), "{err}");
        check_out_dir(&empty, true).unwrap();
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            check_out_dir(&file, true),
            Err(RunDirError::NotADirectory(_))
        ));
    }
}
