//! A small fuzzing engine that runs on the stable toolchain (cargo-fuzz needs
//! nightly, cargo-afl needs AFL++ and LLVM plugins that a fresh machine lacks).
//! It is coverage-free: inputs are mutated from each target's seed corpus of
//! well-formed messages (structure-aware seeds plus a dictionary of protocol
//! tokens), and mutants are kept in a bounded pool so that mutations stack.
//!
//! Every execution is checked for:
//! - a panic (an oracle of the target failed, or the code under test
//!   panicked): the input is saved under `target/fuzz-artifacts/<target>/`;
//! - a hang: a watchdog thread aborts the process, after saving the input,
//!   when one execution runs longer than [`Limits::hang`];
//! - unbounded allocation: a counting global allocator (see `main.rs`)
//!   reports the peak bytes one execution held, and the largest single
//!   request; either over [`Limits::alloc_bytes`] is a finding.
//!
//! The generator is a splitmix64 stream from one seed, so a run is
//! reproducible; `XFER_FUZZ_REPLAY=FILE` runs one saved input.

use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One fuzz target: a piece of code that reads untrusted bytes, with the
/// oracles that say its answer is right. Adding a target is one file that
/// implements this trait and one line in `targets::all`.
pub trait Target {
    /// Short name, used for artifacts and reports.
    fn name(&self) -> &'static str;
    /// Well-formed inputs to mutate from.
    fn seeds(&self) -> Vec<Vec<u8>>;
    /// Tokens the mutator splices in: delimiters, names, numbers.
    fn dictionary(&self) -> &'static [&'static [u8]];
    /// Runs one input. Panics when an oracle fails.
    fn run(&mut self, input: &[u8]);
}

/// What a run may cost per input before it counts as a finding.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest input generated, in bytes.
    pub max_len: usize,
    /// One execution longer than this is a hang.
    pub hang: Duration,
    /// Peak bytes held by one execution (and largest single allocation).
    pub alloc_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_len: 64 * 1024,
            hang: Duration::from_secs(10),
            alloc_bytes: 64 << 20,
        }
    }
}

/// The outcome of a run of one target.
#[derive(Debug, Default)]
pub struct Report {
    pub target: &'static str,
    pub execs: u64,
    pub elapsed: Duration,
    /// The slowest execution, and its input (saved as `slowest.bin`, to
    /// tell a slow input from a busy machine by replaying it).
    pub slowest: Duration,
    pub slowest_input: Option<PathBuf>,
    /// The largest peak allocation of one execution, in bytes.
    pub peak_alloc: usize,
    /// Inputs that panicked or allocated too much, saved to these files.
    pub findings: Vec<(String, PathBuf)>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = self.execs as f64 / self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "{}: {} execs in {:.1}s ({:.0}/s), slowest {:?}, peak alloc {} KiB, {} findings",
            self.target,
            self.execs,
            self.elapsed.as_secs_f64(),
            rate,
            self.slowest,
            self.peak_alloc / 1024,
            self.findings.len()
        )
    }
}

/// splitmix64: tiny, fast, and good enough to drive mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Bytes that often sit on boundaries of text protocols.
const INTERESTING_BYTES: &[u8] = b"\0\r\n \t:;,/%.?#-=0189afAF\x7f\x80\xff";
/// Numbers that probe parsers' edges.
const INTERESTING_NUMBERS: &[&[u8]] = &[
    b"0",
    b"1",
    b"-1",
    b"00",
    b"4294967296",
    b"9223372036854775807",
    b"18446744073709551615",
    b"18446744073709551616",
    b"99999999999999999999",
    b"ffffffffffffffff",
    b"10000000000000000",
    b"+5",
    b" 5",
    b"5 ",
];

/// Applies 1 to 8 random mutations to `data`.
pub fn mutate(data: &mut Vec<u8>, rng: &mut Rng, dict: &[&[u8]], pool: &[Vec<u8>], max_len: usize) {
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        let len = data.len();
        let pos = if len == 0 { 0 } else { rng.below(len + 1) };
        match rng.below(12) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            2 | 3 if !dict.is_empty() => {
                let token = dict[rng.below(dict.len())];
                data.splice(pos..pos, token.iter().copied());
            }
            4 if !dict.is_empty() && len > 0 => {
                let token = dict[rng.below(dict.len())];
                let end = (pos + rng.below(16)).min(len);
                data.splice(pos.min(end)..end, token.iter().copied());
            }
            5 if len > 0 => {
                let end = (pos + 1 + rng.below(32)).min(len);
                data.drain(pos.min(end)..end);
            }
            6 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let chunk = data[a..b].to_vec();
                data.splice(pos..pos, chunk);
            }
            7 if !pool.is_empty() => {
                // Splice: our prefix, another input's suffix.
                let other = &pool[rng.below(pool.len())];
                let from = rng.below(other.len() + 1);
                data.truncate(pos);
                data.extend_from_slice(&other[from..]);
            }
            8 => {
                let n = INTERESTING_NUMBERS[rng.below(INTERESTING_NUMBERS.len())];
                data.splice(pos..pos, n.iter().copied());
            }
            9 if len > 0 => data.truncate(rng.below(len)),
            10 if len > 0 => {
                // Repeat a chunk many times: probes size limits.
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                let chunk = data[a..b].to_vec();
                // Mostly a few times; now and then enough to cross limits.
                let most = if rng.chance(16) { 4096 } else { 64 };
                let times = 1 + rng.below(most);
                let mut grown = Vec::with_capacity(chunk.len() * times);
                for _ in 0..times {
                    grown.extend_from_slice(&chunk);
                }
                data.splice(pos..pos, grown);
            }
            _ => {
                let b = rng.next() as u8;
                data.insert(pos, b);
            }
        }
        if data.len() > max_len {
            data.truncate(max_len);
        }
    }
}

/// The allocation counters of the calling thread (see `main.rs`).
pub trait AllocMeter {
    /// Starts measuring one execution.
    fn reset(&self);
    /// Peak bytes held and largest single request since `reset`.
    fn peak(&self) -> (usize, usize);
}

/// State the watchdog reads: when the current execution started, and its
/// input, so that a hang can be saved before the process is aborted.
struct Watch {
    started_ns: AtomicU64,
    busy: AtomicBool,
    input: Mutex<Vec<u8>>,
}

fn artifact_dir(target: &str) -> PathBuf {
    let base = std::env::var_os("XFER_FUZZ_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-artifacts"));
    base.join(target)
}

fn save(target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let dir = artifact_dir(target);
    let _ = std::fs::create_dir_all(&dir);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    input.hash(&mut h);
    let path = dir.join(format!("{kind}-{:016x}.bin", h.finish()));
    let _ = std::fs::write(&path, input);
    path
}

/// Runs `target` for `execs` executions (or until `budget` has passed),
/// from the random stream `seed`.
pub fn run(
    target: &mut dyn Target,
    execs: u64,
    budget: Duration,
    seed: u64,
    limits: Limits,
    meter: &dyn AllocMeter,
) -> Report {
    let name = target.name();
    let dict = target.dictionary();
    let seeds = target.seeds();
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let mut pool: Vec<Vec<u8>> = seeds.clone();
    let mut rng = Rng::new(seed);
    let mut report = Report {
        target: name,
        ..Report::default()
    };
    let epoch = Instant::now();
    let watch = Arc::new(Watch {
        started_ns: AtomicU64::new(0),
        busy: AtomicBool::new(false),
        input: Mutex::new(Vec::new()),
    });
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (watch, done) = (Arc::clone(&watch), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                std::thread::park_timeout(Duration::from_millis(100));
                let started = Duration::from_nanos(watch.started_ns.load(Ordering::SeqCst));
                if watch.busy.load(Ordering::SeqCst) && epoch.elapsed() - started > limits.hang {
                    let input = watch.input.lock().unwrap_or_else(|e| e.into_inner());
                    let path = save(name, "hang", &input);
                    eprintln!(
                        "fuzz {name}: one execution ran over {:?}; input saved to {}",
                        limits.hang,
                        path.display()
                    );
                    std::process::abort();
                }
            }
        })
    };
    let mut input = Vec::with_capacity(limits.max_len);
    let mut slowest = Vec::new();
    while report.execs < execs && epoch.elapsed() < budget {
        input.clear();
        if rng.chance(4) {
            input.extend_from_slice(&seeds[rng.below(seeds.len())]);
        } else {
            input.extend_from_slice(&pool[rng.below(pool.len())]);
        }
        mutate(&mut input, &mut rng, dict, &pool, limits.max_len);
        watch
            .input
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone_from(&input);
        let t0 = Instant::now();
        watch
            .started_ns
            .store((t0 - epoch).as_nanos() as u64, Ordering::SeqCst);
        watch.busy.store(true, Ordering::SeqCst);
        meter.reset();
        let outcome = catch_unwind(AssertUnwindSafe(|| target.run(&input)));
        let (peak, largest) = meter.peak();
        watch.busy.store(false, Ordering::SeqCst);
        let took = t0.elapsed();
        report.execs += 1;
        if took > report.slowest {
            report.slowest = took;
            slowest.clone_from(&input);
        }
        report.peak_alloc = report.peak_alloc.max(peak);
        if let Err(panic) = outcome {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            report.findings.push((msg, save(name, "crash", &input)));
        } else if peak > limits.alloc_bytes || largest > limits.alloc_bytes {
            let msg = format!("held {peak} bytes at once, largest allocation {largest}");
            report.findings.push((msg, save(name, "alloc", &input)));
        }
        if report.findings.len() >= 20 {
            break;
        }
        // Keep some mutants so that mutations stack (no coverage to guide).
        if rng.chance(8) {
            let slot = rng.below(1024);
            if slot < pool.len() {
                pool[slot].clone_from(&input);
            } else {
                pool.push(input.clone());
            }
        }
    }
    report.elapsed = epoch.elapsed();
    let dir = artifact_dir(name);
    let path = dir.join("slowest.bin");
    if std::fs::create_dir_all(&dir).is_ok() && std::fs::write(&path, &slowest).is_ok() {
        report.slowest_input = Some(path);
    }
    done.store(true, Ordering::SeqCst);
    watchdog.thread().unpark();
    let _ = watchdog.join();
    report
}
