//! One decoded SFTP request in, one reply packet out: the request dispatch
//! that `russh_sftp::server::run` keeps private, made callable on its own.
//! The session [`pump`](super::pump) uses it for every packet, and a fuzzer
//! or a unit test can drive the whole request handling with it, without a
//! network or an SSH session ([`standalone_handler`], [`handle_frame`]).

use super::files::SftpHandler;
use super::record::SessionRecord;
use super::{confine, hostkey, session, ServerShared, SftpServeConfig, SftpServeError};
use bytes::Bytes;
use russh_sftp::protocol::{Packet, Status, StatusCode};
use russh_sftp::server::{Handler, StatusReply};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Arc;

/// An SFTP handler serving `root` as `/`, as one session of a real server
/// would, but with no network, no SSH and no server around it: for a
/// fuzzer or a test to drive with [`handle_packet`] or [`handle_frame`].
/// File I/O goes through tokio's blocking pool, so call it inside a tokio
/// runtime (a current-thread one is enough).
pub fn standalone_handler(root: &Path, read_only: bool) -> Result<SftpHandler, SftpServeError> {
    let config = SftpServeConfig {
        root: root.to_path_buf(),
        read_only,
        password: Some(String::new()),
        log_sessions: false,
        ..SftpServeConfig::default()
    };
    let jail = confine::Jail::new(root).map_err(|source| SftpServeError::Root {
        path: root.to_path_buf(),
        source,
    })?;
    let shared = Arc::new(ServerShared {
        russh: Arc::new(session::russh_config(&config, hostkey::generate())),
        session_cap: None,
        config,
        jail,
        translog: None,
        active: AtomicUsize::new(0),
        next_session: AtomicU64::new(1),
        stopping: AtomicBool::new(false),
    });
    // Nobody waits for this session to end.
    let (alive, _) = tokio::sync::mpsc::channel(1);
    let record = SessionRecord::new(0, ([127, 0, 0, 1], 0).into(), shared, alive, false);
    Ok(SftpHandler::new(Arc::new(record)))
}

/// One SFTP packet as it travels inside the channel, without its length
/// prefix (type byte, then payload), in; the reply, with its length prefix,
/// out. Bytes that do not decode get a `BAD_MESSAGE` status, as in a
/// session.
pub async fn handle_frame(handler: &mut SftpHandler, frame: &[u8]) -> Vec<u8> {
    let mut bytes = Bytes::copy_from_slice(frame);
    let reply = match Packet::try_from(&mut bytes) {
        Ok(request) => handle_packet(handler, request).await,
        Err(_) => Packet::error(0, StatusCode::BadMessage),
    };
    Bytes::try_from(reply)
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

/// Runs `request` against `handler` and returns the reply to send: the
/// handler's answer, or an `SSH_FXP_STATUS` carrying its error. Packets
/// that are not requests (a client sending `DATA`, say) get `BAD_MESSAGE`.
pub async fn handle_packet<H>(handler: &mut H, request: Packet) -> Packet
where
    H: Handler + Send,
{
    let id = request.get_request_id();
    macro_rules! call {
        ($method:ident, $req:ident; $($field:ident),*) => {
            reply_packet(id, handler.$method($($req.$field),*).await)
        };
    }
    match request {
        Packet::Init(r) => call!(init, r; version, extensions),
        Packet::Open(r) => call!(open, r; id, filename, pflags, attrs),
        Packet::Close(r) => call!(close, r; id, handle),
        Packet::Read(r) => call!(read, r; id, handle, offset, len),
        Packet::Write(r) => call!(write, r; id, handle, offset, data),
        Packet::Lstat(r) => call!(lstat, r; id, path),
        Packet::Fstat(r) => call!(fstat, r; id, handle),
        Packet::SetStat(r) => call!(setstat, r; id, path, attrs),
        Packet::FSetStat(r) => call!(fsetstat, r; id, handle, attrs),
        Packet::OpenDir(r) => call!(opendir, r; id, path),
        Packet::ReadDir(r) => call!(readdir, r; id, handle),
        Packet::Remove(r) => call!(remove, r; id, filename),
        Packet::MkDir(r) => call!(mkdir, r; id, path, attrs),
        Packet::RmDir(r) => call!(rmdir, r; id, path),
        Packet::RealPath(r) => call!(realpath, r; id, path),
        Packet::Stat(r) => call!(stat, r; id, path),
        Packet::Rename(r) => call!(rename, r; id, oldpath, newpath),
        Packet::ReadLink(r) => call!(readlink, r; id, path),
        Packet::Symlink(r) => call!(symlink, r; id, linkpath, targetpath),
        Packet::Extended(r) => call!(extended, r; id, request, data),
        _ => Packet::error(0, StatusCode::BadMessage),
    }
}

/// The reply packet for a handler's answer to request `id`: the answer, or
/// an `SSH_FXP_STATUS` carrying its error.
pub(super) fn reply_packet<T: Into<Packet>, E: Into<StatusReply>>(
    id: u32,
    result: Result<T, E>,
) -> Packet {
    match result {
        Ok(packet) => packet.into(),
        Err(e) => {
            let StatusReply {
                status_code,
                error_message,
                language_tag,
            } = e.into();
            Packet::Status(Status {
                id,
                status_code,
                error_message: error_message.unwrap_or_else(|| status_code.to_string()),
                language_tag: language_tag.unwrap_or_else(|| "en-US".to_string()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh_sftp::protocol::{Close, FileAttributes, Init, Open, OpenFlags, Read, Write};

    #[test]
    fn a_standalone_handler_writes_and_reads_inside_its_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut h = standalone_handler(dir.path(), false).unwrap();
            let v = handle_packet(&mut h, Packet::Init(Init::new())).await;
            assert!(matches!(v, Packet::Version(_)), "{v:?}");
            let open = Open {
                id: 1,
                filename: "/../../f.bin".into(),
                pflags: OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::READ,
                attrs: FileAttributes::default(),
            };
            let Packet::Handle(handle) = handle_packet(&mut h, Packet::Open(open)).await else {
                panic!("open failed");
            };
            let write = Write {
                id: 2,
                handle: handle.handle.clone(),
                offset: 0,
                data: b"hello".to_vec(),
            };
            let w = handle_packet(&mut h, Packet::Write(write)).await;
            assert!(
                matches!(w, Packet::Status(ref s) if s.status_code == StatusCode::Ok),
                "{w:?}"
            );
            let read = Read {
                id: 3,
                handle: handle.handle.clone(),
                offset: 0,
                len: 100,
            };
            match handle_packet(&mut h, Packet::Read(read)).await {
                Packet::Data(d) => assert_eq!(d.data, b"hello"),
                other => panic!("{other:?}"),
            }
            let close = Close {
                id: 4,
                handle: handle.handle,
            };
            handle_packet(&mut h, Packet::Close(close)).await;
            // `..` above the root stays at the root.
            assert_eq!(std::fs::read(dir.path().join("f.bin")).unwrap(), b"hello");
            // Garbage gets a BAD_MESSAGE status, not a panic.
            let reply = handle_frame(&mut h, &[0xff, 1, 2, 3]).await;
            assert_eq!(reply[4], 101, "SSH_FXP_STATUS");
            let reply = handle_frame(&mut h, &[]).await;
            assert_eq!(reply[4], 101, "SSH_FXP_STATUS");
        });
    }
}
