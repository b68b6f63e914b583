//! A private nginx serving a temp directory on a free loopback port, with its
//! pid file, logs and temp paths in a tempdir. Stopped on drop.

use super::peer;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nginx {
    pub addr: SocketAddr,
    /// The document root: files put here are served at `/NAME`.
    pub root: PathBuf,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx, or returns `None` (after [`peer`] said why) when missing.
    pub fn start() -> Option<Nginx> {
        let bin = peer("/usr/sbin/nginx")?;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let root = p.join("html");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(p.join("tmp")).unwrap();
        // Port 0 cannot be handed to nginx: take a free port and release it.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // Run as root, nginx's workers would drop to `nobody`, who cannot
        // read a 0700 tempdir.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root;"
        } else {
            ""
        };
        let t = |n: &str| p.join("tmp").join(n).display().to_string();
        let conf = format!(
            "{user}
worker_processes 1;
pid {pid};
error_log {log} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {b}; proxy_temp_path {pr}; fastcgi_temp_path {f};
    uwsgi_temp_path {u}; scgi_temp_path {s};
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
",
            pid = p.join("nginx.pid").display(),
            log = p.join("error.log").display(),
            b = t("body"),
            pr = t("proxy"),
            f = t("fastcgi"),
            u = t("uwsgi"),
            s = t("scgi"),
            root = root.display(),
        );
        let conf_path = p.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(p)
            .arg("-e")
            .arg(p.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let mut child = child;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            if let Some(st) = child.try_wait().unwrap() {
                panic!(
                    "nginx exited with {st}: {}",
                    std::fs::read_to_string(p.join("error.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "nginx did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Nginx {
            addr,
            root,
            child,
            _dir: dir,
        })
    }

    pub fn put(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path: &Path = &self.root.join(name);
        std::fs::write(path, bytes).unwrap();
        path.to_path_buf()
    }
}

impl Drop for Nginx {
    /// SIGTERM, not SIGKILL: the master must take its workers down with it.
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
