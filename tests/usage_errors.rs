//! Command-line parse errors of every subcommand, as the user sees them:
//! exit 2 and exactly one line on stderr that names the flag (or argument,
//! or subcommand) and the reason, and points at `--help`. `--help` and
//! `--version` still print in full and exit 0.

mod support;

use std::process::{Output, Stdio};

fn run(args: &[&str]) -> Output {
    support::xfer()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run xfer")
}

/// clap's own errors printed three or more lines (error, a blank line,
/// "Usage: ...", "For more information, try '--help'"), and `xfer` with no
/// command printed the whole help on stderr.
#[test]
fn every_parse_error_is_one_line_naming_the_flag_with_exit_2() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &[],
            &["no command", "sftp-bench", "tcp-serve", "xfer --help"],
        ),
        (&["bogus"], &["'bogus'", "xfer --help"]),
        (&["--bogus"], &["'--bogus'"]),
        (&["help", "bogus"], &["'bogus'"]),
        (
            &["sftp-bench", "-s", "x"],
            &[
                "'--chunk-size <SIZE>'",
                "not a size",
                "xfer sftp-bench --help",
            ],
        ),
        (
            &["sftp-bench", "--chunk", "1M"],
            &["'--chunk'", "similar argument exists: '--chunk-size'"],
        ),
        (
            &["sftp-bench", "--mode", "fast"],
            &["'--mode <MODE>'", "possible values: keep-open, reconnect"],
        ),
        (&["sftp-bench", "--cleanup=yes"], &["'--cleanup'", "'yes'"]),
        (
            &["sftp-bench", "-c"],
            &["'--users <USERS>'", "value is required"],
        ),
        (&["sftp-serve"], &["--root <DIR>", "xfer sftp-serve --help"]),
        (&["sftp-serve", "--root"], &["'--root <DIR>'"]),
        (
            &["sftp-serve", "--root", ".", "--idle-timeout", "soon"],
            &["'--idle-timeout <DURATION>'"],
        ),
        (&["tcp-serve"], &["--root <DIR>", "xfer tcp-serve --help"]),
        (
            &["tcp-serve", "--root", ".", "--max-connections", "x"],
            &["'--max-connections <N>'"],
        ),
        (
            &["tcp-serve", "--root", ".", "--min-rate", "fast"],
            &["'--min-rate <RATE>'", "not a rate"],
        ),
        (&["tcp-client"], &["<HOST:PORT>", "xfer tcp-client --help"]),
        (
            &["tcp-client", "--timeout", "x", "127.0.0.1:1"],
            &["'--timeout <DURATION>'"],
        ),
        (
            &["perf", "--repeat", "x"],
            &["'--repeat <K>'", "xfer perf --help"],
        ),
        (&["perf", "--nope"], &["'--nope'"]),
        (&["perf", "plot"], &["<PATH>", "xfer perf plot --help"]),
        (&["perf", "plot", "a", "b"], &["'b'"]),
        (&["compare", "a"], &["<NEW>", "xfer compare --help"]),
        (
            &["compare", "a", "b", "--resamples", "x"],
            &["'--resamples <N>'"],
        ),
        (&["merge"], &["--out <OUT>", "<DIR>", "xfer merge --help"]),
        (&["merge", "-o"], &["'--out <OUT>'"]),
    ];
    for (args, wants) in cases {
        let o = run(args);
        // Exit 2, one line, `xfer: error: `, nothing on stdout.
        support::assert_usage(&o, wants[0]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.ends_with('\n'), "{args:?}: {err:?}");
        let line = err.trim_end();
        for want in &wants[1..] {
            assert!(line.contains(want), "{args:?}: {want:?} not in {line}");
        }
        assert!(line.contains("--help"), "{args:?}: {line}");
        assert!(!line.contains("Usage:"), "{args:?}: {line}");
    }
}

#[test]
fn help_and_version_print_in_full_on_stdout_with_exit_0() {
    let cases: &[(&[&str], &str)] = &[
        (&["--help"], "Usage: xfer <COMMAND>"),
        (&["-h"], "Usage: xfer <COMMAND>"),
        (&["help"], "Usage: xfer <COMMAND>"),
        (&["help", "tcp-serve"], "Usage: xfer tcp-serve"),
        (&["tcp-serve", "--help"], "--min-rate <RATE>"),
        (&["sftp-bench", "-h"], "Usage: xfer sftp-bench"),
        (&["perf", "plot", "--help"], "Usage: xfer perf plot"),
        (&["--version"], "xfer "),
        (&["-V"], "xfer "),
        (&["merge", "--version"], "xfer"),
    ];
    for (args, want) in cases {
        let o = run(args);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {out}");
        assert!(out.contains(want), "{args:?}: {out}");
        assert!(o.stderr.is_empty(), "{args:?}: stderr");
    }
    let help = run(&["tcp-serve", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).lines().count() > 10);
}
