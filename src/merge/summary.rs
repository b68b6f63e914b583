//! Merging the shards' summaries: counts add, HDR histograms add (so merged
//! percentiles are exactly those of one histogram of every sample), and rates
//! are recomputed over the union of the shards' wall-clock windows, never
//! averaged, because an average of rates is not the rate of the whole run.

use super::MergeError;
use crate::report::histogram::LatencyHistogram;
use crate::report::recorder::median;
use crate::report::{PhaseSummary, RunSummary, ThroughputSummary};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// When a shard ran: its actual start (from `run.json`) and its end (start
/// plus its elapsed time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    pub fn new(start: DateTime<Utc>, elapsed: Duration) -> Self {
        let end = start + chrono::Duration::from_std(elapsed).unwrap_or_default();
        Window { start, end }
    }
}

/// The length of the union of the windows: the time during which at least one
/// shard was running (a gap between shards that did not overlap is not
/// counted).
pub fn union_length(windows: &[Window]) -> Duration {
    let mut w: Vec<Window> = windows.to_vec();
    w.sort_by_key(|w| w.start);
    let mut total = chrono::Duration::zero();
    let mut current: Option<Window> = None;
    for x in w {
        current = match current {
            Some(c) if x.start <= c.end => Some(Window {
                start: c.start,
                end: c.end.max(x.end),
            }),
            Some(c) => {
                total += c.end - c.start;
                Some(x)
            }
            None => Some(x),
        };
    }
    if let Some(c) = current {
        total += c.end - c.start;
    }
    total.to_std().unwrap_or_default()
}

/// The spread of the shards' actual starts (latest minus earliest): how well
/// `--start-at` and the machines' clocks did.
pub fn start_skew(starts: &[DateTime<Utc>]) -> Duration {
    match (starts.iter().min(), starts.iter().max()) {
        (Some(a), Some(b)) => (*b - *a).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// One shard's figures, as read from its directory.
#[derive(Debug, Clone, Copy)]
pub struct ShardSummary<'a> {
    /// How messages name the shard (its directory).
    pub label: &'a str,
    pub window: Window,
    pub summary: &'a RunSummary,
    /// MB/s of each user that started (`users.csv`'s `mb_per_s`).
    pub per_user_mb_per_s: &'a [f64],
}

fn decode(label: &str, p: &PhaseSummary) -> Result<LatencyHistogram, MergeError> {
    LatencyHistogram::from_base64(&p.histogram).map_err(|source| MergeError::Histogram {
        label: label.to_string(),
        what: p.name.clone(),
        source,
    })
}

fn phase(name: &str, h: &LatencyHistogram) -> PhaseSummary {
    PhaseSummary {
        name: name.to_string(),
        latency: h.summary(),
        histogram: h.to_base64(),
    }
}

/// Adds the histograms of `(shard label, phase)` pairs into one phase summary.
pub fn merge_phase<'a>(
    name: &str,
    parts: impl IntoIterator<Item = (&'a str, &'a PhaseSummary)>,
) -> Result<PhaseSummary, MergeError> {
    let mut h = LatencyHistogram::new();
    for (label, p) in parts {
        h.add(&decode(label, p)?);
    }
    Ok(phase(name, &h))
}

/// The summary of the whole run.
pub fn merge_summaries(parts: &[ShardSummary]) -> Result<RunSummary, MergeError> {
    let first = parts.first().ok_or(MergeError::Empty)?;
    for p in parts {
        if p.summary.response_phase != first.summary.response_phase {
            return Err(MergeError::Mismatch {
                label: p.label.to_string(),
                detail: format!(
                    "response phase is '{}', {}'s is '{}'",
                    p.summary.response_phase, first.label, first.summary.response_phase
                ),
            });
        }
    }
    // Phases in the order they first appear, each the sum of every shard's.
    let mut names: Vec<&str> = Vec::new();
    for p in parts {
        for ph in &p.summary.phases {
            if !names.contains(&ph.name.as_str()) {
                names.push(&ph.name);
            }
        }
    }
    let phases = names
        .iter()
        .map(|name| {
            merge_phase(
                name,
                parts.iter().flat_map(|p| {
                    p.summary
                        .phases
                        .iter()
                        .filter(|ph| ph.name == *name)
                        .map(|ph| (p.label, ph))
                }),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let schedule_true = merge_phase(
        "schedule_true",
        parts.iter().map(|p| (p.label, &p.summary.schedule_true)),
    )?;
    let cycle = merge_phase("cycle", parts.iter().map(|p| (p.label, &p.summary.cycle)))?;

    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for p in parts {
        for (k, n) in &p.summary.errors {
            *errors.entry(k.clone()).or_default() += n;
        }
    }
    let mut rates: Vec<f64> = parts
        .iter()
        .flat_map(|p| p.per_user_mb_per_s.iter().copied())
        .collect();
    rates.sort_by(f64::total_cmp);
    let windows: Vec<Window> = parts.iter().map(|p| p.window).collect();
    let elapsed = union_length(&windows);
    let secs = elapsed.as_secs_f64();
    let steps_ok = parts.iter().map(|p| p.summary.steps_ok).sum::<u64>();
    let bytes = parts
        .iter()
        .map(|p| p.summary.throughput.bytes)
        .sum::<u64>();
    Ok(RunSummary {
        users: parts.iter().map(|p| p.summary.users).sum(),
        users_gave_up: parts.iter().map(|p| p.summary.users_gave_up).sum(),
        elapsed_s: secs,
        interrupted: parts.iter().any(|p| p.summary.interrupted),
        steps_ok,
        failed_attempts: parts.iter().map(|p| p.summary.failed_attempts).sum(),
        errors,
        throughput: ThroughputSummary {
            bytes,
            mb_per_s: crate::units::mb_per_sec(bytes, elapsed),
            steps_per_s: if secs > 0.0 {
                steps_ok as f64 / secs
            } else {
                0.0
            },
            per_user_min_mb_per_s: rates.first().copied().unwrap_or(0.0),
            per_user_median_mb_per_s: median(&rates),
            per_user_max_mb_per_s: rates.last().copied().unwrap_or(0.0),
        },
        phases,
        response_phase: first.summary.response_phase.clone(),
        schedule_true,
        cycle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Event, Sample, MAX_PHASES};
    use crate::report::Recorder;

    const PHASES: &[&str] = &["connect", "write"];

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn sample(user: u32, write_us: u64, error: Option<&'static str>) -> Event {
        let mut phases = [None; MAX_PHASES];
        phases[1] = Some(Duration::from_micros(write_us));
        if user.is_multiple_of(2) {
            phases[0] = Some(Duration::from_micros(write_us / 3 + 5));
        }
        Event::Sample(Sample {
            user,
            pass: 0,
            step: 0,
            attempt: 1,
            offset: 0,
            bytes: if error.is_some() { 0 } else { 4096 },
            intended: Duration::from_micros(write_us % 1000),
            started: Duration::from_micros(write_us % 1000 + 7),
            elapsed: Duration::from_micros(write_us + 11),
            phases,
            error: error.map(|k| Box::new((k, "boom".to_string()))),
        })
    }

    fn events(users: std::ops::Range<u32>, seed: u64) -> Vec<Event> {
        (0..2_000u64)
            .map(|i| {
                let user = users.start + (i as u32 % (users.end - users.start));
                let us = 50 + (i * 7919 + seed * 104_729) % 3_000_000;
                let err = (i % 31 == 0).then_some(if seed.is_multiple_of(2) {
                    "refused"
                } else {
                    "write"
                });
                sample(user, us, err)
            })
            .collect()
    }

    #[test]
    fn merged_percentiles_equal_those_of_one_histogram_of_all_samples() {
        let shards = [0..3u32, 3..6, 6..9, 9..12];
        let mut whole = Recorder::new(PHASES, 1, 12);
        let mut recs = Vec::new();
        for (i, users) in shards.iter().enumerate() {
            let mut r = Recorder::new(PHASES, 1, 12);
            for e in events(users.clone(), i as u64) {
                r.observe(&e);
                whole.observe(&e);
            }
            recs.push(r.summary(Duration::from_secs(10), false));
        }
        let start = t("2026-12-05T12:00:00Z");
        let rates = [1.0, 2.0];
        let parts: Vec<ShardSummary> = recs
            .iter()
            .enumerate()
            .map(|(i, s)| ShardSummary {
                label: ["a", "b", "c", "d"][i],
                window: Window::new(
                    start + chrono::Duration::milliseconds(i as i64 * 10),
                    Duration::from_secs(10),
                ),
                summary: s,
                per_user_mb_per_s: &rates,
            })
            .collect();
        let m = merge_summaries(&parts).unwrap();
        let w = whole.summary(Duration::from_millis(10_030), false);
        // Figures, not encodings: an auto-resized histogram's encoding also
        // holds its current range, which depends on the order of recording.
        let figures = |ps: &[PhaseSummary]| -> Vec<(String, crate::report::LatencySummary)> {
            ps.iter().map(|p| (p.name.clone(), p.latency)).collect()
        };
        assert_eq!(figures(&m.phases), figures(&w.phases));
        assert_eq!(m.phases.len(), 2);
        assert_eq!(m.schedule_true.latency, w.schedule_true.latency);
        assert_eq!(m.cycle.latency, w.cycle.latency);
        assert_eq!(
            (m.steps_ok, m.failed_attempts),
            (w.steps_ok, w.failed_attempts)
        );
        assert_eq!(m.errors, w.errors);
        assert_eq!(m.throughput.bytes, w.throughput.bytes);
        assert_eq!(m.elapsed_s, 10.03);
        assert_eq!(m.throughput.mb_per_s, w.throughput.mb_per_s);
        assert_eq!(m.throughput.per_user_median_mb_per_s, 1.5);
    }

    #[test]
    fn throughput_is_over_the_union_of_the_windows() {
        let s = t("2026-12-05T12:00:00Z");
        let w = |from_ms: i64, len_ms: u64| {
            Window::new(
                s + chrono::Duration::milliseconds(from_ms),
                Duration::from_millis(len_ms),
            )
        };
        assert_eq!(union_length(&[]), Duration::ZERO);
        assert_eq!(union_length(&[w(0, 1000)]), Duration::from_secs(1));
        // Overlapping: from the first start to the last end.
        assert_eq!(
            union_length(&[w(500, 1000), w(0, 1000), w(20, 100)]),
            Duration::from_millis(1500)
        );
        // A gap between shards is not run time.
        assert_eq!(
            union_length(&[w(0, 1000), w(3000, 500)]),
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn start_skew_is_the_spread_of_actual_starts() {
        let s = t("2026-12-05T12:00:00Z");
        let ms = |n| s + chrono::Duration::milliseconds(n);
        assert_eq!(
            start_skew(&[ms(3), ms(0), ms(41), ms(7)]),
            Duration::from_millis(41)
        );
        assert_eq!(start_skew(&[ms(3)]), Duration::ZERO);
        assert_eq!(start_skew(&[]), Duration::ZERO);
    }

    #[test]
    fn a_bad_histogram_or_response_phase_is_named() {
        let mut r = Recorder::new(PHASES, 1, 1);
        r.observe(&sample(0, 100, None));
        let good = r.summary(Duration::from_secs(1), false);
        let mut bad = good.clone();
        bad.cycle.histogram = "!!".into();
        let win = Window::new(t("2026-12-05T12:00:00Z"), Duration::from_secs(1));
        let part = |label, summary| ShardSummary {
            label,
            window: win,
            summary,
            per_user_mb_per_s: &[],
        };
        let e = merge_summaries(&[part("a", &good), part("b", &bad)])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("b: cycle histogram: "), "{e}");
        let mut other = good.clone();
        other.response_phase = "request".into();
        let e = merge_summaries(&[part("a", &good), part("b", &other)])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "b: response phase is 'request', a's is 'write'");
        assert!(matches!(merge_summaries(&[]), Err(MergeError::Empty)));
    }
}
