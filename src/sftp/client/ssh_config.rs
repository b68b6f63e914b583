//! OpenSSH client configuration (`~/.ssh/config`, `ssh -F FILE`), so that
//! `xfer sftp-bench sftp://prod-gw/in` reaches the same server, as the same
//! user, with the same key and known_hosts file as `sftp prod-gw` does.
//!
//! Parsing (Host patterns, first obtained value wins, `Include`, `~`) is the
//! `ssh2-config` crate's; this module loads a file, points a parse error at
//! its line, and reads the settings xfer uses out of the matched blocks,
//! expanding the `%` tokens OpenSSH expands in paths. The crate has no
//! `Match`, and would read the lines under one as part of the block above,
//! applying them to hosts the user never meant; so before parsing, each
//! `Match` line becomes a `Host` line: `Match all` and `Match originalhost
//! LIST` exactly (they test what `Host` tests), any other criteria `Host !*`
//! (a block that matches nothing) with a warning. Lines keep their numbers.

use super::known_hosts::HostKeyCheck;
use ssh2_config::{DefaultAlgorithms, ParseRule, SshConfig, SshParserError};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why an ssh config could not be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum SshConfigError {
    #[error("ssh config {file}: {cause}")]
    Read { file: String, cause: std::io::Error },
    #[error("ssh config {file} line {line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
    #[error("ssh config {file}: {setting} {value:?} {why}")]
    Value {
        file: String,
        setting: &'static str,
        value: String,
        why: &'static str,
    },
}

/// A parsed ssh config and the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub file: PathBuf,
    config: SshConfig,
    /// `Match` blocks that were ignored, one line each, for the user.
    pub warnings: Vec<String>,
}

/// What the config says for one host; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSettings {
    pub host_name: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// In the order the config lists them, tokens not yet expanded.
    pub identity_files: Vec<PathBuf>,
    pub identities_only: Option<bool>,
    /// The first UserKnownHostsFile, tokens not yet expanded.
    pub user_known_hosts_file: Option<String>,
    pub strict_host_key_checking: Option<HostKeyCheck>,
    /// The Ciphers list after `+`/`-`/`^` rules, or `None` when not set.
    pub ciphers: Option<Vec<String>>,
    pub connect_timeout: Option<Duration>,
    pub proxy_jump: Option<String>,
    pub proxy_command: Option<String>,
}

/// Where one login setting came from, highest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Flag,
    Url,
    SshConfig,
    Default,
}

/// Which settings of a login came from where, for `run.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// The ssh config file read, or `None` (absent, or `-F none`).
    pub ssh_config: Option<String>,
    /// The host as the target URL names it (a `Host` alias or a real name).
    pub host_as_given: String,
    pub host: Origin,
    pub user: Origin,
    pub port: Origin,
    pub identity: Origin,
    pub known_hosts: Origin,
    pub host_key_check: Origin,
    pub ciphers: Origin,
    pub connect_timeout: Origin,
    /// The command carrying the stream (ProxyJump / ProxyCommand), if any.
    pub proxy: Option<String>,
}

/// Values for the `%` tokens OpenSSH expands in IdentityFile and
/// UserKnownHostsFile.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    /// `%d`: the local home directory.
    pub home: &'a str,
    /// `%u`: the local user.
    pub local_user: &'a str,
    /// `%h`: the remote host name (after HostName).
    pub host: &'a str,
    /// `%n`: the host as given on the command line (the alias).
    pub alias: &'a str,
    /// `%r`: the remote user.
    pub remote_user: &'a str,
    /// `%p`: the remote port.
    pub port: u16,
}

/// `s` with `%d %u %h %n %r %p %%` replaced and a leading `~` made the home
/// directory; an unknown token is an error naming it.
pub fn expand_tokens(s: &str, t: &Tokens<'_>) -> Result<String, String> {
    let s = match s.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{}{rest}", t.home),
        _ => s.to_string(),
    };
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('d') => out.push_str(t.home),
            Some('u') => out.push_str(t.local_user),
            Some('h') => out.push_str(t.host),
            Some('n') => out.push_str(t.alias),
            Some('r') => out.push_str(t.remote_user),
            Some('p') => out.push_str(&t.port.to_string()),
            Some(other) => return Err(format!("the token %{other} is not supported")),
            None => return Err("ends with a lone %".to_string()),
        }
    }
    Ok(out)
}

impl LoadedConfig {
    /// Parses `file`, expanding `~` against `home`.
    pub fn load(file: &Path, home: &Path) -> Result<LoadedConfig, SshConfigError> {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|cause| SshConfigError::Read {
            file: name.clone(),
            cause,
        })?;
        let (text, ignored) = rewrite_match(&text);
        match parse(&text, home) {
            Ok(config) => Ok(LoadedConfig {
                file: file.to_path_buf(),
                config,
                warnings: ignored
                    .into_iter()
                    .map(|(line, criteria)| {
                        format!(
                            "ssh config {name} line {line}: Match {criteria} is not supported; its block is ignored"
                        )
                    })
                    .collect(),
            }),
            Err(e) => Err(SshConfigError::Parse {
                file: name,
                line: failing_line(&text, home),
                message: describe(&e),
            }),
        }
    }

    /// What the config says for `alias` (the host as the user typed it).
    pub fn host(&self, alias: &str) -> Result<HostSettings, SshConfigError> {
        let p = self.config.query(alias);
        let value_err = |setting, value: &str, why| SshConfigError::Value {
            file: self.file.display().to_string(),
            setting,
            value: value.to_string(),
            why,
        };
        let raw = |key: &str| p.unsupported_fields.get(key).filter(|a| !a.is_empty());
        let yes_no = |setting, key: &str| -> Result<Option<bool>, SshConfigError> {
            raw(key)
                .map(|a| match a[0].to_ascii_lowercase().as_str() {
                    "yes" | "true" => Ok(true),
                    "no" | "false" => Ok(false),
                    _ => Err(value_err(setting, &a[0], "is not yes or no")),
                })
                .transpose()
        };
        let strict = raw("stricthostkeychecking")
            .map(|a| match a[0].to_ascii_lowercase().as_str() {
                // xfer never prompts: "ask" refuses unknown keys like "yes".
                "yes" | "true" | "ask" => Ok(HostKeyCheck::Strict),
                "accept-new" => Ok(HostKeyCheck::AcceptNew),
                "no" | "false" | "off" => Ok(HostKeyCheck::Off),
                _ => Err(value_err(
                    "StrictHostKeyChecking",
                    &a[0],
                    "is not yes, accept-new, no or ask",
                )),
            })
            .transpose()?;
        let proxy_command = raw("proxycommand")
            .map(|a| a.join(" "))
            .filter(|c| !c.eq_ignore_ascii_case("none"));
        let proxy_jump = p
            .proxy_jump
            .as_ref()
            .map(|hops| hops.join(","))
            .filter(|j| !j.is_empty() && !j.eq_ignore_ascii_case("none"));
        if p.port == Some(0) {
            return Err(value_err("Port", "0", "is not a port (1 to 65535)"));
        }
        Ok(HostSettings {
            host_name: p.host_name.clone(),
            user: p.user.clone(),
            port: p.port,
            identity_files: p.identity_file.clone().unwrap_or_default(),
            identities_only: yes_no("IdentitiesOnly", "identitiesonly")?,
            user_known_hosts_file: raw("userknownhostsfile").map(|a| a[0].clone()),
            strict_host_key_checking: strict,
            ciphers: (!p.ciphers.is_default()).then(|| p.ciphers.algorithms().to_vec()),
            connect_timeout: p.connect_timeout,
            proxy_jump,
            proxy_command,
        })
    }
}

/// `text` with every `Match` line made a `Host` line (see the module doc),
/// and the (line number, criteria) of the blocks made to match nothing.
fn rewrite_match(text: &str) -> (String, Vec<(usize, String)>) {
    let mut ignored = Vec::new();
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let body = line.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim_start();
        let keyword_len = trimmed
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(trimmed.len());
        if !trimmed[..keyword_len].eq_ignore_ascii_case("match") {
            out.push_str(line);
            continue;
        }
        let criteria = trimmed[keyword_len..]
            .trim_start_matches(|c: char| c.is_whitespace() || c == '=')
            .split('#')
            .next()
            .unwrap_or("")
            .trim();
        let words: Vec<&str> = criteria.split_whitespace().collect();
        let host_line = match words.as_slice() {
            [all] if all.eq_ignore_ascii_case("all") => "Host *".to_string(),
            [k, list] if k.eq_ignore_ascii_case("originalhost") => {
                format!("Host {}", list.replace(',', " "))
            }
            _ => {
                ignored.push((i + 1, criteria.to_string()));
                "Host !*".to_string()
            }
        };
        out.push_str(&host_line);
        out.push_str(&line[body.len()..]);
    }
    (out, ignored)
}

/// Options OpenSSH has and the crate does not read are kept (they are the
/// ones xfer reads from `unsupported_fields`); unknown words are errors, as
/// they are for `ssh`.
/// `Ciphers +x`, `-x` and `^x` apply to xfer's default list, as OpenSSH's
/// apply to its own.
fn parse(text: &str, home: &Path) -> Result<SshConfig, SshParserError> {
    let defaults = DefaultAlgorithms {
        ciphers: super::DEFAULT_CIPHERS
            .split(',')
            .map(str::to_string)
            .collect(),
        ..DefaultAlgorithms::empty()
    };
    SshConfig::default()
        .default_algorithms(defaults)
        .home_dir(home)
        .parse(
            &mut BufReader::new(text.as_bytes()),
            ParseRule::ALLOW_UNSUPPORTED_FIELDS,
        )
}

/// The 1-based line at which `text` stops parsing: the crate's errors carry
/// no position, and parsing is line by line, so the shortest failing prefix
/// ends at the bad line.
fn failing_line(text: &str, home: &Path) -> usize {
    let ends: Vec<usize> = text
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .chain(std::iter::once(text.len()))
        .collect();
    ends.iter()
        .position(|&end| parse(&text[..end], home).is_err())
        .map_or(ends.len(), |i| i + 1)
}

fn describe(e: &SshParserError) -> String {
    match e {
        SshParserError::UnknownField(f, _) => format!("unknown option {f}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> LoadedConfig {
        LoadedConfig {
            file: PathBuf::from("test.config"),
            config: parse(text, Path::new("/home/me")).unwrap(),
            warnings: vec![],
        }
    }

    #[test]
    fn the_first_obtained_value_wins() {
        let c = config(
            "Port 2200\n\
             Host prod-*\n  User deploy\n  Port 2222\n\
             Host prod-gw\n  HostName 10.0.0.1\n  User nobody\n\
             Host *\n  User fallback\n  ConnectTimeout 7\n",
        );
        let h = c.host("prod-gw").unwrap();
        assert_eq!(h.host_name.as_deref(), Some("10.0.0.1"));
        // Before any Host line applies to every host, and first.
        assert_eq!(h.port, Some(2200));
        assert_eq!(h.user.as_deref(), Some("deploy"));
        assert_eq!(h.connect_timeout, Some(Duration::from_secs(7)));
        let other = c.host("other").unwrap();
        assert_eq!(
            (other.user.as_deref(), other.host_name),
            (Some("fallback"), None)
        );
    }

    #[test]
    fn negated_patterns_exclude_hosts() {
        let c = config("Host *.corp !bastion.corp\n  User corp\n");
        assert_eq!(c.host("db.corp").unwrap().user.as_deref(), Some("corp"));
        assert_eq!(c.host("bastion.corp").unwrap().user, None);
    }

    #[test]
    fn identity_files_accumulate_in_order() {
        let c = config(
            "Host a\n  IdentityFile ~/.ssh/a_key\n  IdentityFile /keys/%r@%h\n\
             Host *\n  IdentityFile ~/.ssh/id_ed25519\n",
        );
        assert_eq!(
            c.host("a").unwrap().identity_files,
            [
                "/home/me/.ssh/a_key",
                "/keys/%r@%h",
                "/home/me/.ssh/id_ed25519"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn options_the_crate_does_not_model_are_read() {
        let c = config(
            "Host a\n  IdentitiesOnly yes\n  UserKnownHostsFile ~/kh /etc/kh2\n  \
             StrictHostKeyChecking accept-new\n  Ciphers aes128-ctr,aes256-ctr\n  \
             ProxyCommand ssh -W %h:%p jump\n",
        );
        let h = c.host("a").unwrap();
        assert_eq!(h.identities_only, Some(true));
        assert_eq!(h.user_known_hosts_file.as_deref(), Some("~/kh"));
        assert_eq!(h.strict_host_key_checking, Some(HostKeyCheck::AcceptNew));
        assert_eq!(
            h.ciphers,
            Some(vec!["aes128-ctr".to_string(), "aes256-ctr".to_string()])
        );
        assert_eq!(h.proxy_command.as_deref(), Some("ssh -W %h:%p jump"));
        let none = c.host("b").unwrap();
        assert_eq!(none, HostSettings::default());
        let c = config(
            "Host p\n  Ciphers +aes192-ctr\nHost m\n  Ciphers -chacha20-poly1305@openssh.com\n",
        );
        let p = c.host("p").unwrap().ciphers.unwrap();
        assert_eq!(p.len(), 6, "{p:?}");
        assert_eq!(p.last().map(String::as_str), Some("aes192-ctr"));
        let m = c.host("m").unwrap().ciphers.unwrap();
        assert_eq!(
            m.first().map(String::as_str),
            Some("aes128-gcm@openssh.com")
        );
        assert_eq!(m.len(), 4, "{m:?}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let c = config("StrictHostKeyChecking maybe\n");
        let e = c.host("a").unwrap_err().to_string();
        assert!(e.contains("test.config") && e.contains("StrictHostKeyChecking"));
        let e = config("Port 0\n").host("a").unwrap_err().to_string();
        assert!(e.contains("Port \"0\" is not a port"), "{e}");
    }

    #[test]
    fn parse_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        for (text, line, what) in [
            ("Host a\n  Port 22\n  Port banana\n", 3, "port"),
            ("# c\n\nHost a\n  Frobnicate yes\n", 4, "Frobnicate"),
            ("Match all\n  Port x\n", 2, "port"),
        ] {
            let file = dir.path().join("cfg");
            std::fs::write(&file, text).unwrap();
            let e = LoadedConfig::load(&file, dir.path())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("{} line {line}:", file.display())) && e.contains(what),
                "{e}"
            );
        }
    }

    #[test]
    fn match_lines_become_host_lines_of_the_same_number() {
        let (text, ignored) = rewrite_match(
            "Host a\n  User x\nmatch originalhost gw,!gw2 # c\n  User m\nMatch=exec \"true\"\n  User e\nMATCH all\r\n  Port 2\n",
        );
        assert_eq!(
            text,
            "Host a\n  User x\nHost gw !gw2\n  User m\nHost !*\n  User e\nHost *\r\n  Port 2\n"
        );
        assert_eq!(ignored, [(5, "exec \"true\"".to_string())]);
        let c = config(&text);
        assert_eq!(c.host("gw").unwrap().user.as_deref(), Some("m"));
        assert_eq!(c.host("gw2").unwrap().user, None);
        assert_eq!(c.host("zz").unwrap().port, Some(2));
    }

    #[test]
    fn ignored_match_blocks_are_reported_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cfg");
        std::fs::write(&file, "Host a\n\nMatch user root\n  User x\n").unwrap();
        let c = LoadedConfig::load(&file, dir.path()).unwrap();
        assert_eq!(c.host("a").unwrap().user, None);
        assert_eq!(c.warnings.len(), 1);
        assert!(
            c.warnings[0]
                .ends_with("line 3: Match user root is not supported; its block is ignored"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn provenance_serializes_for_run_json() {
        let p = Provenance {
            ssh_config: Some("/c".into()),
            host_as_given: "gw".into(),
            host: Origin::SshConfig,
            user: Origin::Url,
            port: Origin::Default,
            identity: Origin::Flag,
            known_hosts: Origin::Default,
            host_key_check: Origin::Default,
            ciphers: Origin::Default,
            connect_timeout: Origin::SshConfig,
            proxy: None,
        };
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            json.starts_with(r#"{"ssh_config":"/c","host_as_given":"gw","host":"ssh_config","user":"url","port":"default","identity":"flag""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Provenance>(&json).unwrap(), p);
    }

    #[test]
    fn tokens_expand_as_openssh_does() {
        let t = Tokens {
            home: "/home/me",
            local_user: "me",
            host: "10.0.0.1",
            alias: "gw",
            remote_user: "deploy",
            port: 2222,
        };
        assert_eq!(
            expand_tokens("%d/.ssh/%r@%h:%p-%n-%u-100%%", &t).unwrap(),
            "/home/me/.ssh/deploy@10.0.0.1:2222-gw-me-100%"
        );
        assert_eq!(expand_tokens("~/kh", &t).unwrap(), "/home/me/kh");
        assert_eq!(expand_tokens("~x/kh", &t).unwrap(), "~x/kh");
        assert!(expand_tokens("%C", &t).unwrap_err().contains("%C"));
    }
}
