//! One `sftp-bench` run: preflight, the engine, and the run directory.
//!
//! The run directory holds `run.json` (written before the first chunk),
//! `chunks.csv` (a row per attempt, as it happens), and at the end
//! `users.csv` and `summary.json`. Everything but the last two survives a
//! crash; Ctrl-C lets in-flight chunks finish and writes all four. Nothing
//! here prints: warnings from user threads arrive as engine events and are
//! printed above the progress bar; the rest is returned to the caller.
//! The remote files around the run (a download's source, `--cleanup`) are
//! in `remote`.

use super::client::Provenance;
use super::client::{self, ClientConfig, HostKeyTrust, SessionInfo};
use super::source::Source;
use super::workload::{ChunkTransfer, ConnectionMode, Op, OpMix, Verify};
use crate::load::{self, shard, EngineConfig, Event, Pacing, StopAfter, Stopper, WorkloadShape};
use crate::report::csv_out::{users_csv, Flush, SampleCsv};
use crate::report::format::{self, RunManifest};
use crate::report::progress::{RunFigures, RunProgress};
use crate::report::series_out::SeriesOut;
use crate::report::{write_atomic, Recorder, RunSummary};
use chrono::{DateTime, Utc};

mod remote;
pub use remote::{
    cleanup, remote_size, source_upload_note, upload_source, CleanupReport, SourceUpload,
};
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
    /// The source: what uploaders write and what `--verify sha256` compares
    /// downloads with (empty when a download of a `--remote-file` needs none).
    pub data: Arc<Source>,
    /// Bytes in one pass: the source's, or the `--remote-file`'s.
    pub file_size: u64,
    /// Which users upload and which download.
    pub ops: OpMix,
    /// The file downloading users read (`None` for an upload run).
    pub remote_file: Option<format::bench::RemoteFile>,
    /// Which login setting came from where (`None` with the embedded server).
    pub ssh_login: Option<Provenance>,
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
    #[error("--remote-file {path} on {host}: {message}")]
    RemoteFile {
        path: String,
        host: String,
        message: String,
    },
    #[error("--remote-file {0} is empty: there is nothing to download")]
    EmptyRemoteFile(String),
    #[error("uploading the source to {path} before the run: {message}")]
    SourceUpload { path: String, message: String },
}

impl BenchError {
    /// Whether the error is in what the user typed (exit 2), not in the world.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            BenchError::RemoteFile { .. } | BenchError::EmptyRemoteFile(_)
        )
    }
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
    /// The remote files this shard's users write or read, in user order.
    pub fn shard_remote_paths(&self) -> Vec<String> {
        let users = self.engine.shard.users(self.engine.users);
        self.remote_paths()[users.start as usize..users.end as usize].to_vec()
    }

    /// The remote file of every user of the whole run, by global user id:
    /// an uploader's own file, or the file downloaders read.
    pub fn remote_paths(&self) -> Vec<String> {
        (0..self.engine.users)
            .map(|u| match &self.remote_file {
                Some(f) if self.ops.downloads(u) => f.path.clone(),
                _ => self.in_dir(&format!("{}-u{u:04}.{}", self.run_id, self.extension)),
            })
            .collect()
    }

    /// Where the preflight uploads the source for the downloaders. Each
    /// shard has its own copy: shards given one `--start-at` share a run id,
    /// and generate different bytes.
    pub fn source_upload_path(&self) -> String {
        let shard = self.engine.shard;
        let name = if shard.is_sharded() {
            format!("{}-s{}-src.{}", self.run_id, shard.index, self.extension)
        } else {
            format!("{}-src.{}", self.run_id, self.extension)
        };
        self.in_dir(&name)
    }

    fn in_dir(&self, name: &str) -> String {
        let dir = self.client.target.dir.trim_end_matches('/');
        format!("{dir}/{name}")
    }

    /// What `--cleanup` removes (see [`cleanup_paths`]) for this shard.
    pub fn cleanup_paths(&self) -> Vec<String> {
        let own_source = self.remote_file.as_ref().filter(|f| f.uploaded_by_run);
        cleanup_paths(
            &self.remote_paths(),
            self.engine.shard.users(self.engine.users),
            &self.ops,
            own_source.map(|f| f.path.as_str()),
        )
    }
}

/// What a cleanup removes: the files that `users` (a shard's, by global id)
/// uploaded, out of every user's `remote_paths`, and the source the run
/// uploaded itself for its downloads, if it did. Never what a downloader
/// read otherwise (a `--remote-file`), nor other shards' files, which may
/// still be in use.
pub fn cleanup_paths(
    remote_paths: &[String],
    users: impl IntoIterator<Item = u32>,
    ops: &OpMix,
    own_source: Option<&str>,
) -> Vec<String> {
    users
        .into_iter()
        .filter(|&u| !ops.downloads(u))
        .filter_map(|u| remote_paths.get(u as usize).cloned())
        .chain(own_source.map(str::to_string))
        .collect()
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
    let workload = ChunkTransfer {
        client: cfg.client.clone(),
        data: cfg.data.clone(),
        file_size: cfg.file_size,
        chunk_size: cfg.chunk_size,
        mode: cfg.mode,
        verify: cfg.verify,
        ops: cfg.ops,
        remote_paths,
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
        file_size: cfg.file_size,
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
            StopAfter::Passes(n) => format!(
                "after {n} {}(s) of the file",
                match cfg.ops.op {
                    Op::Upload => "upload",
                    Op::Download => "download",
                    Op::Mixed => "transfer",
                }
            ),
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
        op: cfg.ops.op,
        mix: (cfg.ops.op == Op::Mixed).then_some(cfg.ops.mix),
        remote_file: cfg.remote_file.clone(),
        download_users: match cfg.ops.op {
            Op::Mixed => (0..cfg.engine.users)
                .filter(|&u| cfg.ops.downloads(u))
                .collect(),
            Op::Upload | Op::Download => Vec::new(),
        },
        ssh_login: cfg.ssh_login.clone(),
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

    #[test]
    fn a_cleanup_removes_its_uploaders_files_and_its_own_source_only() {
        let paths: Vec<String> = (0..4).map(|u| format!("/u{u}")).collect();
        let half = OpMix {
            op: Op::Mixed,
            mix: 0.5,
        };
        // Users 1 and 3 download (see OpMix::downloads); this shard has 1..4.
        assert_eq!(
            cleanup_paths(&paths, 1..4, &half, Some("/src")),
            ["/u2", "/src"]
        );
        assert_eq!(
            cleanup_paths(&paths, 0..4, &OpMix::UPLOAD, None),
            ["/u0", "/u1", "/u2", "/u3"]
        );
        // A user past the known paths (a larger sweep point) has none.
        assert_eq!(cleanup_paths(&paths, 3..6, &OpMix::UPLOAD, None), ["/u3"]);
    }
}
