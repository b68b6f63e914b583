//! tcp-serve's connection state machine (`server::Service::serve`: heads,
//! pipelining, bodies, timeouts, GET/HEAD/POST against a real directory)
//! over a scripted stream. Oracles: no panic; everything the server wrote
//! is a sequence of well-formed responses with statuses it is meant to
//! send; nothing from outside the root is ever served; no upload temporary
//! file is left behind; nothing outside the root changes.

use super::script::{Script, TIMEOUT};
use crate::engine::Target;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use xfer::tcp::protocol::{find_head_end, parse_response};
use xfer::tcp::server::{Service, TcpServeConfig, Transport};

/// Content of the file outside the root, which must never be served.
const SECRET: &[u8] = b"SECRET-OUTSIDE-THE-ROOT";
const STATUSES: &[u16] = &[
    100, 200, 201, 400, 403, 404, 405, 408, 409, 411, 413, 431, 500, 505, 507,
];

impl Transport for &mut Script<'_> {
    fn set_read_timeout(&mut self, _: Duration) -> std::io::Result<()> {
        Ok(())
    }

    fn shutdown_write(&mut self) {
        self.write_closed = true;
    }
}

pub struct ServeConnection {
    service: Service,
    root: PathBuf,
    outside: PathBuf,
    _dir: tempfile::TempDir,
}

/// The files the root starts with (restored after a run that uploaded).
fn populate(root: &Path, outside: &Path) {
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::write(root.join("ok.txt"), "inside").unwrap();
    fs::write(root.join("big.bin"), vec![b'b'; 20_000]).unwrap();
    fs::write(root.join("sub/inner.txt"), "inner").unwrap();
    let _ = std::os::unix::fs::symlink(outside, root.join("escape"));
    let _ = std::os::unix::fs::symlink(outside.join("secret"), root.join("link.txt"));
    let _ = std::os::unix::fs::symlink("ok.txt", root.join("rel-link.txt"));
}

impl ServeConnection {
    pub fn new() -> Self {
        // tmpfs when there is one: uploads fsync, and the disk is shared.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let root = dir.path().join("root");
        let outside = dir.path().join("root2");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), SECRET).unwrap();
        populate(&root, &outside);
        let service = Service::new(TcpServeConfig {
            root: root.clone(),
            max_connections: 4,
            max_upload: 64 * 1024,
            ..TcpServeConfig::default()
        })
        .unwrap();
        Self {
            service,
            root,
            outside,
            _dir: dir,
        }
    }

    /// Puts the root back as `populate` left it.
    fn restore(&self) {
        for dir in [self.root.clone(), self.root.join("sub")] {
            for entry in fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let keep = [
                    "ok.txt",
                    "big.bin",
                    "sub",
                    "escape",
                    "link.txt",
                    "rel-link.txt",
                    "inner.txt",
                ];
                let name = entry.file_name();
                if !keep.iter().any(|k| name == *k) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        populate(&self.root, &self.outside);
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.starts_with(".xfer-upload.").then_some(name)
        })
        .collect()
}

/// Checks that `out` is a sequence of well-formed responses. A response to
/// HEAD has a Content-Length but no body: the next response follows its head.
fn check_responses(out: &[u8], complete: bool) -> usize {
    let mut pos = 0;
    let mut created = 0;
    while pos < out.len() {
        let rest = &out[pos..];
        let Some(n) = find_head_end(rest) else {
            assert!(
                !complete,
                "unterminated response head: {:?}",
                String::from_utf8_lossy(rest)
            );
            break;
        };
        let head = parse_response(&rest[..n])
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&rest[..n])));
        assert!(STATUSES.contains(&head.status), "status {}", head.status);
        pos += n;
        if head.status == 100 {
            continue;
        }
        if head.status == 201 {
            created += 1;
        }
        let len = head
            .content_length
            .expect("every response has a Content-Length") as usize;
        let at_boundary = |p: usize| p == out.len() || out[p..].starts_with(b"HTTP/1.1 ");
        if len > 0 && pos + len <= out.len() && at_boundary(pos + len) {
            pos += len;
        } else if at_boundary(pos) {
            // A HEAD response: no body.
        } else {
            assert!(
                !complete,
                "body of {len} bytes does not fit: {} left",
                out.len() - pos
            );
            break;
        }
    }
    created
}

impl Target for ServeConnection {
    fn name(&self) -> &'static str {
        "tcp_serve_connection"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        [
            &b"\x00GET /ok.txt HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"\x01GET /big.bin HTTP/1.1\r\n\r\nHEAD /sub/inner.txt HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n",
            b"\x02POST /sub/new.txt HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /sub/new.txt HTTP/1.1\r\n\r\n",
            b"\x03POST /up.bin HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n01234\xff\xfeT56789",
            b"\x04GET /ok.txt HTTP/1.1\r\nX-Slow: a\xff\xfeTbc\r\n\r\n",
            b"\x05\xff\xfeTGET /rel-link.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"\x00GET /escape/secret HTTP/1.1\r\n\r\nGET /link.txt HTTP/1.1\r\n\r\n",
            b"\x06GET /ok.txt HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"\x07POST /ok.txt HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"\x00POST /x HTTP/1.1\r\nContent-Length: 999999\r\n\r\n",
            b"\x08GET /ok.txt HTTP/1.1\r\nConnection: close\r\n\r\nGET /ok.txt HTTP/1.1\r\n\r\n",
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect()
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"\r\n",
            b"\r\n\r\n",
            b"GET ",
            b"HEAD ",
            b"POST ",
            b" HTTP/1.1\r\n",
            b" HTTP/1.0\r\n",
            b"/ok.txt",
            b"/big.bin",
            b"/sub/",
            b"/escape/secret",
            b"/link.txt",
            b"/sub/inner.txt",
            b"/.xfer-upload.0.tmp",
            b"Content-Length: ",
            b"Transfer-Encoding: chunked",
            b"Connection: close",
            b"Connection: keep-alive",
            b"Expect: 100-continue",
            b"%2e%2e",
            b"/..",
            TIMEOUT,
        ]
    }

    fn run(&mut self, input: &[u8]) {
        let mut script = Script::new(input);
        let _ = self.service.serve(&mut script);
        let out = std::mem::take(&mut script.out);
        let complete = !script.out_full();
        assert!(
            !out.windows(SECRET.len()).any(|w| w == SECRET),
            "served a file from outside the root"
        );
        let created = check_responses(&out, complete);
        for dir in [self.root.clone(), self.root.join("sub")] {
            assert_eq!(
                temp_files(&dir),
                Vec::<String>::new(),
                "temporary file left"
            );
        }
        let outside: Vec<_> = fs::read_dir(&self.outside).unwrap().collect();
        assert_eq!(outside.len(), 1, "something was written outside the root");
        if created > 0 {
            self.restore();
        }
    }
}
