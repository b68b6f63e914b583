//! One `sftp-bench` run: preflight, the engine, and the run directory.
//!
//! The run directory holds `run.json` (written before the first chunk),
//! `chunks.csv` (a row per attempt, as it happens), and at the end
//! `users.csv` and `summary.json`. Everything but the last two survives a
//! crash; Ctrl-C lets in-flight chunks finish and writes all four.

use super::client::{self, ClientConfig, Connection, HostKeyTrust, SessionInfo};
use super::source::Source;
use super::workload::{ChunkUpload, ConnectionMode, Verify};
use crate::load::{self, EngineConfig, Event, Pacing, StopAfter, Stopper, Workload};
use crate::report::csv_out::{users_csv, Flush, SampleCsv};
use crate::report::format::{self, RunManifest};
use crate::report::{write_atomic, Recorder, RunSummary};
use chrono::Utc;
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
    #[error("run directory {}: {source}", path.display())]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
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
    move |source| BenchError::Output {
        path: path.to_path_buf(),
        source,
    }
}

impl SftpBenchConfig {
    fn remote_paths(&self) -> Vec<String> {
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

/// Connects once to check credentials, host key and remote directory, so a
/// wrong setting is one clear error instead of N users' retries. Returns the
/// negotiated session details and the host key to pin for the users.
pub fn preflight(cfg: &ClientConfig) -> Result<(SessionInfo, Vec<u8>), BenchError> {
    let conn = client::connect(cfg, &mut load::PhaseTimer::default())?;
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
    conn.disconnect();
    Ok((info, key))
}

/// Progress on stderr: chunks, MB/s, active users, errors. Hidden when stderr
/// is not a terminal.
struct Progress {
    bar: indicatif::ProgressBar,
    last: Instant,
    active: u32,
}

impl Progress {
    fn new(total: Option<u64>) -> Self {
        let bar = match total {
            Some(n) => indicatif::ProgressBar::new(n),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(5));
        let template = match total {
            Some(_) => "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} chunks  {msg}",
            None => "{spinner} {elapsed_precise} {pos} chunks  {msg}",
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress {
            bar,
            last: Instant::now(),
            active: 0,
        }
    }

    fn update(&mut self, event: &Event, rec: &Recorder, origin: Instant) {
        match event {
            Event::UserStarted { .. } => self.active += 1,
            Event::UserFinished { .. } => self.active = self.active.saturating_sub(1),
            Event::Sample(s) if s.error.is_none() => self.bar.inc(1),
            Event::Sample(_) => {}
        }
        if self.last.elapsed() >= Duration::from_millis(200) {
            self.last = Instant::now();
            self.bar.set_message(format!(
                "{:.1} MB/s  {} active  {} errors",
                crate::units::mb_per_sec(rec.bytes(), origin.elapsed()),
                self.active,
                rec.failed_attempts()
            ));
        }
    }
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
        remote_files: remote_paths.clone(),
        session: session.clone(),
    };
    let run_json = out.join(format::RUN_JSON);
    write_atomic(&run_json, &format::to_json(&manifest)).map_err(io_err(&run_json))?;

    let chunks_path = out.join("chunks.csv");
    let file = fs::File::create(&chunks_path).map_err(io_err(&chunks_path))?;
    let mut csv = SampleCsv::new(BufWriter::new(file), workload.phases(), Flush::EveryRow)
        .map_err(io_err(&chunks_path))?;
    let mut recorder = Recorder::new(
        workload.phases(),
        workload.response_phase(),
        cfg.engine.users,
    );
    let total = match cfg.engine.stop {
        StopAfter::Passes(n) => Some(n * workload.chunks() * u64::from(cfg.engine.users)),
        StopAfter::Duration(_) => None,
    };
    let mut progress = Progress::new(total);
    let mut csv_error = None;

    let origin = Instant::now();
    let outcome = load::run(&workload, &cfg.engine, stopper, origin, |event| {
        recorder.observe(&event);
        progress.update(&event, &recorder, origin);
        if let Event::Sample(s) = &event {
            if let Err(e) = csv.write(s) {
                // Keep measuring; report the lost file at the end.
                csv_error.get_or_insert(e);
            }
        }
    });
    progress.bar.finish_and_clear();
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
    write_atomic(&users_path, &users).map_err(io_err(&users_path))?;
    let summary_path = out.join(format::SUMMARY_JSON);
    let json = format::bench::summary_json(&summary);
    write_atomic(&summary_path, &json).map_err(io_err(&summary_path))?;

    if cfg.cleanup {
        cleanup(&cfg.client, &remote_paths);
    }
    csv_result.map_err(io_err(&chunks_path))?;
    Ok(BenchOutcome {
        summary,
        fatal: outcome.fatal,
    })
}

/// Removes the uploaded files; a failure is reported, not fatal.
pub(crate) fn cleanup(cfg: &ClientConfig, paths: &[String]) {
    let conn: Connection = match client::connect(cfg, &mut load::PhaseTimer::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xfer: warning: --cleanup could not connect: {e}");
            return;
        }
    };
    for p in paths {
        if let Err(e) = conn.sftp.unlink(Path::new(p)) {
            // A user that never started has no file: that is fine.
            if !matches!(e.code(), ssh2::ErrorCode::SFTP(2)) {
                eprintln!("xfer: warning: --cleanup could not remove {p}: {e}");
            }
        }
    }
    conn.disconnect();
}

/// Builds the client config the users share: the preflight's host key pinned.
pub fn pinned(cfg: &ClientConfig, host_key: Vec<u8>) -> ClientConfig {
    ClientConfig {
        trust: HostKeyTrust::Pinned(host_key),
        ..cfg.clone()
    }
}
