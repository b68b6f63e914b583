//! The Kubernetes manifests in deploy/k8s/ are checked offline, since no
//! cluster exists here: every manifest validates (strictly: unknown fields
//! are errors) against the pinned Kubernetes version's schemas with
//! `kubernetes-validate` (PyPI), and the arguments the Job passes to each pod
//! parse with the xfer command line, with each shard index substituted.
//!
//! `kubernetes-validate` is a peer like sshd: `scripts/test` installs it;
//! under `XFER_REQUIRE_PEERS=1` its absence fails the tests, otherwise they
//! say so and pass.

mod support;

use clap::Parser;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use xfer::cmd::Cli;
use xfer::load::shard::{parse_start_at, Shard};

/// The Kubernetes version the manifests are written for.
const KUBERNETES_VERSION: &str = "1.32.0";

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s")
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(k8s_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "manifests in deploy/k8s: {files:?}");
    files
}

/// `kubernetes-validate`, or `None` (skip) when it is missing and peers are
/// not required.
fn validator() -> Option<PathBuf> {
    support::peer("kubernetes-validate")
}

fn validate(files: &[PathBuf]) -> std::process::Output {
    Command::new(validator().unwrap())
        .args(["--strict", "-k", KUBERNETES_VERSION])
        .args(files)
        .output()
        .unwrap()
}

#[test]
fn every_manifest_validates_against_the_pinned_kubernetes_schemas() {
    if validator().is_none() {
        return;
    }
    let files = manifests();
    let out = validate(&files);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubernetes-validate failed:\n{text}");
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        assert!(
            text.lines()
                .any(|l| l.contains(&*name) && l.contains("passed")),
            "{name} not reported as passed:\n{text}"
        );
    }
}

#[test]
fn the_validator_rejects_a_broken_job() {
    // Without this, a validator that passed everything would pass the test above.
    if validator().is_none() {
        return;
    }
    let job = std::fs::read_to_string(k8s_dir().join("job.yaml")).unwrap();
    let broken = job.replacen("          args:", "          argz:", 1);
    assert_ne!(job, broken);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.yaml");
    std::fs::write(&path, broken).unwrap();
    let out = validate(&[path]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("'argz' was unexpected"));
}

/// A manifest as JSON (PyYAML comes with kubernetes-validate).
fn yaml(file: &str) -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(k8s_dir().join(file))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Parses `xfer ARGS` as the binary would; every flag the Job passes must
/// exist (`--shard` and `--start-at` included).
fn parse(args: &[String]) {
    let argv = std::iter::once("xfer".to_string()).chain(args.iter().cloned());
    if let Err(e) = Cli::try_parse_from(argv) {
        panic!("the args do not parse: {e}\nargs: {args:?}");
    }
}

#[test]
fn the_jobs_args_parse_for_every_shard() {
    if validator().is_none() {
        // PyYAML comes with kubernetes-validate.
        return;
    }
    let job = yaml("job.yaml");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().unwrap();
    assert_eq!(spec["parallelism"].as_u64(), Some(n), "all shards at once");
    let container = &spec["template"]["spec"]["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let envs: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(envs.contains(&"START_AT") && envs.contains(&"RUN") && envs.contains(&"XFER_PASSWORD"));

    let config = yaml("run-config.yaml");
    let start_at = config["data"]["START_AT"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(start_at)
        .unwrap_or_else(|e| panic!("run-config.yaml START_AT {start_at:?}: {e}"));
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();

    for index in 0..n {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                a.replace("$(JOB_COMPLETION_INDEX)", &index.to_string())
                    .replace("$(START_AT)", &later)
                    .replace("$(RUN)", "run-1")
            })
            .collect();
        assert!(
            !args.iter().any(|a| a.contains("$(")),
            "unexpanded: {args:?}"
        );
        let value = |flag: &str| {
            let i = args.iter().position(|a| a == flag).unwrap();
            args[i + 1].clone()
        };
        let shard: Shard = value("--shard").parse().unwrap();
        assert_eq!(
            shard,
            Shard {
                index: index as u32,
                count: n as u32
            },
            "--shard must be I/completions"
        );
        let users: u32 = value("--users").parse().unwrap();
        shard.check_users(users).unwrap();
        parse_start_at(&value("--start-at"), chrono::Utc::now()).unwrap();
        parse(&args);
    }
}

/// The collect step of deploy/k8s/README.md runs `xfer merge` on the shards'
/// directories: that command line must parse.
#[test]
fn the_readmes_merge_command_parses() {
    let readme = std::fs::read_to_string(k8s_dir().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.contains("xfer merge /results/"))
        .expect("README.md has the merge step");
    let cmd = line.split('"').nth(1).unwrap().replace("$RUN", "run-1");
    let args: Vec<String> = cmd.split_whitespace().skip(1).map(str::to_string).collect();
    assert_eq!(args[0], "merge");
    parse(&args);
}
