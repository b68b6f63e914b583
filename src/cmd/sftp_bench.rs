//! `xfer sftp-bench`: not built yet.

use std::process::ExitCode;

/// Arguments of `xfer sftp-bench` (not built yet).
#[derive(Debug, clap::Args)]
pub struct SftpBenchArgs {}

pub fn run(_args: SftpBenchArgs) -> anyhow::Result<ExitCode> {
    Err(super::NotBuilt("sftp-bench").into())
}
