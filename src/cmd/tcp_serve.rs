//! `xfer tcp-serve`: not built yet.

use std::process::ExitCode;

/// Arguments of `xfer tcp-serve` (not built yet).
#[derive(Debug, clap::Args)]
pub struct TcpServeArgs {}

pub fn run(_args: TcpServeArgs) -> anyhow::Result<ExitCode> {
    Err(super::NotBuilt("tcp-serve").into())
}
