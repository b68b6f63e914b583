//! An incremental HTTP/1.1 response parser for the non-blocking client: it
//! takes bytes as they arrive in any pieces, parses the head with
//! [`crate::tcp::protocol`], counts and drops the body (by length, chunked,
//! or up to end of stream) and keeps nothing but a partial line.

use crate::tcp::protocol::{self, ResponseError, ResponseHead};

/// The largest response head accepted, as the blocking client.
pub const MAX_HEAD: usize = 64 * 1024;

/// A complete response, as far as the load test cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub body_bytes: u64,
    /// The server closes the connection after this response.
    pub connection_close: bool,
}

/// Where the reader is in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Head,
    Body { left: u64 },
    ToEof,
    ChunkSize,
    ChunkData { left: u64 },
    ChunkEnd,
    Trailer,
}

/// What feeding bytes to a [`ResponseReader`] gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// All of these bytes were used, or the first `n` only because the rest
    /// is an incomplete line (keep them and feed them again with more).
    NeedMore { used: usize },
    /// The response is complete after the first `used` bytes.
    Done { used: usize, response: Response },
}

/// Parses one response incrementally, counting and dropping its body.
#[derive(Debug, Clone)]
pub struct ResponseReader {
    part: Part,
    head: Option<ResponseHead>,
    body: u64,
    /// The request was a HEAD (no body whatever the headers say).
    head_request: bool,
}

impl ResponseReader {
    pub fn new(head_request: bool) -> Self {
        ResponseReader {
            part: Part::Head,
            head: None,
            body: 0,
            head_request,
        }
    }

    /// Whether the response ends at end of stream (no length was given).
    pub fn ends_at_eof(&self) -> bool {
        self.part == Part::ToEof
    }

    /// The response, when it is delimited by end of stream and that came.
    pub fn finish_at_eof(&mut self) -> Option<Response> {
        self.ends_at_eof().then(|| self.response(true))
    }

    fn response(&mut self, close: bool) -> Response {
        let h = self.head.take().expect("a head was parsed");
        Response {
            status: h.status,
            reason: h.reason,
            body_bytes: self.body,
            connection_close: h.connection_close || close,
        }
    }

    /// Consumes what it can of `data`.
    pub fn feed(&mut self, data: &[u8]) -> Result<Feed, ResponseError> {
        let mut at = 0;
        loop {
            let rest = &data[at..];
            match self.part {
                Part::Head => {
                    let Some(n) = protocol::find_head_end(rest) else {
                        if rest.len() > MAX_HEAD {
                            return Err(ResponseError("response head larger than 64 KiB"));
                        }
                        return Ok(Feed::NeedMore { used: at });
                    };
                    let head = protocol::parse_response(&rest[..n])?;
                    at += n;
                    if (100..200).contains(&head.status) {
                        continue;
                    }
                    let no_body = self.head_request || head.status == 204 || head.status == 304;
                    self.part = if no_body {
                        Part::Body { left: 0 }
                    } else if head.chunked {
                        Part::ChunkSize
                    } else if let Some(n) = head.content_length {
                        Part::Body { left: n }
                    } else {
                        Part::ToEof
                    };
                    self.head = Some(head);
                }
                Part::Body { left } => {
                    let take = (rest.len() as u64).min(left);
                    at += take as usize;
                    self.body += take;
                    if take < left {
                        self.part = Part::Body { left: left - take };
                        return Ok(Feed::NeedMore { used: at });
                    }
                    return Ok(Feed::Done {
                        used: at,
                        response: self.response(false),
                    });
                }
                Part::ToEof => {
                    self.body += rest.len() as u64;
                    return Ok(Feed::NeedMore { used: data.len() });
                }
                Part::ChunkSize | Part::ChunkEnd | Part::Trailer => {
                    let Some(i) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() > MAX_HEAD {
                            return Err(ResponseError("chunk line too long"));
                        }
                        return Ok(Feed::NeedMore { used: at });
                    };
                    let line = &rest[..i];
                    at += i + 2;
                    match self.part {
                        Part::ChunkSize => {
                            let digits = line.split(|&c| c == b';').next().unwrap_or_default();
                            let size = std::str::from_utf8(digits.trim_ascii())
                                .ok()
                                .and_then(|s| u64::from_str_radix(s, 16).ok())
                                .ok_or(ResponseError("bad chunk size"))?;
                            self.part = if size == 0 {
                                Part::Trailer
                            } else {
                                Part::ChunkData { left: size }
                            };
                        }
                        Part::ChunkEnd if line.is_empty() => self.part = Part::ChunkSize,
                        Part::ChunkEnd => return Err(ResponseError("chunk not followed by CRLF")),
                        _ if line.is_empty() => {
                            return Ok(Feed::Done {
                                used: at,
                                response: self.response(false),
                            })
                        }
                        _ => {} // a trailer field
                    }
                }
                Part::ChunkData { left } => {
                    let take = (rest.len() as u64).min(left);
                    at += take as usize;
                    self.body += take;
                    if take < left {
                        self.part = Part::ChunkData { left: left - take };
                        return Ok(Feed::NeedMore { used: at });
                    }
                    self.part = Part::ChunkEnd;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(r: &mut ResponseReader, input: &[u8], piece: usize) -> Option<Response> {
        let mut pending = Vec::new();
        for chunk in input.chunks(piece) {
            pending.extend_from_slice(chunk);
            match r.feed(&pending).unwrap() {
                Feed::NeedMore { used } => {
                    pending.drain(..used);
                }
                Feed::Done { used, response } => {
                    assert_eq!(used, pending.len(), "no bytes after the response");
                    return Some(response);
                }
            }
        }
        None
    }

    #[test]
    fn content_length_responses_complete_in_any_pieces() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for piece in [1, 2, 7, input.len()] {
            let r = feed_all(&mut ResponseReader::new(false), input, piece).unwrap();
            assert_eq!(
                (r.status, r.body_bytes, r.connection_close),
                (200, 5, false)
            );
        }
        let short = &input[..input.len() - 1];
        assert_eq!(feed_all(&mut ResponseReader::new(false), short, 3), None);
    }

    #[test]
    fn chunked_bodies_are_counted_with_extensions_and_trailers() {
        let input = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n\
                      4;x=y\r\nabcd\r\n3\r\nefg\r\n0\r\nX-T: 1\r\n\r\n";
        for piece in [1, 5, input.len()] {
            let r = feed_all(&mut ResponseReader::new(false), input, piece).unwrap();
            assert_eq!((r.status, r.body_bytes), (404, 7));
        }
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(ResponseReader::new(false).feed(bad).is_err());
        let no_crlf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY\r\n";
        assert!(ResponseReader::new(false).feed(no_crlf).is_err());
    }

    #[test]
    fn interim_and_bodiless_responses() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let r = feed_all(&mut ResponseReader::new(false), input, 3).unwrap();
        assert_eq!((r.status, r.body_bytes), (204, 0));
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
        let r = feed_all(&mut ResponseReader::new(true), head, 4).unwrap();
        assert_eq!(r.body_bytes, 0);
    }

    #[test]
    fn a_response_without_length_ends_at_eof_and_closes() {
        let mut r = ResponseReader::new(false);
        let fed = r.feed(b"HTTP/1.0 200 OK\r\n\r\nabc").unwrap();
        assert_eq!(fed, Feed::NeedMore { used: 22 });
        assert!(r.ends_at_eof());
        let resp = r.finish_at_eof().unwrap();
        assert_eq!((resp.body_bytes, resp.connection_close), (3, true));
    }

    #[test]
    fn garbage_and_oversized_heads_are_protocol_errors() {
        assert!(ResponseReader::new(false)
            .feed(b"SSH-2.0-OpenSSH\r\n\r\n")
            .is_err());
        let huge = vec![b'a'; MAX_HEAD + 1];
        assert!(ResponseReader::new(false).feed(&huge).is_err());
    }
}
