//! `xfer merge` end to end, files in and files out: 16 shard directories of
//! 100,000 chunk rows each (run.json, summary.json, chunks.csv, users.csv,
//! written with the run's own writers) merged by the function the subcommand
//! calls. The bar is 1 M rows/s: a merge must never be the slow step after a
//! long multi-machine run.
//!
//! `cargo bench --bench merge` (criterion reports elements/s = rows/s).

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::{Path, PathBuf};
use std::time::Duration;
use xfer::load::shard::Shard;
use xfer::load::{Event, Sample, MAX_PHASES};
use xfer::merge::dir::merge_dirs;
use xfer::report::csv_out::{users_csv, Flush, SampleCsv};
use xfer::report::format::{self, bench::summary_json, RunManifest};
use xfer::report::Recorder;
use xfer::sftp::client::{SessionInfo, PHASES};
use xfer::sftp::workload::{ConnectionMode, Verify};

const SHARDS: u32 = 16;
const ROWS: u64 = 100_000;
const USERS: u32 = 16 * 625;

fn started(shard: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-05T12:00:00Z")
        .unwrap()
        .to_utc()
        + chrono::Duration::milliseconds(i64::from(shard))
}

/// One shard's directory, as a live sharded run writes it.
fn write_shard(dir: &Path, index: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let shard = Shard {
        index,
        count: SHARDS,
    };
    let users = shard.users(USERS);
    let manifest = RunManifest {
        format_version: format::FORMAT_VERSION,
        tool: "xfer sftp-bench".into(),
        xfer_version: env!("CARGO_PKG_VERSION").into(),
        started_at: started(index),
        target: "sftp://bench@10.0.0.1:22/up".into(),
        source: "generated".into(),
        file_size: 160 << 20,
        chunk_size: 1 << 20,
        chunks_per_file: 160,
        users: USERS,
        mode: ConnectionMode::KeepOpen,
        verify: Verify::None,
        pacing: "delay 0s after each chunk".into(),
        stop: "after 1 upload(s) of the file".into(),
        ramp_up_s: 10.0,
        retry_max_attempts: 10,
        retry_backoff_s: 1.0,
        ciphers_offered: "aes128-gcm@openssh.com".into(),
        remote_files: users
            .clone()
            .map(|u| format!("/up/r-u{u:04}.bin"))
            .collect(),
        session: SessionInfo::default(),
        run_id: "r".into(),
        shard,
        shard_users: (users.start, users.end),
        start_at: Some(started(0)),
        interval_s: Some(1.0),
        op: Default::default(),
        mix: None,
        remote_file: None,
        download_users: Vec::new(),
        ssh_login: None,
    };
    std::fs::write(dir.join(format::RUN_JSON), format::to_json(&manifest)).unwrap();
    let mut rec = Recorder::new(PHASES, 5, USERS);
    let file = std::fs::File::create(dir.join(format::CHUNKS_CSV)).unwrap();
    let mut csv = SampleCsv::new(std::io::BufWriter::new(file), PHASES, Flush::EveryRow).unwrap();
    let n = u64::from(users.end - users.start);
    for u in users.clone() {
        rec.observe(&Event::UserStarted {
            user: u,
            at: Duration::from_millis(u64::from(u)),
        });
    }
    for i in 0..ROWS {
        let mut phases = [None; MAX_PHASES];
        phases[5] = Some(Duration::from_micros(800 + (i * 7919) % 50_000));
        let s = Sample {
            user: users.start + (i % n) as u32,
            pass: 0,
            step: i / n,
            attempt: 1,
            offset: (i / n) << 20,
            bytes: 1 << 20,
            intended: Duration::from_micros(i * 100),
            started: Duration::from_micros(i * 100 + 20),
            elapsed: Duration::from_micros(900 + (i * 7919) % 50_000),
            phases,
            error: None,
        };
        csv.write(&s).unwrap();
        rec.observe(&Event::Sample(s));
    }
    drop(csv);
    let mut summary = rec.summary(Duration::from_secs(10), false);
    summary.users = n as u32;
    std::fs::write(dir.join(format::SUMMARY_JSON), summary_json(&summary)).unwrap();
    let mine: Vec<_> = rec
        .users()
        .iter()
        .filter(|u| u.started.is_some())
        .cloned()
        .collect();
    std::fs::write(
        dir.join(format::USERS_CSV),
        users_csv(&mine, started(index)).unwrap(),
    )
    .unwrap();
}

fn merge(c: &mut Criterion) {
    let work = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = (0..SHARDS)
        .map(|i| {
            let d = work.path().join(format!("shard-{i}"));
            write_shard(&d, i);
            d
        })
        .collect();
    let out = work.path().join("merged");
    let mut g = c.benchmark_group("merge");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(u64::from(SHARDS) * ROWS));
    g.bench_function("16 shards x 100,000 chunk rows, files in and out", |b| {
        b.iter(|| {
            let o = merge_dirs(&dirs, &out).unwrap();
            assert_eq!(o.rows, u64::from(SHARDS) * ROWS);
        })
    });
    g.finish();
}

criterion_group!(benches, merge);
criterion_main!(benches);
