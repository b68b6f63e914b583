//! Each AEAD cipher sftp-serve offers carries OpenSSH `sftp` uploads and
//! downloads byte for byte, through rekeying; so does paramiko, asking for
//! new keys in the middle of an upload and of a prefetched download; and
//! so do OpenSSH and sftp-bench when sftp-serve starts the exchanges
//! itself (`--rekey-limit`).
//!
//! sftp-serve's russh is patched (vendor/russh/XFER-PATCH.md, change 3):
//! chacha20-poly1305 runs on OpenSSL 3's ChaCha20 and Poly1305 instead of
//! aws-lc's. The construction has three places to go wrong (the key halves,
//! the IV's counter and nonce, the sequence number), and any of them makes
//! OpenSSH refuse the first packet; rekeying every 16 KiB (dozens of key
//! exchanges per transfer, each while sftp-serve is busy receiving or
//! sending) replaces the keys mid-transfer. The client offers only the one
//! cipher, so no other can pass in its place, and the self-check proves
//! the OpenSSL path is the one built (it would be silently skipped
//! otherwise) and agrees with aws-lc byte for byte.

mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::sftp_serve::XferSftpServe;
use support::{content, peer};

#[test]
fn russh_chacha20_poly1305_runs_on_openssl_and_agrees_with_aws_lc() {
    russh::xfer_chacha20poly1305_self_check().unwrap();
}

/// Not a multiple of SFTP's 32 KiB requests or of the 16 KiB rekey limit.
const SIZE: usize = 3_000_017;

/// `sftp -c CIPHER -o RekeyLimit=LIMIT -b BATCH`, bounded in time; returns
/// the client's verbose log (it names the negotiated cipher and counts the
/// key exchanges).
fn sftp_rekeying(s: &XferSftpServe, cipher: &str, limit: &str, batch: &str, cwd: &Path) -> String {
    let file = cwd.join("batch");
    std::fs::write(&file, batch).unwrap();
    // The verbose log is read while sftp runs (`output_of`): read only
    // after exit, a log longer than the pipe's 64 KiB (every rekey adds
    // about a kilobyte) left ssh blocked writing it, the transfer done and
    // the batch unfinished, which looked exactly like a server that never
    // answered a KEXINIT.
    let child = Command::new("sftp")
        .process_group(0)
        .current_dir(cwd)
        .args(["-v", "-c", cipher, "-o", &format!("RekeyLimit={limit}")])
        .args(["-P", &s.addr.port().to_string(), "-i"])
        .arg(&s.key)
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", s.known_hosts.display()))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args(["-o", "PasswordAuthentication=no", "-o", "ConnectTimeout=20"])
        .arg("-b")
        .arg(&file)
        .arg(format!("{}@127.0.0.1", s.user))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = support::wait::output_of(child, Duration::from_secs(20), &format!("sftp -c {cipher}"));
    let log = support::printed(&o);
    assert!(
        o.status.success(),
        "sftp -c {cipher}: {:?}\n{log}",
        o.status
    );
    log
}

/// Who starts the key exchanges every 16 KiB.
#[derive(Clone, Copy, PartialEq)]
enum Rekeying {
    /// The client (`sftp -o RekeyLimit=16K`).
    Client,
    /// sftp-serve (`--rekey-limit 16K`); the client, which would not
    /// rekey within 3 MB on its own, follows.
    Server,
}

/// OpenSSH `sftp -c CIPHER` puts and gets a 3 MB file through dozens of
/// key exchanges; both copies must be byte-identical.
fn put_and_get_are_byte_identical(cipher: &str, rekeying: Rekeying) {
    if peer("sftp").is_none() {
        return;
    }
    let mut opts = support::sftp_serve::Options::default();
    if rekeying == Rekeying::Server {
        opts.extra = vec!["--rekey-limit".into(), "16K".into()];
    }
    let Some(s) = XferSftpServe::start_with(opts) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let data = content(SIZE, 1);
    std::fs::write(work.path().join("up.dat"), &data).unwrap();
    let client_limit = match rekeying {
        Rekeying::Client => "16K",
        Rekeying::Server => "default",
    };
    let batch = "put up.dat\nget up.dat down.dat\n";
    let log = sftp_rekeying(&s, cipher, client_limit, batch, work.path());
    for way in ["client->server", "server->client"] {
        assert!(
            log.contains(&format!("kex: {way} cipher: {cipher}")),
            "{cipher} not negotiated {way}:\n{log}"
        );
    }
    assert!(
        log.matches("SSH2_MSG_NEWKEYS sent").count() >= 10,
        "expected rekeying every 16 KiB:\n{log}"
    );
    assert!(
        std::fs::read(s.root.join("up.dat")).unwrap() == data,
        "{cipher}: upload differs"
    );
    assert!(
        std::fs::read(work.path().join("down.dat")).unwrap() == data,
        "{cipher}: download differs"
    );
}

#[test]
fn chacha20_poly1305_put_and_get_are_byte_identical() {
    put_and_get_are_byte_identical("chacha20-poly1305@openssh.com", Rekeying::Client);
}

#[test]
fn aes128_gcm_put_and_get_are_byte_identical() {
    put_and_get_are_byte_identical("aes128-gcm@openssh.com", Rekeying::Client);
}

#[test]
fn aes256_gcm_put_and_get_are_byte_identical() {
    put_and_get_are_byte_identical("aes256-gcm@openssh.com", Rekeying::Client);
}

/// `--rekey-limit 16K`: sftp-serve starts the key exchanges itself (russh
/// initiating them while it sends a download or takes an upload).
#[test]
fn server_initiated_rekeying_keeps_openssh_put_and_get_byte_identical() {
    put_and_get_are_byte_identical("chacha20-poly1305@openssh.com", Rekeying::Server);
}

/// The same from xfer's own client: sftp-bench (libssh2) uploads and
/// downloads, every chunk's SHA-256 compared, while sftp-serve rekeys
/// every 16 KiB.
#[test]
fn server_initiated_rekeying_keeps_sftp_bench_byte_identical() {
    let Some(s) = XferSftpServe::start_with(support::sftp_serve::Options {
        extra: vec!["--rekey-limit".into(), "16K".into()],
        ..Default::default()
    }) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let data = content(SIZE, 1);
    let src = work.path().join("src.dat");
    std::fs::write(&src, &data).unwrap();
    let run = |out: &str, extra: &[&str]| {
        let o = s
            .bench("")
            .args([
                "-c",
                "2",
                "-s",
                "256K",
                "-d",
                "0",
                "--ramp-up",
                "0",
                "--retries",
                "1",
            ])
            .args(["--io-timeout", "20s", "--verify", "sha256", "-f"])
            .arg(&src)
            .arg("-o")
            .arg(work.path().join(out))
            .args(extra)
            .output()
            .unwrap();
        support::assert_ok(&o);
        let summary = support::rundir::summary(&work.path().join(out));
        assert_eq!(summary["failed_attempts"], 0, "{summary}");
    };
    run("up", &[]);
    let uploaded = support::rundir::files_in(&s.root);
    assert_eq!(uploaded.len(), 2, "{uploaded:?}");
    for f in &uploaded {
        assert!(std::fs::read(f).unwrap() == data, "{} differs", f.display());
    }
    let name = uploaded[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    run(
        "down",
        &["--op", "download", "--remote-file", &format!("/{name}")],
    );
}

/// paramiko asks for a key exchange (`renegotiate_keys`, which returns once
/// the new keys are in use) four times in the middle of an upload and four
/// times in the middle of a download with prefetch, while sftp-serve is
/// taking WRITEs or sending READ replies as fast as the window admits.
/// paramiko's own byte limit is left alone: it never checks whether an
/// exchange is already under way, and a request during its automatic one
/// sends a second KEXINIT, which sftp-serve rightly refuses. Arguments:
/// port, user, key, file to send. Prints `ok UPLOAD_REKEYS DOWNLOAD_REKEYS`.
const PARAMIKO_REKEYS: &str = r#"
import io, socket, sys, paramiko
port, user, key, path = sys.argv[1:]
sock = socket.create_connection(('127.0.0.1', int(port)))
sock.settimeout(30)
t = paramiko.Transport(sock)
t.start_client(timeout=20)
t.auth_publickey(user, paramiko.Ed25519Key.from_private_key_file(key))
sftp = paramiko.SFTPClient.from_transport(t)
data = open(path, 'rb').read()
def rekeying(count):
    def progress(done, total):
        if count[0] < 4 and done >= (count[0] + 1) * 600000:
            count[0] += 1
            t.renegotiate_keys()
    return progress
up, down = [0], [0]
sftp.putfo(io.BytesIO(data), 'p.dat', callback=rekeying(up))
out = io.BytesIO()
sftp.getfo('p.dat', out, callback=rekeying(down), prefetch=True)
assert out.getvalue() == data, 'download differs'
print('ok', up[0], down[0])
"#;

#[test]
fn paramiko_rekeying_mid_upload_and_mid_download_keeps_bytes_identical() {
    let Some(s) = XferSftpServe::start() else {
        return;
    };
    if !support::have_paramiko() {
        return;
    }
    let data = content(SIZE, 1);
    let local = s.scratch().join("p.dat");
    std::fs::write(&local, &data).unwrap();
    let child = support::python(PARAMIKO_REKEYS)
        .arg(s.addr.port().to_string())
        .arg(s.user)
        .arg(&s.key)
        .arg(&local)
        .spawn()
        .unwrap();
    let o = support::wait::output_of(
        child,
        Duration::from_secs(30),
        "paramiko (a key exchange unanswered?)",
    );
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let words: Vec<&str> = stdout.split_whitespace().collect();
    assert!(
        o.status.success() && words.len() == 3 && words[0] == "ok",
        "{:?}\nstdout: {stdout}\nstderr: {}",
        o.status,
        support::stderr(&o)
    );
    assert_eq!(words[1], "4", "key exchanges requested mid-upload");
    assert_eq!(words[2], "4", "key exchanges requested mid-download");
    assert!(
        std::fs::read(s.root.join("p.dat")).unwrap() == data,
        "upload differs"
    );
}
