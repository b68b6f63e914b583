//! The SFTP v3 operations as OpenSSH's `sftp` uses them, on top of
//! [`confine`](super::confine): every path is resolved beneath the root's
//! descriptor and the operation runs on the last name with a `*at` syscall
//! that does not follow it, so no path and no race leads outside. File I/O runs on tokio's blocking pool (one hop per
//! request: resolve and act together); open files stay open in a per-session
//! handle table, so sequential writes use positional I/O on the same
//! descriptor instead of reopening.
//!
//! It runs past 500 lines because it is one trait impl with one method per
//! SFTP request; what is not request handling lives elsewhere: attributes
//! in [`attrs`](super::attrs), paths in [`confine`](super::confine), framing
//! and dispatch in [`pump`](super::pump) and [`dispatch`](super::dispatch).

use super::attrs::{apply_attrs, apply_attrs_to_file, attrs_of, longname, statvfs};
use super::confine::{link_target, normalize, ConfineError, VirtualPath};
use super::record::SessionRecord;
use crate::confine::{fd_path, At, DirStream};
use russh_sftp::protocol::{
    Attrs, Data, ExtendedReply, File, FileAttributes, Handle, Name, OpenFlags, Packet, Status,
    StatusCode, Version,
};
use russh_sftp::server::StatusReply;
use std::collections::HashMap;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Largest SFTP packet accepted from a client.
pub const MAX_CLIENT_PACKET: u32 = 256 * 1024 + 1024;
/// Largest read or write payload advertised via limits@openssh.com (what
/// OpenSSH's own sftp-server advertises; its client then uses it as the
/// request size instead of 32 KiB).
pub const MAX_IO_LEN: u32 = 256 * 1024 - 1024;
/// Open handles per session.
pub const MAX_HANDLES: usize = 1024;
/// Directory entries per READDIR reply.
const READDIR_BATCH: usize = 128;

type Reply = StatusReply;

enum HandleState {
    File {
        file: Arc<std::fs::File>,
        path: Arc<str>,
    },
    Dir {
        /// `None` once the listing has ended.
        entries: Option<DirStream>,
    },
}

/// The russh-sftp handler of one session.
pub struct SftpHandler {
    record: Arc<SessionRecord>,
    handles: HashMap<String, HandleState>,
    next_handle: u64,
}

pub(super) fn io_reply(e: io::Error) -> Reply {
    match e.kind() {
        io::ErrorKind::NotFound => StatusCode::NoSuchFile.with_message("No such file"),
        io::ErrorKind::PermissionDenied => {
            StatusCode::PermissionDenied.with_message("Permission denied")
        }
        _ => StatusCode::Failure.with_message(e.to_string()),
    }
}

fn confine_reply(e: ConfineError) -> Reply {
    match e {
        ConfineError::Escapes => StatusCode::PermissionDenied.with_message(e.to_string()),
        ConfineError::Invalid => StatusCode::Failure.with_message(e.to_string()),
        ConfineError::Io(io) => io_reply(io),
    }
}

/// open(2) flags for SFTP `pflags`, with the rules of the
/// `std::fs::OpenOptions` that russh-sftp maps them to: read when nothing
/// is asked, and creating or truncating needs write access.
fn open_flags(p: OpenFlags) -> io::Result<i32> {
    let write = p.intersects(OpenFlags::WRITE | OpenFlags::APPEND);
    let mut flags = match (p.contains(OpenFlags::READ) || !write, write) {
        (true, false) => libc::O_RDONLY,
        (false, true) => libc::O_WRONLY,
        _ => libc::O_RDWR,
    };
    if p.contains(OpenFlags::APPEND) {
        flags |= libc::O_APPEND;
    }
    if p.contains(OpenFlags::CREATE) {
        flags |= libc::O_CREAT;
        if p.contains(OpenFlags::EXCLUDE) {
            flags |= libc::O_EXCL;
        }
    }
    if p.contains(OpenFlags::TRUNCATE) {
        flags |= libc::O_TRUNC;
    }
    let creates_or_truncates = flags & (libc::O_CREAT | libc::O_TRUNC) != 0;
    let truncates_append =
        flags & libc::O_TRUNC != 0 && flags & libc::O_APPEND != 0 && flags & libc::O_EXCL == 0;
    if (!write && creates_or_truncates) || truncates_append {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "creating or truncating needs write access, and not append",
        ));
    }
    Ok(flags)
}

/// The entry itself, through an `O_PATH` descriptor, refused with `ELOOP`
/// when it is a symlink (one swapped in after the resolution), so that
/// [`Jail::followed`](super::confine::Jail::followed) resolves again.
fn not_a_link(at: &At) -> io::Result<std::fs::File> {
    let f = at.open_path()?;
    if f.metadata()?.file_type().is_symlink() {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    Ok(f)
}

fn read_only_reply() -> Reply {
    StatusCode::PermissionDenied.with_message("read-only server")
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".to_string(),
        language_tag: "en-US".to_string(),
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Reply> + Send + 'static,
) -> Result<T, Reply> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StatusCode::Failure.with_message(format!("internal error: {e}"))))
}

impl SftpHandler {
    pub(crate) fn new(record: Arc<SessionRecord>) -> SftpHandler {
        SftpHandler {
            record,
            handles: HashMap::new(),
            next_handle: 1,
        }
    }

    pub(super) fn record(&self) -> &SessionRecord {
        &self.record
    }

    fn jail(&self) -> super::confine::Jail {
        self.record_shared().jail.clone()
    }

    fn record_shared(&self) -> &super::ServerShared {
        self.record.shared()
    }

    fn read_only(&self) -> bool {
        self.record_shared().config.read_only
    }

    fn add_handle(&mut self, state: HandleState) -> Result<String, Reply> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(StatusCode::Failure.with_message("too many open handles"));
        }
        let h = self.next_handle.to_string();
        self.next_handle += 1;
        self.handles.insert(h.clone(), state);
        Ok(h)
    }

    pub(super) fn file(&self, handle: &str) -> Result<(Arc<std::fs::File>, Arc<str>), Reply> {
        match self.handles.get(handle) {
            Some(HandleState::File { file, path }) => Ok((file.clone(), path.clone())),
            _ => Err(StatusCode::Failure.with_message("invalid handle")),
        }
    }

    fn path(client: &str) -> Result<VirtualPath, Reply> {
        normalize(client).map_err(confine_reply)
    }

    async fn rename_impl(
        &self,
        id: u32,
        from: String,
        to: String,
        posix: bool,
    ) -> Result<Status, Reply> {
        if self.read_only() {
            return Err(read_only_reply());
        }
        let (from, to) = (Self::path(&from)?, Self::path(&to)?);
        if from.is_root() || to.is_root() {
            return Err(StatusCode::PermissionDenied.with_message("cannot rename the root"));
        }
        let jail = self.jail();
        blocking(move || {
            let src = jail.at(&from, false).map_err(confine_reply)?;
            let dst = jail.at(&to, false).map_err(confine_reply)?;
            // SFTP v3 rename never replaces; posix-rename@openssh.com does.
            src.rename_to(&dst, !posix).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => StatusCode::Failure.with_message("target exists"),
                _ => io_reply(e),
            })
        })
        .await?;
        Ok(ok(id))
    }

    async fn statvfs(&self, id: u32, data: Vec<u8>) -> Result<Packet, Reply> {
        let req: russh_sftp::extensions::StatvfsExtension =
            russh_sftp::de::from_bytes(&mut data.into()).map_err(|_| StatusCode::BadMessage)?;
        let path = Self::path(&req.path)?;
        let jail = self.jail();
        let st = blocking(move || {
            jail.followed(&path, |at| statvfs(&fd_path(&not_a_link(at)?)))
                .map_err(confine_reply)
        })
        .await?;
        let bytes = russh_sftp::ser::to_bytes(&st).map_err(|_| StatusCode::Failure)?;
        Ok(Packet::ExtendedReply(ExtendedReply {
            id,
            data: bytes.to_vec(),
        }))
    }
}

impl russh_sftp::server::Handler for SftpHandler {
    type Error = Reply;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported.with_message("operation not supported")
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        let mut v = Version::new();
        for (name, version) in [
            ("posix-rename@openssh.com", "1"),
            ("statvfs@openssh.com", "2"),
            ("fsync@openssh.com", "1"),
            ("limits@openssh.com", "1"),
        ] {
            v.extensions.insert(name.to_string(), version.to_string());
        }
        Ok(v)
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        if self.record_shared().stopping.load(Ordering::SeqCst) {
            return Err(StatusCode::Failure.with_message("server shutting down"));
        }
        let writes = OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE;
        if self.read_only() && pflags.intersects(writes) {
            return Err(read_only_reply());
        }
        let path = Self::path(&filename)?;
        let jail = self.jail();
        let flags = open_flags(pflags).map_err(io_reply)?;
        let mode = attrs.permissions.map_or(0o644, |p| p & 0o777);
        let file = blocking(move || {
            let f = jail
                .followed(&path, |at| at.open(flags, mode))
                .map_err(confine_reply)?;
            if f.metadata().map_err(io_reply)?.is_dir() {
                return Err(StatusCode::Failure.with_message("is a directory"));
            }
            Ok(f)
        })
        .await?;
        let handle = self.add_handle(HandleState::File {
            file: Arc::new(file),
            path: normalize(&filename)
                .map(|p| p.display())
                .unwrap_or_default()
                .into(),
        })?;
        self.record.open_files.fetch_add(1, Ordering::SeqCst);
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(state) => {
                let was_file = matches!(state, HandleState::File { .. });
                // close(2) on a regular file is quick, but it is still a syscall.
                let closed = blocking(move || {
                    drop(state);
                    Ok(())
                })
                .await;
                if was_file && self.record.open_files.fetch_sub(1, Ordering::SeqCst) == 1 {
                    self.record.files_closed.notify_one();
                }
                closed.map(|()| ok(id))
            }
            None => Err(StatusCode::Failure.with_message("invalid handle")),
        }
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let (file, _) = self.file(&handle)?;
        let len = len.min(MAX_IO_LEN) as usize;
        // Sessions take the batched path in `reads`; this one serves
        // `dispatch::handle_packet` (fuzzing, tests).
        let data = blocking(move || {
            let mut buf = Vec::new();
            super::reads::pread_append(&file, &mut buf, offset, len).map_err(io_reply)?;
            Ok(buf)
        })
        .await?;
        if data.is_empty() && len > 0 {
            return Err(StatusCode::Eof.with_message("End of file"));
        }
        self.record
            .bytes_read
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        if self.read_only() {
            return Err(read_only_reply());
        }
        let (file, path) = self.file(&handle)?;
        let len = data.len();
        if let Some(log) = &self.record_shared().translog {
            log.record(self.record.id, &path, offset, len);
        }
        blocking(move || file.write_all_at(&data, offset).map_err(io_reply)).await?;
        self.record
            .bytes_written
            .fetch_add(len as u64, Ordering::Relaxed);
        Ok(ok(id))
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let path = Self::path(&path)?;
        let jail = self.jail();
        let attrs = blocking(move || {
            let at = jail.at(&path, false).map_err(confine_reply)?;
            at.symlink_metadata()
                .map(|m| attrs_of(&m))
                .map_err(io_reply)
        })
        .await?;
        Ok(Attrs { id, attrs })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let path = Self::path(&path)?;
        let jail = self.jail();
        let attrs = blocking(move || {
            jail.followed(&path, |at| not_a_link(at)?.metadata())
                .map(|m| attrs_of(&m))
                .map_err(confine_reply)
        })
        .await?;
        Ok(Attrs { id, attrs })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let (file, _) = self.file(&handle)?;
        let attrs =
            blocking(move || file.metadata().map(|m| attrs_of(&m)).map_err(io_reply)).await?;
        Ok(Attrs { id, attrs })
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        if self.read_only() {
            return Err(read_only_reply());
        }
        let path = Self::path(&path)?;
        let jail = self.jail();
        blocking(move || {
            jail.followed(&path, |at| apply_attrs(&fd_path(&not_a_link(at)?), &attrs))
                .map_err(confine_reply)
        })
        .await?;
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        if self.read_only() {
            return Err(read_only_reply());
        }
        let (file, _) = self.file(&handle)?;
        blocking(move || apply_attrs_to_file(&file, &attrs).map_err(io_reply)).await?;
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let path = Self::path(&path)?;
        let jail = self.jail();
        let entries = blocking(move || {
            let dir = jail
                .followed(&path, |at| at.open(libc::O_RDONLY | libc::O_DIRECTORY, 0))
                .map_err(confine_reply)?;
            DirStream::new(dir).map_err(io_reply)
        })
        .await?;
        let handle = self.add_handle(HandleState::Dir {
            entries: Some(entries),
        })?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        let entries = match self.handles.get_mut(&handle) {
            Some(HandleState::Dir { entries }) => entries.take(),
            _ => return Err(StatusCode::Failure.with_message("invalid handle")),
        };
        let Some(mut entries) = entries else {
            return Err(StatusCode::Eof.with_message("End of directory"));
        };
        let (files, entries) = blocking(move || {
            let now = chrono::Utc::now().timestamp();
            let mut files = Vec::new();
            let mut more = true;
            while files.len() < READDIR_BATCH {
                match entries.next_name() {
                    None => {
                        more = false;
                        break;
                    }
                    Some(Err(e)) => return Err(io_reply(e)),
                    Some(Ok(entry)) => {
                        // Gone since the listing started: skip it.
                        let Ok(m) = entries.entry_metadata(&entry) else {
                            continue;
                        };
                        let name = entry.to_string_lossy().into_owned();
                        files.push(File {
                            longname: longname(&name, &m, now),
                            filename: name,
                            attrs: attrs_of(&m),
                        });
                    }
                }
            }
            Ok((files, more.then_some(entries)))
        })
        .await?;
        if let Some(HandleState::Dir { entries: slot, .. }) = self.handles.get_mut(&handle) {
            *slot = entries;
        }
        if files.is_empty() {
            return Err(StatusCode::Eof.with_message("End of directory"));
        }
        Ok(Name { id, files })
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        if self.read_only() {
            return Err(read_only_reply());
        }
        let path = Self::path(&filename)?;
        let jail = self.jail();
        blocking(move || {
            let at = jail.at(&path, false).map_err(confine_reply)?;
            at.remove_file().map_err(io_reply)
        })
        .await?;
        Ok(ok(id))
    }

    async fn mkdir(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        if self.read_only() {
            return Err(read_only_reply());
        }
        let path = Self::path(&path)?;
        let jail = self.jail();
        blocking(move || {
            let at = jail.at(&path, false).map_err(confine_reply)?;
            at.mkdir(attrs.permissions.map_or(0o755, |p| p & 0o7777))
                .map_err(io_reply)
        })
        .await?;
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        if self.read_only() {
            return Err(read_only_reply());
        }
        let path = Self::path(&path)?;
        if path.is_root() {
            return Err(StatusCode::PermissionDenied.with_message("cannot remove the root"));
        }
        let jail = self.jail();
        blocking(move || {
            let at = jail.at(&path, false).map_err(confine_reply)?;
            at.remove_dir().map_err(io_reply)
        })
        .await?;
        Ok(ok(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let path = Self::path(&path)?;
        let jail = self.jail();
        let shown = blocking(move || {
            let real = jail.followed(&path, |at| std::fs::read_link(fd_path(&not_a_link(at)?)));
            match real {
                Ok(real) => jail.virtual_of(&real).map_err(confine_reply),
                // Not there yet (a put target): the lexical path is the answer.
                Err(ConfineError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(path),
                Err(e) => Err(confine_reply(e)),
            }
        })
        .await?;
        Ok(Name {
            id,
            files: vec![File::dummy(shown.display())],
        })
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Self::Error> {
        self.rename_impl(id, oldpath, newpath, false).await
    }

    async fn readlink(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let path = Self::path(&path)?;
        let jail = self.jail();
        let target = blocking(move || {
            let at = jail.at(&path, false).map_err(confine_reply)?;
            let target = at.read_link().map_err(io_reply)?;
            super::confine::shown_link_target(jail.root(), &path, &target).ok_or_else(|| {
                StatusCode::PermissionDenied.with_message("the link leads outside the root")
            })
        })
        .await?;
        Ok(Name {
            id,
            files: vec![File::dummy(target)],
        })
    }

    /// OpenSSH sends the two paths swapped relative to the draft: the first
    /// is the link's target, the second the link to create. Follow OpenSSH.
    async fn symlink(
        &mut self,
        id: u32,
        linkpath: String,
        targetpath: String,
    ) -> Result<Status, Self::Error> {
        if self.read_only() {
            return Err(read_only_reply());
        }
        let (target, link) = (linkpath, targetpath);
        let link = Self::path(&link)?;
        let jail = self.jail();
        blocking(move || {
            let at = jail.at(&link, false).map_err(confine_reply)?;
            // Stored as an absolute path inside the root, relative targets
            // included: see `confine::link_target` for the race this closes.
            let virtual_target = link_target(&link, &target).map_err(confine_reply)?;
            let mut stored = jail.root().to_path_buf();
            stored.extend(virtual_target.components());
            at.symlink(&stored).map_err(io_reply)
        })
        .await?;
        Ok(ok(id))
    }

    async fn extended(
        &mut self,
        id: u32,
        request: String,
        data: Vec<u8>,
    ) -> Result<Packet, Self::Error> {
        match request.as_str() {
            "limits@openssh.com" => {
                let limits = russh_sftp::extensions::LimitsExtension {
                    max_packet_len: 256 * 1024,
                    max_read_len: MAX_IO_LEN.into(),
                    max_write_len: MAX_IO_LEN.into(),
                    max_open_handles: MAX_HANDLES as u64,
                };
                let bytes = russh_sftp::ser::to_bytes(&limits).map_err(|_| StatusCode::Failure)?;
                Ok(Packet::ExtendedReply(ExtendedReply {
                    id,
                    data: bytes.to_vec(),
                }))
            }
            "posix-rename@openssh.com" => {
                let req: russh_sftp::extensions::HardlinkExtension =
                    russh_sftp::de::from_bytes(&mut data.into())
                        .map_err(|_| StatusCode::BadMessage)?;
                self.rename_impl(id, req.oldpath, req.newpath, true)
                    .await
                    .map(Packet::Status)
            }
            "fsync@openssh.com" => {
                let req: russh_sftp::extensions::FsyncExtension =
                    russh_sftp::de::from_bytes(&mut data.into())
                        .map_err(|_| StatusCode::BadMessage)?;
                let (file, _) = self.file(&req.handle)?;
                blocking(move || file.sync_all().map_err(io_reply)).await?;
                Ok(Packet::Status(ok(id)))
            }
            "statvfs@openssh.com" => self.statvfs(id, data).await,
            _ => Err(self.unimplemented()),
        }
    }
}
