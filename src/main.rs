//! The `xfer` binary: parse the command line, run the subcommand, print the
//! error chain (or the parse error) on one line, map the outcome to an exit
//! code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Parse errors are one line, exit 2; --help and --version exit 0.
    let cli = match xfer::cmd::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return xfer::cmd::report_parse_error(&err),
    };
    match xfer::cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xfer: error: {err:#}");
            xfer::cmd::exit_code_for(&err)
        }
    }
}
