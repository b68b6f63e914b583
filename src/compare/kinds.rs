//! The two kinds of run directory, each turned into a [`Comparison`]:
//! sftp-bench (every phase from `chunks.csv`, throughput judged from
//! `users.csv`) and perf (per common client count, the response phase from
//! `samples/` when present, throughput judged across repeats).

use super::judge::{latency_rows, throughput_row};
use super::rundir::{self, PhaseSamples, RunKind};
use super::{
    stats, CompareConfig, CompareError, Comparison, Row, RowUnit, RunInfo, SettingChange, Verdict,
};
use crate::perf::results::{self, PointRun};
use std::path::Path;

fn bench_info(r: &rundir::BenchRun) -> RunInfo {
    let s = r.summary.as_ref();
    RunInfo {
        dir: r.dir.clone(),
        started_at: r.config["started_at"].as_str().map(String::from),
        steps_ok: s.and_then(|s| s["steps_ok"].as_u64()),
        failed_attempts: s.and_then(|s| s["failed_attempts"].as_u64()),
    }
}

fn changes(base: &serde_json::Value, new: &serde_json::Value) -> Vec<SettingChange> {
    rundir::setting_changes(base, new)
        .into_iter()
        .map(|(key, base, new)| SettingChange { key, base, new })
        .collect()
}

/// Phase names of both runs, in BASE's order then NEW's extras.
fn phase_names(base: &PhaseSamples, new: &PhaseSamples) -> Vec<String> {
    let mut names: Vec<String> = base.phases.iter().map(|(n, _)| n.clone()).collect();
    for (n, _) in &new.phases {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

pub(super) fn compare_bench(
    base: &Path,
    new: &Path,
    cfg: &CompareConfig,
) -> Result<Comparison, CompareError> {
    let (b, n) = (rundir::read_bench(base)?, rundir::read_bench(new)?);
    let mut rows = Vec::new();
    let mut headline = Vec::new();
    for name in phase_names(&b.samples, &n.samples) {
        if name == b.response {
            headline.push(rows.len());
        }
        let (bs, ns) = (
            b.samples.get(&name).unwrap_or(&[]),
            n.samples.get(&name).unwrap_or(&[]),
        );
        rows.extend(latency_rows(&name, None, bs, ns, cfg));
    }
    let mbps = |r: &rundir::BenchRun| {
        r.summary
            .as_ref()
            .and_then(|s| s["throughput"]["mb_per_s"].as_f64())
    };
    rows.push(throughput_row(
        "MB/s",
        RowUnit::MbPerS,
        None,
        mbps(&b),
        mbps(&n),
        (&b.user_mb_per_s, &n.user_mb_per_s),
        "per-user MB/s",
        cfg,
    ));
    Ok(Comparison {
        kind: RunKind::SftpBench,
        base: bench_info(&b),
        new: bench_info(&n),
        method: String::new(),
        noise: cfg.noise,
        confidence: cfg.confidence,
        seed: cfg.seed,
        settings_changed: changes(&b.config, &n.config),
        clients_only_in_base: Vec::new(),
        clients_only_in_new: Vec::new(),
        rows,
        headline,
    })
}

fn perf_info(r: &rundir::PerfRun) -> RunInfo {
    RunInfo {
        dir: r.dir.clone(),
        started_at: r.started_at.clone(),
        steps_ok: Some(r.runs.iter().map(|x| x.requests).sum()),
        failed_attempts: Some(r.runs.iter().map(|x| x.errors).sum()),
    }
}

pub(super) fn compare_perf(
    base: &Path,
    new: &Path,
    cfg: &CompareConfig,
) -> Result<Comparison, CompareError> {
    use std::collections::BTreeSet;
    let (b, n) = (rundir::read_perf(base)?, rundir::read_perf(new)?);
    let counts = |r: &rundir::PerfRun| r.runs.iter().map(|x| x.clients).collect::<BTreeSet<u32>>();
    let (cb, cn) = (counts(&b), counts(&n));
    let response = if b.response == "response" {
        n.response.clone()
    } else {
        b.response.clone()
    };
    let mut rows = Vec::new();
    let mut headline = Vec::new();
    for &clients in cb.intersection(&cn) {
        let runs = |r: &rundir::PerfRun| -> Vec<PointRun> {
            r.runs
                .iter()
                .filter(|x| x.clients == clients && x.latency.count > 0)
                .cloned()
                .collect()
        };
        let (rb, rn) = (runs(&b), runs(&n));
        let (sb, sn) = (
            b.samples.get(&clients).and_then(|s| s.get(&response)),
            n.samples.get(&clients).and_then(|s| s.get(&response)),
        );
        headline.push(rows.len());
        match (sb, sn) {
            (Some(sb), Some(sn)) => {
                rows.extend(latency_rows(&response, Some(clients), sb, sn, cfg))
            }
            _ => rows.extend(summary_latency_rows(&response, clients, &rb, &rn)),
        }
        let med = |rs: &[PointRun], f: fn(&PointRun) -> f64| {
            (!rs.is_empty()).then(|| results::Spread::of(rs.iter().map(f)).median)
        };
        let per = |rs: &[PointRun], f: fn(&PointRun) -> f64| rs.iter().map(f).collect::<Vec<f64>>();
        for (stat, unit, f) in [
            (
                "requests/s",
                RowUnit::PerS,
                (|r: &PointRun| r.requests_per_s) as fn(&PointRun) -> f64,
            ),
            ("MB/s", RowUnit::MbPerS, |r: &PointRun| r.mb_per_s),
        ] {
            rows.push(throughput_row(
                stat,
                unit,
                Some(clients),
                med(&rb, f),
                med(&rn, f),
                (&per(&rb, f), &per(&rn, f)),
                "repeats",
                cfg,
            ));
        }
    }
    let empty = serde_json::Value::Null;
    Ok(Comparison {
        kind: RunKind::Perf,
        base: perf_info(&b),
        new: perf_info(&n),
        method: String::new(),
        noise: cfg.noise,
        confidence: cfg.confidence,
        seed: cfg.seed,
        settings_changed: changes(
            b.config.as_ref().unwrap_or(&empty),
            n.config.as_ref().unwrap_or(&empty),
        ),
        clients_only_in_base: cb.difference(&cn).copied().collect(),
        clients_only_in_new: cn.difference(&cb).copied().collect(),
        rows,
        headline,
    })
}

/// Without `--samples` a perf run keeps only its summaries: the rows show
/// the median across repeats, unjudged.
fn summary_latency_rows(
    phase: &str,
    clients: u32,
    base: &[PointRun],
    new: &[PointRun],
) -> Vec<Row> {
    let med = |rs: &[PointRun], f: fn(&PointRun) -> u64| {
        (!rs.is_empty()).then(|| results::Spread::of(rs.iter().map(|r| f(r) as f64)).median)
    };
    type Field = fn(&PointRun) -> u64;
    let stats: [(&str, Field); 4] = [
        ("p50", |r| r.latency.p50_us),
        ("p90", |r| r.latency.p90_us),
        ("p99", |r| r.latency.p99_us),
        ("max", |r| r.latency.max_us),
    ];
    let count = |rs: &[PointRun]| rs.iter().map(|r| r.latency.count as usize).sum();
    stats
        .into_iter()
        .map(|(stat, f)| {
            let (b, n) = (med(base, f), med(new, f));
            Row {
                clients: Some(clients),
                metric: phase.to_string(),
                stat: stat.to_string(),
                unit: RowUnit::Micros,
                base: b,
                new: n,
                base_n: count(base),
                new_n: count(new),
                ratio: b.zip(n).map(|(b, n)| stats::ratio(b, n)),
                ci_low: None,
                ci_high: None,
                verdict: Verdict::NotJudged,
                note: Some("no raw samples (run perf with --samples)".into()),
            }
        })
        .collect()
}
