//! `xfer sftp-serve`: not built yet.

use std::process::ExitCode;

/// Arguments of `xfer sftp-serve` (not built yet).
#[derive(Debug, clap::Args)]
pub struct SftpServeArgs {}

pub fn run(_args: SftpServeArgs) -> anyhow::Result<ExitCode> {
    Err(super::NotBuilt("sftp-serve").into())
}
