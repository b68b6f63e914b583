//! The command line: clap `*Args` are parsed and validated here into the plain
//! `*Config` structs the core takes. clap is not used outside this module and
//! `main.rs`.
//!
//! The doc comments on the `*Args` structs are `--help` text, written for a
//! terminal (`<DIR>`, `[USER@]HOST`), not for rustdoc: rustdoc's HTML and
//! link lints are off for them rather than escaping what users read.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub mod compare;
pub mod interrupt;
pub mod merge;
mod parse_errors;
pub mod perf;
pub mod scale;
pub mod sftp_bench;
pub mod sftp_serve;
pub mod ssh_login;
pub mod tcp_client;
pub mod tcp_serve;
pub mod thresholds;

pub use parse_errors::report_parse_error;

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells expect.
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit code for usage errors (clap's own, and [`UsageError`]).
pub const EXIT_USAGE: u8 = 2;

/// Load-test file-transfer servers, and serve files to test against.
#[derive(Debug, Parser)]
#[command(name = "xfer", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size difference between variants is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Many users upload or download a file over SFTP in chunks; every chunk timed.
    SftpBench(sftp_bench::SftpBenchArgs),
    /// A real SFTP server confined to one root directory (a test target).
    SftpServe(sftp_serve::SftpServeArgs),
    /// A threaded file server (HTTP/1.1 subset) with an adaptive idle timeout.
    TcpServe(tcp_serve::TcpServeArgs),
    /// An interactive client for tcp-serve or any HTTP/1.1 file server.
    TcpClient(tcp_client::TcpClientArgs),
    /// Sweep the number of concurrent clients; CSV and PNG charts.
    Perf(perf::PerfArgs),
    /// Compare two run directories: ratios, confidence intervals, verdicts.
    Compare(compare::CompareArgs),
    Merge(merge::MergeArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    raise_fd_limit();
    match cli.command {
        Command::SftpBench(args) => sftp_bench::run(args),
        Command::SftpServe(args) => sftp_serve::run(args),
        Command::TcpServe(args) => tcp_serve::run(args),
        Command::TcpClient(args) => tcp_client::run(args),
        Command::Perf(args) => perf::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Merge(args) => merge::run(args),
    }
}

/// Raises the soft open-file limit to the hard one: every subcommand holds a
/// socket per user or connection, and a soft limit of 1024 would turn a
/// 1,000-user run into "too many open files" errors that measure nothing.
fn raise_fd_limit() {
    // Safety: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Invalid input detected after clap parsing (a flag combination, a file).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Maps an error to the process exit code: 2 for usage errors, 1 for
/// everything else.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    if err.is::<UsageError>() {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::FAILURE
    }
}

/// Returns a usage error naming the flag, e.g. `usage!("--chunk-size must be at least 1 byte, got '{s}'")`.
#[macro_export]
macro_rules! usage {
    ($($arg:tt)*) => { ::anyhow::Error::new($crate::cmd::UsageError(format!($($arg)*))) };
}

/// clap value parser for byte sizes (`64K`, `1M`).
pub fn size_arg(s: &str) -> Result<u64, String> {
    crate::units::parse_size(s).map_err(|e| e.to_string())
}

/// clap value parser for durations (`500ms`, `5s`).
pub fn duration_arg(s: &str) -> Result<std::time::Duration, String> {
    crate::units::parse_duration(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
