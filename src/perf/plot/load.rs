//! Reading a run directory for charts: a perf sweep's `perf.json` (or
//! `perf.csv` alone, from an interrupted or hand-edited run), or an
//! sftp-bench run's `run.json`, `chunks.csv` and `users.csv`, all through the
//! typed formats of `report::format`.

use crate::load::Shard;
use crate::perf::results::{aggregate, parse_csv, PerfReport, SweepSettings};
use crate::perf::PerfError;
use crate::report::format::{
    self, tables, RunManifest, CHUNKS_CSV, PERF_CSV, PERF_JSON, RUN_JSON, USERS_CSV,
};
use crate::sftp::workload::{ConnectionMode, Op};
use crate::units::Bytes;
use chrono::{DateTime, Utc};
use std::path::Path;

/// A run directory's contents, loaded.
#[derive(Debug, Clone)]
pub enum RunDir {
    Perf(Box<PerfReport>),
    SftpBench(SftpBenchRun),
}

/// What the sftp-bench charts need from a run directory.
#[derive(Debug, Clone)]
pub struct SftpBenchRun {
    pub target: String,
    pub started_at: DateTime<Utc>,
    pub workload: String,
    /// Successful chunks: (user, start since run start in s, write time in us).
    pub chunks: Vec<(u32, f64, u64)>,
    /// Per user MB/s, from users.csv (empty if it is missing).
    pub user_mb_per_s: Vec<(u32, f64)>,
}

pub(super) fn input_err(path: &Path, message: impl Into<String>) -> PerfError {
    PerfError::Input {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Loads a perf or sftp-bench run directory.
pub fn load(dir: &Path) -> Result<RunDir, PerfError> {
    let (json, csv) = (dir.join(PERF_JSON), dir.join(PERF_CSV));
    if json.is_file() {
        return Ok(RunDir::Perf(Box::new(format::read_json(
            &json,
            "perf.json",
        )?)));
    }
    if csv.is_file() {
        let runs = parse_csv(&format::read(&csv)?).map_err(|e| input_err(&csv, e.to_string()))?;
        return Ok(RunDir::Perf(Box::new(PerfReport {
            format_version: format::FORMAT_VERSION,
            tool: "xfer perf".into(),
            xfer_version: String::new(),
            started_at: modified(&csv),
            target: dir.display().to_string(),
            workload: "from perf.csv".into(),
            settings: SweepSettings {
                clients: runs.iter().map(|r| r.clients).collect(),
                requests_per_client: None,
                duration_s: None,
                repeat: 0,
                warmup_s: 0.0,
                rate_per_client: None,
                interval_s: None,
                start_at: None,
            },
            run_id: String::new(),
            shard: Shard::WHOLE,
            interrupted: runs.iter().any(|r| r.interrupted),
            points: aggregate(&runs),
            thresholds: None,
            runs,
        })));
    }
    if dir.join(RUN_JSON).is_file() && dir.join(CHUNKS_CSV).is_file() {
        return load_sftp_bench(dir).map(RunDir::SftpBench);
    }
    Err(input_err(
        dir,
        "not a run directory: expected perf.json or perf.csv (xfer perf), or run.json and chunks.csv (xfer sftp-bench)",
    ))
}

fn modified(path: &Path) -> DateTime<Utc> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now())
}

fn load_sftp_bench(dir: &Path) -> Result<SftpBenchRun, PerfError> {
    let m: RunManifest = format::read_json(&dir.join(RUN_JSON), "run.json")?;
    // The chart is of the run's response phase: a download run has no writes.
    let (what, phase) = match m.op {
        Op::Upload => ("chunk uploads", "write"),
        Op::Download => ("chunk downloads", "read"),
        Op::Mixed => ("chunk uploads (and downloads)", "write"),
    };
    let workload = format!(
        "{what}: {} users, file {}, chunk {}, {}, {}",
        m.users,
        Bytes(m.file_size),
        Bytes(m.chunk_size),
        match m.mode {
            ConnectionMode::KeepOpen => "keep-open",
            ConnectionMode::Reconnect => "reconnect",
        },
        m.pacing
    );

    let chunks_path = dir.join(CHUNKS_CSV);
    let table = tables::read_samples(&format::read(&chunks_path)?, &chunks_path)?;
    let write = table
        .phase(phase)
        .ok_or_else(|| input_err(&chunks_path, format!("no column '{phase}_us'")))?;
    let chunks = table
        .rows
        .iter()
        .filter(|r| r.error_kind.is_empty())
        .filter_map(|r| Some((r.user, r.start_us as f64 / 1e6, r.phases[write]?)))
        .collect();

    let users_path = dir.join(USERS_CSV);
    let user_mb_per_s = if users_path.is_file() {
        tables::read_users(&format::read(&users_path)?, &users_path)?
            .iter()
            .map(|u| (u.user, u.mb_per_s))
            .collect()
    } else {
        Vec::new()
    };
    Ok(SftpBenchRun {
        target: m.target,
        started_at: m.started_at,
        workload,
        chunks,
        user_mb_per_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::format::bench::tests::manifest;

    /// A run directory written before `format_version` existed still loads.
    #[test]
    fn an_unversioned_sftp_bench_run_directory_loads() {
        let dir = tempfile::tempdir().unwrap();
        let mut m: serde_json::Value = serde_json::to_value(manifest()).unwrap();
        m.as_object_mut().unwrap().remove("format_version");
        std::fs::write(dir.path().join(RUN_JSON), m.to_string()).unwrap();
        std::fs::write(
            dir.path().join(CHUNKS_CSV),
            "user,pass,chunk,attempt,offset,bytes,intended_us,start_us,write_us,total_us,error_kind,error\n\
             0,0,0,1,0,1024,0,10,500,600,,\n\
             1,0,0,1,0,0,0,20,,700,refused,connection refused\n\
             1,0,0,2,0,1024,0,2000,800,900,,\n",
        )
        .unwrap();
        let RunDir::SftpBench(run) = load(dir.path()).unwrap() else {
            panic!("not an sftp-bench run");
        };
        assert_eq!(run.chunks, vec![(0, 10e-6, 500), (1, 2000e-6, 800)]);
        assert!(run.user_mb_per_s.is_empty());
        assert!(run.workload.contains("reconnect"), "{}", run.workload);
        assert_eq!(run.target, "sftp://u@127.0.0.1:2222/up");
    }
}
