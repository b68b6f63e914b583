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
use crate::report::format::tables::read_samples;
use crate::report::format::{FormatError, CHUNKS_CSV};
use crate::report::{Recorder, RunSummary};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
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

/// Rebuilds a summary from `chunks.csv` bytes, read with the one reader of
/// sample files ([`read_samples`]: the phases are the `<phase>_us` columns,
/// a last row cut short by a kill is left out). `response_phase` is the
/// run's (e.g. `write`, from a complete shard or the workload).
pub fn summary_from_chunks(
    label: &str,
    csv_bytes: &[u8],
    response_phase: &str,
) -> Result<Rebuilt, MergeError> {
    let bad_header = |detail: String| MergeError::Header {
        label: label.to_string(),
        first: "the sample CSV format".to_string(),
        file: CHUNKS_CSV.to_string(),
        detail,
    };
    let table = read_samples(csv_bytes, Path::new(CHUNKS_CSV)).map_err(|e| match e {
        FormatError::Csv { line: 1, what, .. } => bad_header(what),
        FormatError::Csv { line, what, .. } => MergeError::Row {
            label: label.to_string(),
            record: line - 1,
            detail: what,
        },
        other => bad_header(other.to_string()),
    })?;
    let phase_names: Vec<&'static str> = table.phases.iter().map(|p| intern(p)).collect();
    if phase_names.is_empty() || phase_names.len() > MAX_PHASES {
        return Err(bad_header(format!("{} phase columns", phase_names.len())));
    }
    let response = table
        .phase(response_phase)
        .ok_or_else(|| bad_header(format!("no {response_phase}_us column")))?;

    let us = Duration::from_micros;
    let mut span: BTreeMap<u32, (Duration, Duration)> = BTreeMap::new();
    let samples: Vec<Sample> = table
        .rows
        .into_iter()
        .map(|row| {
            let mut phases = [None; MAX_PHASES];
            for (slot, v) in phases.iter_mut().zip(&row.phases) {
                *slot = v.map(us);
            }
            let s = Sample {
                user: row.user,
                pass: row.pass,
                step: row.chunk,
                attempt: row.attempt,
                offset: row.offset,
                bytes: row.bytes,
                intended: us(row.intended_us),
                started: us(row.start_us),
                elapsed: us(row.total_us),
                phases,
                error: (!row.error_kind.is_empty())
                    .then(|| Box::new((intern(&row.error_kind), row.error))),
            };
            let end = s.started + s.elapsed;
            let e = span.entry(s.user).or_insert((s.started, end));
            e.0 = e.0.min(s.started);
            e.1 = e.1.max(end);
            s
        })
        .collect();

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
