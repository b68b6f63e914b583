//! Finding a server's child processes in /proc, to stop (SIGSTOP) or kill the
//! per-connection processes of sshd while its listener stays: how a test
//! freezes a server or drops every session mid-run.

/// Direct children of `pid` (sshd's per-connection processes), from /proc.
pub fn children_of(pid: u32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // Fields after the ")" that ends the command name: state, ppid, ...
        let after = &stat[stat.rfind(')').unwrap_or(0) + 1..];
        let ppid: u32 = after
            .split_whitespace()
            .nth(1)
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        if ppid == pid {
            found.push(p);
        }
    }
    found
}

/// Every descendant of `pid`.
pub fn descendants_of(pid: u32) -> Vec<i32> {
    let mut all = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for c in children_of(p) {
            all.push(c);
            frontier.push(c as u32);
        }
    }
    all
}
