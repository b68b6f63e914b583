//! Path confinement: open files beneath one root directory so that no path,
//! `..` segment or symlink leads outside it. `tcp-serve` uses it for every
//! GET, HEAD and POST. It knows nothing of HTTP, so that another server
//! (sftp-serve, which today canonicalizes and then opens, a check-then-use
//! race) can confine its paths the same way.
//!
//! Reads go through openat2(2) with `RESOLVE_BENEATH` relative to the root's
//! file descriptor where the kernel has it: one syscall, resolved by the
//! kernel, with no window between check and use. Where it is missing (old
//! kernels, seccomp filters) the file is opened and then the real path of
//! the open descriptor is checked (`/proc/self/fd`), which also admits
//! absolute symlinks that land inside the root. Writes resolve the parent
//! directory, which must be inside the root; the caller then creates the
//! last component itself (tcp-serve renames a temporary file over it), so a
//! symlink there is replaced, never followed.

use std::fs::{self, File, OpenOptions};
use std::io;
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
            open_beneath(&self.dir, scratch)
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
}

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
fn open_beneath(root: &File, rel: &[u8]) -> Beneath {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: open_how is plain data; zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `rel` is NUL-terminated, `how` lives across the call and its
    // size is passed; the returned fd is owned by the File.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
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
fn open_beneath(_root: &File, _rel: &[u8]) -> Beneath {
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
