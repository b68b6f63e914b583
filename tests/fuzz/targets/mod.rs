//! The fuzz targets. Each file holds one [`Target`]: its seeds, its
//! dictionary and its oracles. To add one (sftp-serve's request handling,
//! say, as `sftp_serve_requests` did): write `targets/NAME.rs`, add it to [`by_name`], and add a `#[test]`
//! in `main.rs` that calls `fuzz("NAME")`.

mod script;
mod sftp_serve_requests;
mod tcp_request_head;
mod tcp_response;
mod tcp_serve_connection;

use crate::engine::Target;

/// The target called `name`.
pub fn by_name(name: &str) -> Box<dyn Target> {
    match name {
        "tcp_request_head" => Box::new(tcp_request_head::RequestHead),
        "tcp_response" => Box::new(tcp_response::Response),
        "tcp_serve_connection" => Box::new(tcp_serve_connection::ServeConnection::new()),
        "sftp_serve_requests" => Box::new(sftp_serve_requests::SftpRequests::new()),
        other => panic!("no fuzz target {other}"),
    }
}
