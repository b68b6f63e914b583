//! Which host key the client trusts, and the check against it: OpenSSH's
//! known_hosts (strict, accept-new, off) or a key pinned in-process (the
//! preflight's, or the embedded server's). Kept apart from the connection
//! code because it is the one place where trust is decided.

use super::error::ConnectError;
use super::ClientConfig;
use base64::Engine as _;
use ssh2::{CheckResult, HostKeyType, KnownHostFileKind, Session};
use std::io::Write as _;
use std::path::PathBuf;

/// How an unknown host key is treated (OpenSSH's StrictHostKeyChecking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyCheck {
    /// Only keys already in known_hosts are accepted.
    Strict,
    /// Unknown keys are added to known_hosts; changed keys are refused.
    AcceptNew,
    /// Any key is accepted (tests on throwaway servers only).
    Off,
}

/// Which host key the client trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyTrust {
    KnownHosts {
        file: PathBuf,
        check: HostKeyCheck,
    },
    /// Exactly this raw key blob (after a first connection checked it, or for
    /// the embedded server whose key is known in-process).
    Pinned(Vec<u8>),
}

/// The OpenSSH name of a host key type.
pub fn key_type_name(t: HostKeyType) -> &'static str {
    match t {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

/// `SHA256:<base64>` of a raw key blob, as `ssh-keygen -lf` prints it.
pub fn fingerprint(blob: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

/// Checks the session's host key against `cfg.trust`. `Ok(Some(note))` when
/// accept-new added the key to known_hosts: the caller tells the user (the
/// library does not print).
pub(super) fn check_host_key(
    cfg: &ClientConfig,
    session: &Session,
) -> Result<Option<String>, ConnectError> {
    let t = &cfg.target;
    let (blob, key_type) = session.host_key().ok_or_else(|| ConnectError::Handshake {
        addr: t.host_port(),
        message: "the server sent no host key".into(),
    })?;
    let fp = fingerprint(blob);
    let type_name = key_type_name(key_type).to_string();
    match &cfg.trust {
        HostKeyTrust::Pinned(pinned) if pinned.as_slice() == blob => Ok(None),
        HostKeyTrust::Pinned(pinned) => Err(ConnectError::HostKeyMismatch {
            host: t.host_port(),
            fingerprint: fp,
            key_type: type_name,
            source_of_trust: format!("this run (first seen as {})", fingerprint(pinned)),
        }),
        HostKeyTrust::KnownHosts {
            check: HostKeyCheck::Off,
            ..
        } => Ok(None),
        HostKeyTrust::KnownHosts { file, check } => {
            let kh_err = |message: String| ConnectError::KnownHosts {
                file: file.display().to_string(),
                message,
            };
            let mut kh = session.known_hosts().map_err(|e| kh_err(e.to_string()))?;
            if file.exists() {
                kh.read_file(file, KnownHostFileKind::OpenSSH)
                    .map_err(|e| kh_err(e.message().to_string()))?;
            }
            match kh.check_port(&t.host, t.port, blob) {
                CheckResult::Match => Ok(None),
                CheckResult::Mismatch => Err(ConnectError::HostKeyMismatch {
                    host: t.known_hosts_name(),
                    fingerprint: fp,
                    key_type: type_name,
                    source_of_trust: file.display().to_string(),
                }),
                CheckResult::NotFound if *check == HostKeyCheck::AcceptNew => {
                    // Appended by hand: libssh2's write_file would rewrite the
                    // whole file and drop what it cannot parse.
                    let line = format!(
                        "{} {} {}\n",
                        t.known_hosts_name(),
                        type_name,
                        base64::engine::general_purpose::STANDARD.encode(blob)
                    );
                    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir).map_err(|e| kh_err(e.to_string()))?;
                    }
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(file)
                        .and_then(|mut f| f.write_all(line.as_bytes()))
                        .map_err(|e| kh_err(e.to_string()))?;
                    Ok(Some(format!(
                        "added host key of {} ({fp}, {type_name}) to {}",
                        t.known_hosts_name(),
                        file.display()
                    )))
                }
                CheckResult::NotFound => Err(ConnectError::HostKeyUnknown {
                    host: t.known_hosts_name(),
                    hostname: t.host.clone(),
                    port: t.port,
                    fingerprint: fp,
                    key_type: type_name,
                    file: file.display().to_string(),
                }),
                CheckResult::Failure => Err(kh_err("libssh2 could not check the host key".into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_ssh_keygen() {
        // ssh-keygen -lf of this ed25519 public key prints this fingerprint.
        let blob = base64::engine::general_purpose::STANDARD
            .decode("AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
            .unwrap();
        assert_eq!(
            fingerprint(&blob),
            "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
        );
    }
}
