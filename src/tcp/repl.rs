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
    /// It failed: a non-2xx status, a network or a local I/O error.
    Failed,
    /// It was misused: an unknown command, wrong arguments, or a local file
    /// that cannot be read or written (found before any request was sent).
    Usage,
    /// The user asked to leave.
    Quit,
}

/// Why a command did not succeed.
#[derive(Clone)]
enum CmdError {
    /// The command line itself is wrong (see [`Outcome::Usage`]).
    Usage(String),
    /// The command ran and failed.
    Failed(String),
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

    /// Runs one command line, printing its result to stdout (errors to
    /// stderr). Words split on whitespace; quotes group a name with spaces.
    pub fn run_line(&mut self, line: &str) -> Outcome {
        let words = split_words(line);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        self.run_words(&words)
    }

    /// Runs one command given as words (`["get", "/f", "-o", "out"]`).
    pub fn run_words(&mut self, words: &[&str]) -> Outcome {
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
            other => Err(CmdError::Usage(format!(
                "unknown command '{other}'; type help"
            ))),
        };
        match result {
            Ok(true) => Outcome::Ok,
            Ok(false) => Outcome::Failed,
            Err(CmdError::Usage(msg)) => {
                eprintln!("error: {msg}");
                Outcome::Usage
            }
            Err(CmdError::Failed(msg)) => {
                eprintln!("error: {msg}");
                Outcome::Failed
            }
        }
    }

    fn connection(&mut self) -> Result<&mut Connection, CmdError> {
        if self.conn.is_none() {
            let c = Connection::connect(self.target.as_str(), self.timeout)
                .map_err(|e| CmdError::Failed(format!("connecting to {}: {e}", self.target)))?;
            self.conn = Some(c);
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// Runs a request, reports it, forgets the connection if it failed.
    fn request(
        &mut self,
        f: impl FnOnce(&mut Connection) -> Result<Response, ClientError>,
        saved: Option<&Path>,
    ) -> Result<Option<Response>, CmdError> {
        let started = Instant::now();
        let result = f(self.connection()?);
        let elapsed = started.elapsed();
        match result {
            Ok(r) => {
                self.last_keep_alive = Some(r.keep_alive_timeout);
                let ka = match (r.keep_alive_timeout, r.connection_close) {
                    (Some(t), false) => format!("(keep-alive timeout={}s)", t.as_secs()),
                    (_, true) => "(server closed the connection)".to_string(),
                    (None, false) => "(no keep-alive timeout advertised)".to_string(),
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
                Err(CmdError::Failed(e.to_string()))
            }
        }
    }

    fn get(&mut self, args: &[&str]) -> Result<bool, CmdError> {
        let usage = |msg: String| CmdError::Usage(msg);
        let (remote, local) = match args {
            [remote] => (*remote, None),
            [remote, "-o", local] | [remote, local] => (*remote, Some(*local)),
            _ => {
                return Err(usage(
                    "usage: get REMOTE [LOCAL] | get REMOTE -o LOCAL".into(),
                ))
            }
        };
        let local = PathBuf::from(match local {
            Some(l) => l,
            None => remote
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty() && *n != "..")
                .ok_or_else(|| usage(format!("get {remote}: give a LOCAL file name")))?,
        });
        let (mut tmp, tmp_path) = temp_beside(&local)
            .map_err(|e| usage(format!("get: LOCAL {}: {e}", local.display())))?;
        let result = self.request(|c| c.get(remote, &mut tmp), Some(&local));
        drop(tmp);
        let committed = match &result {
            Ok(Some(r)) if r.is_success() => fs::rename(&tmp_path, &local)
                .map(|()| true)
                .map_err(|e| CmdError::Failed(format!("{}: {e}", local.display()))),
            Ok(_) => Ok(false),
            Err(e) => Err(e.clone()),
        };
        if !matches!(committed, Ok(true)) {
            let _ = fs::remove_file(&tmp_path);
        }
        committed
    }

    fn post(&mut self, args: &[&str]) -> Result<bool, CmdError> {
        let usage = |msg: String| CmdError::Usage(msg);
        let (local, remote) = match args {
            [local] => {
                let name = Path::new(local)
                    .file_name()
                    .ok_or_else(|| usage(format!("post {local}: not a file name")))?;
                (*local, format!("/{}", name.to_string_lossy()))
            }
            [local, remote] => (*local, remote.to_string()),
            _ => return Err(usage("usage: post LOCAL [REMOTE]".into())),
        };
        let mut file = File::open(local).map_err(|e| usage(format!("post: LOCAL {local}: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| usage(format!("post: LOCAL {local}: {e}")))?;
        if !meta.is_file() {
            return Err(usage(format!("post: LOCAL {local}: not a regular file")));
        }
        let len = meta.len();
        let result = self.request(|c| c.post_reader(&remote, &mut file, len), None)?;
        Ok(result.is_some_and(|r| r.is_success()))
    }
}

/// Splits a command line into words; `"..."` and `'...'` group characters.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
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
    println!(
        "xfer tcp-client for {} (connects on the first request); type help",
        session.target
    );
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

#[cfg(test)]
mod tests {
    use super::split_words;

    #[test]
    fn quotes_group_words_with_spaces() {
        assert_eq!(split_words("  get  /a  b "), ["get", "/a", "b"]);
        assert_eq!(
            split_words("get \"/a b.txt\" 'x y'"),
            ["get", "/a b.txt", "x y"]
        );
        assert_eq!(split_words("post ''"), ["post", ""]);
        assert!(split_words("   ").is_empty());
    }
}
