//! How `sftp-bench` and `perf` log in to an SFTP server: the flags they
//! share (`-i`, `--password-file`, `--known-hosts`, `--host-key-check`,
//! `--cipher`) and their translation into credentials, host-key trust and
//! a cipher list. Passwords never come from a flag: `XFER_PASSWORD`,
//! `--password-file`, or a prompt on a terminal.

use crate::sftp::client::{
    self, Credential, HostKeyCheck, HostKeyTrust, SftpTarget, DEFAULT_CIPHERS,
};
use crate::usage;
use anyhow::Context;
use clap::ValueEnum;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

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

    /// known_hosts file [default: ~/.ssh/known_hosts].
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,

    /// What to do with a host key that is not in known_hosts.
    #[arg(long, value_enum, default_value_t = HostKeyCheckArg::Strict)]
    pub host_key_check: HostKeyCheckArg,

    /// Pin one cipher, e.g. aes128-gcm@openssh.com [default: chacha20-poly1305 first].
    #[arg(long, value_name = "NAME")]
    pub cipher: Option<String>,
}

impl SshLoginArgs {
    /// Credentials in the order they are tried: key file, password, agent.
    pub fn credentials(&self, target: &SftpTarget) -> anyhow::Result<Vec<Credential>> {
        credentials(
            self.identity.as_deref(),
            self.password_file.as_deref(),
            target,
        )
    }

    /// Trust from the known_hosts file and the check policy.
    pub fn trust(&self) -> HostKeyTrust {
        known_hosts_trust(self.known_hosts.as_deref(), self.host_key_check)
    }

    /// The cipher preference list for libssh2.
    pub fn ciphers(&self) -> anyhow::Result<String> {
        cipher_list(self.cipher.as_deref())
    }
}

/// Trust from a known_hosts file (default `~/.ssh/known_hosts`) and a check policy.
fn known_hosts_trust(file: Option<&Path>, check: HostKeyCheckArg) -> HostKeyTrust {
    HostKeyTrust::KnownHosts {
        file: match file {
            Some(f) => f.to_path_buf(),
            None => home_dir().join(".ssh/known_hosts"),
        },
        check: match check {
            HostKeyCheckArg::Strict => HostKeyCheck::Strict,
            HostKeyCheckArg::AcceptNew => HostKeyCheck::AcceptNew,
            HostKeyCheckArg::Off => HostKeyCheck::Off,
        },
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

/// Credentials in the order they are tried: key file (`-i`), password
/// (`--password-file`, else XFER_PASSWORD), agent; a prompt when none.
fn credentials(
    identity: Option<&Path>,
    password_file: Option<&Path>,
    target: &SftpTarget,
) -> anyhow::Result<Vec<Credential>> {
    let mut creds = Vec::new();
    if let Some(path) = identity {
        let text = std::fs::read_to_string(path)
            .map_err(|e| usage!("--identity {}: {e}", path.display()))?;
        let passphrase = match std::env::var("XFER_PASSPHRASE") {
            Ok(p) => Some(p),
            Err(_) if key_is_encrypted(&text) => Some(prompt(
                &format!("Passphrase for {}: ", path.display()),
                "--identity is encrypted; set XFER_PASSPHRASE",
            )?),
            Err(_) => None,
        };
        creds.push(Credential::KeyFile {
            path: path.to_path_buf(),
            passphrase,
        });
    }
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
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        creds.push(Credential::Agent);
    }
    if creds.is_empty() {
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
