//! The SFTP v3 operations as OpenSSH's `sftp` uses them, on top of
//! [`confine`](super::confine): every path is resolved inside the root before
//! any file is touched. File I/O runs on tokio's blocking pool (one hop per
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
use russh_sftp::protocol::{
    Attrs, Data, ExtendedReply, File, FileAttributes, Handle, Name, OpenFlags, Packet, Status,
    StatusCode, Version,
};
use russh_sftp::server::StatusReply;
use std::collections::HashMap;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::PathBuf;
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
        real: PathBuf,
        entries: Option<std::fs::ReadDir>,
    },
}

/// The russh-sftp handler of one session.
pub struct SftpHandler {
    record: Arc<SessionRecord>,
    handles: HashMap<String, HandleState>,
    next_handle: u64,
}

fn io_reply(e: io::Error) -> Reply {
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

    fn file(&self, handle: &str) -> Result<(Arc<std::fs::File>, Arc<str>), Reply> {
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
            let src = jail.resolve_parent(&from).map_err(confine_reply)?;
            let dst = jail.resolve_parent(&to).map_err(confine_reply)?;
            std::fs::symlink_metadata(&src).map_err(io_reply)?;
            // SFTP v3 rename never replaces; posix-rename@openssh.com does.
            if !posix && std::fs::symlink_metadata(&dst).is_ok() {
                return Err(StatusCode::Failure.with_message("target exists"));
            }
            std::fs::rename(&src, &dst).map_err(io_reply)
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
            let real = jail.resolve(&path).map_err(confine_reply)?;
            statvfs(&real).map_err(io_reply)
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
        let mut options: std::fs::OpenOptions = pflags.into();
        options.mode(attrs.permissions.map_or(0o644, |p| p & 0o777));
        if !pflags.intersects(OpenFlags::READ | OpenFlags::WRITE | OpenFlags::APPEND) {
            options.read(true);
        }
        let file = blocking(move || {
            let real = jail.resolve(&path).map_err(confine_reply)?;
            let f = options.open(&real).map_err(io_reply)?;
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
        let data = blocking(move || {
            let mut buf = vec![0u8; len];
            let mut filled = 0;
            while filled < len {
                match file.read_at(&mut buf[filled..], offset + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_reply(e)),
                }
            }
            buf.truncate(filled);
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
            let real = jail.resolve_parent(&path).map_err(confine_reply)?;
            std::fs::symlink_metadata(real)
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
            let real = jail.resolve(&path).map_err(confine_reply)?;
            std::fs::metadata(real)
                .map(|m| attrs_of(&m))
                .map_err(io_reply)
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
            let real = jail.resolve(&path).map_err(confine_reply)?;
            apply_attrs(&real, &attrs).map_err(io_reply)
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
        let (real, entries) = blocking(move || {
            let real = jail.resolve(&path).map_err(confine_reply)?;
            let entries = std::fs::read_dir(&real).map_err(io_reply)?;
            Ok((real, entries))
        })
        .await?;
        let handle = self.add_handle(HandleState::Dir {
            real,
            entries: Some(entries),
        })?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        let (real, entries) = match self.handles.get_mut(&handle) {
            Some(HandleState::Dir { real, entries }) => (real.clone(), entries.take()),
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
                match entries.next() {
                    None => {
                        more = false;
                        break;
                    }
                    Some(Err(e)) => return Err(io_reply(e)),
                    Some(Ok(entry)) => {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        // Gone since the listing started: skip it.
                        let Ok(m) = std::fs::symlink_metadata(real.join(entry.file_name())) else {
                            continue;
                        };
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
            let real = jail.resolve_parent(&path).map_err(confine_reply)?;
            std::fs::remove_file(real).map_err(io_reply)
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
            let real = jail.resolve_parent(&path).map_err(confine_reply)?;
            std::fs::DirBuilder::new()
                .mode(attrs.permissions.map_or(0o755, |p| p & 0o7777))
                .create(real)
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
            let real = jail.resolve_parent(&path).map_err(confine_reply)?;
            std::fs::remove_dir(real).map_err(io_reply)
        })
        .await?;
        Ok(ok(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let path = Self::path(&path)?;
        let jail = self.jail();
        let shown = blocking(move || match jail.resolve(&path) {
            Ok(real) => match std::fs::symlink_metadata(&real) {
                Ok(_) => jail.virtual_of(&real).map_err(confine_reply),
                // Not there yet (a put target): the lexical path is the answer.
                Err(_) => Ok(path),
            },
            Err(ConfineError::Io(e)) if e.kind() == io::ErrorKind::NotFound => Ok(path),
            Err(e) => Err(confine_reply(e)),
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
            let real = jail.resolve_parent(&path).map_err(confine_reply)?;
            let target = std::fs::read_link(real).map_err(io_reply)?;
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
            let real_link = jail.resolve_parent(&link).map_err(confine_reply)?;
            // Stored as an absolute path inside the root, relative targets
            // included: see `confine::link_target` for the race this closes.
            let virtual_target = link_target(&link, &target).map_err(confine_reply)?;
            let mut stored = jail.root().to_path_buf();
            stored.extend(virtual_target.components());
            std::os::unix::fs::symlink(stored, real_link).map_err(io_reply)
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
