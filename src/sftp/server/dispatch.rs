//! One decoded SFTP request in, one reply packet out: the request dispatch
//! that `russh_sftp::server::run` keeps private, made callable on its own.
//! The session [`pump`](super::pump) uses it for every packet, and a fuzzer
//! or a unit test can drive the whole request handling with it, without a
//! network or an SSH session.

use russh_sftp::protocol::{Packet, Status, StatusCode};
use russh_sftp::server::{Handler, StatusReply};

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
            reply(id, handler.$method($($req.$field),*).await)
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

fn reply<T: Into<Packet>, E: Into<StatusReply>>(id: u32, result: Result<T, E>) -> Packet {
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
