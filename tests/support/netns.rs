//! `scripts/netns-shards`, which gives each shard of a run its own network
//! namespace and source address, and the probe that tells whether this
//! machine allows network namespaces at all (root and a kernel that permits
//! them; not every container does).

use std::path::Path;
use std::process::Command;

/// The script.
pub fn script() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/netns-shards"))
}

/// Whether `ip netns add` works here, tried with a throwaway namespace named
/// after `tag` and this process. When it does not, says so: the caller runs
/// its shards as loopback processes instead.
pub fn available(tag: &str) -> bool {
    let name = format!("xfer-probe-{tag}{}", std::process::id());
    let added = Command::new("ip")
        .args(["netns", "add", &name])
        .output()
        .is_ok_and(|o| o.status.success());
    if added {
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
    } else {
        eprintln!("network namespaces are unavailable here (needs root and `ip netns`): shards run as loopback processes instead");
    }
    added
}
