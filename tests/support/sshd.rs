//! A private OpenSSH sshd for tests: its own host key, client key, config and
//! port on 127.0.0.1, run as the current user, killed on drop.

use super::{peer, KillOnDrop};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Knobs for the sshd config.
#[derive(Debug, Clone)]
pub struct SshdOptions {
    /// `MaxStartups` (OpenSSH's default 10:30:100 drops connections past 10).
    pub max_startups: String,
    /// Extra config lines.
    pub extra: Vec<String>,
    /// RLIMIT_FSIZE for sshd and its sessions, with SIGXFSZ ignored: a write
    /// past it fails with EFBIG, which sftp-server reports as SSH_FX_FAILURE,
    /// exactly as it reports a full disk (ENOSPC), without filling one.
    pub file_size_limit: Option<u64>,
}

impl Default for SshdOptions {
    fn default() -> Self {
        SshdOptions {
            max_startups: "200:30:400".into(),
            extra: Vec::new(),
            file_size_limit: None,
        }
    }
}

pub struct Sshd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// Unencrypted ed25519 key in authorized_keys.
    pub client_key: PathBuf,
    /// known_hosts holding this server's key as `[127.0.0.1]:PORT`.
    pub known_hosts: PathBuf,
    pub user: String,
    pub log: PathBuf,
    child: KillOnDrop,
}

pub fn keygen(path: &Path, kind: &str, passphrase: &str) {
    keygen_with(path, kind, passphrase, &[]);
}

/// [`keygen`] with more `ssh-keygen` options (e.g. `-Z CIPHER`, the cipher
/// that protects the private key).
pub fn keygen_with(path: &Path, kind: &str, passphrase: &str, extra: &[&str]) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", passphrase, "-C", "xfer-test"])
        .args(extra)
        .arg("-f")
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(st.success(), "ssh-keygen failed");
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    /// Starts sshd with default options; `None` when sshd is missing and
    /// peers are optional.
    pub fn start() -> Option<Sshd> {
        Self::start_with(SshdOptions::default())
    }

    pub fn start_with(opts: SshdOptions) -> Option<Sshd> {
        let sshd = peer("/usr/sbin/sshd")?;
        peer("ssh-keygen")?;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_ed25519"), "ed25519", "");
        let client_key = d.join("id_ed25519");
        keygen(&client_key, "ed25519", "");
        std::fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys")).unwrap();
        let user = current_user();
        let root = user == "root";
        if root {
            // Privilege separation wants this directory to exist.
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let log = d.join("sshd.log");
        // A port chosen by binding :0 can be taken by someone else before sshd
        // binds it; try a few.
        for _ in 0..5 {
            let port = free_port();
            let config = d.join("sshd_config");
            let mut lines = vec![
                format!("Port {port}"),
                "ListenAddress 127.0.0.1".into(),
                format!("HostKey {}", d.join("host_ed25519").display()),
                format!("PidFile {}", d.join("sshd.pid").display()),
                format!("AuthorizedKeysFile {}", d.join("authorized_keys").display()),
                "UsePAM no".into(),
                "StrictModes no".into(),
                "PasswordAuthentication yes".into(),
                "KbdInteractiveAuthentication no".into(),
                format!(
                    "PermitRootLogin {}",
                    if root { "prohibit-password" } else { "yes" }
                ),
                "Subsystem sftp internal-sftp".into(),
                format!("MaxStartups {}", opts.max_startups),
                "LogLevel VERBOSE".into(),
            ];
            lines.extend(opts.extra.iter().cloned());
            std::fs::write(&config, lines.join("\n") + "\n").unwrap();
            let mut cmd = Command::new(&sshd);
            cmd.arg("-D")
                .arg("-f")
                .arg(&config)
                .arg("-E")
                .arg(&log)
                .stdin(Stdio::null());
            if let Some(limit) = opts.file_size_limit {
                use std::os::unix::process::CommandExt;
                // Safety: only async-signal-safe calls between fork and exec.
                unsafe {
                    cmd.pre_exec(move || {
                        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                        let lim = libc::rlimit {
                            rlim_cur: limit,
                            rlim_max: limit,
                        };
                        if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
            }
            let child = cmd.spawn().expect("spawn sshd");
            let mut child = KillOnDrop(child);
            if wait_for_banner(port, &mut child) {
                let host_pub = std::fs::read_to_string(d.join("host_ed25519.pub")).unwrap();
                let mut parts = host_pub.split_whitespace();
                let (kt, key) = (parts.next().unwrap(), parts.next().unwrap());
                let known_hosts = d.join("known_hosts");
                std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {kt} {key}\n")).unwrap();
                return Some(Sshd {
                    port,
                    dir,
                    client_key,
                    known_hosts,
                    user,
                    log,
                    child,
                });
            }
        }
        panic!(
            "sshd did not start; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `sftp://USER@127.0.0.1:PORT/DIR`.
    pub fn target(&self, dir: &Path) -> String {
        // An absolute DIR gives `...:PORT//abs/dir`: the path after the first
        // slash is taken as is.
        format!(
            "sftp://{}@127.0.0.1:{}/{}",
            self.user,
            self.port,
            dir.display()
        )
    }

    /// `xfer sftp-bench TARGET -i KEY --known-hosts FILE -F none`, logging in with
    /// this server's client key only (agent and password variables cleared).
    pub fn bench(&self, target: impl AsRef<std::ffi::OsStr>) -> Command {
        super::xfer_login("sftp-bench", target, &self.client_key, &self.known_hosts)
    }

    /// Writes an OpenSSH client config in which `Host ALIAS` reaches this
    /// server with its client key and known_hosts, plus `extra` lines in
    /// the block; returns its path.
    pub fn ssh_config(&self, alias: &str, extra: &[&str]) -> PathBuf {
        let path = self.dir.path().join(format!("ssh_config_{alias}"));
        let mut text = format!(
            "Host {alias}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
            self.port,
            self.user,
            self.client_key.display(),
            self.known_hosts.display()
        );
        for line in extra {
            text.push_str(&format!("  {line}\n"));
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Polls until sshd answers with its banner (or exits). Polling an observable
/// condition, not sleeping a guessed time.
fn wait_for_banner(port: u16, child: &mut KillOnDrop) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.0.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8];
            if s.read_exact(&mut buf).is_ok() && &buf == b"SSH-2.0-" {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
