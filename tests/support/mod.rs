//! Shared test support: running the `xfer` binary and checking how it ended,
//! reading a server's first line, and the rule that decides whether a missing
//! peer (sshd, curl, nginx) skips a test or fails it. The fixtures for real
//! peers, waiting on conditions ([`wait`]), reading run directories
//! ([`rundir`]) and network namespaces ([`netns`]) are submodules, so that
//! every test file starts the same peers and reads the same files the same
//! way.
//!
//! Peers are mandatory when `XFER_REQUIRE_PEERS=1` (CI and `scripts/test` set
//! it); otherwise a test whose peer is missing prints why and returns early.
#![allow(dead_code)]

pub mod delay_proxy;
pub mod netns;
pub mod nginx;
pub mod procs;
pub mod rundir;
pub mod sftp_serve;
pub mod sshd;
pub mod wait;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

/// The `xfer` binary built for this test run.
pub fn xfer_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xfer"))
}

/// A `Command` for the `xfer` binary.
pub fn xfer() -> Command {
    Command::new(xfer_bin())
}

/// A process's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What a process printed, for the message of a failed assertion.
pub fn printed(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts that `what` (a process) succeeded; else shows its exit status,
/// stdout and stderr.
pub fn assert_ran(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed: {:?}\n{}",
        o.status,
        printed(o)
    );
}

/// Asserts that a process exited with `code` (3 for a failed threshold, 1
/// for a run in which a user gave up); else shows what it printed.
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit status {:?}\n{}",
        o.status,
        printed(o)
    );
}

/// Asserts that an `xfer` run succeeded (see [`assert_ran`]).
pub fn assert_ok(o: &Output) {
    assert_ran(o, "xfer");
}

/// Asserts that an `xfer` run was refused as a usage error: exit 2, nothing
/// on stdout, and on stderr exactly one line, `xfer: error: ...`, that
/// contains `needle` (the flag it names and why).
pub fn assert_usage(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "expected one line: {err}");
    assert!(
        err.starts_with("xfer: error: ") && err.contains(needle),
        "expected `xfer: error: ` and {needle:?}: {err}"
    );
    assert!(
        o.stdout.is_empty(),
        "printed on stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// `xfer sftp-bench ARGS` against a port nothing listens on, with a password
/// in the environment so that no key is looked for: for the checks of flags
/// that come before any connection (a usage error is expected; were the
/// flags accepted, the run would fail to connect, exit 1).
pub fn bench_offline(args: &[&str]) -> Output {
    xfer()
        .args(["sftp-bench", "sftp://u@127.0.0.1:1/x"])
        .args(args)
        .env("XFER_PASSWORD", "x")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs `xfer ARGS -o OUT` to the end and asserts that it succeeded.
pub fn run_ok(args: &[&str], out: &Path) -> Output {
    let o = xfer().args(args).arg("-o").arg(out).output().unwrap();
    assert_ran(&o, &format!("xfer {args:?}"));
    o
}

/// Raises this process's soft limit on open files to `want` (at most the
/// hard limit; never lowers it), so that a test holding thousands of
/// connections, and the servers it spawns, can open them; returns the soft
/// limit now in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safety: plain getrlimit/setrlimit on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
    }
    lim.rlim_cur
}

/// A `--start-at` `secs` seconds from now: the instant, and the flag's
/// RFC 3339 text (milliseconds, as shards given one start share it).
pub fn start_at(secs: i64) -> (chrono::DateTime<chrono::Utc>, String) {
    let at = chrono::Utc::now() + chrono::Duration::seconds(secs);
    (at, at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// sftp-bench's flags for a short run: 64 KiB chunks back to back from the
/// first moment (no delay between chunks, no ramp-up).
pub const QUICK_CHUNKS: &[&str] = &["-s", "64K", "-d", "0", "--ramp-up", "0"];

/// `xfer SUBCOMMAND TARGET -i KEY --known-hosts FILE -F none` (sftp-bench or
/// perf), logging in with `key` only: agent and password variables cleared,
/// the developer's ~/.ssh/config not read, so it cannot change what is
/// tested.
pub fn xfer_login(
    subcommand: &str,
    target: impl AsRef<std::ffi::OsStr>,
    key: &Path,
    known_hosts: &Path,
) -> Command {
    let mut cmd = xfer();
    cmd.arg(subcommand)
        .arg(target)
        .arg("-i")
        .arg(key)
        .arg("--known-hosts")
        .arg(known_hosts)
        .args(["-F", "none"])
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("XFER_PASSWORD")
        .env_remove("XFER_PASSPHRASE");
    cmd
}

/// Whether peers must be present (CI) or may be skipped (a developer laptop).
pub fn peers_required() -> bool {
    std::env::var("XFER_REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Whether python3 with paramiko is here; fails instead when peers are required.
pub fn have_paramiko() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import paramiko"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !peers_required(),
            "python3 with paramiko is missing and XFER_REQUIRE_PEERS=1"
        );
        eprintln!("skipping: python3 with paramiko is not installed");
    }
    ok
}

/// Finds an external program (`/usr/sbin/sshd`, `curl`...). When it is missing,
/// panics if peers are required, else returns `None` after saying so.
pub fn peer(program: &str) -> Option<PathBuf> {
    let found = if program.contains('/') {
        Path::new(program).exists().then(|| PathBuf::from(program))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
    };
    if found.is_none() {
        if peers_required() {
            panic!("peer `{program}` is missing and XFER_REQUIRE_PEERS=1");
        }
        eprintln!("skipping: peer `{program}` is not installed (set XFER_REQUIRE_PEERS=1 to fail instead)");
    }
    found
}

/// `len` bytes of deterministic, non-repeating content (xorshift from
/// `seed`): a block sent to the wrong offset, twice or not at all shows,
/// and different seeds give different files.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `python3 -c SCRIPT` in its own process group (so that a bounded wait
/// kills it with anything it started), output piped for
/// [`wait::output_of`]; add the script's arguments.
pub fn python(script: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new("python3");
    c.process_group(0)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A child process killed (and reaped) on drop.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Sends SIGINT, as Ctrl-C in a terminal does.
    pub fn interrupt(&self) {
        // Safety: kill(2) on a child this handle owns and has not reaped.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `xfer ARGS` as a server and returns it with the first line it
/// printed on stdout (the bound address comes first), without sleeping: the
/// line is printed once the socket is bound.
pub fn spawn_server(args: &[&str]) -> (KillOnDrop, String, BufReader<ChildStdout>) {
    spawn_server_with(args, Stdio::inherit())
}

/// [`spawn_server`] with the server's stderr going to `stderr`.
pub fn spawn_server_with(
    args: &[&str],
    stderr: Stdio,
) -> (KillOnDrop, String, BufReader<ChildStdout>) {
    let mut child = xfer()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn xfer server");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read first line");
    assert!(
        !line.is_empty(),
        "server exited before printing its address"
    );
    (KillOnDrop(child), line.trim_end().to_string(), out)
}

/// Extracts the first `IP:PORT` token from a line such as
/// `xfer tcp-serve listening on 127.0.0.1:40123 ...`.
pub fn addr_in(line: &str) -> std::net::SocketAddr {
    line.split_whitespace()
        .find_map(|w| w.trim_matches(|c| c == ',' || c == ';').parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}
