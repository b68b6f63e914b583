//! ProxyCommand and ProxyJump, as OpenSSH does them: a child process whose
//! stdin and stdout carry the SSH stream (`ssh -W HOST:PORT JUMP` for a
//! jump host). libssh2 gets our end of a socketpair in place of a TCP
//! socket; every connection (every user, every reconnect) has its own
//! child, which is what `sftp -J` costs the server as well. It fits the
//! blocking design: the socket blocks and times out like a TCP one.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The program and arguments that carry the SSH stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyCommand {
    pub argv: Vec<String>,
}

impl std::fmt::Display for ProxyCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.argv.join(" "))
    }
}

/// Our end of the socketpair, and the child holding the other end. Owned
/// by the libssh2 session; dropping it reaps the child.
pub struct ProxyStream {
    sock: UnixStream,
    child: ProxyChild,
}

/// The proxy process, shared so that `connect` can still ask why it died
/// after the session took the stream.
#[derive(Clone)]
pub struct ProxyChild(Arc<Mutex<Child>>);

/// How long a proxy child may take to exit once its stream is closed.
const EXIT_WAIT: Duration = Duration::from_secs(2);

impl ProxyStream {
    /// Starts `cmd` with one end of a socketpair as its stdin and stdout.
    pub fn spawn(cmd: &ProxyCommand) -> std::io::Result<ProxyStream> {
        let (ours, theirs) = UnixStream::pair()?;
        let theirs_out: OwnedFd = theirs.try_clone()?.into();
        let (program, args) = cmd
            .argv
            .split_first()
            .ok_or_else(|| std::io::Error::other("the proxy command is empty"))?;
        use std::os::unix::process::CommandExt;
        let child = Command::new(program)
            .args(args)
            // Its own process group: the terminal's Ctrl-C goes to xfer,
            // which lets in-flight chunks finish over these proxies.
            .process_group(0)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::from(theirs_out))
            // Kept for the error message when the proxy fails.
            .stderr(Stdio::piped())
            .spawn()?;
        Ok(ProxyStream {
            sock: ours,
            child: ProxyChild(Arc::new(Mutex::new(child))),
        })
    }

    pub fn child(&self) -> ProxyChild {
        self.child.clone()
    }
}

impl ProxyChild {
    /// What the child said on stderr, once it has exited (within `wait`);
    /// `None` while it still runs.
    pub fn exit_message(&self, wait: Duration) -> Option<String> {
        let mut child = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = Instant::now() + wait;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => return None,
            }
        };
        let mut text = String::new();
        if let Some(mut err) = child.stderr.take() {
            let _ = err.read_to_string(&mut text);
        }
        let last = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        Some(format!("proxy exited with {status}: {}", last.trim()))
    }
}

impl AsRawFd for ProxyStream {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl Drop for ProxyStream {
    fn drop(&mut self) {
        // The session's goodbye has already waited for the server's close,
        // after which the child ends by itself; a stuck one is killed.
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
        if self.child.exit_message(EXIT_WAIT).is_none() {
            let mut child = self.child.0.lock().unwrap_or_else(|p| p.into_inner());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_child_carries_the_stream_both_ways() {
        let mut p = ProxyStream::spawn(&ProxyCommand {
            argv: vec!["cat".into()],
        })
        .unwrap();
        p.sock.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        p.sock.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[test]
    fn ctrl_c_at_the_terminal_does_not_reach_the_proxy() {
        let p = ProxyStream::spawn(&ProxyCommand {
            argv: vec!["cat".into()],
        })
        .unwrap();
        let pid = p.child.0.lock().unwrap().id() as libc::pid_t;
        // Safety: plain syscalls on our own pid and our child's.
        let (ours, theirs) = unsafe { (libc::getpgid(0), libc::getpgid(pid)) };
        assert_eq!(theirs, pid, "the proxy leads its own group");
        assert_ne!(theirs, ours);
    }

    #[test]
    fn a_failing_proxy_says_why() {
        let p = ProxyStream::spawn(&ProxyCommand {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "echo no route to jump >&2; exit 255".into(),
            ],
        })
        .unwrap();
        let m = p.child().exit_message(Duration::from_secs(10)).unwrap();
        assert!(m.contains("255") && m.contains("no route to jump"), "{m}");
    }
}
