//! The server's host key: loaded from an OpenSSH private key file, created
//! there (ed25519, mode 0600) when the file does not exist yet, or generated
//! for this run only. Clients pin the key, so a stable file matters for
//! anything but throwaway test servers.

use super::SftpServeError;
use rand::RngCore;
use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
use russh::keys::ssh_key::LineEnding;
use russh::keys::{HashAlg, PrivateKey};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the host key comes from.
#[derive(Debug, Clone, Default)]
pub enum HostKeySource {
    /// A fresh ed25519 key for this run only (clients cannot pin it).
    #[default]
    Ephemeral,
    /// An OpenSSH private key file; created (ed25519, 0600) if missing.
    File(PathBuf),
}

/// A new random ed25519 key.
pub fn generate() -> PrivateKey {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let pair = Ed25519Keypair::from_seed(&seed);
    PrivateKey::new(KeypairData::Ed25519(pair), "xfer sftp-serve")
        .expect("an ed25519 key pair is always a valid private key")
}

/// Loads the key `source` names, creating the file when it does not exist.
pub fn load(source: &HostKeySource) -> Result<PrivateKey, SftpServeError> {
    match source {
        HostKeySource::Ephemeral => Ok(generate()),
        HostKeySource::File(path) => match std::fs::metadata(path) {
            Ok(_) => {
                russh::keys::load_secret_key(path, None).map_err(|e| SftpServeError::HostKey {
                    path: path.clone(),
                    reason: e.to_string(),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = generate();
                save_new(path, &key)?;
                Ok(key)
            }
            Err(e) => Err(SftpServeError::HostKey {
                path: path.clone(),
                reason: e.to_string(),
            }),
        },
    }
}

/// Writes `key` to a file that must not exist yet, readable by its owner only.
fn save_new(path: &Path, key: &PrivateKey) -> Result<(), SftpServeError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |reason: String| SftpServeError::HostKey {
        path: path.to_path_buf(),
        reason,
    };
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| err(e.to_string()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| err(format!("cannot create: {e}")))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| err(format!("cannot write: {e}")))
}

/// `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

/// The public key line `ssh-ed25519 AAAA...` (no comment), for known_hosts.
pub fn public_line(key: &PrivateKey) -> String {
    let mut public = key.public_key().clone();
    public.set_comment("");
    public
        .to_openssh()
        .expect("a loaded public key always encodes")
        .trim_end()
        .to_string()
}

/// The key's algorithm name, e.g. `ssh-ed25519`.
pub fn algorithm_name(key: &PrivateKey) -> String {
    key.algorithm().as_str().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_is_created_with_mode_0600_and_reloaded_identically() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host_key");
        let source = HostKeySource::File(path.clone());
        let first = load(&source).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load(&source).unwrap();
        assert_eq!(fingerprint(&first), fingerprint(&second));
        assert!(fingerprint(&first).starts_with("SHA256:"));
        assert!(!fingerprint(&first).ends_with('='));
        assert!(public_line(&first).starts_with("ssh-ed25519 AAAA"));
    }

    #[test]
    fn unreadable_key_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad");
        std::fs::write(&path, "not a key").unwrap();
        let err = load(&HostKeySource::File(path.clone())).unwrap_err();
        assert!(err.to_string().contains("bad"), "{err}");
    }
}
