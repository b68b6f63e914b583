//! `xfer perf`: not built yet.

use std::process::ExitCode;

/// Arguments of `xfer perf` (not built yet).
#[derive(Debug, clap::Args)]
pub struct PerfArgs {}

pub fn run(_args: PerfArgs) -> anyhow::Result<ExitCode> {
    Err(super::NotBuilt("perf").into())
}
