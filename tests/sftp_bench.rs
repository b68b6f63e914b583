//! `xfer sftp-bench` against a real OpenSSH sshd started by the fixture.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use support::sshd::Sshd;
use support::xfer;

/// A source file that is not a multiple of the 64 KiB chunk size.
fn source(dir: &Path) -> (PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..300_123u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let path = dir.join("source.dat");
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

/// Runs sftp-bench against `sshd` with its key and known_hosts.
fn bench(sshd: &Sshd, remote: &Path, out: &Path, extra: &[&str]) -> Output {
    xfer()
        .arg("sftp-bench")
        .arg(sshd.target(remote))
        .arg("-i")
        .arg(&sshd.client_key)
        .arg("--known-hosts")
        .arg(&sshd.known_hosts)
        .args(["--chunk-size", "64K", "--delay", "0", "--ramp-up", "0", "--backoff", "50ms", "--io-timeout", "20s"])
        .arg("-o")
        .arg(out)
        .args(extra)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("XFER_PASSWORD")
        .output()
        .expect("run xfer")
}

fn remote_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "xfer failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn uploads_are_byte_identical(mode: &str) {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let (src, data) = source(work.path());
    let out = work.path().join("run");
    let o = bench(&sshd, &remote, &out, &["-c", "3", "--mode", mode, "-f", src.to_str().unwrap(), "--verify", "size"]);
    assert_ok(&o);
    let files = remote_files(&remote);
    assert_eq!(files.len(), 3, "{files:?}");
    for f in files {
        assert!(f.extension().is_some_and(|e| e == "dat"), "{f:?}");
        assert!(std::fs::read(&f).unwrap() == data, "{} differs from the source", f.display());
    }
    let rows = csv::Reader::from_path(out.join("chunks.csv")).unwrap().records().count();
    assert_eq!(rows, 3 * 5, "300,123 bytes in 64 KiB chunks is 5 chunks per user");
}

#[test]
fn keep_open_uploads_are_byte_identical_to_the_source() {
    uploads_are_byte_identical("keep-open");
}

#[test]
fn reconnect_uploads_are_byte_identical_to_the_source() {
    uploads_are_byte_identical("reconnect");
}
