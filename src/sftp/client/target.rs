//! `sftp://[USER@]HOST[:PORT][/DIR]`: parsing, printing, and the login name
//! used when a target names none. Pure, apart from reading who we are.

use std::fmt;
use std::str::FromStr;

/// `sftp://[USER@]HOST[:PORT][/DIR]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SftpTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
    /// Remote directory; relative paths are relative to the login directory.
    pub dir: String,
}

impl fmt::Display for SftpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An absolute DIR prints as `//abs/dir`, which parses back to itself.
        write!(f, "sftp://{}@{}/{}", self.user, self.host_port(), self.dir)
    }
}

impl SftpTarget {
    /// `host:port`, with IPv6 hosts in brackets.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The host as OpenSSH writes it in known_hosts: `host` on port 22,
    /// `[host]:port` elsewhere.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

/// Why an `sftp://` target did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not an SFTP target: {why} (expected sftp://[USER@]HOST[:PORT][/DIR])")]
pub struct TargetError {
    input: String,
    why: &'static str,
}

/// A target as written, before defaults: what the URL does not say may come
/// from the ssh config (`User`, `Port`) before the defaults apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetParts {
    pub user: Option<String>,
    /// The host as written: an ssh config `Host` alias or a real name.
    pub host: String,
    pub port: Option<u16>,
    pub dir: String,
}

impl TargetParts {
    /// The target with the defaults (the login name, port 22) filled in.
    pub fn with_defaults(self) -> SftpTarget {
        SftpTarget {
            user: self.user.unwrap_or_else(default_user),
            host: self.host,
            port: self.port.unwrap_or(22),
            dir: self.dir,
        }
    }
}

impl FromStr for SftpTarget {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<TargetParts>().map(TargetParts::with_defaults)
    }
}

impl FromStr for TargetParts {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| TargetError {
            input: s.to_string(),
            why,
        };
        let rest = s
            .strip_prefix("sftp://")
            .ok_or_else(|| err("it must start with sftp://"))?;
        let (authority, dir) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i + 1..].to_string()),
            None => (rest, String::new()),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) if !u.is_empty() => (Some(u.to_string()), h),
            Some(_) => return Err(err("the user name is empty")),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| err("an IPv6 address needs a closing ]"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(err("unexpected text after the IPv6 address")),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(err("the host is empty"));
        }
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| err("the port is not a number from 1 to 65535"))?,
            ),
            None => None,
        };
        let dir = if dir.is_empty() { ".".to_string() } else { dir };
        Ok(TargetParts {
            user,
            host: host.to_string(),
            port,
            dir,
        })
    }
}

/// The login name to use when a target names none: `$USER`, else the name of
/// the effective user (containers often leave `$USER` unset), else `root`.
pub fn default_user() -> String {
    if let Some(u) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        return u;
    }
    effective_user_name().unwrap_or_else(|| "root".to_string())
}

/// The passwd name of the effective uid, with the reentrant `getpwuid_r`:
/// `getpwuid` returns a static buffer that another thread (tests run in
/// parallel) may overwrite while it is read.
fn effective_user_name() -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        // Safety: every pointer points into locals that outlive the call;
        // on success `result` points at `pw`, whose strings live in `buf`.
        unsafe {
            let mut pw: libc::passwd = std::mem::zeroed();
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwuid_r(
                libc::geteuid(),
                &mut pw,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            );
            if rc == libc::ERANGE && buf.len() < 1 << 20 {
                buf.resize(buf.len() * 4, 0);
                continue;
            }
            if rc != 0 || result.is_null() || pw.pw_name.is_null() {
                return None;
            }
            return Some(
                std::ffi::CStr::from_ptr(pw.pw_name)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_defaults() {
        let t: SftpTarget = "sftp://alice@example.com:2222/upload/in".parse().unwrap();
        assert_eq!(
            (t.user.as_str(), t.host.as_str(), t.port, t.dir.as_str()),
            ("alice", "example.com", 2222, "upload/in")
        );
        assert_eq!(t.known_hosts_name(), "[example.com]:2222");
        let t: SftpTarget = "sftp://bob@host".parse().unwrap();
        assert_eq!((t.port, t.dir.as_str()), (22, "."));
        assert_eq!(t.known_hosts_name(), "host");
        let t: SftpTarget = "sftp://carol@[::1]:2022//abs".parse().unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.dir.as_str()),
            ("::1", 2022, "/abs")
        );
        assert_eq!(t.host_port(), "[::1]:2022");
    }

    #[test]
    fn parts_keep_what_the_url_leaves_out() {
        let p: TargetParts = "sftp://gw/in".parse().unwrap();
        assert_eq!((p.user, p.port, p.host.as_str()), (None, None, "gw"));
        let p: TargetParts = "sftp://u@gw:22".parse().unwrap();
        assert_eq!((p.user.as_deref(), p.port), (Some("u"), Some(22)));
    }

    #[test]
    fn targets_print_back_to_what_parses_to_them() {
        for s in [
            "sftp://a@h:22/rel/dir",
            "sftp://a@h:2222//abs/dir",
            "sftp://a@[::1]:22/.",
        ] {
            let t: SftpTarget = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
            assert_eq!(t.to_string().parse::<SftpTarget>().unwrap(), t);
        }
    }

    #[test]
    fn bad_targets_say_why() {
        for (s, why) in [
            ("ftp://h", "sftp://"),
            ("sftp://@h", "user name"),
            ("sftp://u@:22", "host is empty"),
            ("sftp://u@h:0", "port"),
            ("sftp://u@h:x", "port"),
            ("sftp://u@[::1", "closing ]"),
        ] {
            let e = s.parse::<SftpTarget>().unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn the_effective_user_has_the_name_id_prints() {
        let out = std::process::Command::new("id").arg("-un").output();
        if let Some(out) = out.ok().filter(|o| o.status.success()) {
            let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert_eq!(effective_user_name().as_deref(), Some(name.as_str()));
        }
    }
}
