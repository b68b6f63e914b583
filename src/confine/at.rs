//! The operations on one entry beneath the root, as the `*at` syscalls
//! relative to its directory's descriptor, none of which follows a symlink
//! under the last name: that is what makes
//! [`ConfinedRoot::beneath`](super::ConfinedRoot::beneath) race-free. Apart from `confine.rs` so that
//! the resolution reads apart from the syscall plumbing.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// One name in a directory held open beneath the root (`.` for the
/// directory itself). Made by [`ConfinedRoot::beneath`](super::ConfinedRoot::beneath).
#[derive(Debug)]
pub struct At {
    dir: OwnedFd,
    name: CString,
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// openat(2) with `O_CLOEXEC | O_NOCTTY` added.
pub(super) fn openat(dir: RawFd, name: &CStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let flags = flags | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: `name` is NUL-terminated; the returned fd is fresh and owned.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags, mode as libc::c_uint) };
    check(fd)?;
    // SAFETY: a fresh fd from openat, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// readlinkat(2), growing the buffer until the target fits. An empty
/// `name` reads the link that `dir` itself is (an `O_PATH` descriptor).
pub(super) fn readlinkat(dir: RawFd, name: &CStr) -> io::Result<PathBuf> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: `buf` is writable for its length; `name` is NUL-terminated.
        let n = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(PathBuf::from(OsString::from_vec(buf)));
        }
        if buf.len() >= 1 << 16 {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// The path through which the kernel reaches exactly the file `fd` is open
/// on, for calls that only take a path (chmod, truncate, statvfs). Use it
/// only on a descriptor known not to be a symlink.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

impl At {
    pub(super) fn new(dir: OwnedFd, name: CString) -> At {
        At { dir, name }
    }

    /// The last name (`.` for the directory itself).
    pub fn name(&self) -> &OsStr {
        OsStr::from_bytes(self.name.to_bytes())
    }

    /// Where the entry is now: the real path of its directory (from the
    /// held descriptor) joined with its name.
    pub fn real_path(&self) -> io::Result<PathBuf> {
        let dir = std::fs::read_link(fd_path(&self.dir))?;
        Ok(match self.name.to_bytes() {
            b"." => dir,
            name => dir.join(OsStr::from_bytes(name)),
        })
    }

    /// Opens the entry with open(2) `flags` (`O_NOFOLLOW` added: a symlink
    /// here fails with `ELOOP`) and `mode` for a file it creates.
    pub fn open(&self, flags: i32, mode: u32) -> io::Result<File> {
        openat(
            self.dir.as_raw_fd(),
            &self.name,
            flags | libc::O_NOFOLLOW,
            mode,
        )
        .map(File::from)
    }

    /// The entry itself, symlink or not, as an `O_PATH` descriptor: for its
    /// metadata, or for [`fd_path`].
    pub fn open_path(&self) -> io::Result<File> {
        self.open(libc::O_PATH, 0)
    }

    /// lstat(2) of the entry.
    pub fn symlink_metadata(&self) -> io::Result<Metadata> {
        self.open_path()?.metadata()
    }

    /// mkdirat(2).
    pub fn mkdir(&self, mode: u32) -> io::Result<()> {
        // SAFETY: NUL-terminated name, directory fd we hold.
        check(unsafe { libc::mkdirat(self.dir.as_raw_fd(), self.name.as_ptr(), mode) })
    }

    /// unlinkat(2) of a non-directory.
    pub fn remove_file(&self) -> io::Result<()> {
        // SAFETY: NUL-terminated name, directory fd we hold.
        check(unsafe { libc::unlinkat(self.dir.as_raw_fd(), self.name.as_ptr(), 0) })
    }

    /// unlinkat(2) of an empty directory.
    pub fn remove_dir(&self) -> io::Result<()> {
        // SAFETY: NUL-terminated name, directory fd we hold.
        check(unsafe {
            libc::unlinkat(self.dir.as_raw_fd(), self.name.as_ptr(), libc::AT_REMOVEDIR)
        })
    }

    /// readlinkat(2): the stored target of the symlink that the entry is.
    pub fn read_link(&self) -> io::Result<PathBuf> {
        readlinkat(self.dir.as_raw_fd(), &self.name)
    }

    /// symlinkat(2): makes the entry a symlink to `target`.
    pub fn symlink(&self, target: &Path) -> io::Result<()> {
        let target = CString::new(target.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: both strings are NUL-terminated; directory fd we hold.
        check(unsafe { libc::symlinkat(target.as_ptr(), self.dir.as_raw_fd(), self.name.as_ptr()) })
    }

    /// renameat2(2) of this entry to `to`; with `no_replace`, an existing
    /// `to` fails with `AlreadyExists`, atomically where the file system
    /// supports `RENAME_NOREPLACE` (checked just before otherwise).
    pub fn rename_to(&self, to: &At, no_replace: bool) -> io::Result<()> {
        let rename = |flags| {
            // SAFETY: NUL-terminated names, directory fds we hold.
            check(unsafe {
                libc::renameat2(
                    self.dir.as_raw_fd(),
                    self.name.as_ptr(),
                    to.dir.as_raw_fd(),
                    to.name.as_ptr(),
                    flags,
                )
            })
        };
        if !no_replace {
            return rename(0);
        }
        match rename(libc::RENAME_NOREPLACE) {
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                self.symlink_metadata()?;
                if to.symlink_metadata().is_ok() {
                    return Err(io::ErrorKind::AlreadyExists.into());
                }
                rename(0)
            }
            other => other,
        }
    }
}

/// The entries of a directory opened beneath the root, read with
/// readdir(3) from its descriptor (`std::fs::read_dir` only takes a path,
/// which would be looked up again).
#[derive(Debug)]
pub struct DirStream {
    dir: *mut libc::DIR,
}

// SAFETY: the DIR stream is owned by this value alone and used by one
// thread at a time (`&mut self`); readdir(3) keeps no thread-local state.
unsafe impl Send for DirStream {}
// SAFETY: through `&self` only dirfd(3) runs, which reads the stream's
// descriptor and changes nothing; readdir needs `&mut self`.
unsafe impl Sync for DirStream {}

impl DirStream {
    /// Takes over `dir`, a directory opened for reading.
    pub fn new(dir: File) -> io::Result<DirStream> {
        let fd: OwnedFd = dir.into();
        let raw = fd.as_raw_fd();
        // SAFETY: fdopendir takes ownership of `raw` on success only.
        let dir = unsafe { libc::fdopendir(raw) };
        if dir.is_null() {
            return Err(io::Error::last_os_error());
        }
        std::mem::forget(fd);
        Ok(DirStream { dir })
    }

    /// The next name (never `.` or `..`), `None` at the end.
    pub fn next_name(&mut self) -> Option<io::Result<OsString>> {
        loop {
            // readdir reports errors only through errno.
            // SAFETY: errno is thread-local; `self.dir` is a live stream.
            unsafe { *libc::__errno_location() = 0 };
            let entry = unsafe { libc::readdir64(self.dir) };
            if entry.is_null() {
                let e = io::Error::last_os_error();
                return (e.raw_os_error() != Some(0)).then_some(Err(e));
            }
            // SAFETY: d_name is NUL-terminated inside the entry, which
            // stays valid until the next readdir on this stream.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
            match name.to_bytes() {
                b"." | b".." => continue,
                bytes => return Some(Ok(OsStr::from_bytes(bytes).to_os_string())),
            }
        }
    }

    /// lstat(2) of `name` in this directory.
    pub fn entry_metadata(&self, name: &OsStr) -> io::Result<Metadata> {
        let c = CString::new(name.as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `self.dir` is a live stream.
        let fd = unsafe { libc::dirfd(self.dir) };
        File::from(openat(fd, &c, libc::O_PATH | libc::O_NOFOLLOW, 0)?).metadata()
    }
}

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: the stream is live and closed once, here.
        unsafe { libc::closedir(self.dir) };
    }
}
