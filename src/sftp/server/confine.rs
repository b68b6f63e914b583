//! Confinement of client paths to the served root directory.
//!
//! A client names files with SFTP paths; the server must never read or write
//! outside its root, whatever the client sends (`..`, absolute paths, paths
//! that share the root's prefix) and whatever symlinks exist under the root.
//! The rules, applied in this order:
//!
//! 1. [`normalize`] is pure: the client sees the root as `/`, relative paths
//!    are relative to `/`, `.` is dropped and `..` pops one component but
//!    never climbs above `/` (as in a chroot). The result is a
//!    [`VirtualPath`], a list of plain names.
//! 2. [`Jail::at`] / [`Jail::followed`] touch the file system through
//!    [`crate::confine`], the same confinement as tcp-serve's: the parent is
//!    opened beneath the root's descriptor (openat2 `RESOLVE_BENEATH`, or a
//!    walk from held descriptors for the absolute links of rule 3), and the
//!    operation runs on the last name with a `*at` syscall that does not
//!    follow it. A symlink that leads outside the root is refused, a
//!    dangling one included, and a directory swapped for a symlink between
//!    the resolution and the use (a race by a local user with write access
//!    to the root) cannot redirect the operation: nothing is looked up by
//!    name from the top again.
//! 3. Links a client creates are stored as absolute paths inside the root
//!    ([`link_target`]), and READLINK shows targets relative to the
//!    client's `/` ([`shown_link_target`]).

use crate::confine::{At, ConfinedRoot};
use std::io;
use std::path::{Component, Path};
use std::sync::Arc;

/// Why a client path was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// The path resolves (through a symlink) to a place outside the root.
    #[error("path leads outside the served root")]
    Escapes,
    /// The path contains a NUL byte or a component the OS cannot represent.
    #[error("invalid path")]
    Invalid,
    /// The file system failed while resolving (not found, not a directory...).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A client path after lexical normalization: the names below the root.
/// Empty means the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VirtualPath(Vec<String>);

impl VirtualPath {
    /// The names below the root, outermost first.
    pub fn components(&self) -> &[String] {
        &self.0
    }

    /// Whether this is the root (`/`).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path the client sees: `/`, `/a/b`.
    pub fn display(&self) -> String {
        if self.0.is_empty() {
            "/".to_string()
        } else {
            self.0.iter().fold(String::new(), |mut s, c| {
                s.push('/');
                s.push_str(c);
                s
            })
        }
    }

    /// The last name, if any.
    pub fn file_name(&self) -> Option<&str> {
        self.0.last().map(String::as_str)
    }

    /// The parent directory (the root's parent is the root).
    pub fn parent(&self) -> VirtualPath {
        let mut v = self.0.clone();
        v.pop();
        VirtualPath(v)
    }
}

/// Lexically normalizes a client path (see the module docs). Never fails on
/// `..`; refuses NUL bytes, which no Unix path can hold.
pub fn normalize(client_path: &str) -> Result<VirtualPath, ConfineError> {
    if client_path.contains('\0') {
        return Err(ConfineError::Invalid);
    }
    let mut out: Vec<String> = Vec::new();
    for part in client_path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            name => out.push(name.to_string()),
        }
    }
    Ok(VirtualPath(out))
}

/// Where a symlink that a client creates at `link` with `target` points, as a
/// path under the root. Relative targets are resolved against the link's
/// directory now, at creation, so that every link a client makes is stored
/// as an absolute path inside the root: a client cannot create a link that
/// leads out (`d -> ../..` at the top becomes `d -> <root>`), and moving or
/// swapping directories around a link cannot make it lead out later. This
/// closes the race in which one session swaps a directory for such a link
/// while another writes through it.
pub fn link_target(link: &VirtualPath, target: &str) -> Result<VirtualPath, ConfineError> {
    if target.starts_with('/') {
        return normalize(target);
    }
    let parent = &link.0[..link.0.len().saturating_sub(1)];
    normalize(&format!("/{}/{target}", parent.join("/")))
}

/// Maps a canonical path inside `root` back to what the client sees, or
/// `None` when it is not inside `root` on a component boundary.
pub fn to_virtual(root: &Path, canonical: &Path) -> Option<VirtualPath> {
    let rest = canonical.strip_prefix(root).ok()?;
    let mut out = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(n) => out.push(n.to_str()?.to_string()),
            _ => return None,
        }
    }
    Some(VirtualPath(out))
}

/// What READLINK may show for a link at `link` whose stored target is
/// `target`, or `None` when the target must not be shown. The client must
/// never learn host paths: an absolute target inside the root is shown as
/// the client sees it; one outside the root (an administrator's link, say)
/// is refused; a relative target is shown as stored unless its `..`
/// climb above the root.
pub fn shown_link_target(root: &Path, link: &VirtualPath, target: &Path) -> Option<String> {
    if target.is_absolute() {
        return to_virtual(root, target).map(|v| v.display());
    }
    let mut depth = link.0.len().saturating_sub(1);
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => depth = depth.checked_sub(1)?,
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    target.to_str().map(str::to_string)
}

/// The served root, opened once at startup, beneath which every client
/// path is resolved by [`crate::confine`].
#[derive(Debug, Clone)]
pub struct Jail {
    root: Arc<ConfinedRoot>,
}

impl Jail {
    /// Opens `root` (canonicalized); it must exist and be a directory.
    pub fn new(root: &Path) -> io::Result<Jail> {
        Ok(Jail {
            root: Arc::new(ConfinedRoot::open(root)?),
        })
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The entry `path` names, for an operation on it: its parent resolved
    /// beneath the root (following symlinks that stay inside), then the last
    /// name followed too when `follow_last` (open, stat, opendir...), or
    /// taken as it is (lstat, readlink, remove, rename, mkdir, symlink).
    /// The root itself is `.` in the root. Blocking: call from a blocking
    /// thread.
    pub fn at(&self, path: &VirtualPath, follow_last: bool) -> Result<At, ConfineError> {
        Ok(self.root.beneath(path.components(), follow_last)?)
    }

    /// `op` on the entry `path` names, with the last name followed; tried
    /// again when a symlink replaced the last name in between (see
    /// [`ConfinedRoot::followed`]). Blocking.
    pub fn followed<T>(
        &self,
        path: &VirtualPath,
        op: impl FnMut(&At) -> io::Result<T>,
    ) -> Result<T, ConfineError> {
        Ok(self.root.followed(path.components(), op)?)
    }

    /// What the client should see for a real path (of an open descriptor):
    /// `Escapes` when it is not inside the root.
    pub fn virtual_of(&self, real: &Path) -> Result<VirtualPath, ConfineError> {
        to_virtual(self.root(), real).ok_or(ConfineError::Escapes)
    }
}

impl From<crate::confine::ConfineError> for ConfineError {
    fn from(e: crate::confine::ConfineError) -> Self {
        match e {
            crate::confine::ConfineError::Escapes => ConfineError::Escapes,
            crate::confine::ConfineError::Io(e) => ConfineError::Io(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn n(s: &str) -> String {
        normalize(s).unwrap().display()
    }

    #[test]
    fn client_made_links_resolve_inside_the_root_at_creation() {
        let at = |l: &str, t: &str| link_target(&normalize(l).unwrap(), t).unwrap().display();
        assert_eq!(at("/d2", "../.."), "/");
        assert_eq!(at("/a/b/lnk", "../c"), "/a/c");
        assert_eq!(at("/a/lnk", "x/y"), "/a/x/y");
        assert_eq!(at("/a/lnk", "/etc/passwd"), "/etc/passwd");
        assert_eq!(at("/lnk", "../../../etc"), "/etc");
        assert!(link_target(&normalize("/l").unwrap(), "a\0b").is_err());
    }

    #[test]
    fn normalize_treats_root_as_slash_and_never_climbs_above_it() {
        assert_eq!(n(""), "/");
        assert_eq!(n("."), "/");
        assert_eq!(n("/"), "/");
        assert_eq!(n(".."), "/");
        assert_eq!(n("../../.."), "/");
        assert_eq!(n("/../etc/passwd"), "/etc/passwd");
        assert_eq!(n("a/../../b"), "/b");
        assert_eq!(n("a/b/.."), "/a");
        assert_eq!(n("a/./b//c/"), "/a/b/c");
        assert_eq!(n("/a/b/../../../../x"), "/x");
        assert_eq!(n("..."), "/...");
    }

    #[test]
    fn normalize_refuses_nul() {
        assert!(matches!(normalize("a\0b"), Err(ConfineError::Invalid)));
    }

    #[test]
    fn to_virtual_respects_component_boundaries() {
        let root = Path::new("/srv/data");
        assert_eq!(
            to_virtual(root, Path::new("/srv/data/x/y"))
                .unwrap()
                .display(),
            "/x/y"
        );
        assert_eq!(
            to_virtual(root, Path::new("/srv/data")).unwrap().display(),
            "/"
        );
        assert!(to_virtual(root, Path::new("/srv/data2/x")).is_none());
        assert!(to_virtual(root, Path::new("/srv")).is_none());
    }

    struct Fixture {
        _tmp: tempfile::TempDir,
        jail: Jail,
        outside: PathBuf,
    }

    /// TMP/data (the root) with a file and a dir; TMP/data2 beside it.
    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        let outside = tmp.path().join("data2");
        std::fs::create_dir_all(root.join("dir")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("dir/f"), b"in").unwrap();
        std::fs::write(outside.join("secret"), b"out").unwrap();
        let jail = Jail::new(&root).unwrap();
        Fixture {
            _tmp: tmp,
            jail,
            outside: std::fs::canonicalize(outside).unwrap(),
        }
    }

    /// Where `p` resolves (following the last name), as a host path.
    fn resolve(f: &Fixture, p: &str) -> Result<PathBuf, ConfineError> {
        Ok(f.jail.at(&normalize(p).unwrap(), true)?.real_path()?)
    }

    fn resolve_parent(f: &Fixture, p: &str) -> Result<PathBuf, ConfineError> {
        Ok(f.jail.at(&normalize(p).unwrap(), false)?.real_path()?)
    }

    #[test]
    fn resolve_existing_and_missing_paths_inside_root() {
        let f = fixture();
        let root = f.jail.root().to_path_buf();
        assert_eq!(resolve(&f, "/dir/f").unwrap(), root.join("dir/f"));
        assert_eq!(resolve(&f, "dir/new").unwrap(), root.join("dir/new"));
        assert_eq!(resolve(&f, "/").unwrap(), root);
        assert!(matches!(
            resolve(&f, "/a/b/c"),
            Err(ConfineError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
        assert_eq!(resolve(&f, "/../dir/f").unwrap(), root.join("dir/f"));
        // `..` above `/` stays at `/`: never the sibling `data2`.
        assert!(matches!(
            resolve(&f, "/../data2/secret"),
            Err(ConfineError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
    }

    #[test]
    fn symlink_out_of_root_is_refused() {
        let f = fixture();
        let root = f.jail.root().to_path_buf();
        std::os::unix::fs::symlink(&f.outside, root.join("sib")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        std::os::unix::fs::symlink("../data2", root.join("rel")).unwrap();
        for p in [
            "/sib/secret",
            "sib",
            "/etc/passwd",
            "/rel/secret",
            "/rel/new",
            "/sib/x/y",
        ] {
            assert!(
                matches!(resolve(&f, p), Err(ConfineError::Escapes)),
                "{p} must be refused"
            );
        }
        // lstat-style resolution of the link itself stays inside.
        assert_eq!(resolve_parent(&f, "/sib").unwrap(), root.join("sib"));
        assert!(resolve_parent(&f, "/sib/secret").is_err());
    }

    #[test]
    fn dangling_symlink_cannot_be_created_through() {
        let f = fixture();
        let root = f.jail.root().to_path_buf();
        std::os::unix::fs::symlink(f.outside.join("new"), root.join("dangling")).unwrap();
        assert!(matches!(
            resolve(&f, "/dangling"),
            Err(ConfineError::Escapes)
        ));
        assert!(matches!(
            resolve(&f, "/dangling/x"),
            Err(ConfineError::Escapes)
        ));
    }

    #[test]
    fn symlink_inside_root_is_followed() {
        let f = fixture();
        let root = f.jail.root().to_path_buf();
        std::os::unix::fs::symlink("dir", root.join("alias")).unwrap();
        assert_eq!(resolve(&f, "/alias/f").unwrap(), root.join("dir/f"));
        let v = f.jail.virtual_of(&resolve(&f, "/alias").unwrap()).unwrap();
        assert_eq!(v.display(), "/dir");
    }

    #[test]
    fn absolute_links_inside_the_root_are_followed_from_the_root() {
        let f = fixture();
        let root = f.jail.root().to_path_buf();
        // As sftp-serve stores the links clients make.
        std::os::unix::fs::symlink(root.join("dir"), root.join("abs")).unwrap();
        std::os::unix::fs::symlink(root.join("dir/f"), root.join("dir/absf")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("top")).unwrap();
        assert_eq!(resolve(&f, "/abs/f").unwrap(), root.join("dir/f"));
        assert_eq!(resolve(&f, "/abs/absf").unwrap(), root.join("dir/f"));
        assert_eq!(resolve(&f, "/top/top/dir").unwrap(), root.join("dir"));
        assert_eq!(resolve(&f, "/top").unwrap(), root);
        // `..` out of a followed link climbs from where the link led.
        std::os::unix::fs::symlink("../..", root.join("dir/up2")).unwrap();
        assert!(matches!(
            resolve(&f, "/abs/up2/data2"),
            Err(ConfineError::Escapes)
        ));
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(resolve(&f, "/loop").is_err());
    }

    #[test]
    fn prefix_sibling_is_not_inside() {
        let f = fixture();
        assert!(f.jail.virtual_of(&f.outside.join("secret")).is_err());
    }

    #[test]
    fn readlink_shows_targets_inside_the_root_and_hides_host_paths() {
        let root = Path::new("/srv/data");
        let link = normalize("/dir/link").unwrap();
        let shown = |t: &str| shown_link_target(root, &link, Path::new(t));
        assert_eq!(shown("/srv/data/dir/f").as_deref(), Some("/dir/f"));
        assert_eq!(shown("/srv/data").as_deref(), Some("/"));
        assert_eq!(shown("/etc/passwd"), None);
        assert_eq!(shown("/srv/data2/x"), None);
        assert_eq!(shown("/srv/data/../x"), None);
        assert_eq!(shown("f").as_deref(), Some("f"));
        assert_eq!(shown("../f").as_deref(), Some("../f"));
        assert_eq!(shown("./a/../../f").as_deref(), Some("./a/../../f"));
        assert_eq!(shown("../../f"), None);
    }
}
