//! `xfer tcp-client`: not built yet.

use std::process::ExitCode;

/// Arguments of `xfer tcp-client` (not built yet).
#[derive(Debug, clap::Args)]
pub struct TcpClientArgs {}

pub fn run(_args: TcpClientArgs) -> anyhow::Result<ExitCode> {
    Err(super::NotBuilt("tcp-client").into())
}
