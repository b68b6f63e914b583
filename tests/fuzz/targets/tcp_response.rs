//! tcp-client's response parser: `client::read_response` (head, 1xx skipped,
//! Content-Length, chunked or to-EOF bodies) over a scripted stream.
//! Oracles: no panic; a body is never longer than what arrived; a 2xx body
//! goes to the sink whole and nothing else does; HEAD has no body; a plain
//! 2xx response with Content-Length N that arrived whole reads as N bytes.

use super::script::{Script, TIMEOUT};
use crate::engine::Target;
use xfer::tcp::client::read_response;
use xfer::tcp::protocol::{find_head_end, parse_response};

pub struct Response;

impl Target for Response {
    fn name(&self) -> &'static str {
        "tcp_response"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        [
            &b"\x00HTTP/1.1 200 OK\r\nServer: xfer\r\nContent-Length: 5\r\nKeep-Alive: timeout=30\r\nConnection: keep-alive\r\n\r\nhello"[..],
            b"\x05HTTP/1.1 404 Not Found\r\nServer: nginx\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nnope!\r\n0\r\n\r\n",
            b"\x11HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n",
            b"\x03HTTP/1.0 200 OK\r\n\r\nuntil the end of the stream",
            b"\x07HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            b"\x80HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
            b"\x09HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab\xff\xfeTcd",
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect()
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"\r\n",
            b"\r\n\r\n",
            b"HTTP/1.1 ",
            b"HTTP/1.0 ",
            b"200 OK",
            b"100 Continue",
            b"204",
            b"304",
            b"Content-Length: ",
            b"Transfer-Encoding: chunked",
            b"Connection: close",
            b"Keep-Alive: timeout=",
            b"0\r\n\r\n",
            b";",
            b"ffffffff",
            TIMEOUT,
        ]
    }

    fn run(&mut self, input: &[u8]) {
        let head_only = input.first().is_some_and(|b| b & 0x80 != 0);
        let method = if head_only { "HEAD" } else { "GET" };
        let mut script = Script::new(input);
        let mut sink = Vec::new();
        let result = read_response(&mut script, method, &mut sink);
        let payload = Script::payload(input);
        let Ok(r) = result else {
            return;
        };
        assert!(r.body_bytes <= payload.len() as u64, "{r:?}");
        assert!(r.status <= 999 && !(100..200).contains(&r.status), "{r:?}");
        if r.is_success() {
            assert_eq!(sink.len() as u64, r.body_bytes, "{r:?}");
        } else {
            assert!(sink.is_empty(), "error body written to the sink: {r:?}");
        }
        if head_only {
            assert_eq!(r.body_bytes, 0);
        }
        // Differential: a plain head read by the pure parser agrees.
        if let Some(n) = find_head_end(&payload) {
            if let Ok(h) = parse_response(&payload[..n]) {
                let plain = h.status >= 200 && !h.chunked && h.status != 204 && h.status != 304;
                if let (true, Some(len), false) = (plain, h.content_length, head_only) {
                    if payload.len() - n >= len as usize && !Script::has_timeouts(input) {
                        assert_eq!(r.body_bytes, len, "{r:?}");
                    }
                }
            }
        }
    }
}
