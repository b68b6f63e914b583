//! The remote files around a run, handled over one plain connection each
//! (nothing here is timed): the size of a `--remote-file`, the source
//! uploaded once for the downloads, and `--cleanup`.

use super::BenchError;
use crate::load;
use crate::sftp::client::{self, ClientConfig, Connection};
use std::path::Path;

/// The size of an existing remote file (`--remote-file`), so that a
/// download run knows its chunks before it starts; an empty one, which
/// has nothing to download, is refused.
pub fn remote_size(cfg: &ClientConfig, path: &str) -> Result<u64, BenchError> {
    let conn = client::connect(cfg, &mut load::PhaseTimer::default())?;
    let err = |message: String| BenchError::RemoteFile {
        path: path.to_string(),
        host: cfg.target.host_port(),
        message,
    };
    let stat = conn.sftp.stat(Path::new(path));
    conn.disconnect();
    match stat {
        Ok(st) if st.is_file() => match st.size.unwrap_or(0) {
            0 => Err(BenchError::EmptyRemoteFile(path.to_string())),
            size => Ok(size),
        },
        Ok(_) => Err(err("not a regular file".into())),
        Err(e) => Err(err(e.message().to_string())),
    }
}

/// How the source upload ended.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum SourceUpload {
    /// The whole file is on the server, its size checked.
    Whole,
    /// `keep_going` said stop (Ctrl-C) before anything was created.
    NotStarted,
    /// `keep_going` said stop; the partial file was removed.
    Removed,
    /// `keep_going` said stop, and removing the partial file failed: why.
    Left(String),
}

impl SourceUpload {
    /// One line on what a stopped upload left on the server (`None` when
    /// there is nothing to say: whole, or nothing was created).
    pub fn left_behind(&self, path: &str) -> Option<String> {
        match self {
            SourceUpload::Whole | SourceUpload::NotStarted => None,
            SourceUpload::Removed => Some(format!("removed the partial source upload {path}")),
            SourceUpload::Left(why) => Some(format!(
                "the partial source upload {path} is still on the server: {why}"
            )),
        }
    }
}

/// The line said before [`upload_source`], so that an upload that is not
/// measured is not a silent wait.
pub fn source_upload_note(path: &str, size: u64) -> String {
    format!(
        "preflight: uploading the source ({}) to {path} for the downloads (not measured)",
        crate::units::Bytes(size)
    )
}

/// Uploads `data` to `path` once, before the schedule starts (not timed,
/// no samples), and checks its size, so that the downloaders read a whole
/// file whose every byte is known.
///
/// `keep_going` is asked between pieces: when it says stop, the partial
/// file is removed on the same connection, so that an interrupted run
/// leaves nothing half-written on the server.
pub fn upload_source(
    cfg: &ClientConfig,
    data: &[u8],
    path: &str,
    keep_going: impl Fn() -> bool,
) -> Result<SourceUpload, BenchError> {
    use std::io::Write;
    let conn = client::connect(cfg, &mut load::PhaseTimer::default())?;
    if !keep_going() {
        conn.disconnect();
        return Ok(SourceUpload::NotStarted);
    }
    let err = |message: String| BenchError::SourceUpload {
        path: path.to_string(),
        message,
    };
    let flags = ssh2::OpenFlags::WRITE | ssh2::OpenFlags::CREATE | ssh2::OpenFlags::TRUNCATE;
    let mut file = conn
        .sftp
        .open_mode(Path::new(path), flags, 0o644, ssh2::OpenType::File)
        .map_err(|e| err(e.message().to_string()))?;
    // Pieces of 4 MiB: deep enough for libssh2 to pipeline, short enough
    // that Ctrl-C is heard within a fraction of a second.
    let mut whole = true;
    for piece in data.chunks(4 << 20) {
        if !keep_going() {
            whole = false;
            break;
        }
        file.write_all(piece).map_err(|e| err(e.to_string()))?;
    }
    if whole {
        file.close().map_err(|e| err(e.message().to_string()))?;
    }
    // Stopped part-way, or whole but the run will not read it: either way
    // it would be left behind.
    if !whole || !keep_going() {
        drop(file);
        let outcome = match conn.sftp.unlink(Path::new(path)) {
            Ok(()) => SourceUpload::Removed,
            Err(e) => SourceUpload::Left(e.message().to_string()),
        };
        conn.disconnect();
        return Ok(outcome);
    }
    let size = conn
        .sftp
        .stat(Path::new(path))
        .map_err(|e| err(e.message().to_string()))?
        .size
        .unwrap_or(0);
    drop(file);
    conn.disconnect();
    if size != data.len() as u64 {
        return Err(err(format!(
            "the server holds {size} bytes of {}",
            data.len()
        )));
    }
    Ok(SourceUpload::Whole)
}

/// What `--cleanup` did.
#[derive(Debug, Default)]
pub struct CleanupReport {
    pub removed: usize,
    /// Files still on the server because the cleanup was interrupted.
    pub left: usize,
    /// Problems worth a warning line (none is fatal).
    pub warnings: Vec<String>,
}

/// Removes the uploaded files while `keep_going()` says so (Ctrl-C stops
/// it); a failure is reported, not fatal. A user that never started has no
/// file, which is fine.
pub fn cleanup(
    cfg: &ClientConfig,
    paths: &[String],
    keep_going: impl Fn() -> bool,
) -> CleanupReport {
    let mut report = CleanupReport::default();
    let conn: Connection = match client::connect(cfg, &mut load::PhaseTimer::default()) {
        Ok(c) => c,
        Err(e) => {
            report
                .warnings
                .push(format!("--cleanup could not connect: {e}"));
            report.left = paths.len();
            return report;
        }
    };
    for (i, p) in paths.iter().enumerate() {
        if !keep_going() {
            report.left = paths.len() - i;
            break;
        }
        match conn.sftp.unlink(Path::new(p)) {
            Ok(()) => report.removed += 1,
            Err(e) if matches!(e.code(), ssh2::ErrorCode::SFTP(2)) => {}
            Err(e) => report
                .warnings
                .push(format!("--cleanup could not remove {p}: {e}")),
        }
    }
    conn.disconnect();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sftp::embedded::EmbeddedServer;
    use std::cell::Cell;
    use std::fs;
    use std::time::Duration;

    #[test]
    fn cleanup_removes_files_and_stops_when_told_to() {
        let server = EmbeddedServer::start().unwrap();
        let (target, credentials, trust) = server.client(None);
        let cfg = ClientConfig {
            target,
            credentials,
            trust,
            ciphers: client::DEFAULT_CIPHERS.to_string(),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(10),
            proxy: None,
        };
        let names = ["a.bin", "b.bin", "c.bin"];
        for n in names {
            fs::write(server.root().join(n), b"x").unwrap();
        }
        let paths: Vec<String> = names.iter().map(|n| format!("/{n}")).collect();
        // A Ctrl-C after the first file: the rest stay, and are counted.
        let calls = Cell::new(0);
        let report = cleanup(&cfg, &paths, || {
            calls.set(calls.get() + 1);
            calls.get() == 1
        });
        assert_eq!((report.removed, report.left), (1, 2), "{report:?}");
        assert!(!server.root().join("a.bin").exists());
        assert!(server.root().join("c.bin").exists());
        // Not interrupted: everything goes; a missing file is no warning.
        let report = cleanup(&cfg, &paths, || true);
        assert_eq!((report.removed, report.left), (2, 0), "{report:?}");
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        server.shutdown();
    }
}
