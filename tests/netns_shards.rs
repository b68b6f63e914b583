//! `scripts/netns-shards` gives each shard of a run its own network namespace
//! and source address, as shards on separate machines have. This runs 4
//! shards of `xfer tcp-client` against one `xfer tcp-serve` on the script's
//! bridge and checks that every shard fetched the file from its own address,
//! that a failing shard's status comes back, and that nothing is left behind.
//!
//! Network namespaces need root and a kernel that allows them (not every
//! container does); where they are unavailable the test says so and passes:
//! shards then run as loopback processes.

mod support;

use std::process::{Command, Output, Stdio};
use support::netns::{available as netns_available, script};

/// Interfaces and namespaces of the script run `pid` still present.
fn leftovers(pid: u32) -> Vec<String> {
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let names = [
        format!("xf{pid}br"),
        format!("xf{pid}n"),
        format!("xf{pid}h"),
    ];
    [ns.stdout, links.stdout]
        .iter()
        .flat_map(|o| {
            String::from_utf8_lossy(o)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|l| {
            l.split(|c: char| c.is_whitespace() || c == ':' || c == '@')
                .any(|w| names.iter().any(|n| w.starts_with(n.as_str())))
        })
        .collect()
}

/// Runs the script; returns its pid (names carry it), output and stdout text.
fn run(args: &[&str]) -> (u32, Output, String) {
    let child = Command::new(script())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    (pid, out, text)
}

#[test]
fn four_shards_fetch_from_their_own_addresses_and_everything_is_torn_down() {
    if !netns_available("") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let body: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(root.join("f"), &body).unwrap();
    let xfer = support::xfer_bin();
    let server = format!(
        "{} tcp-serve --root {} --listen {{bridge}}:0",
        xfer.display(),
        root.display()
    );
    let fetch = format!(
        "ip -4 -o addr show scope global | awk '{{print \"addr\", $4}}' && {} tcp-client {{server}} get /f -o {}/out-{{i}}",
        xfer.display(),
        dir.path().display()
    );
    let (pid, out, text) = run(&["--server", &server, "4", "--", "sh", "-c", &fetch]);
    assert!(
        out.status.success(),
        "netns-shards failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut addrs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once(" addr ").map(|(_, a)| a))
        .collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 4, "one source address per shard: {text}");
    assert!(addrs.iter().all(|a| a.starts_with("10.231.")), "{addrs:?}");
    for i in 0..4 {
        let got = std::fs::read(dir.path().join(format!("out-{i}"))).unwrap();
        assert!(got == body, "shard {i} fetched a different file");
        assert!(text.contains(&format!("[{i}] 200 OK")), "{text}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("netns-shards: server at 10.231."),
        "the server's address is reported: {stderr}"
    );
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

#[test]
fn a_failing_shard_fails_the_run_and_nothing_is_left_behind() {
    if !netns_available("") {
        return;
    }
    let (pid, out, text) = run(&[
        "3",
        "--",
        "sh",
        "-c",
        "echo ran; exit $((SHARD_INDEX == 1 ? 7 : 0))",
    ]);
    assert_eq!(out.status.code(), Some(7), "the failing shard's status");
    assert_eq!(
        text.lines().filter(|l| l.ends_with("] ran")).count(),
        3,
        "{text}"
    );
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

#[test]
fn bad_usage_exits_2_with_one_line_naming_the_problem() {
    for args in [
        &["0", "--", "true"][..],
        &["x", "--", "true"],
        &["2", "--"],
        &[],
    ] {
        let out = Command::new(script()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("scripts/netns-shards: "), "{err}");
    }
}
