//! `--op`, `--mix` and `--remote-file`: which users download, and the file
//! they read. Checked in two steps because the remote file's size is known
//! only after logging in: the flag combinations before the preflight, the
//! sizes after it.

use super::{SftpBenchArgs, VerifyArg};
use crate::cmd::interrupt::Interrupt;
use crate::report::format::bench::RemoteFile;
use crate::sftp::bench::{self, SftpBenchConfig, SourceUpload};
use crate::sftp::source::Source;
use crate::sftp::workload::{Op, OpMix};
use crate::units::Bytes;
use crate::usage;
use clap::ValueEnum;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OpArg {
    /// Every user writes its own remote file.
    Upload,
    /// Every user reads the same remote file.
    Download,
    /// --mix of the users download, the others upload.
    Mixed,
}

impl From<OpArg> for Op {
    fn from(a: OpArg) -> Op {
        match a {
            OpArg::Upload => Op::Upload,
            OpArg::Download => Op::Download,
            OpArg::Mixed => Op::Mixed,
        }
    }
}

/// The share of downloading users when `--mix` is not given.
pub const DEFAULT_MIX: f64 = 0.5;

/// What [`check`] looks at: `--op`, `--mix`, and which of the flags they
/// interact with were given. perf has no `--file`, `--file-size` or
/// `--verify`, and leaves those false.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpFlags {
    pub op: Op,
    pub mix: Option<f64>,
    pub remote_file: bool,
    pub file: bool,
    pub file_size: bool,
    /// `--verify sha256`.
    pub sha256: bool,
}

/// The flag combinations, before anything connects.
pub fn op_mix(args: &SftpBenchArgs) -> anyhow::Result<OpMix> {
    check(OpFlags {
        op: args.op.into(),
        mix: args.mix,
        remote_file: args.remote_file.is_some(),
        file: args.file.is_some(),
        file_size: args.file_size.is_some(),
        sha256: args.verify == VerifyArg::Sha256,
    })
}

/// [`op_mix`] on plain values, for tests and for perf.
pub fn check(flags: OpFlags) -> anyhow::Result<OpMix> {
    let OpFlags {
        op,
        mix,
        remote_file,
        file,
        file_size,
        sha256,
    } = flags;
    let name = |op| match op {
        Op::Upload => "upload",
        Op::Download => "download",
        Op::Mixed => "mixed",
    };
    if let Some(m) = mix {
        if op != Op::Mixed {
            return Err(usage!(
                "--mix is the share of downloads of --op mixed; it does not apply to --op {}",
                name(op)
            ));
        }
        if !(m > 0.0 && m < 1.0) {
            return Err(usage!(
                "--mix must be between 0 and 1 (exclusive), got {m}; use --op upload or --op download for all of one"
            ));
        }
    }
    if remote_file {
        if op == Op::Upload {
            return Err(usage!(
                "--remote-file is the file downloads read; add --op download or --op mixed"
            ));
        }
        if file_size {
            return Err(usage!(
                "--file-size does not apply with --remote-file: the size is the remote file's"
            ));
        }
        if sha256 && !file {
            return Err(usage!(
                "--verify sha256 with --remote-file needs --file, the local copy to compare with"
            ));
        }
    }
    Ok(OpMix {
        op,
        mix: mix.unwrap_or(DEFAULT_MIX),
    })
}

/// The file the downloaders read, once logged in: the `--remote-file`'s
/// size checked against `--file`, or the source uploaded by the preflight.
/// Prints what it does (an upload that is not measured deserves a line).
/// `Ok(false)`: interrupted by Ctrl-C before anything was measured.
pub fn prepare(cfg: &mut SftpBenchConfig, interrupt: &Interrupt) -> anyhow::Result<bool> {
    if cfg.ops.op == Op::Upload {
        return Ok(true);
    }
    if let Some(f) = cfg.remote_file.as_mut().filter(|f| !f.uploaded_by_run) {
        // Like the preflight, a stalled server must not hold Ctrl-C back.
        let (client, remote) = (cfg.client.clone(), f.path.clone());
        let size = match interrupt.abortable(move || bench::remote_size(&client, &remote))? {
            None => return Ok(false),
            Some(Err(e)) if e.is_usage() => return Err(usage!("{e}")),
            Some(r) => r?,
        };
        f.size = size;
        let path = f.path.clone();
        if !cfg.data.is_empty() && cfg.data.len() as u64 != size {
            return Err(usage!(
                "--file {} is {} bytes but --remote-file {path} is {size} bytes; give the local copy of the remote file",
                cfg.source,
                cfg.data.len()
            ));
        }
        cfg.file_size = size;
        if cfg.data.is_empty() && cfg.ops.op == Op::Mixed {
            // The uploaders need bytes; as many as the downloaders read, so
            // that both take the same chunks per pass.
            let too_large = || {
                usage!(
                    "--remote-file {path} ({}) does not fit in memory as the uploaders' source of --op mixed; give --file, a local copy",
                    Bytes(size)
                )
            };
            if crate::load::Capacity::probe()
                .mem_available
                .is_some_and(|avail| size > avail)
            {
                return Err(too_large());
            }
            let n = usize::try_from(size).map_err(|_| too_large())?;
            cfg.data = Arc::new(Source::random(n));
            cfg.source = "generated".into();
        }
        eprintln!("downloads read --remote-file {path} ({})", Bytes(size));
        return Ok(true);
    }
    // A mixed run too small for its share (or a shard without a
    // downloader) has nothing to read: no upload to wait for and remove.
    let mut here = cfg.engine.shard.users(cfg.engine.users);
    if !here.any(|u| cfg.ops.downloads(u)) {
        return Ok(true);
    }
    let path = cfg.source_upload_path();
    eprintln!(
        "{}",
        bench::source_upload_note(&path, cfg.data.len() as u64)
    );
    let client = cfg.client.clone();
    let data = cfg.data.clone();
    let target = path.clone();
    let stopper = interrupt.stopper().clone();
    // On Ctrl-C the upload removes what it wrote; 5 s is plenty for one
    // piece and an unlink, and bounds the wait on a wedged server.
    let upload = interrupt.abortable_with_grace(
        move || bench::upload_source(&client, &data, &target, || !stopper.is_stopped()),
        Duration::from_secs(5),
    )?;
    match upload {
        Some(Ok(SourceUpload::Whole)) => {}
        Some(Ok(stopped)) => {
            if let Some(note) = stopped.left_behind(&path) {
                eprintln!("{note}");
            }
            return Ok(false);
        }
        Some(Err(e)) => return Err(anyhow::Error::new(e)),
        None => {
            eprintln!("warning: {path} may still be on the server, partly uploaded");
            return Ok(false);
        }
    }
    cfg.remote_file = Some(RemoteFile {
        path,
        size: cfg.data.len() as u64,
        uploaded_by_run: true,
    });
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: anyhow::Result<OpMix>) -> String {
        let e = r.unwrap_err();
        assert!(
            e.downcast_ref::<crate::cmd::UsageError>().is_some(),
            "not a usage error: {e}"
        );
        e.to_string()
    }

    #[test]
    fn bad_combinations_name_their_flags() {
        let e = err(check(OpFlags {
            op: Op::Upload,
            mix: Some(0.3),
            ..OpFlags::default()
        }));
        assert!(e.starts_with("--mix") && e.contains("--op upload"), "{e}");
        for m in [0.0, 1.0, -0.5, f64::NAN] {
            let e = err(check(OpFlags {
                op: Op::Mixed,
                mix: Some(m),
                ..OpFlags::default()
            }));
            assert!(e.starts_with("--mix must be between 0 and 1"), "{e}");
        }
        let e = err(check(OpFlags {
            op: Op::Upload,
            remote_file: true,
            ..OpFlags::default()
        }));
        assert!(
            e.starts_with("--remote-file") && e.contains("--op download"),
            "{e}"
        );
        let e = err(check(OpFlags {
            op: Op::Download,
            remote_file: true,
            file_size: true,
            ..OpFlags::default()
        }));
        assert!(e.starts_with("--file-size"), "{e}");
        let e = err(check(OpFlags {
            op: Op::Download,
            remote_file: true,
            sha256: true,
            ..OpFlags::default()
        }));
        assert!(e.contains("--verify sha256") && e.contains("--file"), "{e}");
    }

    #[test]
    fn good_combinations_keep_their_share() {
        let m = check(OpFlags {
            op: Op::Mixed,
            ..OpFlags::default()
        })
        .unwrap();
        assert_eq!((m.op, m.mix), (Op::Mixed, DEFAULT_MIX));
        let m = check(OpFlags {
            op: Op::Mixed,
            mix: Some(0.3),
            remote_file: true,
            file: true,
            sha256: true,
            ..OpFlags::default()
        })
        .unwrap();
        assert_eq!((m.op, m.mix), (Op::Mixed, 0.3));
        assert!(check(OpFlags {
            op: Op::Download,
            remote_file: true,
            ..OpFlags::default()
        })
        .is_ok());
    }
}
