//! Each AEAD cipher xfer offers, forced on both ends, carries uploads and
//! downloads byte for byte through a real OpenSSH sshd, and decrypts private
//! keys protected with it.
//!
//! xfer's libssh2 is patched (vendor/libssh2-sys/XFER-PATCH.md):
//! chacha20-poly1305 runs OpenSSL's ChaCha20 and Poly1305 instead of
//! libssh2's own, and AES-GCM a whole packet per OpenSSL call instead of one
//! block. A key stream that is off by one block, one byte of the IV or one
//! sequence number, or a GCM IV not stepped per packet, fails the peer's
//! check on the first packet, so a session that carries a file both ways,
//! verified by SHA-256 and compared with the source, and survives sshd's
//! rekeying every 256 KiB (which replaces the cipher contexts mid-transfer),
//! proves the patch against the reference implementation. The cipher is the
//! only one sshd accepts, and run.json must name it for both directions, so
//! no other cipher can pass in its place.

mod support;

use std::path::Path;
use std::process::Output;
use support::rundir;
use support::sshd::{Sshd, SshdOptions};
use support::{assert_ok, stderr};

/// Not a multiple of the chunk size, nor of SFTP's 32 KiB requests, so the
/// last packets of every chunk are short ones.
const SIZE: u32 = 1_000_003;

/// sshd accepting only `cipher`, and rekeying every 256 KiB each way.
fn sshd_only(cipher: &str) -> Option<Sshd> {
    Sshd::start_with(SshdOptions {
        extra: vec![format!("Ciphers {cipher}"), "RekeyLimit 256K".into()],
        ..SshdOptions::default()
    })
}

fn bench(sshd: &Sshd, remote: &Path, out: &Path, cipher: &str, extra: &[&str]) -> Output {
    sshd.bench(sshd.target(remote))
        .args(["--cipher", cipher, "-c", "2", "-s", "256K", "-d", "0"])
        .args(["--ramp-up", "0", "--backoff", "50ms", "--io-timeout", "20s"])
        .args(["--retries", "1", "--verify", "sha256", "-o"])
        .arg(out)
        .args(extra)
        .output()
        .expect("run xfer")
}

/// The run negotiated `cipher` both ways and every chunk succeeded first
/// time.
fn assert_clean_run(out: &Path, cipher: &str, chunks: u64) {
    let run = rundir::run_json(out);
    assert_eq!(run["session"]["cipher_client_to_server"], cipher, "{run}");
    assert_eq!(run["session"]["cipher_server_to_client"], cipher, "{run}");
    let summary = rundir::summary(out);
    assert_eq!(summary["failed_attempts"], 0, "{summary}");
    assert_eq!(summary["users_gave_up"], 0, "{summary}");
    assert_eq!(
        rundir::record_count(&out.join("chunks.csv")) as u64,
        chunks,
        "{summary}"
    );
}

fn uploads_and_downloads_are_byte_identical(cipher: &str) {
    let Some(sshd) = sshd_only(cipher) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let (src, data) = rundir::source_file(work.path(), "source.dat", SIZE);
    let chunks_per_file = u64::from(SIZE).div_ceil(256 << 10);

    // Upload: every chunk is written, read back and its SHA-256 compared.
    let out = work.path().join("up");
    let o = bench(&sshd, &remote, &out, cipher, &["-f", src.to_str().unwrap()]);
    assert_ok(&o);
    assert_clean_run(&out, cipher, 2 * chunks_per_file);
    let files = rundir::files_in(&remote);
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        assert!(
            std::fs::read(f).unwrap() == data,
            "{cipher}: {} differs from the source",
            f.display()
        );
    }

    // Download of a file placed there, every chunk compared with the source.
    let out = work.path().join("down");
    let o = bench(
        &sshd,
        &remote,
        &out,
        cipher,
        &[
            "--op",
            "download",
            "--remote-file",
            files[0].to_str().unwrap(),
            "-f",
            src.to_str().unwrap(),
        ],
    );
    assert_ok(&o);
    assert_clean_run(&out, cipher, 2 * chunks_per_file);
    assert_eq!(
        rundir::column_sum(&out.join("chunks.csv"), "bytes"),
        2 * u64::from(SIZE)
    );
}

#[test]
fn chacha20_poly1305_uploads_and_downloads_are_byte_identical() {
    uploads_and_downloads_are_byte_identical("chacha20-poly1305@openssh.com");
}

#[test]
fn aes128_gcm_uploads_and_downloads_are_byte_identical() {
    uploads_and_downloads_are_byte_identical("aes128-gcm@openssh.com");
}

#[test]
fn aes256_gcm_uploads_and_downloads_are_byte_identical() {
    uploads_and_downloads_are_byte_identical("aes256-gcm@openssh.com");
}

/// libssh2 decrypts an OpenSSH private key whose passphrase protection is
/// `cipher` through the same code as the transport (the whole key at once
/// with the tag after it, no length header, the key file's own IV).
fn a_key_encrypted_with(cipher: &str) {
    let Some(sshd) = Sshd::start() else { return };
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("id_encrypted");
    support::sshd::keygen_with(&key, "ed25519", "correct horse", &["-Z", cipher]);
    let mut keys = std::fs::read_to_string(sshd.dir.path().join("authorized_keys")).unwrap();
    keys.push_str(&std::fs::read_to_string(key.with_extension("pub")).unwrap());
    std::fs::write(sshd.dir.path().join("authorized_keys"), keys).unwrap();
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let run = |passphrase: &str| {
        support::xfer_login("sftp-bench", sshd.target(&remote), &key, &sshd.known_hosts)
            .args(["-c", "1", "--file-size", "100K", "-s", "32K", "-d", "0"])
            .args(["--ramp-up", "0", "--cleanup", "-o"])
            .arg(work.path().join(format!("run-{}", passphrase.len())))
            .env("XFER_PASSPHRASE", passphrase)
            .output()
            .unwrap()
    };
    assert_ok(&run("correct horse"));
    // The wrong passphrase fails the key file's tag: one clear line, not a
    // garbage key offered to the server.
    let o = run("wrong horse");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("wrong passphrase"), "{err}");
}

#[test]
fn a_key_encrypted_with_chacha20_poly1305_authenticates() {
    a_key_encrypted_with("chacha20-poly1305@openssh.com");
}

#[test]
fn a_key_encrypted_with_aes256_gcm_authenticates() {
    a_key_encrypted_with("aes256-gcm@openssh.com");
}

#[test]
fn a_key_encrypted_with_aes128_gcm_authenticates() {
    a_key_encrypted_with("aes128-gcm@openssh.com");
}
