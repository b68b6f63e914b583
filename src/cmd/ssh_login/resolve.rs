//! Merging the login flags, the target URL and the ssh config into one
//! login, in OpenSSH's order of precedence: a flag (or what the URL says)
//! wins over the config, the config over xfer's defaults. Pure: reading key
//! files and prompting happen after, in the parent module. Just over 500
//! lines because half of it is the tests of that precedence, kept beside it.

use crate::sftp::client::ssh_config::{expand_tokens, HostSettings, Tokens};
use crate::sftp::client::{
    supported_ciphers, HostKeyCheck, Origin, Provenance, ProxyCommand, SftpTarget, TargetParts,
    DEFAULT_CIPHERS,
};
use std::path::PathBuf;
use std::time::Duration;

/// What the command line says, apart from the target.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub identity: Option<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub host_key_check: Option<HostKeyCheck>,
    pub cipher: Option<String>,
    pub connect_timeout: Option<Duration>,
}

/// The local facts `%d` and `%u` stand for.
#[derive(Debug, Clone)]
pub struct Local {
    pub home: String,
    pub user: String,
}

/// A login with every setting decided, before any file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub target: SftpTarget,
    /// Key files to offer, in order; from the config only those that exist.
    pub identities: Vec<PathBuf>,
    /// Config IdentityFiles that do not exist (OpenSSH skips them too).
    pub missing_identities: Vec<PathBuf>,
    /// Whether ssh-agent may be offered (not with IdentitiesOnly yes).
    pub agent: bool,
    pub known_hosts: PathBuf,
    pub host_key_check: HostKeyCheck,
    pub ciphers: String,
    pub connect_timeout: Duration,
    pub proxy: Option<ProxyCommand>,
    pub provenance: Provenance,
}

/// Why the settings do not make a login; the message names where the bad
/// value came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// Without a flag or a config value.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Decides every setting; `file` names the config in messages.
pub fn plan(
    flags: &Flags,
    url: TargetParts,
    cfg: &HostSettings,
    file: Option<&str>,
    local: &Local,
    exists: impl Fn(&std::path::Path) -> bool,
) -> Result<Plan, PlanError> {
    let in_cfg = |what: &str, e: String| {
        PlanError(format!("ssh config {}: {what}: {e}", file.unwrap_or("")))
    };
    fn pick<T>(flag: Option<T>, cfg: Option<T>, default: T, flag_origin: Origin) -> (T, Origin) {
        match (flag, cfg) {
            (Some(v), _) => (v, flag_origin),
            (None, Some(v)) => (v, Origin::SshConfig),
            (None, None) => (default, Origin::Default),
        }
    }
    let alias = url.host.clone();
    let no_tokens = Tokens {
        home: &local.home,
        local_user: &local.user,
        host: &alias,
        alias: &alias,
        remote_user: "",
        port: 0,
    };
    let host_name = cfg
        .host_name
        .as_deref()
        .map(|h| expand_tokens(h, &no_tokens).map_err(|e| in_cfg("HostName", e)))
        .transpose()?;
    let (host, host_origin) = match host_name {
        Some(h) => (h, Origin::SshConfig),
        None => (alias.clone(), Origin::Url),
    };
    let (user, user_origin) = match (url.user, cfg.user.clone()) {
        (Some(u), _) => (u, Origin::Url),
        (None, Some(u)) => (u, Origin::SshConfig),
        (None, None) => (crate::sftp::client::default_user(), Origin::Default),
    };
    let (port, port_origin) = pick(url.port, cfg.port, 22, Origin::Url);
    let target = SftpTarget {
        user,
        host,
        port,
        dir: url.dir,
    };
    let tokens = Tokens {
        host: &target.host,
        remote_user: &target.user,
        port: target.port,
        ..no_tokens
    };

    let (identities, missing_identities, identity_origin) = match &flags.identity {
        Some(p) => (vec![p.clone()], vec![], Origin::Flag),
        None if cfg.identity_files.is_empty() => (vec![], vec![], Origin::Default),
        None => {
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for f in &cfg.identity_files {
                let path = PathBuf::from(
                    expand_tokens(&f.to_string_lossy(), &tokens)
                        .map_err(|e| in_cfg("IdentityFile", e))?,
                );
                if exists(&path) {
                    found.push(path);
                } else {
                    missing.push(path);
                }
            }
            (found, missing, Origin::SshConfig)
        }
    };
    let agent = cfg.identities_only != Some(true) || identities.is_empty();

    let kh_cfg = cfg
        .user_known_hosts_file
        .as_deref()
        .map(|f| {
            expand_tokens(f, &tokens)
                .map(PathBuf::from)
                .map_err(|e| in_cfg("UserKnownHostsFile", e))
        })
        .transpose()?;
    let (known_hosts, known_hosts_origin) = pick(
        flags.known_hosts.clone(),
        kh_cfg,
        PathBuf::from(&local.home).join(".ssh/known_hosts"),
        Origin::Flag,
    );
    let (host_key_check, check_origin) = pick(
        flags.host_key_check,
        cfg.strict_host_key_checking,
        HostKeyCheck::Strict,
        Origin::Flag,
    );

    let supported = supported_ciphers();
    let cfg_ciphers = match &cfg.ciphers {
        None => None,
        Some(list) => {
            let usable: Vec<&str> = list
                .iter()
                .map(String::as_str)
                .filter(|c| supported.contains(c))
                .collect();
            if usable.is_empty() {
                return Err(in_cfg(
                    "Ciphers",
                    format!(
                        "none of {} is supported by libssh2; choose from {}",
                        list.join(","),
                        supported.join(", ")
                    ),
                ));
            }
            Some(usable.join(","))
        }
    };
    if let Some(c) = flags.cipher.as_deref().filter(|c| !supported.contains(c)) {
        return Err(PlanError(format!(
            "--cipher '{c}' is not supported by libssh2 {}; choose one of: {}",
            crate::sftp::client::libssh2_version(),
            supported.join(", ")
        )));
    }
    let (ciphers, ciphers_origin) = pick(
        flags.cipher.clone(),
        cfg_ciphers,
        DEFAULT_CIPHERS.to_string(),
        Origin::Flag,
    );
    if cfg.connect_timeout == Some(Duration::ZERO) {
        return Err(in_cfg(
            "ConnectTimeout",
            "must be at least 1 second, got 0".into(),
        ));
    }
    let (connect_timeout, timeout_origin) = pick(
        flags.connect_timeout,
        cfg.connect_timeout,
        DEFAULT_CONNECT_TIMEOUT,
        Origin::Flag,
    );

    let proxy = match (&cfg.proxy_jump, &cfg.proxy_command) {
        (Some(_), Some(_)) => {
            return Err(in_cfg(
                "ProxyJump and ProxyCommand",
                "both are set for this host; keep one".into(),
            ))
        }
        (Some(jump), None) => Some(proxy_jump(jump, &target, file)),
        (None, Some(command)) => Some(ProxyCommand {
            argv: vec![
                "sh".into(),
                "-c".into(),
                format!(
                    "exec {}",
                    expand_tokens(command, &tokens).map_err(|e| in_cfg("ProxyCommand", e))?
                ),
            ],
        }),
        (None, None) => None,
    };

    Ok(Plan {
        provenance: Provenance {
            ssh_config: file.map(str::to_string),
            host_as_given: alias,
            host: host_origin,
            user: user_origin,
            port: port_origin,
            identity: identity_origin,
            known_hosts: known_hosts_origin,
            host_key_check: check_origin,
            ciphers: ciphers_origin,
            connect_timeout: timeout_origin,
            proxy: proxy.as_ref().map(ToString::to_string),
        },
        target,
        identities,
        missing_identities,
        agent,
        known_hosts,
        host_key_check,
        ciphers,
        connect_timeout,
        proxy,
    })
}

/// `ssh -W HOST:PORT LAST` through the earlier hops (`-J`), reading the
/// same ssh config, never prompting (many users connect at once).
fn proxy_jump(hops: &str, target: &SftpTarget, file: Option<&str>) -> ProxyCommand {
    let mut argv: Vec<String> = vec!["ssh".into()];
    if let Some(f) = file {
        argv.extend(["-F".into(), f.into()]);
    }
    argv.extend(["-o".into(), "BatchMode=yes".into()]);
    let (earlier, last) = match hops.rsplit_once(',') {
        Some((earlier, last)) => (Some(earlier), last),
        None => (None, hops),
    };
    if let Some(earlier) = earlier {
        argv.extend(["-J".into(), earlier.into()]);
    }
    argv.extend(["-W".into(), target.host_port(), last.into()]);
    ProxyCommand { argv }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn local() -> Local {
        Local {
            home: "/home/me".into(),
            user: "me".into(),
        }
    }

    fn gw() -> HostSettings {
        HostSettings {
            host_name: Some("10.0.0.%h".into()),
            user: Some("deploy".into()),
            port: Some(2222),
            identity_files: vec!["%d/.ssh/%r_key".into(), "/keys/missing".into()],
            identities_only: Some(true),
            user_known_hosts_file: Some("~/.ssh/kh_%h".into()),
            strict_host_key_checking: Some(HostKeyCheck::AcceptNew),
            ciphers: Some(vec!["rot13".into(), "aes256-ctr".into()]),
            connect_timeout: Some(Duration::from_secs(3)),
            proxy_jump: None,
            proxy_command: None,
        }
    }

    #[test]
    fn proxies_become_a_command_line() {
        let cfg = HostSettings {
            proxy_jump: Some("a,me@b:2200".into()),
            ..gw()
        };
        let p = plan(
            &Flags::default(),
            url("sftp://gw"),
            &cfg,
            Some("/c"),
            &local(),
            exists,
        )
        .unwrap();
        assert_eq!(
            p.proxy.unwrap().to_string(),
            "ssh -F /c -o BatchMode=yes -J a -W 10.0.0.gw:2222 me@b:2200"
        );
        let cfg = HostSettings {
            proxy_command: Some("nc %h %p # %r".into()),
            ..gw()
        };
        let p = plan(
            &Flags::default(),
            url("sftp://gw"),
            &cfg,
            Some("/c"),
            &local(),
            exists,
        )
        .unwrap();
        assert_eq!(
            p.proxy.unwrap().argv,
            ["sh", "-c", "exec nc 10.0.0.gw 2222 # deploy"]
        );
        let cfg = HostSettings {
            proxy_command: Some("nc %h %p".into()),
            proxy_jump: Some("a".into()),
            ..gw()
        };
        let e = plan(
            &Flags::default(),
            url("sftp://gw"),
            &cfg,
            Some("/c"),
            &local(),
            exists,
        )
        .unwrap_err();
        assert!(e.0.contains("keep one"), "{e}");
    }

    fn url(s: &str) -> TargetParts {
        s.parse().unwrap()
    }

    fn exists(p: &Path) -> bool {
        !p.starts_with("/keys")
    }

    #[test]
    fn the_config_fills_what_the_url_and_flags_leave_out() {
        let p = plan(
            &Flags::default(),
            url("sftp://gw/in"),
            &gw(),
            Some("cfg"),
            &local(),
            exists,
        )
        .unwrap();
        assert_eq!(p.target.to_string(), "sftp://deploy@10.0.0.gw:2222/in");
        assert_eq!(p.identities, [PathBuf::from("/home/me/.ssh/deploy_key")]);
        assert_eq!(p.missing_identities, [PathBuf::from("/keys/missing")]);
        assert!(!p.agent, "IdentitiesOnly yes keeps the agent out");
        assert_eq!(p.known_hosts, PathBuf::from("/home/me/.ssh/kh_10.0.0.gw"));
        assert_eq!(p.host_key_check, HostKeyCheck::AcceptNew);
        assert_eq!(p.ciphers, "aes256-ctr", "libssh2 cannot do rot13");
        assert_eq!(p.connect_timeout, Duration::from_secs(3));
        let v = &p.provenance;
        assert_eq!(
            [
                v.host,
                v.user,
                v.port,
                v.identity,
                v.known_hosts,
                v.host_key_check,
                v.ciphers,
                v.connect_timeout
            ],
            [Origin::SshConfig; 8]
        );
        assert_eq!(v.host_as_given, "gw");
    }

    #[test]
    fn flags_and_the_url_win_over_the_config() {
        let flags = Flags {
            identity: Some("/my/key".into()),
            known_hosts: Some("/my/kh".into()),
            host_key_check: Some(HostKeyCheck::Strict),
            cipher: Some("aes128-ctr".into()),
            connect_timeout: Some(Duration::from_secs(1)),
        };
        let p = plan(
            &flags,
            url("sftp://root@gw:22/x"),
            &gw(),
            Some("cfg"),
            &local(),
            exists,
        )
        .unwrap();
        assert_eq!((p.target.user.as_str(), p.target.port), ("root", 22));
        assert_eq!(p.identities, [PathBuf::from("/my/key")]);
        assert_eq!(p.known_hosts, PathBuf::from("/my/kh"));
        assert_eq!(p.host_key_check, HostKeyCheck::Strict);
        assert_eq!(p.ciphers, "aes128-ctr");
        assert_eq!(p.connect_timeout, Duration::from_secs(1));
        let v = &p.provenance;
        assert_eq!(
            (v.user, v.port, v.host),
            (Origin::Url, Origin::Url, Origin::SshConfig)
        );
        assert_eq!(
            [
                v.identity,
                v.known_hosts,
                v.host_key_check,
                v.ciphers,
                v.connect_timeout
            ],
            [Origin::Flag; 5]
        );
    }

    #[test]
    fn without_a_config_the_defaults_apply() {
        let p = plan(
            &Flags::default(),
            url("sftp://u@h/d"),
            &HostSettings::default(),
            None,
            &local(),
            exists,
        )
        .unwrap();
        assert_eq!(p.target.to_string(), "sftp://u@h:22/d");
        assert!(p.identities.is_empty() && p.agent);
        assert_eq!(p.known_hosts, PathBuf::from("/home/me/.ssh/known_hosts"));
        assert_eq!(
            (p.host_key_check, p.ciphers.as_str()),
            (HostKeyCheck::Strict, DEFAULT_CIPHERS)
        );
        assert_eq!(p.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(
            (p.provenance.host, p.provenance.port),
            (Origin::Url, Origin::Default)
        );
    }

    #[test]
    fn unusable_values_name_their_source() {
        let cfg = HostSettings {
            ciphers: Some(vec!["rot13".into()]),
            ..HostSettings::default()
        };
        let e = plan(
            &Flags::default(),
            url("sftp://h"),
            &cfg,
            Some("/etc/cfg"),
            &local(),
            exists,
        )
        .unwrap_err();
        assert!(
            e.0.contains("ssh config /etc/cfg: Ciphers") && e.0.contains("rot13"),
            "{e}"
        );
        let cfg = HostSettings {
            identity_files: vec!["/k/%C".into()],
            ..HostSettings::default()
        };
        let e = plan(
            &Flags::default(),
            url("sftp://h"),
            &cfg,
            Some("/etc/cfg"),
            &local(),
            exists,
        )
        .unwrap_err();
        assert!(e.0.contains("IdentityFile") && e.0.contains("%C"), "{e}");
        let flags = Flags {
            cipher: Some("rot13".into()),
            ..Flags::default()
        };
        let e = plan(
            &flags,
            url("sftp://h"),
            &HostSettings::default(),
            None,
            &local(),
            exists,
        )
        .unwrap_err();
        assert!(e.0.contains("--cipher 'rot13'"), "{e}");
    }
}
