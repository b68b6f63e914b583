//! sftp-serve's request handling past russh-sftp's decoder: a sequence of
//! SFTP packets, each as it travels in the channel (`u32` length, type,
//! payload), run through `dispatch::handle_frame` against a real directory
//! with symlinks inside and out of it. The first input byte picks
//! read-only mode (odd) or not. A length longer than what is left takes the
//! rest, so that mutated lengths still reach the decoder.
//!
//! Oracles: no panic, in this thread or on the blocking pool (which the
//! handler would turn into an "internal error" status); every reply is one
//! well-formed reply packet; nothing outside the root is ever created,
//! changed or shown to the client; a read-only server changes nothing in
//! the root.

use crate::engine::Target;
use bytes::Bytes;
use russh_sftp::protocol::{
    Close, Extended, FileAttributes, Fstat, Init, Lstat, MkDir, Open, OpenDir, OpenFlags, Packet,
    Read, ReadDir, ReadLink, RealPath, Remove, Rename, RmDir, SetStat, Stat, Symlink, Write,
};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use xfer::sftp::server::dispatch::{handle_frame, standalone_handler};

/// Content of the file outside the root, which must never be shown.
const SECRET: &[u8] = b"SECRET-OUTSIDE-THE-ROOT";
/// Packets one input may hold (each costs blocking-pool hops).
const MAX_PACKETS: usize = 64;
/// SSH_FXP_VERSION, STATUS, HANDLE, DATA, NAME, ATTRS, EXTENDED_REPLY.
const REPLY_TYPES: &[u8] = &[2, 101, 102, 103, 104, 105, 201];

pub struct SftpRequests {
    rt: tokio::runtime::Runtime,
    root: PathBuf,
    outside: PathBuf,
    /// What the tree above the root, the root and outside look like at rest.
    pristine: Vec<String>,
    _dir: tempfile::TempDir,
}

/// The files the root starts with (restored after a run that changed it).
fn populate(root: &Path, outside: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::write(root.join("ok.txt"), "inside").unwrap();
    fs::write(root.join("sub/inner.txt"), "inner").unwrap();
    let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, root.join(name));
    link(outside, "escape").unwrap();
    link(&outside.join("secret"), "link.txt").unwrap();
    link(Path::new("ok.txt"), "rel").unwrap();
    link(Path::new("../.."), "up").unwrap();
    // As sftp-serve stores the links its clients make.
    link(&root.join("sub"), "abs-in").unwrap();
}

/// Every entry under `dir` (not following symlinks), with what identifies
/// its content: kind, size, mode, mtime and link target.
fn snapshot(dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let m = fs::symlink_metadata(&path).unwrap();
        let link = fs::read_link(&path).ok();
        out.push(format!(
            "{} {:o} {} {} {:?}",
            path.display(),
            m.mode(),
            m.len(),
            m.mtime_nsec() + m.mtime() * 1_000_000_000,
            link
        ));
        if m.is_dir() {
            snapshot(&path, out);
        }
    }
}

fn packet(p: Packet) -> Vec<u8> {
    Bytes::try_from(p).unwrap().to_vec()
}

fn ext_raw(id: u32, request: &str, data: Vec<u8>) -> Vec<u8> {
    packet(Packet::Extended(Extended {
        id,
        request: request.into(),
        data,
    }))
}

fn ext(id: u32, request: &str, data: impl serde::Serialize) -> Vec<u8> {
    ext_raw(
        id,
        request,
        russh_sftp::ser::to_bytes(&data).unwrap().to_vec(),
    )
}

fn attrs(permissions: Option<u32>, size: Option<u64>) -> FileAttributes {
    FileAttributes {
        permissions,
        size,
        ..FileAttributes::default()
    }
}

fn open(id: u32, path: &str, pflags: OpenFlags) -> Vec<u8> {
    packet(Packet::Open(Open {
        id,
        filename: path.into(),
        pflags,
        attrs: attrs(Some(0o600), None),
    }))
}

impl SftpRequests {
    pub fn new() -> Self {
        // tmpfs when there is one: the disk is shared.
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), SECRET).unwrap();
        populate(&root, &outside);
        let mut pristine = Vec::new();
        snapshot(dir.path(), &mut pristine);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Self {
            rt,
            root,
            outside,
            pristine,
            _dir: dir,
        }
    }

    /// Puts the root back as `populate` left it, and notes how it looks.
    fn restore(&mut self) {
        if fs::remove_dir_all(&self.root).is_err() {
            // A client removed its own write permission somewhere.
            let _ = std::process::Command::new("chmod")
                .args(["-R", "u+rwx"])
                .arg(&self.root)
                .status();
            fs::remove_dir_all(&self.root).unwrap();
        }
        populate(&self.root, &self.outside);
        self.pristine.clear();
        snapshot(self.outside.parent().unwrap(), &mut self.pristine);
    }
}

impl Target for SftpRequests {
    fn name(&self) -> &'static str {
        "sftp_serve_requests"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let rw = OpenFlags::READ | OpenFlags::WRITE | OpenFlags::CREATE;
        let write = |id, h: &str, offset, data: &[u8]| {
            packet(Packet::Write(Write {
                id,
                handle: h.into(),
                offset,
                data: data.to_vec(),
            }))
        };
        let read = |id, h: &str, offset, len| {
            packet(Packet::Read(Read {
                id,
                handle: h.into(),
                offset,
                len,
            }))
        };
        let close = |id, h: &str| {
            packet(Packet::Close(Close {
                id,
                handle: h.into(),
            }))
        };
        let path = |p: fn(u32, String) -> Packet, id, s: &str| packet(p(id, s.into()));
        let stat = |id, path| Packet::Stat(Stat { id, path });
        let lstat = |id, path| Packet::Lstat(Lstat { id, path });
        let opendir = |id, path| Packet::OpenDir(OpenDir { id, path });
        let realpath = |id, path| Packet::RealPath(RealPath { id, path });
        let readlink = |id, path| Packet::ReadLink(ReadLink { id, path });
        let remove = |id, filename| Packet::Remove(Remove { id, filename });
        let rmdir = |id, path| Packet::RmDir(RmDir { id, path });
        let readdir = |id, h: &str| {
            packet(Packet::ReadDir(ReadDir {
                id,
                handle: h.into(),
            }))
        };
        let init = packet(Packet::Init(Init::new()));
        let seqs: Vec<Vec<Vec<u8>>> = vec![
            vec![init.clone()],
            vec![
                init.clone(),
                open(1, "/new.bin", rw | OpenFlags::TRUNCATE),
                write(2, "1", 0, b"hello world"),
                write(3, "1", 1 << 20, b"far"),
                read(4, "1", 0, 64),
                packet(Packet::Fstat(Fstat {
                    id: 5,
                    handle: "1".into(),
                })),
                ext(
                    6,
                    "fsync@openssh.com",
                    russh_sftp::extensions::FsyncExtension { handle: "1".into() },
                ),
                close(7, "1"),
            ],
            vec![
                open(1, "ok.txt", OpenFlags::READ),
                read(2, "1", 0, 32768),
                read(3, "1", 6, 10),
                close(4, "1"),
            ],
            vec![
                open(1, "/link.txt", OpenFlags::READ),
                open(2, "/escape/secret", OpenFlags::READ),
                open(3, "/up/outside/secret", OpenFlags::READ),
                open(4, "/abs-in/inner.txt", OpenFlags::READ),
                read(5, "1", 0, 100),
            ],
            vec![
                path(stat, 1, "/sub"),
                path(lstat, 2, "/escape"),
                path(stat, 3, "/escape"),
                path(stat, 4, "/abs-in/deeper"),
            ],
            vec![
                path(opendir, 1, "/"),
                readdir(2, "1"),
                readdir(3, "1"),
                path(opendir, 4, "/abs-in"),
                readdir(5, "2"),
                close(6, "1"),
            ],
            vec![
                packet(Packet::Rename(Rename {
                    id: 1,
                    oldpath: "/ok.txt".into(),
                    newpath: "/sub/moved.txt".into(),
                })),
                ext(
                    2,
                    "posix-rename@openssh.com",
                    russh_sftp::extensions::HardlinkExtension {
                        oldpath: "/sub/moved.txt".into(),
                        newpath: "/escape/x".into(),
                    },
                ),
            ],
            vec![
                path(remove, 1, "/rel"),
                path(remove, 2, "/escape/secret"),
                packet(Packet::MkDir(MkDir {
                    id: 3,
                    path: "/sub/new".into(),
                    attrs: attrs(Some(0o755), None),
                })),
                path(rmdir, 4, "/sub/new"),
                path(rmdir, 5, "/"),
            ],
            vec![
                packet(Packet::Symlink(Symlink {
                    id: 1,
                    linkpath: "../../outside".into(),
                    targetpath: "/sub/l".into(),
                })),
                path(readlink, 2, "/sub/l"),
                path(readlink, 3, "/escape"),
                path(readlink, 4, "/up"),
                open(5, "/sub/l/secret", rw),
            ],
            vec![
                path(realpath, 1, "."),
                path(realpath, 2, "/sub/../abs-in/deeper/.."),
                path(realpath, 3, "/escape"),
                path(realpath, 4, "/not/yet"),
            ],
            vec![
                packet(Packet::SetStat(SetStat {
                    id: 1,
                    path: "/ok.txt".into(),
                    attrs: attrs(Some(0o640), Some(3)),
                })),
                packet(Packet::SetStat(SetStat {
                    id: 2,
                    path: "/link.txt".into(),
                    attrs: attrs(Some(0o777), Some(0)),
                })),
                ext_raw(3, "limits@openssh.com", Vec::new()),
                ext(
                    4,
                    "statvfs@openssh.com",
                    russh_sftp::extensions::StatvfsExtension { path: "/".into() },
                ),
            ],
        ];
        let mut seeds = Vec::new();
        for (i, seq) in seqs.into_iter().enumerate() {
            let mut input = vec![i as u8];
            input.extend(seq.concat());
            seeds.push(input);
        }
        seeds
    }

    fn dictionary(&self) -> &'static [&'static [u8]] {
        &[
            b"\x00\x00\x00\x01",
            b"\x00\x00\x00\x02",
            b"\xff\xff\xff\xff",
            b"\x00\x00\x00\x011",
            b"\x00\x00\x00\x012",
            b"\x00\x00\x00\x07/ok.txt",
            b"\x00\x00\x00\x07/escape",
            b"\x00\x00\x00\x09/link.txt",
            b"\x00\x00\x00\x03/up",
            b"\x00\x00\x00\x07/abs-in",
            b"\x00\x00\x00\x02..",
            b"\x00\x00\x00\x01/",
            b"../",
            b"/sub/",
            b"/escape/secret",
            b"posix-rename@openssh.com",
            b"statvfs@openssh.com",
            b"fsync@openssh.com",
            b"limits@openssh.com",
        ]
    }

    fn run(&mut self, input: &[u8]) {
        let Some((&mode, mut rest)) = input.split_first() else {
            return;
        };
        let read_only = mode & 1 == 1;
        let mut frames = Vec::new();
        while rest.len() >= 4 && frames.len() < MAX_PACKETS {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let len = len.min(rest.len() - 4);
            frames.push(&rest[4..4 + len]);
            rest = &rest[4 + len..];
        }
        let changes = frames.iter().any(|f| {
            // OPEN, WRITE, SETSTAT, FSETSTAT, REMOVE, MKDIR, RMDIR, RENAME,
            // SYMLINK, EXTENDED.
            matches!(
                f.first(),
                Some(3 | 6 | 9 | 10 | 13 | 14 | 15 | 18 | 20 | 200)
            )
        });
        let root = self.root.clone();
        let replies = self.rt.block_on(async move {
            let mut handler = standalone_handler(&root, read_only).unwrap();
            let mut replies = Vec::with_capacity(frames.len());
            for frame in frames {
                replies.push(handle_frame(&mut handler, frame).await);
            }
            replies
        });
        for reply in &replies {
            assert!(reply.len() >= 5, "short reply {reply:?}");
            let len = u32::from_be_bytes(reply[..4].try_into().unwrap()) as usize;
            assert_eq!(len, reply.len() - 4, "reply length prefix");
            assert!(REPLY_TYPES.contains(&reply[4]), "reply type {}", reply[4]);
            let text = String::from_utf8_lossy(reply);
            assert!(!text.contains("internal error"), "{text}");
            assert!(
                !reply.windows(SECRET.len()).any(|w| w == SECRET),
                "a file outside the root was shown"
            );
            let host = self.outside.parent().unwrap().to_string_lossy();
            assert!(!text.contains(&*host), "a host path was shown: {text}");
        }
        if !changes {
            return;
        }
        let mut now = Vec::new();
        snapshot(self.outside.parent().unwrap(), &mut now);
        let outside = self.outside.to_string_lossy().into_owned();
        let differs = |a: &Vec<String>, b: &Vec<String>, keep: &dyn Fn(&String) -> bool| {
            a.iter()
                .filter(|l| keep(l))
                .ne(b.iter().filter(|l| keep(l)))
        };
        let is_outside = |l: &String| !l.starts_with(&*self.root.to_string_lossy());
        assert!(
            !differs(&self.pristine, &now, &is_outside),
            "something outside the root changed: {:?}",
            now.iter()
                .filter(|l| l.starts_with(&outside))
                .collect::<Vec<_>>()
        );
        if read_only {
            assert!(
                !differs(&self.pristine, &now, &|_| true),
                "a read-only server changed the root"
            );
        }
        if differs(&self.pristine, &now, &|_| true) {
            self.restore();
        }
    }
}
