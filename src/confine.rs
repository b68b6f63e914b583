//! Path confinement: open and act on paths beneath one root directory so
//! that no path, `..` segment or symlink leads outside it, with no window
//! between a check and a use. Both servers use it: `tcp-serve` for every
//! GET, HEAD and POST ([`ConfinedRoot::open_read`], [`ConfinedRoot::resolve_dir`]),
//! `sftp-serve` for every request that names a path ([`ConfinedRoot::beneath`],
//! [`ConfinedRoot::followed`], then the `*at` operations of [`At`]). It knows
//! nothing of HTTP or SFTP.
//!
//! Paths are resolved by the kernel, relative to the root's file
//! descriptor: openat2(2) with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`
//! where the kernel has it. For `sftp-serve` it opens the *parent*
//! directory, and the operation then runs on the last name with the `*at`
//! syscall (openat with `O_NOFOLLOW`, mkdirat, unlinkat, renameat2,
//! readlinkat, symlinkat) relative to that held descriptor, so a directory
//! swapped for a symlink after the resolution cannot redirect it.
//!
//! Where openat2 refuses (an absolute symlink, which `sftp-serve` stores for
//! every link a client makes and which `RESOLVE_BENEATH` never follows) or is
//! missing (old kernels, seccomp), [`ConfinedRoot::beneath`] walks the path
//! itself, one `O_PATH | O_NOFOLLOW` openat per name from a held descriptor,
//! reading each symlink through its own descriptor: an absolute target must
//! start with the root's path and continues from the root, a `..` pops one
//! held directory and never climbs above the root. Nothing is looked up by
//! name from the top again, so there is no check-then-use race either.
//!
//! `tcp-serve`'s reads keep their older fallback where openat2 is missing:
//! open, then check the real path of the open descriptor (`/proc/self/fd`).
//! Its writes resolve the parent directory, which must be inside the root;
//! tcp-serve then renames a temporary file over the last name, so a symlink
//! there is replaced, never followed.
//!
//! What this does not cover: a local user who moves a directory that a
//! request already holds out of the root (by rename) while the request runs;
//! the kernel's own `RESOLVE_BENEATH` has the same limit.

mod at;

pub use at::{fd_path, At, DirStream};

use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Why a path could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// The path, or a symlink on it, leads outside the root.
    #[error("path leaves the root")]
    Escapes,
    /// The path is inside the root but could not be opened or resolved.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A root directory, opened once, beneath which paths are resolved.
#[derive(Debug)]
pub struct ConfinedRoot {
    path: PathBuf,
    dir: File,
    /// openat2(2) works here (it may be missing or filtered by seccomp).
    openat2: AtomicBool,
}

impl ConfinedRoot {
    /// Opens `root` (canonicalized; it must be a directory).
    pub fn open(root: &Path) -> io::Result<Self> {
        let path = fs::canonicalize(root)?;
        let dir = File::open(&path)?;
        if !dir.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(Self {
            path,
            dir,
            openat2: AtomicBool::new(cfg!(target_os = "linux")),
        })
    }

    /// The canonical path of the root.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `rel` (relative to the root; leading `/` ignored, empty is the
    /// root itself) read-only, following symlinks only while they stay
    /// inside the root. `scratch` is a reusable buffer for the C string.
    /// O_NONBLOCK: opening a FIFO must not block the caller (harmless on
    /// regular files, whose reads never block).
    pub fn open_read(&self, rel: &str, scratch: &mut Vec<u8>) -> Result<File, ConfineError> {
        let rel = rel.trim_start_matches('/');
        let fast = if self.openat2.load(Ordering::Relaxed) {
            scratch.clear();
            scratch.extend_from_slice(if rel.is_empty() { b"." } else { rel.as_bytes() });
            scratch.push(0);
            open_beneath(self.dir.as_raw_fd(), scratch, READ_FLAGS)
        } else {
            Beneath::Unsupported
        };
        match fast {
            Beneath::Opened(f) => Ok(f),
            Beneath::Failed(e) => Err(ConfineError::Io(e)),
            Beneath::Unsupported | Beneath::Escapes => {
                if matches!(fast, Beneath::Unsupported) {
                    self.openat2.store(false, Ordering::Relaxed);
                }
                // Absolute symlinks that land inside the root are fine too.
                let full = self.path.join(rel);
                let file = OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                    .open(&full)?;
                let real = real_path_of(&file, &full)
                    .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
                if !real.starts_with(&self.path) {
                    return Err(ConfineError::Escapes);
                }
                Ok(file)
            }
        }
    }

    /// The real directory, inside the root, that holds `rel_dir` (relative
    /// to the root; empty is the root itself), after resolving symlinks.
    pub fn resolve_dir(&self, rel_dir: &str) -> Result<PathBuf, ConfineError> {
        let rel_dir = rel_dir.trim_start_matches('/');
        let dir = fs::canonicalize(self.path.join(rel_dir))?;
        if !dir.starts_with(&self.path) {
            return Err(ConfineError::Escapes);
        }
        if !dir.is_dir() {
            return Err(ConfineError::Io(io::ErrorKind::NotADirectory.into()));
        }
        Ok(dir)
    }

    /// The entry `names` (relative to the root; empty is the root itself)
    /// for an operation on it: its directory, held open, and its last name
    /// (`.` when the path is a directory reached as a whole). Symlinks on the
    /// way are followed while they stay inside the root; the last name is
    /// followed too when `follow_last` (then it is not a symlink, or does
    /// not exist yet). Operations on the result never follow the last name
    /// (see [`At`]), so a symlink swapped in later is refused or acted on
    /// itself, never followed. Blocking: call from a blocking thread.
    pub fn beneath<S: AsRef<OsStr>>(
        &self,
        names: &[S],
        follow_last: bool,
    ) -> Result<At, ConfineError> {
        if let Some(at) = self.beneath_fast(names, follow_last)? {
            return Ok(at);
        }
        let names = names.iter().map(|n| n.as_ref().to_os_string()).collect();
        self.walk(names, follow_last)
    }

    /// [`beneath`](Self::beneath) with the last name followed, then `op` on
    /// it; `op` is tried again (a few times) when it fails with `ELOOP`,
    /// which the `O_NOFOLLOW` operations of [`At`] report when a symlink
    /// took the last name's place in between.
    pub fn followed<S: AsRef<OsStr>, T>(
        &self,
        names: &[S],
        mut op: impl FnMut(&At) -> io::Result<T>,
    ) -> Result<T, ConfineError> {
        for _ in 0..MAX_RETRIES {
            let at = self.beneath(names, true)?;
            match op(&at) {
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => continue,
                other => return other.map_err(ConfineError::Io),
            }
        }
        Err(ConfineError::Io(io::Error::from_raw_os_error(libc::ELOOP)))
    }

    /// The common case in one syscall: openat2 opens the parent beneath the
    /// root. `None` when the walk must decide (an absolute symlink on the
    /// way, a symlink as the last name to follow, no openat2 here).
    fn beneath_fast<S: AsRef<OsStr>>(
        &self,
        names: &[S],
        follow_last: bool,
    ) -> Result<Option<At>, ConfineError> {
        let Some((last, parents)) = names.split_last() else {
            return Ok(None);
        };
        let last = last.as_ref();
        let plain = |n: &OsStr| !n.is_empty() && n != "." && n != "..";
        if !self.openat2.load(Ordering::Relaxed) || !plain(last) {
            return Ok(None);
        }
        let dir = if parents.is_empty() {
            dup(self.dir.as_raw_fd())?
        } else {
            let mut rel = Vec::new();
            for (i, p) in parents.iter().enumerate() {
                if i > 0 {
                    rel.push(b'/');
                }
                rel.extend_from_slice(p.as_ref().as_bytes());
            }
            rel.push(0);
            if rel[..rel.len() - 1].contains(&0) {
                return Err(invalid_name());
            }
            let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
            match open_beneath(self.dir.as_raw_fd(), &rel, flags) {
                Beneath::Opened(f) => f.into(),
                Beneath::Escapes => return Ok(None),
                Beneath::Unsupported => {
                    self.openat2.store(false, Ordering::Relaxed);
                    return Ok(None);
                }
                Beneath::Failed(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
                Beneath::Failed(e) => return Err(e.into()),
            }
        };
        let at = At::new(dir, cstring(last)?);
        if follow_last {
            match at.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => return Ok(None),
                _ => {}
            }
        }
        Ok(Some(at))
    }

    /// Resolves `names` one name at a time from held descriptors (see the
    /// module docs).
    fn walk(&self, names: Vec<OsString>, follow_last: bool) -> Result<At, ConfineError> {
        let mut held: Vec<OwnedFd> = Vec::new();
        let mut queue: VecDeque<OsString> = names.into();
        let mut hops = 0;
        loop {
            let top = held.last().map_or(self.dir.as_raw_fd(), |f| f.as_raw_fd());
            let Some(name) = queue.pop_front() else {
                let dir = match held.pop() {
                    Some(fd) => fd,
                    None => dup(top)?,
                };
                return Ok(At::new(dir, c".".into()));
            };
            match name.as_bytes() {
                b"" | b"." => continue,
                b".." => {
                    held.pop().ok_or(ConfineError::Escapes)?;
                    continue;
                }
                _ => {}
            }
            let c = cstring(&name)?;
            let last = queue.is_empty();
            if last && !follow_last {
                return Ok(At::new(dup(top)?, c));
            }
            let fd = match at::openat(top, &c, libc::O_PATH | libc::O_NOFOLLOW, 0) {
                Ok(fd) => fd,
                Err(e) if last && e.kind() == io::ErrorKind::NotFound => {
                    return Ok(At::new(dup(top)?, c));
                }
                Err(e) => return Err(e.into()),
            };
            let kind = File::from(fd.try_clone()?).metadata()?.file_type();
            if kind.is_symlink() {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP).into());
                }
                let target = at::readlinkat(fd.as_raw_fd(), c"")?;
                let rest = if target.is_absolute() {
                    held.clear();
                    target
                        .strip_prefix(&self.path)
                        .map_err(|_| ConfineError::Escapes)?
                        .to_path_buf()
                } else {
                    target
                };
                for n in rest.iter().collect::<Vec<_>>().into_iter().rev() {
                    queue.push_front(n.to_os_string());
                }
            } else if last {
                return Ok(At::new(dup(top)?, c));
            } else if kind.is_dir() {
                held.push(fd);
            } else {
                return Err(io::Error::from_raw_os_error(libc::ENOTDIR).into());
            }
        }
    }
}

/// How `tcp-serve` opens files to read. O_NONBLOCK: opening a FIFO must not
/// block the caller (harmless on regular files, whose reads never block).
const READ_FLAGS: i32 = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
/// Symlinks one resolution may follow (the kernel's own limit).
const MAX_HOPS: usize = 40;
/// Times an operation is retried when a symlink appeared under its last
/// name between the resolution and the use.
const MAX_RETRIES: usize = 8;

/// What openat2(RESOLVE_BENEATH) said.
enum Beneath {
    Opened(File),
    /// The path (or a symlink on it) leaves the root, or is absolute.
    Escapes,
    /// The kernel has no openat2, or a sandbox forbids it.
    Unsupported,
    Failed(io::Error),
}

/// Opens `rel` (NUL-terminated, relative) beneath `root` without ever
/// resolving outside it.
#[cfg(target_os = "linux")]
fn open_beneath(root: RawFd, rel: &[u8], flags: i32) -> Beneath {
    // SAFETY: open_how is plain data; zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `rel` is NUL-terminated, `how` lives across the call and its
    // size is passed; the returned fd is owned by the File.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root,
            rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd >= 0 {
        // SAFETY: a fresh fd from openat2, owned by nobody else.
        return Beneath::Opened(unsafe { File::from_raw_fd(fd as i32) });
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EXDEV) => Beneath::Escapes,
        Some(libc::ENOSYS | libc::EPERM) => Beneath::Unsupported,
        _ => Beneath::Failed(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_beneath(_root: RawFd, _rel: &[u8], _flags: i32) -> Beneath {
    Beneath::Unsupported
}

/// The real path of an open file: one readlink of /proc/self/fd on Linux,
/// which costs less than canonicalizing every component.
fn real_path_of(file: &File, path: &Path) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let link = format!("/proc/self/fd/{}", file.as_raw_fd());
        if let Ok(p) = fs::read_link(link) {
            return Some(p);
        }
    }
    let _ = file;
    fs::canonicalize(path).ok()
}

fn invalid_name() -> ConfineError {
    ConfineError::Io(io::Error::new(
        io::ErrorKind::InvalidInput,
        "a name holds a NUL byte",
    ))
}

fn cstring(name: &OsStr) -> Result<CString, ConfineError> {
    CString::new(name.as_bytes()).map_err(|_| invalid_name())
}

/// A second descriptor for the same open directory.
fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we hold; the result is fresh.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_are_followed_only_while_they_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        let sibling = tmp.path().join("data2");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir(&sibling).unwrap();
        fs::write(root.join("ok.txt"), "in").unwrap();
        fs::write(sibling.join("secret"), "out").unwrap();
        symlink("ok.txt", root.join("rel")).unwrap();
        symlink(root.join("ok.txt"), root.join("abs")).unwrap();
        symlink(&sibling, root.join("escape")).unwrap();
        let confined = ConfinedRoot::open(&root).unwrap();
        let mut scratch = Vec::new();
        for inside in ["/ok.txt", "rel", "/abs", "sub/../ok.txt"] {
            let f = confined.open_read(inside, &mut scratch);
            assert!(f.is_ok(), "{inside}: {f:?}");
        }
        for outside in [
            "/escape/secret",
            "../data2/secret",
            "sub/../../data2/secret",
        ] {
            let f = confined.open_read(outside, &mut scratch);
            assert!(matches!(f, Err(ConfineError::Escapes)), "{outside}: {f:?}");
        }
        let missing = confined.open_read("/nope", &mut scratch).unwrap_err();
        assert!(matches!(missing, ConfineError::Io(e) if e.kind() == io::ErrorKind::NotFound));
        let canonical = fs::canonicalize(&root).unwrap();
        assert_eq!(confined.path(), canonical);
        assert_eq!(confined.resolve_dir("sub").unwrap(), canonical.join("sub"));
        assert_eq!(confined.resolve_dir("/").unwrap(), canonical);
        assert!(matches!(
            confined.resolve_dir("escape"),
            Err(ConfineError::Escapes)
        ));
        assert!(matches!(
            confined.resolve_dir("ok.txt"),
            Err(ConfineError::Io(_))
        ));
    }
}
