//! A `timerfd` for the loop's timers: `epoll_wait` takes whole milliseconds
//! (mio rounds up), which would start paced requests up to 1 ms late.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// A `timerfd` armed to the loop's next due timer, for sub-millisecond
/// wake-ups (`epoll_wait` takes whole milliseconds, and mio rounds up).
pub(super) struct TimerFd {
    pub(super) fd: OwnedFd,
    armed: Option<Instant>,
    /// The monotonic clock's reading at `base`, to convert `Instant`s.
    base: Instant,
    base_mono: Duration,
}

impl TimerFd {
    pub(super) fn new() -> io::Result<TimerFd> {
        // Safety: plain syscalls; the fd is owned from here on.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let base = Instant::now();
        // Safety: writes into a local struct.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let base_mono = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        Ok(TimerFd {
            fd,
            armed: None,
            base,
            base_mono,
        })
    }

    /// Arms the timer for `at` (absolute), or disarms it; a no-op when
    /// already armed for that time.
    pub(super) fn arm(&mut self, at: Option<Instant>) -> io::Result<()> {
        if at == self.armed {
            return Ok(());
        }
        self.armed = at;
        let value = match at {
            // An absolute time of 0 would disarm: 1 ns is "already due".
            Some(t) => (self.base_mono + t.saturating_duration_since(self.base))
                .max(Duration::from_nanos(1)),
            None => Duration::ZERO,
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: value.as_secs() as libc::time_t,
                tv_nsec: value.subsec_nanos() as libc::c_long,
            },
        };
        // Safety: valid fd and a local struct.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Consumes the expiry so that the next one raises a new edge.
    pub(super) fn clear(&mut self) {
        let mut buf = [0u8; 8];
        // Safety: reads 8 bytes into a local buffer from a non-blocking fd.
        unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        self.armed = None;
    }
}
