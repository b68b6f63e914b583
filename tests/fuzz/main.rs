//! Fuzzing of the code that reads untrusted bytes (issue 9 item 9), on the
//! stable toolchain: see `engine.rs` for how, `targets/` for what.
//!
//! In the test suite every target runs a short, fixed number of executions
//! (a few seconds). `scripts/fuzz` runs the long campaign with the same
//! binary; these variables steer it:
//! - `XFER_FUZZ_EXECS=N` executions per target (default 3,000),
//! - `XFER_FUZZ_SECS=S` stop a target after S seconds (default 60),
//! - `XFER_FUZZ_SEED=N` the random stream (default: fixed, reproducible),
//! - `XFER_FUZZ_REPLAY=FILE` with `XFER_FUZZ_TARGET=NAME`: run one saved
//!   input (a crash or hang artifact) and nothing else.

mod engine;
mod targets;

use engine::{AllocMeter, Limits};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

/// Counts the bytes each thread holds, so that one execution's peak (and
/// its largest single allocation) can be bounded.
struct CountingAlloc;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    let _ = HELD.try_with(|held| {
        let now = held.get() + size as isize;
        held.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    });
}

fn note_free(size: usize) {
    let _ = HELD.try_with(|held| held.set(held.get() - size as isize));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// bookkeeping touches only const-initialized thread-locals (no allocation).
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note_free(layout.size());
            note_alloc(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

struct ThreadMeter;

impl AllocMeter for ThreadMeter {
    fn reset(&self) {
        let held = HELD.with(Cell::get);
        PEAK.with(|p| p.set(held));
        LARGEST.with(|l| l.set(0));
        BASE.with(|b| b.set(held));
    }

    fn peak(&self) -> (usize, usize) {
        let base = BASE.with(Cell::get);
        let peak = PEAK.with(Cell::get) - base;
        (peak.max(0) as usize, LARGEST.with(Cell::get))
    }
}

thread_local! {
    static BASE: Cell<isize> = const { Cell::new(0) };
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
    )
}

/// Runs the named target with the settings from the environment, or
/// replays one input when `XFER_FUZZ_REPLAY` names this target's artifact.
fn fuzz(name: &str) {
    let mut target = targets::by_name(name);
    if let Ok(file) = std::env::var("XFER_FUZZ_REPLAY") {
        if std::env::var("XFER_FUZZ_TARGET").as_deref() == Ok(name) {
            let input = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
            let started = std::time::Instant::now();
            target.run(&input);
            eprintln!(
                "replayed {file} ({} bytes) on {name} in {:?}: no finding",
                input.len(),
                started.elapsed()
            );
        }
        return;
    }
    if std::env::var("XFER_FUZZ_TARGET").is_ok_and(|t| t != name) {
        return;
    }
    let execs = env_u64("XFER_FUZZ_EXECS").unwrap_or(3_000);
    let budget = Duration::from_secs(env_u64("XFER_FUZZ_SECS").unwrap_or(60));
    let seed = env_u64("XFER_FUZZ_SEED").unwrap_or(0x5eed);
    let report = engine::run(
        target.as_mut(),
        execs,
        budget,
        seed,
        Limits::default(),
        &ThreadMeter,
    );
    eprintln!("fuzz {report} (seed {seed})");
    if let Some(path) = &report.slowest_input {
        eprintln!("  slowest input: {}", path.display());
    }
    for (msg, path) in &report.findings {
        eprintln!("  finding: {msg}\n    input: {}", path.display());
    }
    assert!(report.findings.is_empty(), "{report}");
    assert!(report.execs > 0);
}

#[test]
fn fuzz_tcp_request_head() {
    fuzz("tcp_request_head");
}

#[test]
fn fuzz_tcp_response() {
    fuzz("tcp_response");
}

#[test]
fn fuzz_tcp_serve_connection() {
    fuzz("tcp_serve_connection");
}

#[test]
fn fuzz_sftp_serve_requests() {
    fuzz("sftp_serve_requests");
}

/// A target with planted bugs, to show that the engine finds what it is
/// meant to find: a panic and an allocation over the bound.
struct Planted;

impl engine::Target for Planted {
    fn name(&self) -> &'static str {
        "planted"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        vec![b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()]
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[b"\r\n", b"Content-Length: "]
    }

    fn run(&mut self, input: &[u8]) {
        if input.windows(6).any(|w| w == b"\r\n\r\n\r\n") {
            panic!("planted: a blank line after the blank line");
        }
        if input.windows(16).any(|w| w == b"Content-Length: ") {
            let big = vec![1u8; 80 << 20];
            std::hint::black_box(big);
        }
    }
}

#[test]
fn the_engine_finds_planted_panics_and_allocations() {
    let report = engine::run(
        &mut Planted,
        20_000,
        Duration::from_secs(60),
        7,
        Limits::default(),
        &ThreadMeter,
    );
    let _ = std::fs::remove_dir_all(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-artifacts/planted"),
    );
    let found = |what: &str| report.findings.iter().any(|(msg, _)| msg.contains(what));
    assert!(found("planted: a blank line"), "{report}");
    assert!(found("largest allocation"), "{report}");
}
