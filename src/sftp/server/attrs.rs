//! SFTP file attributes to and from the file system: `FileAttributes` from
//! metadata, the `ls -l` line READDIR sends, SETSTAT / FSETSTAT applied to a
//! path or an open file, and statvfs. Pure conversions and thin syscalls,
//! apart from [`files`](super::files) so that the request handling there
//! reads as protocol, not as bit twiddling.

use russh_sftp::protocol::FileAttributes;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

/// SFTP attributes from metadata, keeping the file type bits of `st_mode`.
pub fn attrs_of(m: &Metadata) -> FileAttributes {
    FileAttributes {
        size: Some(m.size()),
        uid: Some(m.uid()),
        user: None,
        gid: Some(m.gid()),
        group: None,
        permissions: Some(m.mode()),
        atime: Some(m.atime().clamp(0, u32::MAX as i64) as u32),
        mtime: Some(m.mtime().clamp(0, u32::MAX as i64) as u32),
    }
}

/// `ls -l` style line, as OpenSSH's sftp-server sends in READDIR.
pub fn longname(name: &str, m: &Metadata, now_unix: i64) -> String {
    let mode = m.mode();
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut perms = String::with_capacity(10);
    perms.push(kind);
    for (shift, special, special_char) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        perms.push(if bits & 4 != 0 { 'r' } else { '-' });
        perms.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        perms.push(match (mode & special != 0, x) {
            (true, true) => special_char,
            (true, false) => special_char.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    let mtime = m.mtime();
    let when = chrono::DateTime::from_timestamp(mtime, 0).unwrap_or_default();
    // Like ls: time of day for the last six months, the year otherwise.
    let date = if (now_unix - mtime).abs() < 182 * 24 * 3600 {
        when.format("%b %e %H:%M")
    } else {
        when.format("%b %e  %Y")
    };
    format!(
        "{perms} {:>4} {:<8} {:<8} {:>8} {date} {name}",
        m.nlink(),
        m.uid(),
        m.gid(),
        m.size()
    )
}

/// Statistics of the file system holding `path` (statvfs@openssh.com).
pub fn statvfs(path: &std::path::Path) -> io::Result<russh_sftp::extensions::Statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated path; `st` is plain old data
    // that statvfs fills in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(russh_sftp::extensions::Statvfs {
        block_size: st.f_bsize as u64,
        fragment_size: st.f_frsize as u64,
        blocks: st.f_blocks as u64,
        blocks_free: st.f_bfree as u64,
        blocks_avail: st.f_bavail as u64,
        inodes: st.f_files as u64,
        inodes_free: st.f_ffree as u64,
        inodes_avail: st.f_favail as u64,
        fs_id: st.f_fsid as u64,
        flags: st.f_flag as u64,
        name_max: st.f_namemax as u64,
    })
}

/// Applies SETSTAT / FSETSTAT attributes to an open file or a path.
pub fn apply_attrs(target: &std::path::Path, attrs: &FileAttributes) -> io::Result<()> {
    if let Some(size) = attrs.size {
        std::fs::OpenOptions::new()
            .write(true)
            .open(target)?
            .set_len(size)?;
    }
    if let Some(mode) = attrs.permissions {
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode & 0o7777))?;
    }
    if attrs.uid.is_some() || attrs.gid.is_some() {
        std::os::unix::fs::chown(target, attrs.uid, attrs.gid)?;
    }
    if let (Some(atime), Some(mtime)) = (attrs.atime, attrs.mtime) {
        let t = |s: u32| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.into());
        let f = std::fs::File::options()
            .write(false)
            .read(true)
            .open(target);
        // Directories and unreadable files: fall back to opening for nothing.
        let f = match f {
            Ok(f) => f,
            Err(_) => std::fs::File::open(target)?,
        };
        f.set_times(
            std::fs::FileTimes::new()
                .set_accessed(t(atime))
                .set_modified(t(mtime)),
        )?;
    }
    Ok(())
}

/// Applies FSETSTAT attributes to an open file.
pub fn apply_attrs_to_file(file: &std::fs::File, attrs: &FileAttributes) -> io::Result<()> {
    if let Some(size) = attrs.size {
        file.set_len(size)?;
    }
    if let Some(mode) = attrs.permissions {
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
    }
    if attrs.uid.is_some() || attrs.gid.is_some() {
        std::os::unix::fs::fchown(file, attrs.uid, attrs.gid)?;
    }
    if let (Some(a), Some(m)) = (attrs.atime, attrs.mtime) {
        let t = |s: u32| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.into());
        file.set_times(
            std::fs::FileTimes::new()
                .set_accessed(t(a))
                .set_modified(t(m)),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longname_looks_like_ls() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f.bin");
        std::fs::write(&f, vec![0u8; 1234]).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        let m = std::fs::metadata(&f).unwrap();
        let line = longname("f.bin", &m, chrono::Utc::now().timestamp());
        assert!(line.starts_with("-rw-r----- "), "{line}");
        assert!(line.contains(" 1234 "), "{line}");
        assert!(line.ends_with(" f.bin"), "{line}");
        let d = std::fs::metadata(dir.path()).unwrap();
        assert!(longname("d", &d, 0).starts_with('d'));
    }

    #[test]
    fn attrs_keep_file_type_bits() {
        let dir = tempfile::tempdir().unwrap();
        let m = std::fs::metadata(dir.path()).unwrap();
        assert!(attrs_of(&m).is_dir());
    }
}
