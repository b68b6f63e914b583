//! sftp-bench's JSON files: `run.json`, written before the first chunk, and
//! `summary.json`, written at the end.

use super::{unversioned, Versioned};
use crate::load::Shard;
use crate::report::threshold::ThresholdReport;
use crate::report::RunSummary;
use crate::sftp::client::{Provenance, SessionInfo};
use crate::sftp::workload::{ConnectionMode, Op, Verify};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `run.json`: what was run, against what, with which software.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    #[serde(default = "unversioned")]
    pub format_version: u32,
    /// `xfer sftp-bench`.
    pub tool: String,
    pub xfer_version: String,
    /// Wall-clock start of the run (UTC), taken with the run's origin right
    /// after any `--start-at` wait; every `*_us` offset counts from it.
    pub started_at: DateTime<Utc>,
    /// `sftp://user@host:port/dir`.
    pub target: String,
    /// The uploaded file's path, or `generated`.
    pub source: String,
    /// Bytes.
    pub file_size: u64,
    /// Bytes.
    pub chunk_size: u64,
    pub chunks_per_file: u64,
    pub users: u32,
    pub mode: ConnectionMode,
    pub verify: Verify,
    /// How chunks are paced, in words (`delay 200ms after each chunk`).
    pub pacing: String,
    /// When users stop, in words (`after 1 upload(s) of the file`).
    pub stop: String,
    pub ramp_up_s: f64,
    pub retry_max_attempts: u32,
    pub retry_backoff_s: f64,
    /// The cipher list offered, most preferred first.
    pub ciphers_offered: String,
    /// One remote path per user, in user order.
    pub remote_files: Vec<String>,
    /// What the preflight connection negotiated.
    pub session: SessionInfo,
    /// Names the remote files (`<dir>/<run_id>-u<user>.<ext>`); shards of
    /// one run given the same `--start-at` share it.
    #[serde(default)]
    pub run_id: String,
    /// This process's part of the run (`0/1` unsharded); `users` and the
    /// rest of the configuration are the whole run's.
    #[serde(default)]
    pub shard: Shard,
    /// The global user ids this shard ran, `[first, end)`.
    #[serde(default)]
    pub shard_users: (u32, u32),
    /// `--start-at`: the instant the schedule was to start (`started_at`
    /// is when it did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
    /// `--interval`: the row length of `timeseries.csv` (absent: none written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<f64>,
    /// `--op`: `upload` (also what a run.json without it means), `download`
    /// or `mixed`.
    #[serde(default)]
    pub op: Op,
    /// `--mix`: the share of downloading users of a mixed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<f64>,
    /// The file downloading users read (absent in an upload run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_file: Option<RemoteFile>,
    /// The global ids of a mixed run's downloading users (the whole run's,
    /// so every shard's run.json says the same); in `chunks.csv` a failed
    /// attempt that never reached its transfer has neither a `read_us` nor
    /// a `write_us` to tell its direction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub download_users: Vec<u32>,
    /// Which login setting came from where: a flag, the URL, the ssh config
    /// or xfer's default (absent with the embedded server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_login: Option<Provenance>,
}

/// The remote file of a download or mixed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteFile {
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// `true`: the run uploaded it before the schedule started (and
    /// `--cleanup` removes it); `false`: it existed (`--remote-file`).
    pub uploaded_by_run: bool,
}

impl Versioned for RunManifest {
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

/// `summary.json`: the recorder's [`RunSummary`] with a `format_version`,
/// and the `--fail-if` results when thresholds were given. They live here,
/// not in [`RunSummary`], because they are a verdict on the figures rather
/// than a figure: a merged summary recomputes the figures and has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryJson {
    #[serde(default = "unversioned")]
    pub format_version: u32,
    #[serde(flatten)]
    pub summary: RunSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<ThresholdReport>,
}

impl Versioned for SummaryJson {
    fn format_version(&self) -> u32 {
        self.format_version
    }
}

/// The bytes of `summary.json` for `summary`, without copying it.
pub fn summary_json(summary: &RunSummary) -> Vec<u8> {
    summary_json_with(summary, None)
}

/// The bytes of `summary.json` for `summary` and its threshold results.
pub fn summary_json_with(summary: &RunSummary, thresholds: Option<&ThresholdReport>) -> Vec<u8> {
    #[derive(Serialize)]
    struct Out<'a> {
        format_version: u32,
        #[serde(flatten)]
        summary: &'a RunSummary,
        #[serde(skip_serializing_if = "Option::is_none")]
        thresholds: Option<&'a ThresholdReport>,
    }
    super::to_json(&Out {
        format_version: super::FORMAT_VERSION,
        summary,
        thresholds,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{read_json, FORMAT_VERSION, RUN_JSON, SUMMARY_JSON};
    use super::*;
    use crate::load::{Event, Sample, MAX_PHASES};
    use crate::report::Recorder;
    use std::time::Duration;

    pub(crate) fn manifest() -> RunManifest {
        RunManifest {
            format_version: FORMAT_VERSION,
            tool: "xfer sftp-bench".into(),
            xfer_version: "0.1.0".into(),
            started_at: DateTime::parse_from_rfc3339("2026-11-21T10:00:00.123456Z")
                .unwrap()
                .to_utc(),
            target: "sftp://u@127.0.0.1:2222/up".into(),
            source: "generated".into(),
            file_size: 8 << 20,
            chunk_size: 1 << 20,
            chunks_per_file: 8,
            users: 2,
            mode: ConnectionMode::Reconnect,
            verify: Verify::Sha256,
            pacing: "delay 200ms after each chunk".into(),
            stop: "after 1 upload(s) of the file".into(),
            ramp_up_s: 0.5,
            retry_max_attempts: 10,
            retry_backoff_s: 1.0,
            ciphers_offered: "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com".into(),
            remote_files: vec!["/up/a-u0000.bin".into(), "/up/a-u0001.bin".into()],
            session: SessionInfo {
                server_banner: "SSH-2.0-OpenSSH_9.2p1".into(),
                kex: "curve25519-sha256".into(),
                cipher_client_to_server: "chacha20-poly1305@openssh.com".into(),
                ..SessionInfo::default()
            },
            run_id: "a".into(),
            shard: Shard { index: 1, count: 2 },
            shard_users: (1, 2),
            start_at: Some(
                DateTime::parse_from_rfc3339("2026-11-21T10:00:00.1Z")
                    .unwrap()
                    .to_utc(),
            ),
            interval_s: Some(1.0),
            op: Op::Mixed,
            mix: Some(0.5),
            remote_file: Some(RemoteFile {
                path: "/up/a-src.bin".into(),
                size: 8 << 20,
                uploaded_by_run: true,
            }),
            download_users: vec![1],
            ssh_login: None,
        }
    }

    #[test]
    fn run_json_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RUN_JSON);
        let m = manifest();
        std::fs::write(&path, super::super::to_json(&m)).unwrap();
        assert_eq!(read_json::<RunManifest>(&path, "run.json").unwrap(), m);
    }

    #[test]
    fn a_run_json_from_before_downloads_reads_as_an_upload_run() {
        let mut v: serde_json::Value =
            serde_json::from_slice(&super::super::to_json(&manifest())).unwrap();
        for k in ["op", "mix", "remote_file", "download_users", "ssh_login"] {
            v.as_object_mut().unwrap().remove(k);
        }
        let m: RunManifest = serde_json::from_value(v).unwrap();
        assert_eq!((m.op, m.mix, m.remote_file), (Op::Upload, None, None));
        assert!(m.download_users.is_empty() && m.ssh_login.is_none());
    }

    #[test]
    fn summary_json_round_trips_with_its_histograms() {
        let mut r = Recorder::new(&["connect", "write"], 1, 2);
        for i in 0..50u64 {
            let mut phases = [None; MAX_PHASES];
            phases[1] = Some(Duration::from_micros(100 + i * 37));
            r.observe(&Event::Sample(Sample {
                user: (i % 2) as u32,
                pass: 0,
                step: i,
                attempt: 1,
                offset: i << 10,
                bytes: 1024,
                intended: Duration::from_micros(i * 1000),
                started: Duration::from_micros(i * 1000 + 5),
                elapsed: Duration::from_micros(200 + i * 37),
                phases,
                error: None,
            }));
        }
        let summary = r.summary(Duration::from_millis(60), false);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SUMMARY_JSON);
        std::fs::write(&path, summary_json(&summary)).unwrap();
        let back: SummaryJson = read_json(&path, "summary.json").unwrap();
        assert_eq!(back.format_version, FORMAT_VERSION);
        assert_eq!(back.summary, summary);
        assert!(!back.summary.response().unwrap().histogram.is_empty());
    }
}
