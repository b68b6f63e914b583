//! tcp-serve's request-head parser: `find_head_end` then `parse_request`,
//! on any bytes. Oracles: no panic; the head ends at the first blank line;
//! a parsed path is normalized (starts with `/`, no empty, `.` or `..`
//! segment, no NUL) and survives the client's encoding unchanged; every
//! refusal maps to a 4xx/5xx status the server knows how to name.

use crate::engine::Target;
use xfer::tcp::protocol::{decode_target, encode_path, find_head_end, parse_request, reason};

pub struct RequestHead;

impl Target for RequestHead {
    fn name(&self) -> &'static str {
        "tcp_request_head"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        [
            &b"GET /a/b%20c.txt?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            b"POST /up/file.bin HTTP/1.1\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n",
            b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"GET /x HTTP/1.1\r\nConnection: close, TE\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /%2e%2e/etc/passwd HTTP/1.1\r\n\r\n",
            b"PUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            b"GET /x HTTP/1.1\nHost: bare-lf\n\n",
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect()
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"\r\n",
            b"\r\n\r\n",
            b"GET",
            b"HEAD",
            b"POST",
            b" HTTP/1.1",
            b" HTTP/1.0",
            b"HTTP/2",
            b"Content-Length: ",
            b"content-length:",
            b"Transfer-Encoding: chunked",
            b"Connection: close",
            b"Connection: keep-alive",
            b"Expect: 100-continue",
            b"%2e",
            b"%2E%2e",
            b"%2f",
            b"%00",
            b"%ff",
            b"%",
            b"/..",
            b"/./",
            b"//",
            b"?",
            b"#",
            b"http://h/",
            b":",
            b" ",
            b"\t",
        ]
    }

    fn run(&mut self, input: &[u8]) {
        let end = find_head_end(input);
        if let Some(n) = end {
            assert!(
                (4..=input.len()).contains(&n),
                "head end {n} of {}",
                input.len()
            );
            assert_eq!(&input[n - 4..n], b"\r\n\r\n");
            assert_eq!(
                find_head_end(&input[..n - 1]),
                None,
                "not the first blank line"
            );
        }
        let head = &input[..end.unwrap_or(input.len())];
        match parse_request(head) {
            Ok(req) => {
                let p = req.path.as_str();
                assert!(p.starts_with('/'), "{p:?}");
                assert!(!p.contains('\0'), "{p:?}");
                if p != "/" {
                    for seg in p[1..].split('/') {
                        assert!(!matches!(seg, "" | "." | ".."), "{p:?}");
                    }
                }
                assert_eq!(decode_target(encode_path(p).as_bytes()).as_deref(), Ok(p));
                if req.content_length.is_some() {
                    assert!(head.len() >= 16);
                }
            }
            Err(e) => {
                let status = e.status();
                assert!((400..600).contains(&status), "{e}: {status}");
                assert_ne!(reason(status), "Unknown", "{status}");
            }
        }
    }
}
