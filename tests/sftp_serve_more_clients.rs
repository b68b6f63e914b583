//! `xfer sftp-serve` against three more independent SFTP implementations,
//! each doing what its users do with it: rclone (Go's x/crypto/ssh and
//! pkg/sftp: many concurrent reads and writes at out-of-order offsets,
//! posix-rename, statvfs, mtimes), curl `sftp://` (Debian's own libssh2:
//! uploads, downloads, byte ranges, `-Q` quote commands) and lftp (its own
//! SFTP code over an `ssh` subprocess: `mirror` both ways, `pget -n 4`).
//! Files of awkward sizes (0, 1, not a multiple of 32 KiB, a few MiB) must
//! come back byte for byte; every client run is bounded in time.

mod support;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};
use support::sftp_serve::{Options, XferSftpServe};
use support::{content, peer};

/// Upper bound for one client run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// File sizes that catch off-by-one and chunking bugs: empty, one byte,
/// not a multiple of 32 KiB (SFTP clients' usual request size), and a
/// few MiB (many requests in flight at once).
const SIZES: [usize; 4] = [0, 1, 100_003, 3 * 1024 * 1024 + 7];

/// Runs `cmd` (in its own process group, so a hung child and its helpers
/// are killed together) and asserts that it succeeded.
fn run(mut cmd: Command, what: &str) -> Output {
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = support::wait::output_of(cmd.spawn().unwrap(), CLIENT_TIMEOUT, what);
    support::assert_ran(&out, what);
    out
}

/// Like [`run`] but expects failure.
fn run_fails(mut cmd: Command, what: &str) -> Output {
    cmd.process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = support::wait::output_of(cmd.spawn().unwrap(), CLIENT_TIMEOUT, what);
    assert!(
        !out.status.success(),
        "{what} succeeded\n{}",
        support::printed(&out)
    );
    out
}

/// Writes one file per size in [`SIZES`] under `dir`, plus a nested
/// directory holding two more; returns the relative paths written.
fn make_tree(dir: &Path, seed: u64) -> Vec<PathBuf> {
    let mut written = Vec::new();
    let nested = dir.join("sub/deeper");
    std::fs::create_dir_all(&nested).unwrap();
    for (i, len) in SIZES.iter().enumerate() {
        let rel = PathBuf::from(format!("f{len}.bin"));
        std::fs::write(dir.join(&rel), content(*len, seed + i as u64)).unwrap();
        written.push(rel);
    }
    for (rel, len) in [("sub/a.txt", 33_000), ("sub/deeper/b.bin", 65_537)] {
        std::fs::write(dir.join(rel), content(len, seed + len as u64)).unwrap();
        written.push(PathBuf::from(rel));
    }
    written
}

/// Every regular file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Asserts that `a` and `b` hold the same files with the same bytes.
fn assert_same_tree(a: &Path, b: &Path) {
    let (fa, fb) = (files_under(a), files_under(b));
    assert_eq!(fa, fb, "{} vs {}", a.display(), b.display());
    for rel in fa {
        let (x, y) = (
            std::fs::read(a.join(&rel)).unwrap(),
            std::fs::read(b.join(&rel)).unwrap(),
        );
        assert!(
            x == y,
            "{} differs ({} vs {} bytes)",
            rel.display(),
            x.len(),
            y.len()
        );
    }
}

/// Asserts that `path` holds exactly `want`.
fn assert_file(path: &Path, want: &[u8]) {
    let got = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        got == want,
        "{}: {} bytes, want {}",
        path.display(),
        got.len(),
        want.len()
    );
}

/// The server started with its session lines captured.
fn serve() -> Option<XferSftpServe> {
    XferSftpServe::start_with(Options {
        stderr_lines: true,
        ..Options::default()
    })
}

// ---------------------------------------------------------------- rclone

/// `rclone ARGS` with remote `X:` configured through the environment only
/// (no config file read): this server, its authorized key, its known_hosts
/// (checked strictly), no shell (sftp-serve runs no commands), and no
/// retries, so a failure shows instead of being papered over.
fn rclone(s: &XferSftpServe, args: &[&str]) -> Command {
    rclone_trusting(s, &s.known_hosts, args)
}

fn rclone_trusting(s: &XferSftpServe, known_hosts: &Path, args: &[&str]) -> Command {
    let mut c = rclone_defaults(s, known_hosts, args);
    c.env("RCLONE_CONFIG_X_SHELL_TYPE", "none")
        .env("RCLONE_CONFIG_X_DISABLE_HASHCHECK", "true");
    c
}

/// `rclone ARGS` with only what a user must configure: rclone then probes
/// for a shell and for hash commands with `exec`, which sftp-serve refuses.
fn rclone_defaults(s: &XferSftpServe, known_hosts: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("rclone");
    c.env_remove("SSH_AUTH_SOCK")
        .env("HOME", s.scratch())
        .env("RCLONE_CONFIG_X_TYPE", "sftp")
        .env("RCLONE_CONFIG_X_HOST", "127.0.0.1")
        .env("RCLONE_CONFIG_X_PORT", s.addr.port().to_string())
        .env("RCLONE_CONFIG_X_USER", s.user)
        .env("RCLONE_CONFIG_X_KEY_FILE", &s.key)
        .env("RCLONE_CONFIG_X_KNOWN_HOSTS_FILE", known_hosts)
        .args(["--config", "/dev/null"])
        .args(["--contimeout", "20s", "--timeout", "20s"])
        .args(["--retries", "1", "--low-level-retries", "1"])
        .args(args);
    c
}

/// A directory tree up with four files at a time and 64 requests in
/// flight per file (out-of-order writes), down again with four ranged
/// streams per big file; mtimes kept; moveto (posix-rename), delete,
/// mkdir, rmdir, purge and about (statvfs) all reach the disk.
#[test]
fn rclone_copies_a_tree_both_ways_with_concurrent_requests() {
    if peer("rclone").is_none() {
        return;
    }
    let s = serve().unwrap();
    let local = s.scratch().join("tree");
    make_tree(&local, 10);
    // An mtime in the past, to show rclone's SETSTAT arrives (SFTP v3
    // carries whole seconds).
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    std::fs::File::options()
        .write(true)
        .open(local.join("f100003.bin"))
        .unwrap()
        .set_modified(old)
        .unwrap();

    let conc = [
        "--transfers",
        "4",
        "--checkers",
        "4",
        "--sftp-concurrency",
        "64",
    ];
    let mut up = vec!["copy", local.to_str().unwrap(), "X:up/tree"];
    up.extend(conc);
    run(rclone(&s, &up), "rclone copy up");
    assert_same_tree(&local, &s.root.join("up/tree"));
    let mtime = std::fs::metadata(s.root.join("up/tree/f100003.bin"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(mtime, old, "rclone's mtime reached the server");

    // rclone check reads both sides when no hash is available.
    run(
        rclone(
            &s,
            &["check", "--download", local.to_str().unwrap(), "X:up/tree"],
        ),
        "rclone check --download",
    );

    let down = s.scratch().join("down");
    let mut get = vec!["copy", "X:up/tree", down.to_str().unwrap()];
    get.extend(conc);
    get.extend(["--multi-thread-cutoff", "1M", "--multi-thread-streams", "4"]);
    run(rclone(&s, &get), "rclone copy down");
    assert_same_tree(&local, &down);

    let big = format!("f{}.bin", SIZES[3]);
    run(
        rclone(&s, &["moveto", &format!("X:up/tree/{big}"), "X:moved.bin"]),
        "rclone moveto",
    );
    assert!(!s.root.join("up/tree").join(&big).exists());
    assert_file(
        &s.root.join("moved.bin"),
        &std::fs::read(local.join(&big)).unwrap(),
    );

    run(rclone(&s, &["delete", "X:up/tree/sub"]), "rclone delete");
    assert!(files_under(&s.root.join("up/tree/sub")).is_empty());
    assert!(s.root.join("up/tree/f1.bin").exists());

    run(rclone(&s, &["mkdir", "X:made/here"]), "rclone mkdir");
    assert!(s.root.join("made/here").is_dir());
    run(rclone(&s, &["rmdir", "X:made/here"]), "rclone rmdir");
    assert!(!s.root.join("made/here").exists());

    run(rclone(&s, &["purge", "X:up"]), "rclone purge");
    assert!(!s.root.join("up").exists());

    let about = run(rclone(&s, &["about", "X:", "--json"]), "rclone about");
    let about = String::from_utf8_lossy(&about.stdout);
    assert!(
        about.contains("\"total\"") && about.contains("\"free\""),
        "{about}"
    );
}

/// One file per size up and down with `copyto`, each byte-identical.
#[test]
fn rclone_copyto_each_size_both_ways() {
    if peer("rclone").is_none() {
        return;
    }
    let s = serve().unwrap();
    for (i, len) in SIZES.iter().enumerate() {
        let data = content(*len, 20 + i as u64);
        let src = s.scratch().join(format!("src{len}"));
        std::fs::write(&src, &data).unwrap();
        let remote = format!("X:sizes/{len}.bin");
        run(
            rclone(&s, &["copyto", src.to_str().unwrap(), &remote]),
            "rclone copyto up",
        );
        assert_file(&s.root.join(format!("sizes/{len}.bin")), &data);
        let back = s.scratch().join(format!("back{len}"));
        run(
            rclone(&s, &["copyto", &remote, back.to_str().unwrap()]),
            "rclone copyto down",
        );
        assert_file(&back, &data);
    }
}

/// With rclone's defaults it runs `echo` (shell detection) and `md5sum`
/// and `sha1sum` (hash detection) before the transfer; sftp-serve refuses
/// every command and rclone carries on without them.
#[test]
fn rclone_with_default_settings_survives_its_command_probes() {
    if peer("rclone").is_none() {
        return;
    }
    let s = serve().unwrap();
    let data = content(SIZES[2], 25);
    let src = s.scratch().join("src");
    std::fs::write(&src, &data).unwrap();
    let up = ["copyto", src.to_str().unwrap(), "X:d.bin"];
    run(rclone_defaults(&s, &s.known_hosts, &up), "rclone copyto up");
    assert_file(&s.root.join("d.bin"), &data);
    let back = s.scratch().join("back");
    let down = ["copyto", "X:d.bin", back.to_str().unwrap()];
    run(
        rclone_defaults(&s, &s.known_hosts, &down),
        "rclone copyto down",
    );
    assert_file(&back, &data);
}

/// rclone checks the host key it is given: a known_hosts naming another
/// key refuses the server (so the tests above did check it).
#[test]
fn rclone_refuses_a_host_key_not_in_known_hosts() {
    if peer("rclone").is_none() {
        return;
    }
    let s = serve().unwrap();
    let other = std::fs::read_to_string(s.other_key.with_extension("pub")).unwrap();
    let key: Vec<&str> = other.split_whitespace().take(2).collect();
    let wrong = s.scratch().join("wrong_known_hosts");
    std::fs::write(
        &wrong,
        format!("[127.0.0.1]:{} {}\n", s.addr.port(), key.join(" ")),
    )
    .unwrap();
    let out = run_fails(rclone_trusting(&s, &wrong, &["lsf", "X:"]), "rclone lsf");
    let err = support::stderr(&out);
    assert!(
        err.contains("knownhosts") || err.contains("host key"),
        "{err}"
    );
}

/// Go's SSH client ends a connection by closing its channels and then the
/// socket, without SSH_MSG_DISCONNECT: that is a goodbye, not a lost
/// connection, and the session line must read `ok` (it read
/// `failed (publickey): connection lost (early eof)`).
#[test]
fn rclone_sessions_are_logged_ok() {
    if peer("rclone").is_none() {
        return;
    }
    let s = serve().unwrap();
    std::fs::write(s.root.join("one.txt"), "x").unwrap();
    let out = run(rclone(&s, &["lsf", "X:"]), "rclone lsf");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one.txt\n");
    let line = s.next_session_line(CLIENT_TIMEOUT);
    assert!(line.ends_with(" ok (publickey)"), "{line}");
}

// ------------------------------------------------------------------ curl

/// `curl -sS` logged in with the authorized key, trusting only the
/// server's host key (by its SHA-256 fingerprint, from the banner).
fn curl(s: &XferSftpServe) -> Command {
    let fp = s
        .banner
        .split_whitespace()
        .find_map(|w| w.strip_prefix("SHA256:"))
        .unwrap_or_else(|| panic!("no SHA256 fingerprint in {:?}", s.banner));
    let mut c = Command::new("curl");
    c.env_remove("SSH_AUTH_SOCK")
        .env("HOME", s.scratch())
        .args(["-sS", "--connect-timeout", "20", "--max-time", "50"])
        .arg("--key")
        .arg(&s.key)
        .args(["--hostpubsha256", fp])
        .args(["-u", &format!("{}:", s.user)]);
    c
}

fn curl_url(s: &XferSftpServe, path: &str) -> String {
    format!("sftp://127.0.0.1:{}/{path}", s.addr.port())
}

/// Each size up (`-T`) and down (`-o`), byte-identical; an upload into
/// directories that do not exist yet with `--ftp-create-dirs`.
#[test]
fn curl_uploads_and_downloads_each_size() {
    if peer("curl").is_none() {
        return;
    }
    let s = serve().unwrap();
    for (i, len) in SIZES.iter().enumerate() {
        let data = content(*len, 30 + i as u64);
        let src = s.scratch().join(format!("src{len}"));
        std::fs::write(&src, &data).unwrap();
        let mut up = curl(&s);
        up.arg("-T")
            .arg(&src)
            .arg(curl_url(&s, &format!("{len}.bin")));
        run(up, "curl -T");
        assert_file(&s.root.join(format!("{len}.bin")), &data);
        let back = s.scratch().join(format!("back{len}"));
        let mut down = curl(&s);
        down.arg("-o")
            .arg(&back)
            .arg(curl_url(&s, &format!("{len}.bin")));
        run(down, "curl -o");
        assert_file(&back, &data);
    }
    let data = content(70_001, 39);
    let src = s.scratch().join("nested");
    std::fs::write(&src, &data).unwrap();
    let mut up = curl(&s);
    up.arg("--ftp-create-dirs")
        .arg("-T")
        .arg(&src)
        .arg(curl_url(&s, "new/dirs/nested.bin"));
    run(up, "curl --ftp-create-dirs -T");
    assert_file(&s.root.join("new/dirs/nested.bin"), &data);
}

/// Four curls at once, each fetching a quarter of one file with `-r`,
/// put back together byte-identical; and the tail with an open range.
#[test]
fn curl_ranges_in_parallel_reassemble_the_file() {
    if peer("curl").is_none() {
        return;
    }
    let s = serve().unwrap();
    let len = SIZES[3];
    let data = content(len, 40);
    std::fs::write(s.root.join("big.bin"), &data).unwrap();
    let quarter = len / 4;
    let children: Vec<_> = (0..4)
        .map(|i| {
            let first = i * quarter;
            let range = match i {
                3 => format!("{first}-"),
                _ => format!("{first}-{}", first + quarter - 1),
            };
            let out = s.scratch().join(format!("part{i}"));
            let mut c = curl(&s);
            c.args(["-r", &range])
                .arg("-o")
                .arg(&out)
                .arg(curl_url(&s, "big.bin"))
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            (c.spawn().unwrap(), out)
        })
        .collect();
    let mut whole = Vec::new();
    for (child, out) in children {
        let o = support::wait::output_of(child, CLIENT_TIMEOUT, "curl -r");
        support::assert_ran(&o, "curl -r");
        whole.extend(std::fs::read(out).unwrap());
    }
    assert!(
        whole == data,
        "{} bytes reassembled, want {len}",
        whole.len()
    );

    let tail = s.scratch().join("tail");
    let mut c = curl(&s);
    c.args(["-r", "1000-1999"])
        .arg("-o")
        .arg(&tail)
        .arg(curl_url(&s, "big.bin"));
    run(c, "curl -r 1000-1999");
    assert_file(&tail, &data[1000..2000]);
}

/// `-Q` quote commands: mkdir, rename, rm, rmdir all reach the disk, and
/// a rename onto a missing source fails the run.
#[test]
fn curl_quote_commands_rename_remove_and_make_dirs() {
    if peer("curl").is_none() {
        return;
    }
    let s = serve().unwrap();
    std::fs::write(s.root.join("a.txt"), "alpha").unwrap();
    std::fs::write(s.root.join("gone.txt"), "bye").unwrap();
    let mut c = curl(&s);
    c.args(["-Q", "mkdir /made"])
        .args(["-Q", "rename /a.txt /made/b.txt"])
        .args(["-Q", "rm /gone.txt"])
        .arg(curl_url(&s, ""));
    let listing = run(c, "curl -Q");
    assert!(!String::from_utf8_lossy(&listing.stdout).contains("gone.txt"));
    assert_file(&s.root.join("made/b.txt"), b"alpha");
    assert!(!s.root.join("a.txt").exists() && !s.root.join("gone.txt").exists());

    let mut c = curl(&s);
    c.args(["-Q", "rename /made/b.txt /b.txt"])
        .args(["-Q", "rmdir /made"])
        .arg(curl_url(&s, ""));
    run(c, "curl -Q rmdir");
    assert!(!s.root.join("made").exists());
    assert_file(&s.root.join("b.txt"), b"alpha");

    let mut c = curl(&s);
    c.args(["-Q", "rename /missing /x"]).arg(curl_url(&s, ""));
    run_fails(c, "curl -Q rename of a missing file");
    // libssh2 ends with SSH_MSG_DISCONNECT: every session line reads ok.
    for _ in 0..3 {
        let line = s.next_session_line(CLIENT_TIMEOUT);
        assert!(line.ends_with(" ok (publickey)"), "{line}");
    }
}

/// `-C -` resumes an upload (appending at the server's size) and a
/// download (reading from the local size); `-Q` chmod, mtime, ln (a
/// symlink) and statvfs reach the disk.
#[test]
fn curl_resumes_both_ways_and_sets_attributes() {
    if peer("curl").is_none() {
        return;
    }
    let s = serve().unwrap();
    let data = content(SIZES[3], 45);
    let cut = 1_234_567;
    let src = s.scratch().join("src");
    std::fs::write(&src, &data).unwrap();
    std::fs::write(s.root.join("up.bin"), &data[..cut]).unwrap();
    let mut c = curl(&s);
    c.args(["-C", "-", "-T"])
        .arg(&src)
        .arg(curl_url(&s, "up.bin"));
    run(c, "curl -C - -T");
    assert_file(&s.root.join("up.bin"), &data);

    let part = s.scratch().join("part");
    std::fs::write(&part, &data[..cut]).unwrap();
    let mut c = curl(&s);
    c.args(["-C", "-", "-o"])
        .arg(&part)
        .arg(curl_url(&s, "up.bin"));
    run(c, "curl -C - -o");
    assert_file(&part, &data);

    let mut c = curl(&s);
    c.args(["-Q", "chmod 600 /up.bin"])
        .args(["-Q", "mtime \"Sun, 06 Nov 1994 08:49:37 GMT\" /up.bin"])
        .args(["-Q", "ln /up.bin /link"])
        .args(["-Q", "statvfs /"])
        .arg(curl_url(&s, ""));
    run(c, "curl -Q chmod mtime ln statvfs");
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(s.root.join("up.bin")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let mtime = meta.modified().unwrap();
    assert_eq!(
        mtime,
        SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777)
    );
    assert!(std::fs::symlink_metadata(s.root.join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_file(&s.root.join("link"), &data);
}

// ------------------------------------------------------------------ lftp

/// `lftp -f SCRIPT` connected to the server through `ssh` with the
/// authorized key and strict host key checking, one retry at most, and
/// the first failing command ending the run with an error.
fn lftp(s: &XferSftpServe, body: &str) -> Command {
    let script = format!(
        "set sftp:connect-program \"ssh -a -x -F none -i {key} -o UserKnownHostsFile={kh} \
         -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes\"\n\
         set net:max-retries 1\n\
         set net:timeout 20\n\
         set cmd:fail-exit yes\n\
         open -u {user}, sftp://127.0.0.1:{port}\n\
         {body}\n",
        key = s.key.display(),
        kh = s.known_hosts.display(),
        user = s.user,
        port = s.addr.port(),
    );
    let file = s.scratch().join(format!("lftp-{}", body.len()));
    std::fs::write(&file, script).unwrap();
    let mut c = Command::new("lftp");
    c.env_remove("SSH_AUTH_SOCK")
        .env("HOME", s.scratch())
        .current_dir(s.scratch())
        .arg("-f")
        .arg(file);
    c
}

/// `mirror -R` of a tree up, `mirror` back down, both byte-identical;
/// `put`/`get` of each size; `pget -n 4` of a few MiB in four parallel
/// segments; `mv`, `rm`, `mkdir`, `rmdir` reach the disk.
#[test]
fn lftp_mirrors_both_ways_and_gets_in_segments() {
    if peer("lftp").is_none() || peer("ssh").is_none() {
        return;
    }
    let s = serve().unwrap();
    let local = s.scratch().join("tree");
    make_tree(&local, 50);
    let mut body = String::from("mirror -R tree /up\nmirror /up down\n");
    let mut sizes = Vec::new();
    for (i, len) in SIZES.iter().enumerate() {
        let data = content(*len, 60 + i as u64);
        std::fs::write(s.scratch().join(format!("src{len}")), &data).unwrap();
        body += &format!("put src{len} -o /p{len}.bin\nget /p{len}.bin -o back{len}\n");
        sizes.push((*len, data));
    }
    let big = SIZES[3];
    body += &format!(
        "pget -n 4 /p{big}.bin -o pget.bin\n\
         mv /p{big}.bin /moved.bin\n\
         rm /p1.bin\n\
         mkdir /made\n\
         mkdir /gone\n\
         rmdir /gone\n"
    );
    run(lftp(&s, &body), "lftp");

    assert_same_tree(&local, &s.root.join("up"));
    assert_same_tree(&local, &s.scratch().join("down"));
    for (len, data) in &sizes {
        assert_file(&s.scratch().join(format!("back{len}")), data);
    }
    assert_file(&s.scratch().join("pget.bin"), &sizes[3].1);
    assert_file(&s.root.join("moved.bin"), &sizes[3].1);
    assert!(!s.root.join(format!("p{big}.bin")).exists());
    assert!(!s.root.join("p1.bin").exists());
    assert!(s.root.join("p0.bin").exists());
    assert!(s.root.join("made").is_dir() && !s.root.join("gone").exists());
}

/// `mkdir -p`, `mirror --parallel=4` both ways, `put -c` and `get -c`
/// resuming at an offset, `chmod`, and `rm -r` of a tree.
#[test]
fn lftp_resumes_mirrors_in_parallel_and_removes_trees() {
    if peer("lftp").is_none() || peer("ssh").is_none() {
        return;
    }
    let s = serve().unwrap();
    let local = s.scratch().join("tree");
    make_tree(&local, 70);
    let data = content(SIZES[3], 75);
    let cut = 1_000_003;
    std::fs::write(s.scratch().join("whole"), &data).unwrap();
    std::fs::write(s.root.join("up.bin"), &data[..cut]).unwrap();
    std::fs::write(s.scratch().join("part"), &data[..cut]).unwrap();
    std::fs::write(s.root.join("down.bin"), &data).unwrap();
    let body = "mkdir -p /a/b/c
                mirror -R --parallel=4 tree /a/b/c/tree
                mirror --parallel=4 /a/b/c/tree back
                put -c whole -o /up.bin
                get -c /down.bin -o part
                chmod 600 /up.bin
                rm -r /a/b
";
    run(lftp(&s, body), "lftp");
    assert_same_tree(&local, &s.scratch().join("back"));
    assert_file(&s.root.join("up.bin"), &data);
    assert_file(&s.scratch().join("part"), &data);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.root.join("up.bin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(s.root.join("a").is_dir() && !s.root.join("a/b").exists());
}

/// lftp stops at the first failing command: a `get` of a missing file
/// fails the run, which shows the runs above would have failed too.
#[test]
fn lftp_reports_a_missing_file() {
    if peer("lftp").is_none() || peer("ssh").is_none() {
        return;
    }
    let s = serve().unwrap();
    run_fails(
        lftp(&s, "get /missing.bin -o m"),
        "lftp get of a missing file",
    );
    assert!(!s.scratch().join("m").exists());
}

// ---------------------------------------------------------- all three

/// On a `--read-only` server each client's upload is refused with a
/// message that says why (permission denied, read-only), nothing lands on
/// disk, and downloads keep working on the same server.
#[test]
fn a_read_only_server_refuses_each_clients_upload_with_a_reason() {
    if peer("rclone").is_none() || peer("curl").is_none() || peer("lftp").is_none() {
        return;
    }
    let s = XferSftpServe::start_with(Options {
        extra: vec!["--read-only".into()],
        ..Options::default()
    })
    .unwrap();
    let data = content(SIZES[2], 80);
    std::fs::write(s.root.join("there.bin"), &data).unwrap();
    let src = s.scratch().join("src");
    std::fs::write(&src, b"new").unwrap();

    let out = run_fails(
        rclone(&s, &["copyto", src.to_str().unwrap(), "X:r.bin"]),
        "rclone copyto to a read-only server",
    );
    let err = support::stderr(&out);
    assert!(err.contains("permission denied"), "{err}");

    let mut c = curl(&s);
    c.arg("-T").arg(&src).arg(curl_url(&s, "c.bin"));
    let out = run_fails(c, "curl -T to a read-only server");
    let err = support::stderr(&out);
    assert!(err.contains("Permission denied"), "{err}");

    let out = run_fails(
        lftp(&s, "put src -o /l.bin"),
        "lftp put to a read-only server",
    );
    let err = support::stderr(&out);
    assert!(err.contains("read-only"), "{err}");

    for name in ["r.bin", "c.bin", "l.bin"] {
        assert!(!s.root.join(name).exists(), "{name} was written");
    }
    let back = s.scratch().join("back");
    let mut c = curl(&s);
    c.arg("-o").arg(&back).arg(curl_url(&s, "there.bin"));
    run(c, "curl -o from a read-only server");
    assert_file(&back, &data);
}
