//! Running a sweep: for each client count, an optional warm-up (not
//! recorded), then `repeat` measured runs of the load engine with that many
//! users. Each run is folded by a [`Recorder`] into a [`PointRun`], appended
//! to `perf.csv` and `perf.json` at once, so an interrupted sweep keeps every
//! point it finished (and the one it was cut in, marked `interrupted`).
//!
//! The sweep never calls the load engine itself: a [`Driver`] runs each
//! engine run, so that a target can be driven by the thread-per-user engine
//! ([`Threads`]) or by another driver that emits the same events (an event
//! loop for TCP). `perf::target::Prepared::sweep` picks one per target.

use super::results::{
    aggregate, csv_row, LoopLagSummary, PerfReport, PointRun, SweepSettings, PERF_CSV_COLUMNS,
};
use super::PerfError;
use crate::load::event_loop::{self, EventWorkload, LoopLag};
use crate::load::{
    self, EngineConfig, Event, Pacing, RetryPolicy, RunOutcome, Shard, StopAfter, Stopper,
    Workload, WorkloadShape,
};
use crate::report::csv_out::{Flush, SampleCsv};
use crate::report::format::{self, FORMAT_VERSION, PERF_CSV, PERF_JSON, SAMPLES_DIR};
use crate::report::progress::Progress;
use crate::report::series_out::SeriesOut;
use crate::report::{write_atomic, Recorder};
use chrono::{DateTime, Utc};
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Runs the users of one engine run and hands every event, in order per
/// user, to `observe` on the calling thread. Whatever runs the users, the
/// samples, recorder, CSV, JSON and charts are the same.
pub trait Driver {
    /// The workload's phases, response phase, pass length and failure
    /// kinds, whichever driver runs it.
    fn shape(&self) -> &dyn WorkloadShape;
    /// One run with `engine.users` users (this shard's of them), timed from
    /// `origin`. `observe(None)` is an idle tick, at least every 10 ms.
    fn run(
        &self,
        engine: &EngineConfig,
        stopper: &Stopper,
        origin: Instant,
        observe: &mut dyn FnMut(Option<Event>),
    ) -> RunOutcome;
    /// Per-loop lag of the last run, for drivers that have loops.
    fn take_loop_lag(&self) -> Vec<LoopLag> {
        Vec::new()
    }
}

/// The load engine's blocking driver: one OS thread per user.
pub struct Threads<'a, W>(pub &'a W);

impl<W: Workload> Driver for Threads<'_, W> {
    fn shape(&self) -> &dyn WorkloadShape {
        self.0
    }
    fn run(
        &self,
        engine: &EngineConfig,
        stopper: &Stopper,
        origin: Instant,
        observe: &mut dyn FnMut(Option<Event>),
    ) -> RunOutcome {
        load::run_ticking(self.0, engine, stopper, origin, observe)
    }
}

/// The event-loop driver (`load::event_loop`): `threads` loop threads (0:
/// one per core) drive all the connections of a run, for workloads that
/// can be non-blocking (TCP requests). Each run's loop lag is kept for the
/// point's figures.
pub struct EventLoop<'a, W> {
    pub workload: &'a W,
    pub threads: usize,
    lag: std::sync::Mutex<Vec<LoopLag>>,
}

impl<'a, W> EventLoop<'a, W> {
    pub fn new(workload: &'a W, threads: usize) -> Self {
        EventLoop {
            workload,
            threads,
            lag: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl<W: EventWorkload> Driver for EventLoop<'_, W> {
    fn shape(&self) -> &dyn WorkloadShape {
        self.workload
    }
    fn run(
        &self,
        engine: &EngineConfig,
        stopper: &Stopper,
        origin: Instant,
        observe: &mut dyn FnMut(Option<Event>),
    ) -> RunOutcome {
        let outcome = event_loop::run_ticking(
            self.workload,
            engine,
            self.threads,
            stopper,
            origin,
            observe,
        );
        *self.lag.lock().unwrap_or_else(|e| e.into_inner()) = outcome.loops;
        outcome.run
    }
    fn take_loop_lag(&self) -> Vec<LoopLag> {
        std::mem::take(&mut *self.lag.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A validated sweep.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// Client counts, ascending.
    pub clients: Vec<u32>,
    /// When each measured run stops: after N passes over the work per
    /// client, or after a duration.
    pub stop: StopAfter,
    /// Measured runs per client count.
    pub repeat: u32,
    /// Unrecorded load at each client count before its first run (zero: none).
    pub warmup: Duration,
    pub pacing: Pacing,
    pub retry: RetryPolicy,
    /// Run directory.
    pub out_dir: PathBuf,
    /// Unique id of this run (names remote files of sftp:// targets).
    pub run_id: String,
    /// Also write every sample to `samples/c<clients>-r<repeat>.csv`.
    pub samples: bool,
    /// The target and a one-line description of a request, for reports.
    pub target: String,
    pub workload: String,
    /// Requests per client, when the stop is a count (for `perf.json`).
    pub requests_per_client: Option<u64>,
    /// Row length of each run's time series (None: not written).
    pub interval: Option<Duration>,
    /// Which share of each client count this process runs.
    pub shard: Shard,
    /// `--start-at` (the caller waits for it before the sweep).
    pub start_at: Option<DateTime<Utc>>,
}

/// What a sweep ended with.
#[derive(Debug)]
pub struct SweepOutcome {
    pub report: PerfReport,
    /// The fatal error (credentials, host key) that ended the sweep, if any.
    pub fatal: Option<load::StepError>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PerfError + '_ {
    move |source| PerfError::Output {
        path: path.to_path_buf(),
        source,
    }
}

/// The output files, kept open across points.
struct Outputs {
    dir: PathBuf,
    csv: csv::Writer<fs::File>,
    csv_path: PathBuf,
}

impl Outputs {
    fn create(dir: &Path) -> Result<Self, PerfError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let csv_path = dir.join(PERF_CSV);
        let file = fs::File::create(&csv_path).map_err(io_err(&csv_path))?;
        let mut csv = csv::Writer::from_writer(file);
        csv.write_record(PERF_CSV_COLUMNS)
            .and_then(|()| csv.flush().map_err(Into::into))
            .map_err(|e| io_err(&csv_path)(e.into()))?;
        Ok(Outputs {
            dir: dir.to_path_buf(),
            csv,
            csv_path,
        })
    }

    fn point(&mut self, run: &PointRun, report: &PerfReport) -> Result<(), PerfError> {
        self.csv
            .write_record(csv_row(run))
            .and_then(|()| self.csv.flush().map_err(Into::into))
            .map_err(|e| io_err(&self.csv_path)(e.into()))?;
        write_report(&self.dir, report)
    }
}

/// Writes `perf.json` atomically.
pub fn write_report(dir: &Path, report: &PerfReport) -> Result<(), PerfError> {
    let path = dir.join(PERF_JSON);
    write_atomic(&path, &format::to_json(report)).map_err(io_err(&path))
}

/// Runs the sweep on `driver`. `on_run` sees each finished run (for the console).
pub fn run<D: Driver + ?Sized>(
    driver: &D,
    cfg: &SweepConfig,
    stopper: &Stopper,
    mut on_run: impl FnMut(&PointRun),
) -> Result<SweepOutcome, PerfError> {
    let mut out = Outputs::create(&cfg.out_dir)?;
    let started_at: DateTime<Utc> = Utc::now();
    let mut report = PerfReport {
        format_version: FORMAT_VERSION,
        tool: "xfer perf".into(),
        xfer_version: env!("CARGO_PKG_VERSION").into(),
        started_at,
        target: cfg.target.clone(),
        workload: cfg.workload.clone(),
        settings: SweepSettings {
            clients: cfg.clients.clone(),
            requests_per_client: cfg.requests_per_client,
            duration_s: match cfg.stop {
                StopAfter::Duration(d) => Some(d.as_secs_f64()),
                StopAfter::Passes(_) => None,
            },
            repeat: cfg.repeat,
            warmup_s: cfg.warmup.as_secs_f64(),
            rate_per_client: match cfg.pacing {
                Pacing::Interval(i) => Some(1.0 / i.as_secs_f64()),
                Pacing::Delay(_) => None,
            },
            interval_s: cfg.interval.map(|d| d.as_secs_f64()),
            start_at: cfg.start_at,
        },
        run_id: cfg.run_id.clone(),
        shard: cfg.shard,
        interrupted: false,
        runs: Vec::new(),
        points: Vec::new(),
        thresholds: None,
    };
    write_report(&cfg.out_dir, &report)?;

    let per_client = match cfg.stop {
        StopAfter::Passes(n) => Some(n * driver.shape().steps_per_pass()),
        StopAfter::Duration(_) => None,
    };
    let shard_users = |c: u32| cfg.shard.users(c).len() as u64;
    let total = per_client.map(|n| {
        cfg.clients.iter().map(|&c| shard_users(c) * n).sum::<u64>() * u64::from(cfg.repeat)
    });
    // Requests when their number is known, else completed runs.
    let mut progress = match total {
        Some(n) => Progress::new(Some(n), "requests"),
        None => Progress::new(
            Some(cfg.clients.len() as u64 * u64::from(cfg.repeat)),
            "runs",
        ),
    };
    let mut fatal = None;

    'sweep: for &clients in &cfg.clients {
        let engine = EngineConfig {
            users: clients,
            ramp_up: Duration::ZERO,
            pacing: cfg.pacing,
            stop: cfg.stop,
            retry: cfg.retry,
            shard: cfg.shard,
        };
        if !cfg.warmup.is_zero() {
            progress.set_message(format!("{clients} clients: warm-up"));
            let warm = EngineConfig {
                stop: StopAfter::Duration(cfg.warmup),
                ..engine.clone()
            };
            let outcome = driver.run(&warm, stopper, Instant::now(), &mut |_| {});
            if outcome.fatal.is_some() {
                fatal = outcome.fatal;
                break 'sweep;
            }
        }
        for repeat in 0..cfg.repeat {
            if stopper.is_stopped() {
                break 'sweep;
            }
            progress.set_message(format!(
                "{clients} clients, run {}/{}",
                repeat + 1,
                cfg.repeat
            ));
            let mut samples = match cfg.samples {
                true => Some(samples_csv(
                    &cfg.out_dir,
                    clients,
                    repeat,
                    driver.shape().phases(),
                )?),
                false => None,
            };
            let mut sample_error = None;
            let mut recorder = Recorder::for_users(
                driver.shape().phases(),
                driver.shape().response_phase(),
                cfg.shard.users(clients),
            );
            let origin = Instant::now();
            let mut series = match cfg.interval {
                Some(interval) => Some(series_out(
                    &cfg.out_dir,
                    clients,
                    repeat,
                    Utc::now(),
                    interval,
                    driver,
                )?),
                None => None,
            };
            let outcome = driver.run(&engine, stopper, origin, &mut |event| {
                if let Some(series) = &mut series {
                    series.observe(event.as_ref(), origin.elapsed());
                }
                let Some(event) = event else { return };
                recorder.observe(&event);
                match &event {
                    Event::Sample(s) => {
                        if s.error.is_none() && per_client.is_some() {
                            progress.inc(1);
                        }
                        if let Some((w, _)) = &mut samples {
                            if let Err(e) = w.write(s) {
                                sample_error.get_or_insert(e);
                            }
                        }
                    }
                    Event::Warning { user, message } => {
                        progress.println(&format!("xfer: warning: user {user}: {message}"));
                    }
                    _ => {}
                }
            });
            if per_client.is_none() {
                progress.inc(1);
            }
            progress.flush();
            if let Some((mut w, path)) = samples {
                let flushed = w.flush();
                if let Some(e) = sample_error.or(flushed.err()) {
                    return Err(io_err(&path)(e));
                }
            }
            if let Some(series) = series {
                let path = cfg.out_dir.join(format::TIMESERIES_DIR);
                series.finish(outcome.elapsed).map_err(io_err(&path))?;
            }
            let interrupted = stopper.is_stopped();
            let summary = recorder.summary(outcome.elapsed, interrupted);
            let mut point = PointRun::from_summary(clients, repeat, &summary);
            point.loop_lag = LoopLagSummary::of(&driver.take_loop_lag(), &point.latency);
            report.runs.push(point.clone());
            report.points = aggregate(&report.runs);
            report.interrupted = interrupted;
            out.point(&point, &report)?;
            progress.suspend(|| on_run(&point));
            if outcome.fatal.is_some() {
                fatal = outcome.fatal;
                break 'sweep;
            }
        }
    }
    progress.finish();
    if stopper.is_stopped() && !report.interrupted {
        report.interrupted = true;
        write_report(&cfg.out_dir, &report)?;
    }
    Ok(SweepOutcome { report, fatal })
}

/// The time series of one run, in `timeseries/c<clients>-r<repeat>.csv`
/// and `.hlog`, started at `start` (the wall clock of the run's origin).
fn series_out<D: Driver + ?Sized>(
    dir: &Path,
    clients: u32,
    repeat: u32,
    start: DateTime<Utc>,
    interval: Duration,
    driver: &D,
) -> Result<SeriesOut, PerfError> {
    let sdir = dir.join(format::TIMESERIES_DIR);
    fs::create_dir_all(&sdir).map_err(io_err(&sdir))?;
    let csv = sdir.join(format::samples_file(clients, repeat));
    SeriesOut::create(
        &csv,
        &sdir.join(format::hlog_file(clients, repeat)),
        start,
        interval,
        driver.shape().error_kinds(),
        driver.shape().phases(),
        driver.shape().response_phase(),
    )
    .map_err(io_err(&csv))
}

type SampleWriter = (SampleCsv<BufWriter<fs::File>>, PathBuf);

fn samples_csv(
    dir: &Path,
    clients: u32,
    repeat: u32,
    phases: &[&str],
) -> Result<SampleWriter, PerfError> {
    let sdir = dir.join(SAMPLES_DIR);
    fs::create_dir_all(&sdir).map_err(io_err(&sdir))?;
    let path = sdir.join(format::samples_file(clients, repeat));
    let file = fs::File::create(&path).map_err(io_err(&path))?;
    // Thousands of rows a second: flush in batches, and at the point's end.
    let w = SampleCsv::new(
        BufWriter::new(file),
        phases,
        Flush::AtMost(Duration::from_millis(100)),
    )
    .map_err(io_err(&path))?;
    Ok((w, path))
}
