//! How many users this machine can hold, asked before a single thread is
//! spawned.
//!
//! Every user is an OS thread with a socket and some memory, so a user count
//! past what the kernel allows (threads, pids, file descriptors) or past the
//! free memory does not measure a server: it fails half-way through
//! spawning, or swaps the machine to a halt (`-c 100000000` grew by 600 MB/s
//! until the machine ran out). The limits are read once from `/proc` and
//! `getrlimit`; [`Capacity::max_users`] is pure arithmetic over them so it
//! can be tested exactly.

use std::fmt;

/// Threads and descriptors the process needs besides its users (main thread,
/// the Ctrl-C thread, an embedded server's runtime, stdio, the CSV files).
const RESERVED: u64 = 64;

/// One limit on the number of users, with the figures that make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// What limits, as the user would look it up (`ulimit -u`, `kernel.threads-max`).
    pub name: &'static str,
    /// The most users it allows.
    pub max_users: u64,
    /// How the figure was made, for the error message.
    pub detail: String,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} allows at most {} users ({})",
            self.name, self.max_users, self.detail
        )
    }
}

/// The machine's limits as read now; `None` where a limit is unknown or
/// unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capacity {
    /// RLIMIT_NPROC (threads of this uid), soft limit; not enforced for root.
    pub nproc: Option<u64>,
    /// `kernel.threads-max`.
    pub threads_max: Option<u64>,
    /// `kernel.pid_max`: every thread takes a pid.
    pub pid_max: Option<u64>,
    /// Threads alive on the machine now (the 4th field of /proc/loadavg).
    pub threads_now: u64,
    /// RLIMIT_NOFILE soft limit (after `raise_fd_limit`).
    pub nofile: Option<u64>,
    /// Descriptors this process holds now.
    pub fds_now: u64,
    /// MemAvailable, in bytes.
    pub mem_available: Option<u64>,
    /// Whether RLIMIT_NPROC applies (it does not to root).
    pub nproc_enforced: bool,
}

impl Capacity {
    /// Reads the limits of this process and machine.
    pub fn probe() -> Capacity {
        let rlimit = |which| {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // Safety: getrlimit fills a local struct.
            let ok = unsafe { libc::getrlimit(which, &mut lim) } == 0;
            (ok && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
        };
        let proc_u64 = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
        };
        let threads_now = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| {
                let field = s.split_whitespace().nth(3)?;
                field.split_once('/')?.1.parse().ok()
            })
            .unwrap_or(0);
        let fds_now = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        let mem_available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        });
        Capacity {
            nproc: rlimit(libc::RLIMIT_NPROC),
            threads_max: proc_u64("/proc/sys/kernel/threads-max"),
            pid_max: proc_u64("/proc/sys/kernel/pid_max"),
            threads_now,
            nofile: rlimit(libc::RLIMIT_NOFILE),
            fds_now,
            mem_available,
            // Safety: geteuid cannot fail.
            nproc_enforced: unsafe { libc::geteuid() } != 0,
        }
    }

    /// The tightest limit on users when each user needs one thread,
    /// `fds_per_user` descriptors and `bytes_per_user` of memory; `None` when
    /// nothing is known to limit them.
    pub fn max_users(&self, fds_per_user: u64, bytes_per_user: u64) -> Option<Limit> {
        let free_threads = |total: u64| total.saturating_sub(self.threads_now + RESERVED);
        let mut limits = Vec::new();
        if let Some(n) = self.nproc.filter(|_| self.nproc_enforced) {
            limits.push(Limit {
                name: "the thread limit of this user (ulimit -u, RLIMIT_NPROC)",
                max_users: n.saturating_sub(RESERVED),
                detail: format!("limit {n}, {RESERVED} kept for xfer itself"),
            });
        }
        for (name, total) in [
            (
                "the kernel's thread limit (kernel.threads-max)",
                self.threads_max,
            ),
            ("the kernel's pid limit (kernel.pid_max)", self.pid_max),
        ] {
            if let Some(t) = total {
                limits.push(Limit {
                    name,
                    max_users: free_threads(t),
                    detail: format!(
                        "limit {t}, {} threads running, {RESERVED} kept for xfer itself",
                        self.threads_now
                    ),
                });
            }
        }
        if let Some(n) = self.nofile.filter(|_| fds_per_user > 0) {
            limits.push(Limit {
                name: "the open-file limit (ulimit -n, RLIMIT_NOFILE)",
                max_users: n.saturating_sub(self.fds_now + RESERVED) / fds_per_user,
                detail: format!("limit {n}, {} open, {fds_per_user} per user", self.fds_now),
            });
        }
        if let Some(m) = self.mem_available.filter(|_| bytes_per_user > 0) {
            limits.push(Limit {
                name: "available memory",
                max_users: m / bytes_per_user,
                detail: format!(
                    "{} MiB available, about {} KiB per user",
                    m >> 20,
                    bytes_per_user >> 10
                ),
            });
        }
        limits.into_iter().min_by_key(|l| l.max_users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Capacity {
        Capacity {
            nproc: Some(4096),
            threads_max: Some(100_000),
            pid_max: Some(32_768),
            threads_now: 200,
            nofile: Some(1_048_576),
            fds_now: 10,
            mem_available: Some(8 << 30),
            nproc_enforced: true,
        }
    }

    #[test]
    fn the_tightest_limit_wins_and_names_itself() {
        let l = machine().max_users(1, 1 << 20).unwrap();
        assert_eq!(l.max_users, 4096 - RESERVED);
        assert!(l.to_string().contains("ulimit -u"), "{l}");
    }

    #[test]
    fn root_is_not_bound_by_nproc_but_by_pids() {
        let c = Capacity {
            nproc_enforced: false,
            ..machine()
        };
        let l = c.max_users(1, 1 << 10).unwrap();
        assert_eq!(l.max_users, 32_768 - 200 - RESERVED);
        assert!(l.name.contains("pid_max"));
    }

    #[test]
    fn memory_and_descriptors_divide_by_the_per_user_cost() {
        let c = Capacity {
            nproc: None,
            threads_max: None,
            pid_max: None,
            nofile: Some(1000),
            ..machine()
        };
        assert_eq!(c.max_users(2, 1).unwrap().max_users, (1000 - 10 - 64) / 2);
        let c = Capacity { nofile: None, ..c };
        let l = c.max_users(1, 1 << 20).unwrap();
        assert_eq!(l.max_users, 8 << 10);
        assert!(l.to_string().contains("8192 MiB available"), "{l}");
    }

    #[test]
    fn nothing_known_means_no_limit_and_probing_this_machine_finds_some() {
        assert_eq!(Capacity::default().max_users(1, 1), None);
        let here = Capacity::probe();
        assert!(here.max_users(1, 1 << 20).is_some(), "{here:?}");
    }
}
