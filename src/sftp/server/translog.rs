//! `--log-transfers`: one CSV row per SFTP write, stamped with the server-side
//! arrival time, so a benchmark client's own timings can be checked against
//! what the server saw. Rows go over a channel to one writer thread: the
//! async workers never block on the file.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The CSV header line.
pub const HEADER: &str = "unix_time_us,session,path,offset,len";

struct Row {
    unix_time_us: u128,
    session: u64,
    path: std::sync::Arc<str>,
    offset: u64,
    len: usize,
}

/// Sends rows to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct TransferLog {
    tx: mpsc::Sender<Row>,
}

/// Owns the writer thread; `finish` flushes and joins it.
pub struct TransferLogWriter {
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl TransferLog {
    /// Creates (truncates) `path`, writes the header, starts the writer.
    pub fn create(path: &Path) -> std::io::Result<(TransferLog, TransferLogWriter)> {
        let mut out = BufWriter::new(std::fs::File::create(path)?);
        writeln!(out, "{HEADER}")?;
        out.flush()?;
        let (tx, rx) = mpsc::channel::<Row>();
        let thread = std::thread::Builder::new()
            .name("xfer-translog".into())
            .spawn(move || {
                loop {
                    match rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(row) => write_row(&mut out, &row)?,
                        Err(mpsc::RecvTimeoutError::Timeout) => out.flush()?,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
                out.flush()
            })?;
        Ok((TransferLog { tx }, TransferLogWriter { thread }))
    }

    /// Records one write as it arrives.
    pub fn record(&self, session: u64, path: &std::sync::Arc<str>, offset: u64, len: usize) {
        let unix_time_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        // The writer only goes away at shutdown; a row lost then is harmless.
        let _ = self.tx.send(Row {
            unix_time_us,
            session,
            path: path.clone(),
            offset,
            len,
        });
    }
}

fn write_row(out: &mut impl Write, row: &Row) -> std::io::Result<()> {
    writeln!(
        out,
        "{},{},{},{},{}",
        row.unix_time_us,
        row.session,
        csv_field(&row.path),
        row.offset,
        row.len
    )
}

/// Quotes a field when CSV needs it (comma, quote, newline).
fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

impl TransferLogWriter {
    /// Waits until every sender is gone, then flushes. Call after all
    /// sessions have ended.
    pub fn finish(self) -> std::io::Result<()> {
        self.thread
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("transfer log writer panicked")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_written_with_header_and_quoted_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let (log, writer) = TransferLog::create(&path).unwrap();
        log.record(1, &"/a.bin".into(), 0, 32768);
        log.record(2, &"/we,ird".into(), 10, 5);
        drop(log);
        writer.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], HEADER);
        assert!(lines[1].ends_with(",1,/a.bin,0,32768"), "{}", lines[1]);
        assert!(lines[2].ends_with(",2,\"/we,ird\",10,5"), "{}", lines[2]);
    }
}
