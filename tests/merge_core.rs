//! The scale-out pieces used together, through the public API only, the way
//! `sftp-bench --shard I/N` and `xfer merge` will use them: one synthetic run
//! of 10 users is split into 4 shards with `Shard::users` (global user ids),
//! each shard records and writes what a live run writes (summary, chunks.csv,
//! users' rates, timeseries.csv, latency.hlog), one shard is "killed" (no
//! summary, its last chunks.csv row cut), and the merge of the four must
//! equal the figures of the whole run recorded in one place.

use chrono::{DateTime, Utc};
use std::time::Duration;
use xfer::load::shard::{ramp_offset, Shard};
use xfer::load::{Event, Sample, MAX_PHASES};
use xfer::merge::rebuild::summary_from_chunks;
use xfer::merge::rows::{concat_csv, CsvPart};
use xfer::merge::series::{merge_series, ShardSeries};
use xfer::merge::summary::{merge_summaries, start_skew, ShardSummary, Window};
use xfer::merge::MergeWarning;
use xfer::report::csv_out::{Flush, SampleCsv};
use xfer::report::hlog::{self, HlogWriter};
use xfer::report::timeseries::{self, IntervalClock, IntervalRow, TimeSeries, TimeSeriesCsv};
use xfer::report::{Recorder, RunSummary};

const PHASES: &[&str] = &["write"];
const USERS: u32 = 10;
const SHARDS: u32 = 4;
const KILLED: u32 = 2;

fn origin() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-05T12:00:00.000Z")
        .unwrap()
        .to_utc()
}

/// Global user `user`'s events, deterministic: 20 chunks, every 7th fails.
fn user_events(user: u32) -> Vec<Event> {
    let start = ramp_offset(user, USERS, Duration::from_secs(2));
    let mut events = vec![Event::UserStarted { user, at: start }];
    let mut t = start;
    for step in 0..20u64 {
        let write = Duration::from_micros(500 + u64::from(user) * 300 + step * 97 % 4_000);
        let failed = (u64::from(user) + step) % 7 == 0;
        let mut phases = [None; MAX_PHASES];
        phases[0] = Some(write);
        events.push(Event::Sample(Sample {
            user,
            pass: 0,
            step,
            attempt: 1,
            offset: step << 20,
            bytes: if failed { 0 } else { 1 << 20 },
            intended: t,
            started: t,
            elapsed: write,
            phases,
            error: failed.then(|| Box::new(("write", "short write".to_string()))),
        }));
        t += write + Duration::from_millis(150);
    }
    events.push(Event::UserFinished {
        user,
        at: t,
        gave_up: false,
    });
    events
}

/// What one shard's run directory holds.
struct ShardFiles {
    label: String,
    started: DateTime<Utc>,
    elapsed: Duration,
    summary: Option<RunSummary>,
    chunks: Vec<u8>,
    rates: Vec<f64>,
    kinds: Vec<String>,
    series_csv: Vec<u8>,
    hlog: Vec<u8>,
}

fn run_shard(shard: Shard) -> ShardFiles {
    // Each shard's clock starts a few ms apart, as real machines do.
    let started = origin() + chrono::Duration::milliseconds(i64::from(shard.index) * 3);
    let clock = IntervalClock::new(started, Duration::from_millis(500));
    let mut rec = Recorder::new(PHASES, 0, USERS);
    let mut ts = TimeSeries::new(clock, timeseries::SFTP_ERROR_KINDS, 0);
    let mut chunks = Vec::new();
    let mut csv = SampleCsv::new(&mut chunks, PHASES, Flush::EveryRow).unwrap();
    let mut series = TimeSeriesCsv::new(Vec::new(), ts.kinds()).unwrap();
    let mut hl = HlogWriter::new(Vec::new(), &clock, started, "write").unwrap();
    let mut end = Duration::ZERO;
    let mut rows: Vec<IntervalRow> = Vec::new();
    for user in shard.users(USERS) {
        for e in user_events(user) {
            if let Event::Sample(s) = &e {
                csv.write(s).unwrap();
            }
            if let Event::UserFinished { at, .. } = &e {
                end = end.max(*at);
            }
            rec.observe(&e);
            ts.observe(&e);
        }
    }
    rows.extend(ts.finish(end));
    for r in &rows {
        series.write(r).unwrap();
        hl.write(r).unwrap();
    }
    drop(csv);
    let mut summary = rec.summary(end, false);
    // The recorder has a slot per global id; this shard ran its share.
    summary.users = shard.users(USERS).len() as u32;
    ShardFiles {
        label: format!("shard-{}", shard.index),
        started,
        elapsed: end,
        summary: Some(summary),
        chunks,
        rates: rec
            .users()
            .iter()
            .filter(|u| u.started.is_some())
            .map(|u| u.mb_per_sec())
            .collect(),
        kinds: ts.kinds().to_vec(),
        series_csv: series.into_inner().unwrap(),
        hlog: hl.into_inner(),
    }
}

#[test]
fn four_shards_merge_to_the_whole_runs_figures_even_with_one_killed() {
    // The whole run, recorded in one place.
    let mut whole = Recorder::new(PHASES, 0, USERS);
    for user in 0..USERS {
        user_events(user).iter().for_each(|e| whole.observe(e));
    }

    let mut shards: Vec<ShardFiles> = (0..SHARDS)
        .map(|index| {
            run_shard(Shard {
                index,
                count: SHARDS,
            })
        })
        .collect();
    // Shard 2 is killed after its run: no summary.json, a row cut in half.
    let killed = &mut shards[KILLED as usize];
    killed.summary = None;
    let cut = killed.chunks.len() - 20;
    killed.chunks.truncate(cut);

    let mut warnings = Vec::new();
    let mut rebuilt = Vec::new();
    for s in &shards {
        if s.summary.is_none() {
            let r = summary_from_chunks(&s.label, &s.chunks, "write").unwrap();
            warnings.push(MergeWarning::IncompleteShard {
                label: s.label.clone(),
                rows: r.rows,
            });
            rebuilt.push(r);
        }
    }
    let mut rebuilt_iter = rebuilt.iter();
    let parts: Vec<ShardSummary> = shards
        .iter()
        .map(|s| match &s.summary {
            Some(sum) => ShardSummary {
                label: &s.label,
                window: Window::new(s.started, s.elapsed),
                summary: sum,
                per_user_mb_per_s: &s.rates,
            },
            None => {
                let r = rebuilt_iter.next().unwrap();
                ShardSummary {
                    label: &s.label,
                    window: Window::new(s.started, r.elapsed),
                    summary: &r.summary,
                    per_user_mb_per_s: &r.per_user_mb_per_s,
                }
            }
        })
        .collect();
    let merged = merge_summaries(&parts).unwrap();

    // The killed shard lost exactly its last (cut) row.
    let lost = user_events(
        Shard {
            index: KILLED,
            count: SHARDS,
        }
        .users(USERS)
        .end - 1,
    )
    .into_iter()
    .rev()
    .find_map(|e| match e {
        Event::Sample(s) => Some(s),
        _ => None,
    })
    .unwrap();
    let want = whole.summary(Duration::from_secs(5), false);
    let lost_ok = u64::from(lost.error.is_none());
    assert_eq!(merged.steps_ok, want.steps_ok - lost_ok);
    assert_eq!(merged.failed_attempts, want.failed_attempts - (1 - lost_ok));
    assert_eq!(merged.throughput.bytes, want.throughput.bytes - lost.bytes);
    assert_eq!(merged.users, USERS);
    assert!(
        merged.interrupted,
        "a killed shard makes the run interrupted"
    );
    assert_eq!(
        warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [format!(
            "warning: incomplete shard shard-{KILLED}: no summary.json (killed mid-run?); merged from its {} chunks.csv rows",
            rebuilt[0].rows
        )]
    );

    // Percentiles of the merge are those of one histogram of every sample
    // the shards kept.
    let mut kept = Recorder::new(PHASES, 0, USERS);
    for user in 0..USERS {
        for e in user_events(user) {
            if !matches!(&e, Event::Sample(s) if s == &lost) {
                kept.observe(&e);
            }
        }
    }
    let kept = kept.summary(Duration::from_secs(5), false);
    assert_eq!(
        merged.response().unwrap().latency,
        kept.response().unwrap().latency
    );
    assert_eq!(merged.errors, kept.errors);

    // chunks.csv: every kept row, once, with its shard.
    let chunk_parts: Vec<CsvPart> = shards
        .iter()
        .enumerate()
        .map(|(i, s)| CsvPart {
            label: &s.label,
            shard: i as u32,
            bytes: &s.chunks,
        })
        .collect();
    let mut all_chunks = Vec::new();
    let stats = concat_csv(&mut all_chunks, "chunks.csv", &chunk_parts).unwrap();
    assert_eq!(stats.rows, u64::from(USERS) * 20 - 1);
    assert_eq!(
        stats.warnings,
        [MergeWarning::CutRow {
            label: format!("shard-{KILLED}"),
            file: "chunks.csv".into()
        }]
    );
    let mut r = csv::Reader::from_reader(all_chunks.as_slice());
    let mut ids: Vec<(u32, u32, u64)> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[0].parse().unwrap(),
                rec[1].parse().unwrap(),
                rec[3].parse().unwrap(),
            )
        })
        .collect();
    for (shard, user, _) in &ids {
        assert!(Shard {
            index: *shard,
            count: SHARDS
        }
        .users(USERS)
        .contains(user));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, stats.rows, "no (user, chunk) twice");

    // Time series: read back from the files, aligned, adding up to the totals
    // of the shards that wrote them (the killed one wrote its series too).
    let read: Vec<(Vec<String>, Vec<IntervalRow>)> = shards
        .iter()
        .map(|s| timeseries::read_csv(&s.series_csv, hlog::read(&s.hlog).unwrap()).unwrap())
        .collect();
    let series: Vec<ShardSeries> = shards
        .iter()
        .zip(&read)
        .map(|(s, (kinds, rows))| {
            assert_eq!(kinds, &s.kinds);
            ShardSeries {
                label: &s.label,
                kinds,
                rows,
            }
        })
        .collect();
    let (_, rows) = merge_series(&series).unwrap();
    let ok: u64 = rows.iter().map(|r| r.steps_ok).sum();
    let bytes: u64 = rows.iter().map(|r| r.bytes).sum();
    let failed: u64 = rows.iter().map(IntervalRow::failed_total).sum();
    assert_eq!(
        (ok, bytes, failed),
        (want.steps_ok, want.throughput.bytes, want.failed_attempts)
    );
    let mut all = xfer::report::LatencyHistogram::new();
    rows.iter().for_each(|r| all.add(&r.response));
    assert_eq!(all.summary(), want.response().unwrap().latency);
    assert!(rows.windows(2).all(|w| w[0].end == w[1].start));
    assert_eq!(rows.iter().map(|r| r.active_users).max(), Some(USERS));

    let skew = start_skew(&shards.iter().map(|s| s.started).collect::<Vec<_>>());
    assert_eq!(skew, Duration::from_millis(9));
}
