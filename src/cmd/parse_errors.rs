//! clap's parse errors, folded into the one line every other usage mistake
//! gets. clap prints an error, a blank line, a usage line and "For more
//! information, try '--help'" (and the whole help when no command is
//! given); xfer's bar for bad input is one line that names the flag and
//! the reason, exit 2. The flag, the value, the reason, the possible values
//! and clap's tips are kept; the usage lines become a pointer to the
//! `--help` of the (sub)command that was being parsed. `--help` and
//! `--version` are left alone (printed in full on stdout, exit 0).

use super::{Cli, EXIT_USAGE};
use clap::error::ErrorKind;
use clap::CommandFactory;
use std::process::ExitCode;

/// Prints `err` as `--help`/`--version` output (exit 0) or as one line on
/// stderr (exit 2), for the command line of this process.
pub fn report_parse_error(err: &clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        _ => {
            let args: Vec<String> = std::env::args_os()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            eprintln!("xfer: error: {}", one_line(err, &args));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// The one-line message for a parse error of the arguments `args` (the
/// program name not included).
pub fn one_line(err: &clap::Error, args: &[String]) -> String {
    let (path, subcommands) = command_path(args);
    let see = format!("(see '{path} --help')");
    if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return format!(
            "no command given: choose one of {} {see}",
            subcommands.join(", ")
        );
    }
    let rendered = err.render().to_string();
    let mut blocks = rendered
        .split("\n\n")
        .map(|b| b.lines().map(str::trim).filter(|l| !l.is_empty()))
        .map(Iterator::collect::<Vec<_>>)
        .filter(|b| !b.is_empty());
    let mut message = match blocks.next() {
        Some(first) => join_message(&first),
        None => err.kind().to_string(),
    };
    for block in blocks {
        if block[0].starts_with("tip:") {
            message.push_str("; ");
            message.push_str(&block.join(" "));
        }
        // The usage lines and "For more information" are what `see` replaces.
    }
    format!("{message} {see}")
}

/// The first block of a clap error: "error: " dropped, continuation lines
/// (the arguments not provided, the possible values) appended.
fn join_message(lines: &[&str]) -> String {
    let first = lines[0].strip_prefix("error: ").unwrap_or(lines[0]);
    let rest = &lines[1..];
    if rest.is_empty() {
        first.to_string()
    } else if first.ends_with(':') {
        format!("{first} {}", rest.join(", "))
    } else {
        format!("{first} {}", rest.join(" "))
    }
}

/// The (sub)command the arguments name, as a user would type it
/// (`xfer perf plot`), and the names of its subcommands.
fn command_path(args: &[String]) -> (String, Vec<String>) {
    let mut cmd = Cli::command();
    let mut path = cmd.get_name().to_string();
    for arg in args {
        let Some(sub) = cmd
            .get_subcommands()
            .find(|s| s.get_name() == arg || s.get_all_aliases().any(|a| a == arg))
        else {
            continue;
        };
        let sub = sub.clone();
        path.push(' ');
        path.push_str(sub.get_name());
        cmd = sub;
    }
    let subcommands = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    (path, subcommands)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn line(args: &[&str]) -> String {
        let err = Cli::try_parse_from(std::iter::once("xfer").chain(args.iter().copied()))
            .expect_err("a parse error");
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        one_line(&err, &args)
    }

    #[test]
    fn a_bad_value_keeps_the_flag_and_the_reason() {
        let l = line(&["sftp-bench", "-s", "x"]);
        assert!(
            l.starts_with("invalid value 'x' for '--chunk-size <SIZE>': 'x' is not a size"),
            "{l}"
        );
        assert!(l.ends_with(" (see 'xfer sftp-bench --help')"), "{l}");
    }

    #[test]
    fn continuation_lines_and_tips_join_the_line() {
        let l = line(&["merge"]);
        assert_eq!(
            l,
            "the following required arguments were not provided: --out <OUT>, <DIR>... \
             (see 'xfer merge --help')"
        );
        let l = line(&["sftp-bench", "--mode", "fast"]);
        assert!(
            l.contains("'--mode <MODE>' [possible values: keep-open, reconnect]"),
            "{l}"
        );
        let l = line(&["sftp-bench", "--chunk", "1M"]);
        assert!(
            l.contains("found; tip: a similar argument exists: '--chunk-size'"),
            "{l}"
        );
        assert!(!l.contains('\n'), "{l}");
    }

    #[test]
    fn the_pointer_names_the_innermost_subcommand() {
        assert!(line(&["perf", "plot"]).ends_with("(see 'xfer perf plot --help')"));
        assert!(line(&["bogus"]).ends_with("(see 'xfer --help')"));
        let l = line(&[]);
        assert!(
            l.starts_with("no command given: choose one of sftp-bench, sftp-serve,"),
            "{l}"
        );
    }
}
