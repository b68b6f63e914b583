//! Waiting without sleeping a guessed time: every wait here polls an
//! observable condition (a row on disk, a process gone) until a deadline, so
//! a test is as fast as the machine allows and still fails in bounded time
//! when the condition never comes.

use std::io::Read;
use std::process::{Child, ExitStatus, Output};
use std::time::{Duration, Instant};

/// How often a condition is looked at.
const POLL: Duration = Duration::from_millis(10);

/// Polls `cond` until it holds (true) or `limit` has passed (false).
pub fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Polls `cond` until it holds; panics with `what` after `secs` seconds.
pub fn until(secs: u64, what: &str, cond: impl FnMut() -> bool) {
    assert!(poll(Duration::from_secs(secs), cond), "timed out: {what}");
}

/// Waits for `child` to exit; panics with `what` after `secs` seconds.
pub fn exit(child: &mut Child, secs: u64, what: &str) -> ExitStatus {
    let mut status = None;
    until(secs, what, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap()
}

/// Waits for `child` and collects its output; past `limit` kills it (and
/// its process group, when it leads one: `sftp` leaves its `ssh` holding
/// the pipes) and panics with `what` and what it printed, so a hung
/// process fails the test in bounded time.
///
/// The pipes are read while waiting, on threads: a child that prints more
/// than a pipe holds (64 KiB; `sftp -v` through many rekeys does) would
/// otherwise block on its next write and look hung.
pub fn output_of(mut child: Child, limit: Duration, what: &str) -> Output {
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let finished = poll(limit, || child.try_wait().unwrap().is_some());
    if !finished {
        let pid = child.id() as i32;
        // SAFETY: getpgid/kill(2) on our own child's pid and, when it leads
        // its group, that group.
        unsafe {
            if libc::getpgid(pid) == pid {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let o = Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    assert!(
        finished,
        "{what}: gave up after {limit:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Reads `pipe` (a child's stdout or stderr) to its end on a thread, so
/// that the child never blocks on a full pipe while the test waits for it;
/// join the handle for the bytes.
pub fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// [`output_of`] for a child that needs no name.
pub fn output(child: Child, limit: Duration) -> Output {
    output_of(child, limit, "child")
}
