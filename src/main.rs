//! The `xfer` binary: parse the command line, run the subcommand, print the
//! error chain on one line, map the outcome to an exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = xfer::cmd::Cli::parse();
    match xfer::cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xfer: error: {err:#}");
            xfer::cmd::exit_code_for(&err)
        }
    }
}
