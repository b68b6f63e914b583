//! `xfer sftp-serve` as a separate process, logged into with a generated key
//! and trusted through a known_hosts line built from the key it prints.

use super::{addr_in, peer, spawn_server, KillOnDrop};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;

pub struct XferSftpServe {
    pub addr: SocketAddr,
    /// The directory served as `/`.
    pub root: PathBuf,
    /// Private key whose public half is authorized.
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    /// The one user name the server accepts.
    pub user: &'static str,
    _server: KillOnDrop,
    _dir: tempfile::TempDir,
}

impl XferSftpServe {
    /// Starts the server; `None` when ssh-keygen is missing and peers are optional.
    pub fn start() -> Option<XferSftpServe> {
        peer("ssh-keygen")?;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let key = dir.path().join("id");
        super::sshd::keygen(&key, "ed25519", "");
        let user = "tester";
        let (server, first, mut lines) = spawn_server(&[
            "sftp-serve",
            "--root",
            root.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--user",
            user,
            "--authorized-keys",
            dir.path().join("id.pub").to_str().unwrap(),
        ]);
        let addr = addr_in(&first);
        // The second line is `host key for known_hosts: ssh-ed25519 AAAA...`.
        let mut second = String::new();
        lines.read_line(&mut second).unwrap();
        let key_line = second.trim().rsplit(": ").next().unwrap().to_string();
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{} {key_line}\n", addr.port()),
        )
        .unwrap();
        Some(XferSftpServe {
            addr,
            root,
            key,
            known_hosts,
            user,
            _server: server,
            _dir: dir,
        })
    }

    /// `sftp://tester@ADDR/DIR`.
    pub fn target(&self, dir: &str) -> String {
        format!("sftp://{}@{}/{dir}", self.user, self.addr)
    }
}
