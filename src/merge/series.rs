//! Aligning the shards' time series. Every shard's intervals sit on the same
//! wall-clock boundaries ([`crate::report::timeseries::IntervalClock`]), so
//! rows of one interval are found by their start time: counts, bytes and
//! active users add, failure kinds are matched by name, and the interval
//! histograms (from each shard's `latency.hlog`) add, so merged interval
//! percentiles are exact. Intervals in which only some shards ran count the
//! others as zero; the merged series has no holes.

use super::MergeError;
use crate::report::timeseries::IntervalRow;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// One shard's series: its failure kinds (the `failed_<kind>` columns, in
/// order, without `other`) and its rows, each with its interval histogram.
#[derive(Debug, Clone, Copy)]
pub struct ShardSeries<'a> {
    pub label: &'a str,
    pub kinds: &'a [String],
    pub rows: &'a [IntervalRow],
}

/// The merged kinds (the first shard's, then any other shard's new ones) and
/// rows, one per interval from the earliest to the latest.
pub fn merge_series(parts: &[ShardSeries]) -> Result<(Vec<String>, Vec<IntervalRow>), MergeError> {
    let mut kinds: Vec<String> = Vec::new();
    for p in parts {
        for k in p.kinds {
            if !kinds.contains(k) {
                kinds.push(k.clone());
            }
        }
    }
    let length = parts
        .iter()
        .find_map(|p| p.rows.first().map(|r| (p.label, r.end - r.start)));
    let mut merged: BTreeMap<DateTime<Utc>, IntervalRow> = BTreeMap::new();
    for p in parts {
        // Where each of this shard's failure columns goes in the merged row.
        let to: Vec<usize> = p
            .kinds
            .iter()
            .map(|k| kinds.iter().position(|m| m == k).unwrap_or(kinds.len()))
            .chain([kinds.len()])
            .collect();
        for r in p.rows {
            if let Some((first, len)) = length {
                if r.end - r.start != len {
                    return Err(MergeError::Mismatch {
                        label: p.label.to_string(),
                        detail: format!(
                            "time-series interval is {} ms, {first}'s is {} ms (use the same --interval for every shard)",
                            (r.end - r.start).num_milliseconds(),
                            len.num_milliseconds()
                        ),
                    });
                }
            }
            if r.failed.len() != to.len() {
                return Err(MergeError::Mismatch {
                    label: p.label.to_string(),
                    detail: format!(
                        "a time-series row has {} failure columns, its header {}",
                        r.failed.len(),
                        to.len()
                    ),
                });
            }
            let m = merged
                .entry(r.start)
                .or_insert_with(|| empty(r.start, r.end, kinds.len()));
            m.active_users += r.active_users;
            m.steps_ok += r.steps_ok;
            m.bytes += r.bytes;
            for (n, &i) in r.failed.iter().zip(&to) {
                m.failed[i] += n;
            }
            m.response.add(&r.response);
        }
    }
    // Fill the holes so the series is continuous.
    let mut rows: Vec<IntervalRow> = Vec::with_capacity(merged.len());
    for (_, r) in merged {
        while let Some(last) = rows.last() {
            if last.end >= r.start {
                break;
            }
            let (s, e) = (last.end, last.end + (last.end - last.start));
            rows.push(empty(s, e, kinds.len()));
        }
        rows.push(r);
    }
    Ok((kinds, rows))
}

fn empty(start: DateTime<Utc>, end: DateTime<Utc>, kinds: usize) -> IntervalRow {
    IntervalRow {
        start,
        end,
        active_users: 0,
        steps_ok: 0,
        failed: vec![0; kinds + 1],
        bytes: 0,
        response: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::histogram::LatencyHistogram;

    fn t(sec: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_796_464_800 + sec, 0).unwrap()
    }

    fn row(sec: i64, users: u32, ok: u64, failed: Vec<u64>, values: &[u64]) -> IntervalRow {
        let mut response = LatencyHistogram::new();
        values.iter().for_each(|v| response.record_us(*v));
        IntervalRow {
            start: t(sec),
            end: t(sec + 1),
            active_users: users,
            steps_ok: ok,
            failed,
            bytes: ok * 100,
            response,
        }
    }

    #[test]
    fn rows_align_by_interval_and_add_up() {
        let ka = vec!["refused".to_string()];
        let kb = vec!["auth".to_string(), "refused".to_string()];
        let a = [
            row(0, 2, 2, vec![1, 0], &[10, 20]),
            row(1, 2, 1, vec![0, 3], &[30]),
        ];
        let b = [
            row(1, 3, 2, vec![4, 5, 6], &[40, 50]),
            row(3, 1, 1, vec![0, 0, 0], &[60]),
        ];
        let (kinds, rows) = merge_series(&[
            ShardSeries {
                label: "a",
                kinds: &ka,
                rows: &a,
            },
            ShardSeries {
                label: "b",
                kinds: &kb,
                rows: &b,
            },
        ])
        .unwrap();
        assert_eq!(kinds, vec!["refused", "auth"]);
        let starts: Vec<_> = rows.iter().map(|r| r.start).collect();
        assert_eq!(
            starts,
            vec![t(0), t(1), t(2), t(3)],
            "the hole at 2 is filled"
        );
        assert_eq!(rows[1].active_users, 5);
        assert_eq!(rows[1].steps_ok, 3);
        assert_eq!(rows[1].bytes, 300);
        // refused: a's 0 + b's 5; auth: b's 4; other: a's 3 + b's 6.
        assert_eq!(rows[1].failed, vec![5, 4, 9]);
        assert_eq!(rows[1].response.len(), 3);
        assert_eq!(rows[1].response.summary().max_us, 50);
        assert_eq!(rows[2].steps_ok, 0);
        let total_ok: u64 = rows.iter().map(|r| r.steps_ok).sum();
        assert_eq!(total_ok, 6);
    }

    #[test]
    fn different_intervals_are_refused() {
        let k: Vec<String> = vec![];
        let a = [row(0, 1, 1, vec![0], &[1])];
        let mut b = [row(0, 1, 1, vec![0], &[1])];
        b[0].end = t(5);
        let e = merge_series(&[
            ShardSeries {
                label: "a",
                kinds: &k,
                rows: &a,
            },
            ShardSeries {
                label: "b",
                kinds: &k,
                rows: &b,
            },
        ])
        .unwrap_err()
        .to_string();
        assert_eq!(e, "b: time-series interval is 5000 ms, a's is 1000 ms (use the same --interval for every shard)");
    }
}
