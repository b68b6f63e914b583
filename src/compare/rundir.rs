//! Reading what `xfer compare` needs from a run directory: its kind, its
//! configuration (for the "settings that differ" line), the raw samples of
//! every phase (from `chunks.csv`, or perf's `samples/`), and the run-level
//! figures (`summary.json`, `users.csv`, `perf.json` / `perf.csv`).
//!
//! It reads the files by their documented columns and keys rather than
//! through the writers' types, so that a run directory from an older xfer, or
//! one cut short by `kill -9` (no `summary.json` yet), still compares.

use super::CompareError;
use crate::perf::results::{self, PointRun};
use crate::report::format::tables;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What produced a run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RunKind {
    #[serde(rename = "sftp-bench")]
    SftpBench,
    #[serde(rename = "perf")]
    Perf,
}

impl RunKind {
    pub fn name(self) -> &'static str {
        match self {
            RunKind::SftpBench => "sftp-bench",
            RunKind::Perf => "perf",
        }
    }

    /// Looks at the files a run writes first: `run.json` (sftp-bench, before
    /// its first chunk) or `perf.json` / `perf.csv`.
    pub fn detect(dir: &Path) -> Result<RunKind, CompareError> {
        if !dir.is_dir() {
            return Err(CompareError::NotARunDir {
                dir: dir.to_path_buf(),
                why: "not a directory".into(),
            });
        }
        if dir.join("run.json").is_file() {
            return Ok(RunKind::SftpBench);
        }
        if dir.join("perf.json").is_file() || dir.join("perf.csv").is_file() {
            return Ok(RunKind::Perf);
        }
        Err(CompareError::NotARunDir {
            dir: dir.to_path_buf(),
            why: "no run.json (sftp-bench), perf.json or perf.csv (perf) in it".into(),
        })
    }
}

fn read_json(path: &Path) -> Result<Value, CompareError> {
    let text = std::fs::read_to_string(path).map_err(|e| CompareError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| CompareError::Format {
        file: path.to_path_buf(),
        why: e.to_string(),
    })
}

fn read_json_if_present(path: &Path) -> Result<Option<Value>, CompareError> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

/// Raw microsecond samples of completed steps, by phase name, in the order
/// the file holds them (the order attempts ended).
/// Phases in the CSV's column order, then `cycle` and `schedule_true`.
#[derive(Debug, Clone, Default)]
pub struct PhaseSamples {
    pub phases: Vec<(String, Vec<u64>)>,
}

impl PhaseSamples {
    pub fn get(&self, name: &str) -> Option<&[u64]> {
        self.phases
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Reads a sample CSV (`chunks.csv` or perf's `samples/*.csv`): the columns
/// between `start_us` and `total_us` are phases. Failed attempts
/// (`error_kind` set) are left out, as the summaries leave them out, and so
/// is a last row cut short by a kill (the rule of
/// [`tables::complete_records`]). `response` names the phase
/// `schedule_true` is measured to.
pub fn read_samples(
    path: &Path,
    response: &str,
    into: &mut PhaseSamples,
) -> Result<(), CompareError> {
    let bad = |why: String| CompareError::Format {
        file: path.to_path_buf(),
        why,
    };
    let bytes = std::fs::read(path).map_err(|e| CompareError::io(path, e))?;
    let mut rd = csv::Reader::from_reader(tables::complete_records(&bytes));
    let header = rd.headers().map_err(|e| bad(e.to_string()))?.clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| bad(format!("no column '{name}'")))
    };
    let (intended, start, total, kind) = (
        col("intended_us")?,
        col("start_us")?,
        col("total_us")?,
        col("error_kind")?,
    );
    let phase_cols: Vec<(usize, String)> = (start + 1..total)
        .filter_map(|i| Some((i, header[i].strip_suffix("_us")?.to_string())))
        .collect();
    let response_at = phase_cols.iter().position(|(_, n)| n == response);
    let mut find = |name: &str| -> usize {
        match into.phases.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                into.phases.push((name.to_string(), Vec::new()));
                into.phases.len() - 1
            }
        }
    };
    let slots: Vec<usize> = phase_cols.iter().map(|(_, n)| find(n)).collect();
    let (cycle, sched) = (find("cycle"), find("schedule_true"));
    for (line, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        if !rec.get(kind).unwrap_or("").is_empty() {
            continue;
        }
        let num = |i: usize| -> Result<Option<u64>, CompareError> {
            match rec.get(i).unwrap_or("") {
                "" => Ok(None),
                s => s.parse().map(Some).map_err(|_| {
                    bad(format!(
                        "row {}: '{s}' in column {} is not a number",
                        line + 2,
                        &header[i]
                    ))
                }),
            }
        };
        let mut until_response = 0u64;
        for (k, (i, _)) in phase_cols.iter().enumerate() {
            if let Some(v) = num(*i)? {
                into.phases[slots[k]].1.push(v);
                if response_at.is_some_and(|r| k <= r) {
                    until_response += v;
                }
            }
        }
        if let Some(v) = num(total)? {
            into.phases[cycle].1.push(v);
        }
        // schedule_true as the recorder defines it: lateness plus every phase
        // up to the end of the response.
        if let (Some(r), Some(i), Some(s)) = (response_at, num(intended)?, num(start)?) {
            if num(phase_cols[r].0)?.is_some() {
                into.phases[sched]
                    .1
                    .push(s.saturating_sub(i) + until_response);
            }
        }
    }
    Ok(())
}

/// Drops phases nobody timed.
pub fn finish(mut s: PhaseSamples) -> PhaseSamples {
    s.phases.retain(|(_, v)| !v.is_empty());
    s
}

/// An sftp-bench run directory, as far as compare needs it.
#[derive(Debug, Clone)]
pub struct BenchRun {
    pub dir: PathBuf,
    pub config: Value,
    pub summary: Option<Value>,
    pub response: String,
    pub samples: PhaseSamples,
    /// MB/s of each user that started (users.csv).
    pub user_mb_per_s: Vec<f64>,
}

pub fn read_bench(dir: &Path) -> Result<BenchRun, CompareError> {
    let config = read_json(&dir.join("run.json"))?;
    let summary = read_json_if_present(&dir.join("summary.json"))?;
    let response = summary
        .as_ref()
        .and_then(|s| s["response_phase"].as_str())
        .unwrap_or("write")
        .to_string();
    let mut samples = PhaseSamples::default();
    let chunks = dir.join("chunks.csv");
    if chunks.is_file() {
        read_samples(&chunks, &response, &mut samples)?;
    }
    let mut user_mb_per_s = Vec::new();
    let users = dir.join("users.csv");
    if users.is_file() {
        let bad = |why: String| CompareError::Format {
            file: users.clone(),
            why,
        };
        let mut rd = csv::Reader::from_path(&users).map_err(|e| bad(e.to_string()))?;
        let header = rd.headers().map_err(|e| bad(e.to_string()))?.clone();
        let at = |n: &str| {
            header
                .iter()
                .position(|h| h == n)
                .ok_or_else(|| bad(format!("no column '{n}'")))
        };
        let (rate, start) = (at("mb_per_s")?, at("start")?);
        for rec in rd.records() {
            let rec = rec.map_err(|e| bad(e.to_string()))?;
            if rec.get(start).unwrap_or("").is_empty() {
                continue; // never started
            }
            if let Ok(v) = rec.get(rate).unwrap_or("").parse::<f64>() {
                user_mb_per_s.push(v);
            }
        }
    }
    Ok(BenchRun {
        dir: dir.to_path_buf(),
        config,
        summary,
        response,
        samples: finish(samples),
        user_mb_per_s,
    })
}

/// A perf run directory: its runs, and per client count the pooled samples
/// of every repeat when `--samples` wrote them.
#[derive(Debug, Clone)]
pub struct PerfRun {
    pub dir: PathBuf,
    /// perf.json's configuration (target, workload, settings), if present.
    pub config: Option<Value>,
    /// perf.json's `started_at`.
    pub started_at: Option<String>,
    pub runs: Vec<PointRun>,
    pub response: String,
    pub samples: BTreeMap<u32, PhaseSamples>,
}

pub fn read_perf(dir: &Path) -> Result<PerfRun, CompareError> {
    let json_path = dir.join("perf.json");
    let (config, started_at, runs) = if json_path.is_file() {
        let v = read_json(&json_path)?;
        let runs: Vec<PointRun> =
            serde_json::from_value(v["runs"].clone()).map_err(|e| CompareError::Format {
                file: json_path.clone(),
                why: format!("runs: {e}"),
            })?;
        let config = serde_json::json!({
            "target": v["target"], "workload": v["workload"], "settings": v["settings"],
        });
        let started = v["started_at"].as_str().map(String::from);
        (Some(config), started, runs)
    } else {
        let csv_path = dir.join("perf.csv");
        let text = std::fs::read(&csv_path).map_err(|e| CompareError::io(&csv_path, e))?;
        let runs = results::parse_csv(&text).map_err(|e| CompareError::Format {
            file: csv_path.clone(),
            why: e.to_string(),
        })?;
        (None, None, runs)
    };
    let mut samples: BTreeMap<u32, PhaseSamples> = BTreeMap::new();
    let mut response = String::new();
    let sample_dir = dir.join("samples");
    if sample_dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&sample_dir)
            .map_err(|e| CompareError::io(&sample_dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for f in files {
            // samples/cNNNN-rR.csv
            let Some(clients) = f
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix('c'))
                .and_then(|n| n.split('-').next())
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if response.is_empty() {
                response = response_phase_of(&f)?;
            }
            read_samples(&f, &response, samples.entry(clients).or_default())?;
        }
    }
    Ok(PerfRun {
        dir: dir.to_path_buf(),
        config,
        started_at,
        runs,
        response: if response.is_empty() {
            "response".into()
        } else {
            response
        },
        samples: samples.into_iter().map(|(c, s)| (c, finish(s))).collect(),
    })
}

/// perf records no response-phase name; its workloads use `request` (tcp://)
/// and `write` (sftp:// uploads and mixed runs) or `read` (sftp://
/// downloads). An sftp:// header has both columns, so the first of them
/// that holds a value tells which one ran.
fn response_phase_of(csv: &Path) -> Result<String, CompareError> {
    let format_err = |e: csv::Error| CompareError::Format {
        file: csv.to_path_buf(),
        why: e.to_string(),
    };
    let mut rd = csv::Reader::from_path(csv).map_err(format_err)?;
    let header = rd.headers().map_err(format_err)?.clone();
    let candidates: Vec<(&str, usize)> = ["write", "request", "read"]
        .into_iter()
        .filter_map(|p| Some((p, header.iter().position(|h| h == format!("{p}_us"))?)))
        .collect();
    let mut used = vec![false; candidates.len()];
    for rec in rd.records() {
        let rec = rec.map_err(format_err)?;
        for (u, (_, col)) in used.iter_mut().zip(&candidates) {
            *u |= rec.get(*col).is_some_and(|v| !v.is_empty());
        }
        // The first candidate used wins: nothing later can change that.
        if used.first() == Some(&true) {
            break;
        }
    }
    Ok(candidates
        .iter()
        .zip(&used)
        .find(|(_, u)| **u)
        .or_else(|| candidates.iter().zip(&used).next())
        .map_or("request", |((p, _), _)| p)
        .to_string())
}

/// `key: BASE -> NEW` for every scalar setting that differs, flattening
/// nested objects to dotted keys. Per-run values (times, remote names, host
/// keys of throwaway servers) are left out, and so is where a merged run
/// came from (`merged`: its shards and their start skew), which is not a
/// setting: a merged run and an unmerged one of one configuration are alike.
/// The name of a download source that each run uploaded for itself carries
/// its run id, so it is left out too; a `--remote-file` the user named is a
/// setting.
pub fn setting_changes(base: &Value, new: &Value) -> Vec<(String, String, String)> {
    const PER_RUN: [&str; 6] = [
        "started_at",
        "start_at",
        "remote_files",
        "session.host_key_fingerprint",
        "run_id",
        "merged",
    ];
    fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let (mut b, mut n) = (BTreeMap::new(), BTreeMap::new());
    flatten("", base, &mut b);
    flatten("", new, &mut n);
    let own_source = |m: &BTreeMap<String, String>| {
        m.get("remote_file.uploaded_by_run").map(String::as_str) == Some("true")
    };
    let both_own_source = own_source(&b) && own_source(&n);
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(n.keys()).collect();
    keys.into_iter()
        .filter(|k| {
            !PER_RUN
                .iter()
                .any(|p| k.as_str() == *p || k.starts_with(&format!("{p}.")))
        })
        .filter(|k| !(both_own_source && k.as_str() == "remote_file.path"))
        .filter_map(|k| {
            let (x, y) = (b.get(k), n.get(k));
            (x != y).then(|| {
                let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(none)".into());
                (k.clone(), show(x), show(y))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_per_phase_with_failures_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("chunks.csv");
        std::fs::write(
            &p,
            "user,pass,chunk,attempt,offset,bytes,intended_us,start_us,connect_us,write_us,verify_us,total_us,error_kind,error\n\
             0,0,0,1,0,10,0,100,50,300,,400,,\n\
             0,0,1,1,10,0,500,500,,,,20,timeout,slow\n\
             0,0,1,2,10,10,500,700,,200,9,210,,\n",
        )
        .unwrap();
        let mut s = PhaseSamples::default();
        read_samples(&p, "write", &mut s).unwrap();
        let s = finish(s);
        let names: Vec<&str> = s.phases.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["connect", "write", "verify", "cycle", "schedule_true"]
        );
        assert_eq!(s.get("write"), Some(&[300, 200][..]));
        assert_eq!(s.get("cycle"), Some(&[400, 210][..]));
        // 100 late + 50 + 300; 200 late + 200
        assert_eq!(s.get("schedule_true"), Some(&[450, 400][..]));
        std::fs::write(
            &p,
            "user,intended_us,start_us,write_us,total_us,error_kind\n0,0,x,1,1,\n",
        )
        .unwrap();
        let e = read_samples(&p, "write", &mut PhaseSamples::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains("row 2: 'x' in column start_us is not a number"),
            "{e}"
        );
    }

    #[test]
    fn a_last_row_cut_by_a_kill_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("chunks.csv");
        std::fs::write(
            &p,
            "user,pass,chunk,attempt,offset,bytes,intended_us,start_us,write_us,total_us,error_kind,error\n\
             0,0,0,1,0,10,0,100,300,400,,\n\
             0,0,1,1,10,10,500,700,2",
        )
        .unwrap();
        let mut s = PhaseSamples::default();
        read_samples(&p, "write", &mut s).unwrap();
        assert_eq!(s.get("write"), Some(&[300][..]));
    }

    #[test]
    fn a_perf_run_without_perf_json_is_read_from_perf_csv_and_its_samples() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("perf.csv"),
            "clients,repeat,requests,errors,elapsed_s,requests_per_s,mb_per_s,bytes,mean_us,min_us,p50_us,p90_us,p95_us,p99_us,p999_us,max_us,users_gave_up,interrupted,error_kinds\n\
             2,0,4,0,0.1,40.0,0.1,16384,50.0,40,50,60,60,60,60,60,0,false,\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("samples")).unwrap();
        std::fs::write(
            dir.path().join("samples/c0002-r0.csv"),
            "user,pass,chunk,attempt,offset,bytes,intended_us,start_us,connect_us,request_us,total_us,error_kind,error\n\
             0,0,0,1,0,4096,0,0,5,40,45,,\n1,0,0,1,0,4096,0,0,,60,60,,\n",
        )
        .unwrap();
        assert_eq!(RunKind::detect(dir.path()).unwrap(), RunKind::Perf);
        let r = read_perf(dir.path()).unwrap();
        assert_eq!(
            (r.config.is_none(), r.runs.len(), r.runs[0].clients),
            (true, 1, 2)
        );
        assert_eq!(r.response, "request");
        assert_eq!(r.samples[&2].get("request"), Some(&[40, 60][..]));
    }

    #[test]
    fn where_a_merged_run_came_from_and_when_it_was_to_start_are_no_settings() {
        let a = serde_json::json!({"users": 4, "start_at": "x"});
        let b = serde_json::json!({"users": 4, "start_at": "y",
            "merged": {"shards": [{"dir": "s0", "shard": 0}], "start_skew_ms": 3.1}});
        assert_eq!(setting_changes(&a, &b), []);
        assert_eq!(setting_changes(&b, &a), []);
    }

    #[test]
    fn the_name_of_a_source_each_run_uploaded_itself_is_no_setting() {
        let own = |path: &str| serde_json::json!({"remote_file": {"path": path, "size": 5, "uploaded_by_run": true}});
        assert_eq!(setting_changes(&own("/a-src.bin"), &own("/b-src.bin")), []);
        // A --remote-file the user named is a setting: a different file is
        // a different test.
        let named = |path: &str| serde_json::json!({"remote_file": {"path": path, "size": 5, "uploaded_by_run": false}});
        assert_eq!(
            setting_changes(&named("/a.bin"), &named("/b.bin")),
            [(
                "remote_file.path".to_string(),
                "/a.bin".to_string(),
                "/b.bin".to_string()
            )]
        );
        assert_eq!(
            setting_changes(&own("/a-src.bin"), &named("/a-src.bin")).len(),
            1
        );
    }

    #[test]
    fn only_settings_that_differ_are_listed() {
        let a = serde_json::json!({"chunk_size": 65536, "started_at": "x", "session": {"kex": "k", "host_key_fingerprint": "f"}});
        let b = serde_json::json!({"chunk_size": 131072, "started_at": "y", "session": {"kex": "k", "host_key_fingerprint": "g"}, "new": true});
        assert_eq!(
            setting_changes(&a, &b),
            [
                (
                    "chunk_size".to_string(),
                    "65536".to_string(),
                    "131072".to_string()
                ),
                ("new".to_string(), "(none)".to_string(), "true".to_string())
            ]
        );
    }
}
