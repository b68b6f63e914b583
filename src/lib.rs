//! `xfer`: measure how file-transfer servers hold up under load.
//!
//! The binary is a thin shell over this library:
//!
//! - [`load`]: the load engine shared by `sftp-bench` and `perf` (users on OS
//!   threads, ramp-up, pacing, stop conditions, retries, one recorder).
//! - [`sftp`]: the libssh2 client with phase timing, the chunk-upload workload,
//!   and the russh SFTP server.
//! - [`tcp`]: the HTTP/1.1-subset file server, client and request workload.
//! - [`report`]: samples, HDR-histogram summaries, CSV/JSON writers, console
//!   output, charts.
//! - [`confine`]: opening paths beneath a root directory, race-free, for
//!   both servers.
//! - [`units`]: byte sizes and durations as people type them.
//! - [`cmd`]: the command line (the only place clap is used).

pub mod cmd;
pub mod compare;
pub mod confine;
pub mod load;
pub mod merge;
pub mod perf;
pub mod report;
pub mod sftp;
pub mod tcp;
pub mod units;
