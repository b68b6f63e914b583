//! One `sftp-bench` run: preflight, the engine, and the run directory.
//!
//! The run directory holds `run.json` (written before the first chunk),
//! `chunks.csv` (a row per attempt, as it happens), and at the end
//! `users.csv` and `summary.json`. Everything but the last two survives a
//! crash; Ctrl-C lets in-flight chunks finish and writes all four. Nothing
//! here prints: warnings from user threads arrive as engine events and are
//! printed above the progress bar; the rest is returned to the caller.

use super::client::{self, ClientConfig, Connection, HostKeyTrust, SessionInfo};
use super::source::Source;
use super::workload::{ChunkUpload, ConnectionMode, Verify};
use crate::load::{self, shard, EngineConfig, Event, Pacing, StopAfter, Stopper, Workload};
use crate::report::csv_out::{users_csv, Flush, SampleCsv};
use crate::report::format::{self, RunManifest};
use crate::report::progress::{RunFigures, RunProgress};
use crate::report::series_out::SeriesOut;
use crate::report::{write_atomic, Recorder, RunSummary};
use chrono::{DateTime, Utc};
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A validated sftp-bench configuration.
#[derive(Debug, Clone)]
pub struct SftpBenchConfig {
    pub client: ClientConfig,
    /// Where the source bytes came from (a path, or "generated").
    pub source: String,
    pub data: Arc<Source>,
    pub chunk_size: u64,
    pub mode: ConnectionMode,
    pub verify: Verify,
    pub engine: EngineConfig,
    /// Remove the uploaded files at the end.
    pub cleanup: bool,
    pub out_dir: PathBuf,
    /// Names the remote files: `<dir>/<run_id>-u<user>.<ext>`.
    pub run_id: String,
    pub extension: String,
    /// Row length of `timeseries.csv` / `latency.hlog` (None: not written).
    pub interval: Option<Duration>,
    /// `--start-at`: the wall-clock instant the schedule starts at.
    pub start_at: Option<DateTime<Utc>>,
}

/// Errors before the first chunk: nothing was measured yet.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Connect(Box<client::ConnectError>),
    #[error("remote directory '{dir}' on {host}: {message}")]
    RemoteDir {
        dir: String,
        host: String,
        message: String,
    },
    // The cause is in the text and deliberately not a `source`: the error
    // chain printer would print it a second time.
    #[error("run directory {}: {cause}", path.display())]
    Output {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    StartAt(shard::ShardError),
}

impl From<client::ConnectError> for BenchError {
    fn from(e: client::ConnectError) -> Self {
        BenchError::Connect(Box::new(e))
    }
}

/// What a finished (or interrupted) run produced.
#[derive(Debug)]
pub struct BenchOutcome {
    pub summary: RunSummary,
    /// The fatal error that stopped the run, if one did.
    pub fatal: Option<load::StepError>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |cause| BenchError::Output {
        path: path.to_path_buf(),
        cause,
    }
}

impl SftpBenchConfig {
    /// The remote files this shard writes (all of them when unsharded).
    pub fn shard_remote_paths(&self) -> Vec<String> {
        let users = self.engine.shard.users(self.engine.users);
        self.remote_paths()[users.start as usize..users.end as usize].to_vec()
    }

    /// The remote file of every user of the whole run, by global user id.
    pub fn remote_paths(&self) -> Vec<String> {
        let dir = self.client.target.dir.trim_end_matches('/');
        let dir = if dir.is_empty() { "/" } else { dir };
        (0..self.engine.users)
            .map(|u| {
                format!(
                    "{}/{}-u{u:04}.{}",
                    dir.trim_end_matches('/'),
                    self.run_id,
                    self.extension
                )
            })
            .collect()
    }
}

/// What the preflight connection learned.
#[derive(Debug)]
pub struct Preflight {
    /// The negotiated session details, for `run.json` and the header.
    pub session: SessionInfo,
    /// The host key to pin for the users.
    pub host_key: Vec<u8>,
    /// Something to tell the user (a host key added to known_hosts).
    pub notice: Option<String>,
}

/// Connects once to check credentials, host key and remote directory, so a
/// wrong setting is one clear error instead of N users' retries.
pub fn preflight(cfg: &ClientConfig) -> Result<Preflight, BenchError> {
    let mut conn = client::connect(cfg, &mut load::PhaseTimer::default())?;
    let info = client::session_info(&conn.session);
    let key = conn
        .session
        .host_key()
        .map(|(k, _)| k.to_vec())
        .unwrap_or_default();
    let dir_err = |message: String| BenchError::RemoteDir {
        dir: cfg.target.dir.clone(),
        host: cfg.target.host_port(),
        message,
    };
    match conn.sftp.stat(Path::new(&cfg.target.dir)) {
        Ok(st) if st.is_dir() => {}
        Ok(_) => return Err(dir_err("not a directory".into())),
        Err(e) => return Err(dir_err(format!("{} (create it first)", e.message()))),
    }
    let notice = conn.notice.take();
    conn.disconnect();
    Ok(Preflight {
        session: info,
        host_key: key,
        notice,
    })
}

/// Runs the benchmark, writing the run directory as it goes. `stopper` is
/// stopped by Ctrl-C (and by a fatal error).
pub fn run(
    cfg: &SftpBenchConfig,
    session: &SessionInfo,
    stopper: &Stopper,
) -> Result<BenchOutcome, BenchError> {
    let out = &cfg.out_dir;
    fs::create_dir_all(out).map_err(io_err(out))?;
    let remote_paths = cfg.remote_paths();
    let workload = ChunkUpload {
        client: cfg.client.clone(),
        data: cfg.data.clone(),
        chunk_size: cfg.chunk_size,
        mode: cfg.mode,
        verify: cfg.verify,
        remote_paths: remote_paths.clone(),
    };
    let chunks_path = out.join(format::CHUNKS_CSV);
    let file = fs::File::create(&chunks_path).map_err(io_err(&chunks_path))?;
    let mut csv = SampleCsv::new(BufWriter::new(file), workload.phases(), Flush::EveryRow)
        .map_err(io_err(&chunks_path))?;
    let shard_users = cfg.engine.shard.users(cfg.engine.users);
    let mut recorder = Recorder::for_users(
        workload.phases(),
        workload.response_phase(),
        shard_users.clone(),
    );
    // Everything above is done before the wait, so that the schedule starts
    // at the instant; a Ctrl-C during the wait leaves the stopper stopped and
    // the engine starts no user, and every file is still written.
    if let Some(at) = cfg.start_at {
        shard::wait_until(at, stopper).map_err(BenchError::StartAt)?;
    }
    let origin = Instant::now();
    let started_at = Utc::now();
    let manifest = RunManifest {
        format_version: format::FORMAT_VERSION,
        tool: "xfer sftp-bench".into(),
        xfer_version: env!("CARGO_PKG_VERSION").into(),
        started_at,
        target: cfg.client.target.to_string(),
        source: cfg.source.clone(),
        file_size: cfg.data.len() as u64,
        chunk_size: cfg.chunk_size,
        chunks_per_file: workload.chunks(),
        users: cfg.engine.users,
        mode: cfg.mode,
        verify: cfg.verify,
        pacing: match cfg.engine.pacing {
            Pacing::Delay(d) => format!("delay {d:?} after each chunk"),
            Pacing::Interval(i) => format!("one chunk every {i:?} per user"),
        },
        stop: match cfg.engine.stop {
            StopAfter::Passes(n) => format!("after {n} upload(s) of the file"),
            StopAfter::Duration(d) => format!("after {d:?}"),
        },
        ramp_up_s: cfg.engine.ramp_up.as_secs_f64(),
        retry_max_attempts: cfg.engine.retry.max_attempts,
        retry_backoff_s: cfg.engine.retry.backoff.as_secs_f64(),
        ciphers_offered: cfg.client.ciphers.clone(),
        remote_files: cfg.shard_remote_paths(),
        session: session.clone(),
        run_id: cfg.run_id.clone(),
        shard: cfg.engine.shard,
        shard_users: (shard_users.start, shard_users.end),
        start_at: cfg.start_at,
        interval_s: cfg.interval.map(|d| d.as_secs_f64()),
    };
    let run_json = out.join(format::RUN_JSON);
    write_atomic(&run_json, &format::to_json(&manifest)).map_err(io_err(&run_json))?;

    let mut series = match cfg.interval {
        Some(interval) => {
            let (c, h) = (
                out.join(format::TIMESERIES_CSV),
                out.join(format::LATENCY_HLOG),
            );
            let s = SeriesOut::create(
                &c,
                &h,
                started_at,
                interval,
                workload.error_kinds(),
                workload.phases(),
                workload.response_phase(),
            );
            Some(s.map_err(io_err(&c))?)
        }
        None => None,
    };
    let total = match cfg.engine.stop {
        StopAfter::Passes(n) => Some(n * workload.chunks() * u64::from(shard_users.len() as u32)),
        StopAfter::Duration(_) => None,
    };
    let mut progress = RunProgress::new(total, "chunks");
    let mut csv_error = None;

    let outcome = load::run_ticking(&workload, &cfg.engine, stopper, origin, |event| {
        if let Some(series) = &mut series {
            series.observe(event.as_ref(), origin.elapsed());
        }
        let Some(event) = event else { return };
        recorder.observe(&event);
        progress.observe(&event, || RunFigures {
            bytes: recorder.bytes(),
            failed_attempts: recorder.failed_attempts(),
            elapsed: origin.elapsed(),
        });
        if let Event::Sample(s) = &event {
            if let Err(e) = csv.write(s) {
                // Keep measuring; report the lost file at the end.
                csv_error.get_or_insert(e);
            }
        }
    });
    progress.finish();
    // A lost chunks.csv (full disk...) is reported after the other files are
    // written: the summary of what was measured must not be lost with it.
    let csv_result = match csv_error {
        Some(e) => Err(e),
        None => csv.flush(),
    };

    let interrupted = stopper.is_stopped();
    let summary = recorder.summary(outcome.elapsed, interrupted);
    let users_path = out.join("users.csv");
    let users = users_csv(recorder.users(), started_at).map_err(io_err(&users_path))?;
    let series_result = match series {
        Some(s) => s.finish(outcome.elapsed),
        None => Ok(()),
    };
    write_atomic(&users_path, &users).map_err(io_err(&users_path))?;
    let summary_path = out.join(format::SUMMARY_JSON);
    let json = format::bench::summary_json(&summary);
    write_atomic(&summary_path, &json).map_err(io_err(&summary_path))?;

    csv_result.map_err(io_err(&chunks_path))?;
    series_result.map_err(io_err(&out.join(format::TIMESERIES_CSV)))?;
    Ok(BenchOutcome {
        summary,
        fatal: outcome.fatal,
    })
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

/// Builds the client config the users share: the preflight's host key pinned.
pub fn pinned(cfg: &ClientConfig, host_key: Vec<u8>) -> ClientConfig {
    ClientConfig {
        trust: HostKeyTrust::Pinned(host_key),
        ..cfg.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sftp::embedded::EmbeddedServer;
    use std::cell::Cell;
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
