//! The HTTP/1.1-subset file protocol of `tcp-serve` and `tcp-client`: a pure
//! parser ([`protocol`]), the threaded server ([`server`]) (paths confined by
//! [`crate::confine`]), the blocking client connection shared by the
//! REPL and `perf` ([`client`]), the REPL itself ([`repl`]), perf's request
//! workload ([`workload`]) and its non-blocking twin for the event-loop
//! driver ([`nonblocking`]).

pub mod client;
pub mod nonblocking;
pub mod protocol;
pub mod repl;
pub mod server;
pub mod workload;
