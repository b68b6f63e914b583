//! How `sftp-bench` and `perf` log in to an SFTP server: the flags they
//! share (`-i`, `--password-file`, `--known-hosts`, `--host-key-check`,
//! `--cipher`) and their translation into credentials, host-key trust and
//! a cipher list. Passwords never come from a flag: `XFER_PASSWORD`,
//! `--password-file`, or a prompt on a terminal. [`SshLoginArgs::resolve`]
//! also reads the user's ssh config (`-F`), as `sftp HOST` would.

mod resolve;

pub use resolve::DEFAULT_CONNECT_TIMEOUT;

use crate::sftp::client::ssh_config::{HostSettings, LoadedConfig};
use crate::sftp::client::{
    self, ClientConfig, Credential, HostKeyCheck, HostKeyTrust, Provenance, SftpTarget,
    TargetParts, DEFAULT_CIPHERS,
};
use crate::usage;
use anyhow::Context;
use clap::ValueEnum;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HostKeyCheckArg {
    /// Only hosts already in known_hosts.
    Strict,
    /// Add unknown hosts to known_hosts; refuse changed keys.
    AcceptNew,
    /// Accept any host key (throwaway test servers only).
    Off,
}

/// SSH login flags, flattened into the subcommands that connect to SFTP servers.
#[derive(Debug, clap::Args)]
pub struct SshLoginArgs {
    /// Private key file (ed25519, rsa, ecdsa; passphrase from XFER_PASSPHRASE or a prompt).
    #[arg(short, long, value_name = "FILE")]
    pub identity: Option<PathBuf>,

    /// Read the password from the first line of this file (or set XFER_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// known_hosts file [default: the ssh config's UserKnownHostsFile, else ~/.ssh/known_hosts].
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,

    /// What to do with a host key that is not in known_hosts [default: the
    /// ssh config's StrictHostKeyChecking, else strict].
    #[arg(long, value_enum, value_name = "POLICY")]
    pub host_key_check: Option<HostKeyCheckArg>,

    /// OpenSSH client config to read, as `ssh -F`; `none` reads none
    /// [default: ~/.ssh/config if it exists].
    #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    /// Pin one cipher, e.g. aes128-gcm@openssh.com [default: chacha20-poly1305 first].
    #[arg(long, value_name = "NAME")]
    pub cipher: Option<String>,
}

/// A login with every setting decided: flags, then the target URL, then
/// the ssh config, then xfer's defaults.
#[derive(Debug, Clone)]
pub struct ResolvedLogin {
    pub target: SftpTarget,
    pub credentials: Vec<Credential>,
    pub trust: HostKeyTrust,
    pub ciphers: String,
    pub connect_timeout: Duration,
    pub proxy: Option<client::ProxyCommand>,
    /// Which setting came from where (for run.json).
    pub provenance: Provenance,
}

impl ResolvedLogin {
    /// The client configuration, with `io_timeout` from the caller.
    pub fn client_config(self, io_timeout: Duration) -> ClientConfig {
        ClientConfig {
            target: self.target,
            credentials: self.credentials,
            trust: self.trust,
            ciphers: self.ciphers,
            connect_timeout: self.connect_timeout,
            io_timeout,
            proxy: self.proxy,
        }
    }
}

impl SshLoginArgs {
    /// The login for `url` (`sftp://[USER@]HOST[:PORT][/DIR]`, HOST possibly
    /// an ssh config `Host` alias). `connect_timeout` is the caller's flag,
    /// `None` when not given.
    pub fn resolve(
        &self,
        url: &str,
        connect_timeout: Option<Duration>,
    ) -> anyhow::Result<ResolvedLogin> {
        let parts: TargetParts = url.parse().map_err(|e| usage!("{e}"))?;
        let config = self.load_ssh_config()?;
        let settings = match &config {
            Some(c) => c.host(&parts.host).map_err(|e| usage!("{e}"))?,
            None => HostSettings::default(),
        };
        let file = config.as_ref().map(|c| c.file.display().to_string());
        let flags = resolve::Flags {
            identity: self.identity.clone(),
            known_hosts: self.known_hosts.clone(),
            host_key_check: self.host_key_check.map(check_policy),
            cipher: self.cipher.clone(),
            connect_timeout,
        };
        let local = resolve::Local {
            home: home_dir().to_string_lossy().into_owned(),
            user: client::default_user(),
        };
        let plan = resolve::plan(
            &flags,
            parts,
            &settings,
            file.as_deref(),
            &local,
            Path::exists,
        )
        .map_err(|e| usage!("{e}"))?;
        for missing in &plan.missing_identities {
            eprintln!(
                "xfer: ssh config {}: IdentityFile {}: no such file, skipped",
                file.as_deref().unwrap_or(""),
                missing.display()
            );
        }
        let mut credentials = Vec::new();
        for path in &plan.identities {
            let what = match plan.provenance.identity {
                client::Origin::Flag => format!("--identity {}", path.display()),
                _ => format!(
                    "ssh config {} IdentityFile {}",
                    file.as_deref().unwrap_or(""),
                    path.display()
                ),
            };
            credentials.push(key_credential(path, &what)?);
        }
        credentials.extend(password_and_agent(
            self.password_file.as_deref(),
            plan.agent,
            &plan.target,
            !credentials.is_empty(),
        )?);
        Ok(ResolvedLogin {
            trust: HostKeyTrust::KnownHosts {
                file: plan.known_hosts,
                check: plan.host_key_check,
            },
            target: plan.target,
            credentials,
            ciphers: plan.ciphers,
            connect_timeout: plan.connect_timeout,
            proxy: plan.proxy,
            provenance: plan.provenance,
        })
    }

    /// The ssh config `-F` names, else `~/.ssh/config` when it exists.
    fn load_ssh_config(&self) -> anyhow::Result<Option<LoadedConfig>> {
        let file = match &self.ssh_config {
            Some(f) if f.as_os_str() == "none" => return Ok(None),
            Some(f) => f.clone(),
            None => {
                let f = home_dir().join(".ssh/config");
                if !f.exists() {
                    return Ok(None);
                }
                f
            }
        };
        let config = LoadedConfig::load(&file, &home_dir()).map_err(|e| usage!("{e}"))?;
        for w in &config.warnings {
            eprintln!("xfer: {w}");
        }
        Ok(Some(config))
    }

    /// The cipher preference list for libssh2, for a server that needs no
    /// login resolution (the embedded one); [`SshLoginArgs::resolve`]
    /// decides it for every other.
    pub fn ciphers(&self) -> anyhow::Result<String> {
        cipher_list(self.cipher.as_deref())
    }
}

fn check_policy(check: HostKeyCheckArg) -> HostKeyCheck {
    match check {
        HostKeyCheckArg::Strict => HostKeyCheck::Strict,
        HostKeyCheckArg::AcceptNew => HostKeyCheck::AcceptNew,
        HostKeyCheckArg::Off => HostKeyCheck::Off,
    }
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// The cipher preference: the default list, or one pinned cipher that this
/// libssh2 supports.
fn cipher_list(pinned: Option<&str>) -> anyhow::Result<String> {
    let Some(name) = pinned else {
        return Ok(DEFAULT_CIPHERS.to_string());
    };
    let supported = client::supported_ciphers();
    if supported.contains(&name) {
        Ok(name.to_string())
    } else {
        Err(usage!(
            "--cipher '{name}' is not supported by libssh2 {}; choose one of: {}",
            client::libssh2_version(),
            supported.join(", ")
        ))
    }
}

/// A key file credential, with its passphrase (XFER_PASSPHRASE, or a prompt
/// when the key is encrypted); `what` names the key in errors.
fn key_credential(path: &Path, what: &str) -> anyhow::Result<Credential> {
    let text = std::fs::read_to_string(path).map_err(|e| usage!("{what}: {e}"))?;
    let passphrase = match std::env::var("XFER_PASSPHRASE") {
        Ok(p) => Some(p),
        Err(_) if key_is_encrypted(&text) => Some(prompt(
            &format!("Passphrase for {}: ", path.display()),
            &format!("{what} is encrypted; set XFER_PASSPHRASE"),
        )?),
        Err(_) => None,
    };
    Ok(Credential::KeyFile {
        path: path.to_path_buf(),
        passphrase,
    })
}

/// The password (`--password-file`, else XFER_PASSWORD) and the agent (when
/// `agent` allows and one runs), after any key; a prompt when nothing at all.
fn password_and_agent(
    password_file: Option<&Path>,
    agent: bool,
    target: &SftpTarget,
    has_key: bool,
) -> anyhow::Result<Vec<Credential>> {
    let mut creds = Vec::new();
    if let Some(path) = password_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage!("--password-file {}: {e}", path.display()))?;
        let pw = text.lines().next().unwrap_or("").to_string();
        if pw.is_empty() {
            return Err(usage!("--password-file {} is empty", path.display()));
        }
        creds.push(Credential::Password(pw));
    } else if let Ok(pw) = std::env::var("XFER_PASSWORD") {
        creds.push(Credential::Password(pw));
    }
    if agent && std::env::var_os("SSH_AUTH_SOCK").is_some() {
        creds.push(Credential::Agent);
    }
    if creds.is_empty() && !has_key {
        let pw = prompt(
            &format!("Password for {}@{}: ", target.user, target.host_port()),
            "no credentials: pass --identity FILE, set XFER_PASSWORD, --password-file FILE, or run ssh-agent",
        )?;
        creds.push(Credential::Password(pw));
    }
    Ok(creds)
}

/// Asks on the terminal; without one, fails with `otherwise`.
fn prompt(question: &str, otherwise: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(usage!("{otherwise}"));
    }
    rpassword::prompt_password(question).context("reading from the terminal")
}

/// Whether a private key file needs a passphrase (PEM "ENCRYPTED", or an
/// OpenSSH key whose cipher is not "none").
fn key_is_encrypted(text: &str) -> bool {
    use base64::Engine as _;
    if text.contains("ENCRYPTED") {
        return true;
    }
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(body.trim()) else {
        return false;
    };
    let Some(rest) = raw.strip_prefix(b"openssh-key-v1\0") else {
        return false;
    };
    rest.get(4..8) != Some(b"none".as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_keys_are_detected() {
        assert!(key_is_encrypted(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
        ));
        // "openssh-key-v1\0" + len 4 + "none"
        use base64::Engine as _;
        let plain = base64::engine::general_purpose::STANDARD
            .encode(b"openssh-key-v1\0\0\0\0\x04none\0\0\0\x04none");
        let enc = base64::engine::general_purpose::STANDARD
            .encode(b"openssh-key-v1\0\0\0\0\x0aaes256-ctr");
        let wrap = |b: &str| {
            format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{b}\n-----END OPENSSH PRIVATE KEY-----\n")
        };
        assert!(!key_is_encrypted(&wrap(&plain)));
        assert!(key_is_encrypted(&wrap(&enc)));
    }

    #[test]
    fn a_pinned_cipher_must_be_supported() {
        assert!(cipher_list(Some("aes128-ctr")).is_ok());
        let e = cipher_list(Some("rot13")).unwrap_err().to_string();
        assert!(
            e.contains("--cipher 'rot13'") && e.contains("aes128-ctr"),
            "{e}"
        );
    }
}
