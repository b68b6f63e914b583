//! Rebuilding the summary of a shard that was killed mid-run (no
//! `summary.json`) from its `chunks.csv`, which is written row by row and so
//! survives a kill -9. The rows are turned back into engine samples and fed
//! to the same [`Recorder`] a live run uses, so a rebuilt summary is computed
//! exactly as a written one would have been, within the microsecond
//! resolution of the CSV.
//!
//! What the rows cannot tell is estimated, and the caller warns
//! ([`super::MergeWarning::IncompleteShard`]): a user's start and end are its
//! first attempt's start and its last attempt's end; the shard's elapsed time
//! is the end of its last attempt.

use super::MergeError;
use crate::load::{Event, Sample, MAX_PHASES};
use crate::report::format::tables::SAMPLE_LEAD_COLUMNS;
use crate::report::{Recorder, RunSummary};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// A shard's summary rebuilt from its chunk rows.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    pub summary: RunSummary,
    /// End of the last attempt, since the shard's start.
    pub elapsed: Duration,
    /// MB/s of each user seen in the rows.
    pub per_user_mb_per_s: Vec<f64>,
    /// Complete rows read.
    pub rows: u64,
}

/// The engine's phase and error-kind names are `&'static str`; names read
/// back from a file are made static once each (a handful per process).
fn intern(s: &str) -> &'static str {
    static SEEN: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let set = seen.get_or_insert_with(HashSet::new);
    if let Some(v) = set.get(s) {
        return v;
    }
    let v: &'static str = Box::leak(s.to_string().into_boxed_str());
    set.insert(v);
    v
}

/// Rebuilds a summary from `chunks.csv` bytes (the header names the phases:
/// every `<phase>_us` column between `start_us` and `total_us`).
/// `response_phase` is the run's (e.g. `write`, from a complete shard or the
/// workload). A last row cut short by a kill is ignored.
pub fn summary_from_chunks(
    label: &str,
    csv_bytes: &[u8],
    response_phase: &str,
) -> Result<Rebuilt, MergeError> {
    let bad_header = |detail: String| MergeError::Header {
        label: label.to_string(),
        first: "the sample CSV format".to_string(),
        file: "chunks.csv".to_string(),
        detail,
    };
    // Only whole lines: a kill can cut the last one short.
    let complete = match csv_bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => &csv_bytes[..=i],
        None => &[][..],
    };
    let mut reader = csv::ReaderBuilder::new().from_reader(complete);
    let header = reader
        .headers()
        .map_err(|e| bad_header(e.to_string()))?
        .clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (Some(start_col), Some(total_col)) = (col("start_us"), col("total_us")) else {
        return Err(bad_header("no start_us and total_us columns".into()));
    };
    let phase_names: Vec<&'static str> = header
        .iter()
        .take(total_col)
        .skip(start_col + 1)
        .map(|h| intern(h.strip_suffix("_us").unwrap_or(h)))
        .collect();
    if phase_names.is_empty() || phase_names.len() > MAX_PHASES {
        return Err(bad_header(format!("{} phase columns", phase_names.len())));
    }
    let response = phase_names
        .iter()
        .position(|p| *p == response_phase)
        .ok_or_else(|| bad_header(format!("no {response_phase}_us column")))?;
    // The lead columns up to `intended_us` (`start_us` is found above).
    let fixed = &SAMPLE_LEAD_COLUMNS[..7];
    let fixed_cols: Vec<usize> = fixed
        .iter()
        .map(|name| col(name).ok_or_else(|| bad_header(format!("no {name} column"))))
        .collect::<Result<_, _>>()?;
    let kind_col = col("error_kind").ok_or_else(|| bad_header("no error_kind column".into()))?;
    let msg_col = col("error");

    let mut samples = Vec::new();
    let mut span: BTreeMap<u32, (Duration, Duration)> = BTreeMap::new();
    for (i, rec) in reader.records().enumerate() {
        let record = i as u64 + 1;
        let rec = rec.map_err(|e| MergeError::Row {
            label: label.to_string(),
            record,
            detail: e.to_string(),
        })?;
        let num = |c: usize| -> Result<u64, MergeError> {
            rec.get(c)
                .unwrap_or("")
                .parse()
                .map_err(|_| MergeError::Row {
                    label: label.to_string(),
                    record,
                    detail: format!(
                        "{} is not a number: '{}'",
                        header.get(c).unwrap_or("?"),
                        rec.get(c).unwrap_or("")
                    ),
                })
        };
        let us = |c: usize| num(c).map(Duration::from_micros);
        let mut phases = [None; MAX_PHASES];
        for (p, slot) in phases.iter_mut().enumerate().take(phase_names.len()) {
            let c = start_col + 1 + p;
            if !rec.get(c).unwrap_or("").is_empty() {
                *slot = Some(us(c)?);
            }
        }
        let kind = rec.get(kind_col).unwrap_or("");
        let s = Sample {
            user: u32::try_from(num(fixed_cols[0])?).unwrap_or(u32::MAX),
            pass: num(fixed_cols[1])?,
            step: num(fixed_cols[2])?,
            attempt: u32::try_from(num(fixed_cols[3])?).unwrap_or(u32::MAX),
            offset: num(fixed_cols[4])?,
            bytes: num(fixed_cols[5])?,
            intended: us(fixed_cols[6])?,
            started: us(start_col)?,
            elapsed: us(total_col)?,
            phases,
            error: (!kind.is_empty()).then(|| {
                let msg = msg_col.and_then(|c| rec.get(c)).unwrap_or("");
                Box::new((intern(kind), msg.to_string()))
            }),
        };
        let end = s.started + s.elapsed;
        let e = span.entry(s.user).or_insert((s.started, end));
        e.0 = e.0.min(s.started);
        e.1 = e.1.max(end);
        samples.push(s);
    }

    let slots = span.keys().next_back().map_or(0, |u| u + 1);
    let mut rec = Recorder::new(Box::leak(phase_names.into_boxed_slice()), response, slots);
    for (&user, &(at, _)) in &span {
        rec.observe(&Event::UserStarted { user, at });
    }
    let rows = samples.len() as u64;
    for s in samples {
        rec.observe(&Event::Sample(s));
    }
    for (&user, &(_, at)) in &span {
        rec.observe(&Event::UserFinished {
            user,
            at,
            gave_up: false,
        });
    }
    let elapsed = span.values().map(|s| s.1).max().unwrap_or_default();
    let mut summary = rec.summary(elapsed, true);
    // The recorder has a slot for every id below the largest (global ids);
    // only the users seen are this shard's.
    summary.users = span.len() as u32;
    let per_user_mb_per_s = rec
        .users()
        .iter()
        .filter(|u| u.started.is_some())
        .map(|u| u.mb_per_sec())
        .collect();
    Ok(Rebuilt {
        summary,
        elapsed,
        per_user_mb_per_s,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::csv_out::{Flush, SampleCsv};

    const PHASES: &[&str] = &["connect", "handshake", "write"];

    fn samples() -> Vec<Sample> {
        (0..600u64)
            .map(|i| {
                let user = 40 + (i % 6) as u32;
                let mut phases = [None; MAX_PHASES];
                phases[2] = Some(Duration::from_micros(100 + i * 997 % 50_000));
                if i % 3 == 0 {
                    phases[0] = Some(Duration::from_micros(30 + i));
                }
                let failed = i % 13 == 0;
                Sample {
                    user,
                    pass: 0,
                    step: i / 6,
                    attempt: 1,
                    offset: i / 6 * 4096,
                    bytes: if failed { 0 } else { 4096 },
                    intended: Duration::from_millis(i * 10),
                    started: Duration::from_millis(i * 10 + 1),
                    elapsed: Duration::from_micros(200 + i * 997 % 50_000),
                    phases,
                    error: failed.then(|| {
                        Box::new((
                            if i % 2 == 0 { "refused" } else { "write" },
                            "a, \"quoted\"\nmessage".into(),
                        ))
                    }),
                }
            })
            .collect()
    }

    #[test]
    fn a_rebuilt_summary_equals_the_one_the_run_would_have_written() {
        let mut bytes = Vec::new();
        let mut csv = SampleCsv::new(&mut bytes, PHASES, Flush::EveryRow).unwrap();
        let mut live = Recorder::new(PHASES, 2, 46);
        for s in samples() {
            csv.write(&s).unwrap();
            live.observe(&Event::Sample(s));
        }
        drop(csv);
        let r = summary_from_chunks("shard-2", &bytes, "write").unwrap();
        let want = live.summary(r.elapsed, true);
        assert_eq!(r.rows, 600);
        assert_eq!(r.summary.phases, want.phases);
        assert_eq!(r.summary.schedule_true, want.schedule_true);
        assert_eq!(r.summary.cycle, want.cycle);
        assert_eq!(r.summary.errors, want.errors);
        assert_eq!(
            (r.summary.steps_ok, r.summary.failed_attempts),
            (want.steps_ok, want.failed_attempts)
        );
        assert_eq!(r.summary.throughput.bytes, want.throughput.bytes);
        assert_eq!(r.summary.users, 6);
        assert_eq!(r.per_user_mb_per_s.len(), 6);
        assert!(r.summary.interrupted);
        assert_eq!(
            r.elapsed,
            Duration::from_millis(5_991) + Duration::from_micros(200 + 599 * 997 % 50_000)
        );

        // A kill mid-row: the cut row is left out, the rest is kept.
        let cut = &bytes[..bytes.len() - 5];
        assert_eq!(
            summary_from_chunks("shard-2", cut, "write").unwrap().rows,
            599
        );
    }

    #[test]
    fn bad_files_are_named() {
        let e = summary_from_chunks("s1", b"a,b\n1,2\n", "write")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s1: chunks.csv header"), "{e}");
        let mut bytes = Vec::new();
        let mut csv = SampleCsv::new(&mut bytes, PHASES, Flush::EveryRow).unwrap();
        csv.write(&samples()[1]).unwrap();
        drop(csv);
        let e = summary_from_chunks("s1", &bytes, "request")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no request_us column"), "{e}");
        bytes.extend_from_slice(b"x,0,0,1,0,0,0,0,,,5,1,,\n");
        let e = summary_from_chunks("s1", &bytes, "write")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "s1: chunks.csv record 2: user is not a number: 'x'");
    }
}
