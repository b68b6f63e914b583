//! `xfer tcp-client`: one command from the arguments, commands from a pipe,
//! or an interactive prompt, all against one `HOST:PORT`.

use crate::tcp::repl::{self, Outcome, Session};
use crate::usage;
use anyhow::Context;
use std::io::{BufRead, IsTerminal};
use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::time::Duration;

/// Talk to tcp-serve (or any HTTP/1.1 file server): get and post files.
///
/// Without a COMMAND, reads commands from stdin: an interactive prompt with
/// history and line editing on a terminal, one command per line from a pipe.
/// Exits 1 if a request failed (a non-2xx status counts as failure), 2 for
/// a usage mistake (an unknown command, wrong arguments, a LOCAL file that
/// cannot be read or written).
#[derive(Debug, clap::Args)]
#[command(after_help = repl::HELP)]
pub struct TcpClientArgs {
    /// Server address, HOST:PORT.
    #[arg(value_name = "HOST:PORT")]
    pub target: String,
    /// Connect and I/O timeout.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = super::duration_arg)]
    pub timeout: Duration,
    /// One command to run, e.g. `get /f -o out` or `post file /f`.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

pub fn run(args: TcpClientArgs) -> anyhow::Result<ExitCode> {
    match args.target.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(usage!("HOST:PORT '{}' resolves to no address", args.target)),
        Err(e) => return Err(usage!("HOST:PORT '{}': {e}", args.target)),
    }
    if args.timeout.is_zero() {
        return Err(usage!("--timeout must be more than 0"));
    }
    let mut session = Session::new(args.target, args.timeout);
    if !args.command.is_empty() {
        let words: Vec<&str> = args.command.iter().map(String::as_str).collect();
        return Ok(exit_code(session.run_words(&words)));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        repl::interactive(&mut session)?;
        return Ok(ExitCode::SUCCESS);
    }
    // The worst outcome of the script decides: usage, then failure.
    let mut worst = Outcome::Ok;
    for line in stdin.lock().lines() {
        match session.run_line(&line.context("reading commands from stdin")?) {
            Outcome::Quit => break,
            Outcome::Usage => worst = Outcome::Usage,
            Outcome::Failed if worst == Outcome::Ok => worst = Outcome::Failed,
            Outcome::Failed | Outcome::Ok => {}
        }
    }
    Ok(exit_code(worst))
}

/// 0 when it worked, 1 when a request failed, 2 for a usage mistake.
fn exit_code(outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Ok | Outcome::Quit => ExitCode::SUCCESS,
        Outcome::Failed => ExitCode::FAILURE,
        Outcome::Usage => ExitCode::from(crate::cmd::EXIT_USAGE),
    }
}
