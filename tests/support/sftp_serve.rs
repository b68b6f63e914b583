//! `xfer sftp-serve` as a separate process, logged into with a generated key
//! (and, when asked, a password) and trusted through a known_hosts line built
//! from the key it prints. One fixture for every test that needs the server
//! as a peer: sftp-bench, perf, and sftp-serve's own end-to-end tests.

use super::{addr_in, peer, spawn_server, KillOnDrop};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command};

pub struct XferSftpServe {
    pub addr: SocketAddr,
    /// The directory served as `/`.
    pub root: PathBuf,
    /// Private key whose public half is authorized.
    pub key: PathBuf,
    /// A second key, not authorized.
    pub other_key: PathBuf,
    pub known_hosts: PathBuf,
    /// The one user name the server accepts.
    pub user: &'static str,
    /// The password accepted, when the server was started with one.
    pub password: Option<String>,
    /// The first line the server printed.
    pub banner: String,
    /// The server process (killed on drop).
    pub server: KillOnDrop,
    /// The rest of the server's stdout, kept open so it never sees EPIPE.
    pub stdout: BufReader<ChildStdout>,
    /// The server's stderr lines, when started with `Options::stderr_lines`
    /// (read on a thread, so the server never blocks on a full pipe).
    pub stderr: Option<std::sync::mpsc::Receiver<String>>,
    dir: tempfile::TempDir,
}

/// How to start the server beyond the defaults.
#[derive(Default)]
pub struct Options<'a> {
    /// Also accept this password (through `--password-file`).
    pub password: Option<&'a str>,
    /// Extra flags after the defaults.
    pub extra: Vec<String>,
    /// Serve this directory instead of a fresh one.
    pub root: Option<PathBuf>,
    /// Authorize the keys in this file instead of the generated `key`.
    pub authorized_keys: Option<PathBuf>,
    /// Capture stderr (`XferSftpServe::stderr`) instead of inheriting it.
    pub stderr_lines: bool,
}

impl XferSftpServe {
    /// Starts the server; `None` when ssh-keygen is missing and peers are optional.
    pub fn start() -> Option<XferSftpServe> {
        Self::start_with(Options::default())
    }

    /// Starts the server with `opts`; `None` when ssh-keygen is missing and
    /// peers are optional.
    pub fn start_with(opts: Options<'_>) -> Option<XferSftpServe> {
        peer("ssh-keygen")?;
        let dir = tempfile::tempdir().unwrap();
        let root = match opts.root {
            Some(root) => root,
            None => {
                let root = dir.path().join("root");
                std::fs::create_dir(&root).unwrap();
                root
            }
        };
        let key = dir.path().join("id");
        super::sshd::keygen(&key, "ed25519", "");
        let other_key = dir.path().join("other");
        super::sshd::keygen(&other_key, "ed25519", "");
        let user = "tester";
        let authorized = opts
            .authorized_keys
            .unwrap_or_else(|| dir.path().join("id.pub"));
        let mut args: Vec<String> = [
            "sftp-serve",
            "--root",
            root.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--user",
            user,
            "--authorized-keys",
            authorized.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(pw) = opts.password {
            let file = dir.path().join("password");
            std::fs::write(&file, format!("{pw}\n")).unwrap();
            args.push("--password-file".into());
            args.push(file.to_str().unwrap().into());
        }
        args.extend(opts.extra);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (mut server, first, mut lines) = match opts.stderr_lines {
            true => super::spawn_server_with(&argv, std::process::Stdio::piped()),
            false => spawn_server(&argv),
        };
        let stderr = server.0.stderr.take().map(|err| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("{line}");
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        let addr = addr_in(&first);
        // The second line is `host key for known_hosts: ssh-ed25519 AAAA...`.
        let mut second = String::new();
        lines.read_line(&mut second).unwrap();
        let key_line = second.trim().rsplit(": ").next().unwrap().to_string();
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{} {key_line}\n", addr.port()),
        )
        .unwrap();
        Some(XferSftpServe {
            addr,
            root,
            key,
            other_key,
            known_hosts,
            user,
            password: opts.password.map(str::to_string),
            banner: first,
            server,
            stdout: lines,
            stderr,
            dir,
        })
    }

    /// The next `session N ...` line on the captured stderr, within
    /// `limit`; panics when none comes.
    pub fn next_session_line(&self, limit: std::time::Duration) -> String {
        let rx = self.stderr.as_ref().expect("started with stderr_lines");
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx.recv_timeout(left).expect("a session line on stderr");
            if line.starts_with("xfer sftp-serve: session ") {
                return line;
            }
        }
    }

    /// `sftp://tester@ADDR/DIR`.
    pub fn target(&self, dir: &str) -> String {
        format!("sftp://{}@{}/{dir}", self.user, self.addr)
    }

    /// A scratch directory beside the root (for client-side files).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// `xfer SUBCOMMAND TARGET` (sftp-bench or perf) logged in with the
    /// authorized key only (see [`super::xfer_login`]).
    pub fn command(&self, subcommand: &str, target: impl AsRef<std::ffi::OsStr>) -> Command {
        super::xfer_login(subcommand, target, &self.key, &self.known_hosts)
    }

    /// `xfer sftp-bench` against `DIR` on this server (see [`Self::command`]).
    pub fn bench(&self, dir: &str) -> Command {
        self.command("sftp-bench", self.target(dir))
    }

    /// `xfer SUBCOMMAND sftp://tester@PROXY/DIR` logged in as
    /// [`Self::command`] does, for a proxy (delaying, counting) in front of
    /// this server: the known_hosts given names the proxy's port, as the
    /// client checks the host key under the address it dials.
    pub fn command_via(&self, subcommand: &str, proxy: SocketAddr, dir: &str) -> Command {
        let line = std::fs::read_to_string(&self.known_hosts).unwrap();
        let key = line.split_once(' ').unwrap().1;
        let known_hosts = self
            .dir
            .path()
            .join(format!("known_hosts_{}", proxy.port()));
        // Written once per proxy: a second command for the same proxy must
        // not truncate the file under a client already reading it.
        if !known_hosts.exists() {
            let tmp = known_hosts.with_extension("tmp");
            std::fs::write(&tmp, format!("[127.0.0.1]:{} {key}", proxy.port())).unwrap();
            std::fs::rename(&tmp, &known_hosts).unwrap();
        }
        let target = format!("sftp://{}@{proxy}/{dir}", self.user);
        super::xfer_login(subcommand, target, &self.key, &known_hosts)
    }

    /// `xfer perf` against `DIR` on this server (see [`Self::command`]).
    pub fn perf(&self, dir: &str) -> Command {
        self.command("perf", self.target(dir))
    }
}
