//! The lines sftp-bench prints before the first chunk: what runs against
//! what, where the results go, and a word on settings that look unintended.

use crate::load::Pacing;
use crate::sftp::bench::SftpBenchConfig;
use crate::sftp::workload::{ConnectionMode, Op};
use crate::units::Bytes;
use std::time::Duration;

pub fn print(cfg: &SftpBenchConfig, cipher: &str) {
    let pacing = match cfg.engine.pacing {
        Pacing::Delay(d) => format!("delay {}", humanize(d)),
        Pacing::Interval(i) => format!("one chunk every {} per user", humanize(i)),
    };
    let n = cfg.engine.users;
    let users = format!("{n} user{}", if n == 1 { "" } else { "s" });
    let users = match cfg.ops.op {
        Op::Upload => users,
        Op::Download => format!("{users} downloading"),
        Op::Mixed => {
            let down = (0..cfg.engine.users)
                .filter(|&u| cfg.ops.downloads(u))
                .count();
            format!(
                "{users} ({down} downloading, {} uploading)",
                n as usize - down
            )
        }
    };
    let file = match &cfg.remote_file {
        Some(f) if !f.uploaded_by_run => f.path.clone(),
        _ => cfg.source.clone(),
    };
    eprintln!(
        "xfer sftp-bench: {users}, file {file} ({}), chunk {}, {pacing}, {} mode, cipher {cipher} -> {}",
        Bytes(cfg.file_size),
        Bytes(cfg.chunk_size),
        match cfg.mode {
            ConnectionMode::KeepOpen => "keep-open",
            ConnectionMode::Reconnect => "reconnect",
        },
        cfg.client.target,
    );
    eprintln!("run directory: {}", cfg.out_dir.display());
    if cfg.engine.shard.is_sharded() {
        let users = cfg.engine.shard.users(cfg.engine.users);
        eprintln!(
            "shard {}: users {}..{} of {}",
            cfg.engine.shard, users.start, users.end, cfg.engine.users
        );
    }
    if let Some(at) = cfg.start_at {
        eprintln!(
            "waiting for --start-at {} (Ctrl-C to abandon)",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
    }
    // Allowed (the default chunk is 1 MiB, files are often smaller), but a
    // chunk size that is not used deserves a word.
    let size = cfg.file_size;
    if cfg.chunk_size > size {
        eprintln!(
            "xfer: note: --chunk-size {} is larger than the file ({}): every transfer is one chunk of {}",
            Bytes(cfg.chunk_size),
            Bytes(size),
            Bytes(size)
        );
    }
}

fn humanize(d: Duration) -> String {
    crate::units::Micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)).to_string()
}
