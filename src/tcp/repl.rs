//! The commands of `xfer tcp-client`, the same whether they come from the
//! command line, a pipe or the interactive prompt: `get`, `post`, `timeout`,
//! `help`, `quit`. One [`Connection`] is kept across commands; every request
//! prints one line with status, bytes and time.
//!
//! Downloads are atomic: the body goes to a temporary file next to the
//! destination and is renamed into place only for a 2xx status.

use super::client::{ClientError, Connection, Response};
use crate::units::{Bytes, Micros};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The text of `help`.
pub const HELP: &str = "\
commands:
  get REMOTE [LOCAL]     download REMOTE (saved as LOCAL, default its file name)
  get REMOTE -o LOCAL    same
  post LOCAL [REMOTE]    upload the file LOCAL (to REMOTE, default /its-name)
  timeout                the idle timeout the server advertised last
  help                   this text
  quit | exit            leave
  (client_get and client_post are aliases of get and post)";

/// What a command line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It worked (a request got a 2xx, or a local command ran).
    Ok,
    /// It failed: bad usage, a non-2xx status or a network error.
    Failed,
    /// The user asked to leave.
    Quit,
}

/// A client session: the server, the open connection and what it last said.
pub struct Session {
    target: String,
    timeout: Duration,
    conn: Option<Connection>,
    /// `Some` once a response arrived: the keep-alive timeout it advertised.
    last_keep_alive: Option<Option<Duration>>,
}

impl Session {
    /// A session with `target` (`HOST:PORT`); connects on the first request.
    pub fn new(target: impl Into<String>, timeout: Duration) -> Self {
        Self {
            target: target.into(),
            timeout,
            conn: None,
            last_keep_alive: None,
        }
    }

    /// Runs one command line, printing its result to stdout (errors to stderr).
    pub fn run_line(&mut self, line: &str) -> Outcome {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((&cmd, args)) = words.split_first() else {
            return Outcome::Ok;
        };
        let result = match cmd {
            "get" | "client_get" => self.get(args),
            "post" | "client_post" => self.post(args),
            "timeout" => {
                match self.last_keep_alive {
                    None => println!("no response yet; run a get or post first"),
                    Some(None) => println!("the last response advertised no keep-alive timeout"),
                    Some(Some(t)) => println!("keep-alive timeout={}s", t.as_secs()),
                }
                Ok(true)
            }
            "help" | "?" => {
                println!("{HELP}");
                Ok(true)
            }
            "quit" | "exit" => return Outcome::Quit,
            other => Err(format!("unknown command '{other}'; type help")),
        };
        match result {
            Ok(true) => Outcome::Ok,
            Ok(false) => Outcome::Failed,
            Err(msg) => {
                eprintln!("error: {msg}");
                Outcome::Failed
            }
        }
    }

    fn connection(&mut self) -> Result<&mut Connection, String> {
        if self.conn.is_none() {
            let c = Connection::connect(self.target.as_str(), self.timeout)
                .map_err(|e| format!("connecting to {}: {e}", self.target))?;
            self.conn = Some(c);
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// Runs a request, reports it, forgets the connection if it failed.
    fn request(
        &mut self,
        f: impl FnOnce(&mut Connection) -> Result<Response, ClientError>,
        saved: Option<&Path>,
    ) -> Result<Option<Response>, String> {
        let started = Instant::now();
        let result = f(self.connection()?);
        let elapsed = started.elapsed();
        match result {
            Ok(r) => {
                self.last_keep_alive = Some(r.keep_alive_timeout);
                let ka = match r.keep_alive_timeout {
                    Some(t) => format!("(keep-alive timeout={}s)", t.as_secs()),
                    None => "(no keep-alive timeout advertised)".to_string(),
                };
                let to = match saved {
                    Some(p) if r.is_success() => format!("  -> {}", p.display()),
                    Some(_) => "  (not saved)".to_string(),
                    None => String::new(),
                };
                println!(
                    "{} {}  {} in {}  {ka}{to}",
                    r.status,
                    r.reason,
                    Bytes(r.body_bytes),
                    Micros(elapsed.as_micros() as u64)
                );
                Ok(Some(r))
            }
            Err(e) => {
                self.conn = None;
                Err(e.to_string())
            }
        }
    }

    fn get(&mut self, args: &[&str]) -> Result<bool, String> {
        let (remote, local) = match args {
            [remote] => (*remote, None),
            [remote, "-o", local] | [remote, local] => (*remote, Some(*local)),
            _ => return Err("usage: get REMOTE [LOCAL] | get REMOTE -o LOCAL".into()),
        };
        let local = PathBuf::from(match local {
            Some(l) => l,
            None => remote
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty() && *n != "..")
                .ok_or_else(|| format!("get {remote}: give a LOCAL file name"))?,
        });
        let (mut tmp, tmp_path) =
            temp_beside(&local).map_err(|e| format!("{}: {e}", local.display()))?;
        let result = self.request(|c| c.get(remote, &mut tmp), Some(&local));
        drop(tmp);
        let committed = match &result {
            Ok(Some(r)) if r.is_success() => fs::rename(&tmp_path, &local)
                .map(|()| true)
                .map_err(|e| format!("{}: {e}", local.display())),
            Ok(_) => Ok(false),
            Err(e) => Err(e.clone()),
        };
        if !matches!(committed, Ok(true)) {
            let _ = fs::remove_file(&tmp_path);
        }
        committed
    }

    fn post(&mut self, args: &[&str]) -> Result<bool, String> {
        let (local, remote) = match args {
            [local] => {
                let name = Path::new(local)
                    .file_name()
                    .ok_or_else(|| format!("post {local}: not a file name"))?;
                (*local, format!("/{}", name.to_string_lossy()))
            }
            [local, remote] => (*local, remote.to_string()),
            _ => return Err("usage: post LOCAL [REMOTE]".into()),
        };
        let mut file = File::open(local).map_err(|e| format!("{local}: {e}"))?;
        let len = file.metadata().map_err(|e| format!("{local}: {e}"))?.len();
        let result = self.request(|c| c.post_reader(&remote, &mut file, len), None)?;
        Ok(result.is_some_and(|r| r.is_success()))
    }
}

/// Creates `.xfer-download.<random>.tmp` in the directory of `dest`.
fn temp_beside(dest: &Path) -> io::Result<(File, PathBuf)> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    loop {
        let path = dir.join(format!(".xfer-download.{:016x}.tmp", rand::random::<u64>()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
}

/// Runs the interactive prompt (line editing and history) until quit or EOF.
pub fn interactive(session: &mut Session) -> anyhow::Result<()> {
    use rustyline::error::ReadlineError;
    let mut editor = rustyline::DefaultEditor::new()?;
    println!("connected to {}; type help", session.target);
    let _ = io::stdout().flush();
    loop {
        match editor.readline("xfer> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if session.run_line(&line) == Outcome::Quit {
                    return Ok(());
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}
