//! Refusing to merge shards of different runs. Two shards belong to one run
//! when their `run.json` configurations are equal except for the fields that
//! differ by design between shards (which shard, when it started, its own
//! remote files). The first difference is named in one line, so a user who
//! merged the wrong directory sees at once which one and why.

use super::MergeError;
use serde_json::Value;

/// Top-level `run.json` fields that differ between the shards of one run.
/// Everything else (target, workload, pacing, the whole run's user count,
/// the xfer version) must be equal.
pub const SHARD_FIELDS: &[&str] = &[
    "shard",
    "shard_users",
    "run_id",
    "started_at",
    "start_actual",
    "started",
    "remote_files",
    // A shard's own copy of the downloaded source (its path names the
    // shard), and the ssh config each machine read.
    "remote_file",
    "ssh_login",
    "session",
    "hostname",
    "out",
];

/// The path of the first field (in sorted key order) where `a` and `b`
/// differ, with both values; `None` when they are equal. Top-level keys in
/// `ignore` are skipped.
pub fn first_difference(a: &Value, b: &Value, ignore: &[&str]) -> Option<(String, String, String)> {
    fn walk(
        path: &str,
        a: Option<&Value>,
        b: Option<&Value>,
        ignore: &[&str],
    ) -> Option<(String, String, String)> {
        let show = |v: Option<&Value>| v.map_or_else(|| "absent".to_string(), Value::to_string);
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                keys.into_iter()
                    .filter(|k| !(path.is_empty() && ignore.contains(&k.as_str())))
                    .find_map(|k| {
                        let p = if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        walk(&p, x.get(k), y.get(k), ignore)
                    })
            }
            (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => x
                .iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (u, v))| walk(&format!("{path}[{i}]"), Some(u), Some(v), ignore)),
            (x, y) if x == y => None,
            (x, y) => Some((path.to_string(), show(x), show(y))),
        }
    }
    walk("", Some(a), Some(b), ignore)
}

/// Checks that every configuration matches the first; the error names the
/// two shards (by their labels, e.g. directory names) and the first field
/// that differs.
pub fn check_same_run(configs: &[(&str, &Value)], ignore: &[&str]) -> Result<(), MergeError> {
    let Some(((first_label, first), rest)) = configs.split_first() else {
        return Ok(());
    };
    for (label, config) in rest {
        if let Some((field, a, b)) = first_difference(first, config, ignore) {
            return Err(MergeError::DifferentRuns {
                a: first_label.to_string(),
                b: label.to_string(),
                field,
                value_a: a,
                value_b: b,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(target: &str, chunk: u64, shard: &str) -> Value {
        json!({
            "tool": "sftp-bench",
            "xfer_version": "0.1.0",
            "target": target,
            "shard": shard,
            "started_at": format!("2026-12-05T12:00:00.00{}Z", &shard[..1]),
            "workload": {"chunk_size": chunk, "users": 100, "ciphers": ["aes128-gcm", "chacha20"]},
            "remote_files": [format!("/up/{shard}")],
        })
    }

    #[test]
    fn shards_of_one_run_match_despite_their_own_fields() {
        let a = config("sftp://h/up", 1 << 20, "0/2");
        let b = config("sftp://h/up", 1 << 20, "1/2");
        assert_eq!(first_difference(&a, &b, SHARD_FIELDS), None);
        assert!(check_same_run(&[("a", &a), ("b", &b)], SHARD_FIELDS).is_ok());
        assert!(first_difference(&a, &b, &[]).is_some());
    }

    #[test]
    fn the_first_differing_field_is_named_in_one_line() {
        let a = config("sftp://h/up", 1 << 20, "0/2");
        let b = config("sftp://other/up", 65536, "1/2");
        let e = check_same_run(&[("run-a", &a), ("run-b", &b)], SHARD_FIELDS)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "run-a and run-b are not shards of one run: target differs (\"sftp://h/up\" vs \"sftp://other/up\")"
        );
        let c = config("sftp://h/up", 65536, "1/2");
        let (field, x, y) = first_difference(&a, &c, SHARD_FIELDS).unwrap();
        assert_eq!(
            (field.as_str(), x.as_str(), y.as_str()),
            ("workload.chunk_size", "1048576", "65536")
        );
    }

    #[test]
    fn versions_missing_fields_and_arrays_count() {
        let a = config("t", 1, "0/2");
        let mut b = a.clone();
        b["xfer_version"] = json!("0.2.0");
        assert_eq!(
            first_difference(&a, &b, SHARD_FIELDS).unwrap().0,
            "xfer_version"
        );
        let mut c = a.clone();
        c["workload"]["ciphers"][1] = json!("aes256-ctr");
        assert_eq!(
            first_difference(&a, &c, SHARD_FIELDS).unwrap().0,
            "workload.ciphers[1]"
        );
        let mut d = a.clone();
        d["workload"].as_object_mut().unwrap().remove("users");
        assert_eq!(
            first_difference(&a, &d, SHARD_FIELDS).unwrap(),
            (
                "workload.users".to_string(),
                "100".to_string(),
                "absent".to_string()
            )
        );
    }
}
