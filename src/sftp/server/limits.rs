//! How many sessions the process's file-descriptor limit can hold, and how
//! to tell fd exhaustion from other accept errors. Without this, a server
//! asked for more sessions than its RLIMIT_NOFILE allows accepted them all
//! and then failed their file opens: clients saw a bare `SFTP failure`
//! (OpenSSH prints the status code, not the message) instead of a clear
//! "too many sessions" at login.

use std::io;

/// Descriptors one session holds: its socket and the file it transfers.
pub const FDS_PER_SESSION: u64 = 2;
/// Descriptors the process needs besides sessions: stdio, the listener,
/// the runtime's epoll and wakers, the transfer log, a directory listing.
pub const FDS_RESERVED: u64 = 32;

/// The soft RLIMIT_NOFILE of this process (after `xfer` raised it to the
/// hard limit at start), or `None` when it cannot be read or is unlimited.
pub fn nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    Some(lim.rlim_cur)
}

/// Sessions that `nofile` descriptors can hold.
pub fn sessions_held(nofile: u64) -> usize {
    (nofile.saturating_sub(FDS_RESERVED) / FDS_PER_SESSION) as usize
}

/// The session cap to enforce: `--max-sessions` if given, lowered to what
/// the descriptor limit holds.
pub fn session_cap(max_sessions: Option<usize>, nofile: Option<u64>) -> Option<usize> {
    let held = nofile.map(sessions_held);
    match (max_sessions, held) {
        (Some(m), Some(h)) => Some(m.min(h)),
        (m, h) => m.or(h),
    }
}

/// Whether an accept (or open) error means the process or the system is
/// out of file descriptors.
pub fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_limit_caps_sessions() {
        assert_eq!(sessions_held(1024), 496);
        assert_eq!(sessions_held(10), 0);
        assert_eq!(session_cap(Some(10_000), Some(1024)), Some(496));
        assert_eq!(session_cap(Some(100), Some(1024)), Some(100));
        assert_eq!(session_cap(None, Some(1024)), Some(496));
        assert_eq!(session_cap(Some(7), None), Some(7));
        assert_eq!(session_cap(None, None), None);
    }

    #[test]
    fn emfile_and_enfile_are_exhaustion() {
        assert!(is_fd_exhaustion(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(is_fd_exhaustion(&io::Error::from_raw_os_error(
            libc::ENFILE
        )));
        assert!(!is_fd_exhaustion(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
    }
}
