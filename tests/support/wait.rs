//! Waiting without sleeping a guessed time: every wait here polls an
//! observable condition (a row on disk, a process gone) until a deadline, so
//! a test is as fast as the machine allows and still fails in bounded time
//! when the condition never comes.

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

/// Waits for `child` and collects its output; past `limit` kills it and
/// panics with what it printed, so a hung process fails the test in
/// bounded time.
pub fn output(mut child: Child, limit: Duration) -> Output {
    if poll(limit, || child.try_wait().unwrap().is_some()) {
        return child.wait_with_output().unwrap();
    }
    let _ = child.kill();
    let o = child.wait_with_output().unwrap();
    panic!(
        "gave up after {limit:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
