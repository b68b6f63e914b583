//! The HTTP/1.1-subset file protocol of `tcp-serve` and `tcp-client`: a pure
//! parser ([`protocol`]), the threaded server ([`server`]), the client
//! connection shared by the REPL and `perf` ([`client`]) and the REPL itself
//! ([`repl`]).

pub mod client;
pub mod confine;
pub mod protocol;
pub mod repl;
pub mod server;
