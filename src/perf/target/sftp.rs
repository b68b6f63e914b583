//! The `sftp://` target: sftp-bench's chunk workload after its preflight,
//! with remote names unique to the run, a chunk policy that makes N requests
//! whole passes, and for downloads the file they read (uploaded once before
//! the sweep, or an existing `--remote-file`).

use super::{describe_length, random_bytes, TargetError};
use crate::load::StopAfter;
use crate::perf::sweep::SweepConfig;
use crate::sftp::bench::{self as sftp_bench, SourceUpload};
use crate::sftp::client::ClientConfig;
use crate::sftp::source::Source;
use crate::sftp::workload::{ChunkTransfer, ConnectionMode, Op, OpMix, Verify};
use crate::units::Bytes;
use std::sync::Arc;

/// What an `sftp://` sweep does, validated.
#[derive(Debug, Clone)]
pub struct SftpOptions {
    pub chunk_size: u64,
    pub mode: ConnectionMode,
    pub ops: OpMix,
    /// `--remote-file`: the existing file downloads read.
    pub remote_file: Option<String>,
}

/// The largest divisor of `n` that is at most `cap`: chunks per remote file,
/// so that N chunk writes are whole passes over a small file.
pub(super) fn chunks_per_file(n: u64, cap: u64) -> u64 {
    (1..=cap.min(n))
        .rev()
        .find(|d| n.is_multiple_of(*d))
        .unwrap_or(1)
}

/// Chunk files a sweep runs for a duration hold this many chunks.
const CHUNKS_PER_FILE_TIMED: u64 = 16;

/// The prepared workload, and the source file the preflight uploaded for
/// the downloads (removed at the end), if it did.
pub(super) struct Transfer {
    pub workload: ChunkTransfer,
    pub uploaded_source: Option<String>,
    pub notice: Option<String>,
}

pub(super) fn chunk_transfer(
    mut client: ClientConfig,
    o: &SftpOptions,
    cfg: &mut SweepConfig,
    keep_going: &dyn Fn() -> bool,
) -> Result<Transfer, TargetError> {
    if client.target.dir.is_empty() {
        client.target.dir = ".".into();
    }
    let sftp_bench::Preflight {
        session,
        host_key,
        notice,
    } = sftp_bench::preflight(&client)?;
    let client = sftp_bench::pinned(&client, host_key);
    let remote_size = match &o.remote_file {
        Some(path) => Some(sftp_bench::remote_size(&client, path)?),
        None => None,
    };
    let chunks = match (cfg.stop, remote_size) {
        // The remote file decides the chunks of a pass; N requests become
        // the nearest whole number of passes (at least one).
        (StopAfter::Passes(n), Some(size)) => {
            let per_file = size.div_ceil(o.chunk_size);
            let passes = (n as f64 / per_file as f64).round().max(1.0) as u64;
            cfg.stop = StopAfter::Passes(passes);
            cfg.requests_per_client = Some(passes * per_file);
            per_file
        }
        (StopAfter::Passes(n), None) => {
            let per_file = chunks_per_file(n, 32);
            cfg.stop = StopAfter::Passes(n / per_file);
            per_file
        }
        (StopAfter::Duration(_), Some(size)) => size.div_ceil(o.chunk_size),
        (StopAfter::Duration(_), None) => CHUNKS_PER_FILE_TIMED,
    };
    let file_size = remote_size.unwrap_or(o.chunk_size.saturating_mul(chunks));
    // Uploaders need bytes; a download of a --remote-file needs none.
    let data = match (o.ops.op, remote_size) {
        (Op::Download, Some(_)) => Vec::new(),
        _ => random_bytes(file_size, "--chunk-size")?,
    };
    let dir = client.target.dir.trim_end_matches('/').to_string();
    let mut uploaded_source = None;
    let download_path = match &o.remote_file {
        Some(path) => Some(path.clone()),
        None if o.ops.op != Op::Upload => {
            let shard = if cfg.shard.is_sharded() {
                format!("-s{}", cfg.shard.index)
            } else {
                String::new()
            };
            let path = format!("{dir}/xfer-perf-{}{shard}-src.bin", cfg.run_id);
            eprintln!("{}", sftp_bench::source_upload_note(&path, file_size));
            let upload = sftp_bench::upload_source(&client, &data, &path, keep_going)?;
            if upload != SourceUpload::Whole {
                return Err(TargetError::Interrupted {
                    left: upload.left_behind(&path),
                });
            }
            uploaded_source = Some(path.clone());
            Some(path)
        }
        None => None,
    };
    let max_clients = *cfg.clients.last().unwrap_or(&1);
    let remote_paths = (0..max_clients)
        .map(|u| match &download_path {
            Some(p) if o.ops.downloads(u) => p.clone(),
            _ => format!("{dir}/xfer-perf-{}-u{u:04}.bin", cfg.run_id),
        })
        .collect();
    cfg.target = client.target.to_string();
    // The run's own copy is not named: its name changes with every run, and
    // `xfer compare` would call that a changed setting.
    let from = match &o.remote_file {
        Some(path) => path.clone(),
        None => "a file the sweep uploaded".into(),
    };
    let what = match o.ops.op {
        Op::Upload => format!("SFTP chunk writes of {}", Bytes(o.chunk_size)),
        Op::Download => format!("SFTP chunk reads of {} from {from}", Bytes(o.chunk_size)),
        Op::Mixed => format!(
            "SFTP chunks of {}, {:.0}% of clients reading {from}, the rest writing",
            Bytes(o.chunk_size),
            o.ops.mix * 100.0,
        ),
    };
    cfg.workload = format!(
        "{what}, {} ({}), {}",
        match o.mode {
            ConnectionMode::Reconnect => "new session per chunk",
            ConnectionMode::KeepOpen => "keep-open session",
        },
        session.cipher_client_to_server,
        describe_length(cfg),
    );
    Ok(Transfer {
        workload: ChunkTransfer {
            client,
            data: Arc::new(Source::from(data)),
            file_size,
            chunk_size: o.chunk_size,
            mode: o.mode,
            verify: Verify::None,
            ops: o.ops,
            remote_paths,
        },
        uploaded_source,
        notice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_counts_divide_the_requests() {
        assert_eq!(chunks_per_file(200, 32), 25);
        assert_eq!(chunks_per_file(50, 32), 25);
        assert_eq!(chunks_per_file(37, 32), 1);
        assert_eq!(chunks_per_file(8, 32), 8);
    }
}
