//! The wire format of `tcp-serve` / `tcp-client`: an HTTP/1.1 subset, parsed
//! by pure functions (bytes in, values out, no I/O) so that every rule about
//! malformed input can be tested with a table instead of a socket.
//!
//! The server reads until [`find_head_end`] sees the blank line, then calls
//! [`parse_request`]; the client does the same with [`parse_response`]. Every
//! way a request can be refused is a [`RequestError`] variant with its status
//! code, so the server answers all of them the same way.

use std::fmt::Write as _;
use std::time::Duration;

/// Why a request was refused; [`RequestError::status`] is the status code sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("malformed request line")]
    BadRequestLine,
    #[error("malformed header line")]
    BadHeader,
    #[error("bad Content-Length")]
    BadContentLength,
    #[error("duplicate Content-Length")]
    DuplicateContentLength,
    #[error("bad request target: {0}")]
    BadTarget(&'static str),
    #[error("path leaves the served root")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("timed out reading the request")]
    Timeout,
    #[error("a directory is in the way")]
    Conflict,
    #[error("Content-Length required (chunked uploads are not accepted)")]
    LengthRequired,
    #[error("upload larger than --max-upload")]
    PayloadTooLarge,
    #[error("header block too large")]
    HeadersTooLarge,
    #[error("HTTP version not supported")]
    VersionNotSupported,
    #[error("GET and HEAD requests must not carry a body")]
    UnexpectedBody,
    #[error("server-side I/O error storing the upload")]
    Internal,
    #[error("no space left on the server")]
    InsufficientStorage,
}

impl RequestError {
    /// The status code this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequestLine
            | Self::BadHeader
            | Self::BadContentLength
            | Self::DuplicateContentLength
            | Self::BadTarget(_)
            | Self::UnexpectedBody => 400,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Timeout => 408,
            Self::Conflict => 409,
            Self::LengthRequired => 411,
            Self::PayloadTooLarge => 413,
            Self::HeadersTooLarge => 431,
            Self::Internal => 500,
            Self::VersionNotSupported => 505,
            Self::InsufficientStorage => 507,
        }
    }
}

/// The standard reason phrase of the status codes the server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

/// The methods the server knows; anything else is a 405.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
}

/// A parsed request head. `path` is percent-decoded and normalized: it starts
/// with `/`, has no empty, `.` or `..` segments, and never contains NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub content_length: Option<u64>,
    /// A `Transfer-Encoding` header was present (uploads need a length).
    pub transfer_encoding: bool,
    pub expect_continue: bool,
    /// The client wants the connection kept open after this request.
    pub keep_alive: bool,
}

/// Returns the length of the head (through the blank line) if `buf` holds a
/// complete one.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// [`find_head_end`] for a buffer whose first `scanned` bytes were searched
/// already, without finding the blank line: only the bytes after them (and
/// the three before, where a `\r\n\r\n` may straddle) are looked at. A head
/// that arrives a byte at a time thus costs linear time, not quadratic.
pub fn find_head_end_from(buf: &[u8], scanned: usize) -> Option<usize> {
    let from = scanned.saturating_sub(3).min(buf.len());
    find_head_end(&buf[from..]).map(|n| n + from)
}

/// Splits a complete head into its first line and header `(name, value)` pairs.
fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let head = head.strip_suffix(b"\r\n\r\n").unwrap_or(head);
    head.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if !is_token(name) || value.iter().any(|&b| b == b'\r' || b == 0) {
        return None;
    }
    Some((name, value.trim_ascii()))
}

fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Parses a complete request head (as delimited by [`find_head_end`]).
pub fn parse_request(head: &[u8]) -> Result<Request, RequestError> {
    let mut lines = lines(head);
    let first = lines.next().ok_or(RequestError::BadRequestLine)?;
    let mut parts = first.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(RequestError::BadRequestLine);
    };
    if !is_token(method) || target.is_empty() {
        return Err(RequestError::BadRequestLine);
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        v if v.starts_with(b"HTTP/") => return Err(RequestError::VersionNotSupported),
        _ => return Err(RequestError::BadRequestLine),
    };
    let mut req = Request {
        method: Method::Get,
        path: String::new(),
        content_length: None,
        transfer_encoding: false,
        expect_continue: false,
        keep_alive: http11,
    };
    for line in lines {
        let (name, value) = header(line).ok_or(RequestError::BadHeader)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            if req.content_length.is_some() {
                return Err(RequestError::DuplicateContentLength);
            }
            req.content_length = Some(parse_length(value).ok_or(RequestError::BadContentLength)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            req.transfer_encoding = true;
        } else if name.eq_ignore_ascii_case(b"expect") {
            req.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case(b"connection") {
            if has_token(value, "close") {
                req.keep_alive = false;
            } else if has_token(value, "keep-alive") {
                req.keep_alive = true;
            }
        }
    }
    req.method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"POST" => Method::Post,
        _ => return Err(RequestError::MethodNotAllowed),
    };
    req.path = decode_target(target)?;
    Ok(req)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decodes an origin-form target (`/a/b%20c?q`) into a normalized
/// path. Absolute-form targets (`http://host/x`), NUL, invalid escapes and
/// non-UTF-8 are 400; a `..` segment, literal or encoded, is 403.
pub fn decode_target(target: &[u8]) -> Result<String, RequestError> {
    if target.first() != Some(&b'/') {
        return Err(RequestError::BadTarget("must start with '/'"));
    }
    let end = target
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(target.len());
    let raw = &target[..end];
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = match raw[i] {
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex);
                let lo = raw.get(i + 2).copied().and_then(hex);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(RequestError::BadTarget("invalid percent-escape"));
                };
                i += 2;
                hi << 4 | lo
            }
            b if b <= b' ' || b == 0x7f => {
                return Err(RequestError::BadTarget("control character or space"));
            }
            b => b,
        };
        if b == 0 {
            return Err(RequestError::BadTarget("NUL byte"));
        }
        bytes.push(b);
        i += 1;
    }
    let decoded = String::from_utf8(bytes).map_err(|_| RequestError::BadTarget("not UTF-8"))?;
    let mut path = String::with_capacity(decoded.len());
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(RequestError::Forbidden),
            s => {
                path.push('/');
                path.push_str(s);
            }
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    Ok(path)
}

/// Percent-encodes a path for a request line: everything but unreserved
/// characters and `/` is escaped, so names with spaces or `%` survive.
pub fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    if !path.starts_with('/') {
        out.push('/');
    }
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The idle timeout advertised and enforced when `active` connections are
/// open: `max(min, base * (1 - active / max))`, rounded to the nearest whole
/// second, at least one second (`Keep-Alive: timeout=` takes whole seconds,
/// and the server enforces exactly what it advertises).
pub fn idle_timeout(base: Duration, min: Duration, active: usize, max: usize) -> Duration {
    let load = (active as f64 / max.max(1) as f64).min(1.0);
    let t = base.mul_f64(1.0 - load).max(min);
    Duration::from_secs((t.as_secs_f64().round() as u64).max(1))
}

/// Appends a response head to `out`. `keep_alive` is the idle timeout
/// advertised when the connection stays open; `None` means it closes.
pub fn write_response_head(
    out: &mut Vec<u8>,
    status: u16,
    content_length: u64,
    keep_alive: Option<Duration>,
    extra: &str,
) {
    use std::io::Write as _;
    // Writes into a Vec cannot fail; the Vec is the caller's reusable buffer.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {}\r\nServer: xfer\r\nContent-Length: {content_length}\r\n{extra}",
        reason(status)
    );
    let _ = match keep_alive {
        Some(t) => write!(
            out,
            "Keep-Alive: timeout={}\r\nConnection: keep-alive\r\n\r\n",
            t.as_secs()
        ),
        None => out.write_all(b"Connection: close\r\n\r\n"),
    };
}

/// A parsed response head, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: String,
    pub content_length: Option<u64>,
    pub chunked: bool,
    /// `Keep-Alive: timeout=N`, when the server advertised one.
    pub keep_alive_timeout: Option<Duration>,
    /// The server will close the connection after this response.
    pub connection_close: bool,
}

/// Why a response head could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed response from server: {0}")]
pub struct ResponseError(pub &'static str);

/// Parses a complete response head (as delimited by [`find_head_end`]).
pub fn parse_response(head: &[u8]) -> Result<ResponseHead, ResponseError> {
    let mut lines = lines(head);
    let first = lines.next().ok_or(ResponseError("empty"))?;
    let rest = first
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| first.strip_prefix(b"HTTP/1.0 "))
        .ok_or(ResponseError("status line"))?;
    let http10 = first.starts_with(b"HTTP/1.0");
    let code = rest.get(..3).ok_or(ResponseError("status code"))?;
    if !code.iter().all(u8::is_ascii_digit) || rest.get(3).is_some_and(|&b| b != b' ') {
        return Err(ResponseError("status code"));
    }
    let status = std::str::from_utf8(code)
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let reason = String::from_utf8_lossy(rest.get(4..).unwrap_or_default()).into_owned();
    let mut head = ResponseHead {
        status,
        reason,
        content_length: None,
        chunked: false,
        keep_alive_timeout: None,
        connection_close: http10,
    };
    for line in lines {
        let (name, value) = header(line).ok_or(ResponseError("header line"))?;
        if name.eq_ignore_ascii_case(b"content-length") {
            head.content_length = Some(parse_length(value).ok_or(ResponseError("Content-Length"))?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            head.chunked = has_token(value, "chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            if has_token(value, "close") {
                head.connection_close = true;
            } else if has_token(value, "keep-alive") {
                head.connection_close = false;
            }
        } else if name.eq_ignore_ascii_case(b"keep-alive") {
            head.keep_alive_timeout = value.split(|&b| b == b',').find_map(|p| {
                let v = p.trim_ascii().strip_prefix(b"timeout=")?;
                parse_length(v).map(Duration::from_secs)
            });
        }
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Result<Request, RequestError> {
        let head = s.as_bytes();
        assert_eq!(find_head_end(head), Some(head.len()), "test input {s:?}");
        parse_request(head)
    }

    #[test]
    fn good_requests_parse() {
        let r = req("GET /a/b%20c.txt?x=1 HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
        assert_eq!(
            (r.method, r.path.as_str(), r.keep_alive),
            (Method::Get, "/a/b c.txt", true)
        );
        let r = req("POST //x/./y HTTP/1.1\r\ncontent-length: 12\r\nExpect: 100-continue\r\n\r\n")
            .unwrap();
        assert_eq!(
            (r.path.as_str(), r.content_length, r.expect_continue),
            ("/x/y", Some(12), true)
        );
        let r = req("HEAD / HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(
            (r.method, r.path.as_str(), r.keep_alive),
            (Method::Head, "/", false)
        );
        let r = req("GET /f HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert!(r.keep_alive);
        let r = req("GET /f HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!r.keep_alive);
        let r = req("POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert!(r.transfer_encoding && r.content_length.is_none());
    }

    #[test]
    fn bad_requests_map_to_status_codes() {
        let table: &[(&str, u16)] = &[
            ("GARBAGE\r\n\r\n", 400),
            ("GET  /x HTTP/1.1\r\n\r\n", 400),
            ("GET /x HTTP/1.1 extra\r\n\r\n", 400),
            ("GET /x FTP/1.0\r\n\r\n", 400),
            ("GET /x HTTP/2.0\r\n\r\n", 505),
            ("GET http://evil.example/etc/passwd HTTP/1.1\r\n\r\n", 400),
            ("GET x HTTP/1.1\r\n\r\n", 400),
            ("GET * HTTP/1.1\r\n\r\n", 400),
            ("GET /a%00b HTTP/1.1\r\n\r\n", 400),
            ("GET /a%zz HTTP/1.1\r\n\r\n", 400),
            ("GET /a% HTTP/1.1\r\n\r\n", 400),
            ("GET /%ff%fe HTTP/1.1\r\n\r\n", 400),
            ("GET /../etc/passwd HTTP/1.1\r\n\r\n", 403),
            ("GET /%2e%2e/etc/passwd HTTP/1.1\r\n\r\n", 403),
            ("GET /a/%2E%2E%2f..%2fetc HTTP/1.1\r\n\r\n", 403),
            ("GET /a/..%2f HTTP/1.1\r\n\r\n", 403),
            ("PUT /x HTTP/1.1\r\n\r\n", 405),
            ("DELETE /x HTTP/1.1\r\n\r\n", 405),
            ("GET /x HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
            ("GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n", 400),
            ("GET /x HTTP/1.1\r\n folded: v\r\n\r\n", 400),
            ("POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
            ("POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            ("POST /x HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 400),
            (
                "POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
                400,
            ),
            (
                "POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
                400,
            ),
        ];
        for (input, status) in table {
            let err = req(input).expect_err(input);
            assert_eq!(err.status(), *status, "{input:?}: {err}");
        }
    }

    #[test]
    fn head_end_needs_the_blank_line() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
    }

    #[test]
    fn resuming_the_search_finds_the_same_end_wherever_it_resumes() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\r\n\r\n";
        let want = find_head_end(head);
        assert_eq!(want, Some(27));
        for arrived in 0..=head.len() {
            // What a reader has at some moment, and what it searched before.
            let buf = &head[..arrived];
            for scanned in 0..=arrived {
                if find_head_end(&buf[..scanned]).is_some() {
                    continue;
                }
                let got = find_head_end_from(buf, scanned);
                assert_eq!(
                    got,
                    find_head_end(buf),
                    "arrived {arrived}, scanned {scanned}"
                );
            }
        }
    }

    #[test]
    fn encode_then_decode_round_trips() {
        for p in ["/a b/c%d.txt", "/ünï/x", "/plain-file_1.bin"] {
            assert_eq!(decode_target(encode_path(p).as_bytes()).unwrap(), p);
        }
        assert_eq!(encode_path("rel"), "/rel");
    }

    #[test]
    fn idle_timeout_shrinks_with_load() {
        let (base, min) = (Duration::from_secs(30), Duration::from_secs(1));
        assert_eq!(idle_timeout(base, min, 0, 256), Duration::from_secs(30));
        assert_eq!(idle_timeout(base, min, 128, 256), Duration::from_secs(15));
        assert_eq!(idle_timeout(base, min, 256, 256), Duration::from_secs(1));
        assert_eq!(idle_timeout(base, min, 999, 256), Duration::from_secs(1));
        let sub = Duration::from_millis(100);
        assert_eq!(idle_timeout(sub, sub, 0, 4), Duration::from_secs(1));
    }

    #[test]
    fn responses_parse_with_and_without_keep_alive() {
        let mut out = Vec::new();
        write_response_head(&mut out, 200, 5, Some(Duration::from_secs(7)), "");
        let h = parse_response(&out).unwrap();
        assert_eq!((h.status, h.reason.as_str()), (200, "OK"));
        assert_eq!(h.content_length, Some(5));
        assert_eq!(h.keep_alive_timeout, Some(Duration::from_secs(7)));
        assert!(!h.connection_close);
        let nginx = b"HTTP/1.1 404 Not Found\r\nServer: nginx\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n";
        let h = parse_response(nginx).unwrap();
        assert!(h.chunked && h.keep_alive_timeout.is_none() && !h.connection_close);
        let h = parse_response(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
        assert!(h.connection_close && h.content_length.is_none());
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }
}
