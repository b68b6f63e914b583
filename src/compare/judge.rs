//! Turning two sets of samples into rows with a verdict: which percentiles
//! have enough samples to judge, the bootstrap interval of each ratio, and
//! where it lies against the noise band (see the parent module for why).

use super::stats::{self, Series};
use super::{CompareConfig, Row, RowUnit, Verdict};

pub(super) const QUANTILES: [(&str, f64); 3] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)];
/// Resamples x samples per figure: bounds the time a huge run takes
/// (2,000 resamples up to 10,000 samples, fewer above, never under 200).
const RESAMPLED_VALUES: usize = 20_000_000;
/// Samples needed above a percentile for its interval to mean something.
const MIN_TAIL: f64 = 5.0;

pub(super) fn min_samples(q: f64) -> usize {
    (MIN_TAIL / (1.0 - q)).round() as usize
}

pub(super) fn verdict(lo: f64, hi: f64, noise: f64, higher_is_better: bool) -> Verdict {
    let band = 1.0 + noise;
    let (worse, better) = if higher_is_better {
        (hi < 1.0 / band, lo > band)
    } else {
        (lo > band, hi < 1.0 / band)
    };
    if worse {
        Verdict::Slower
    } else if better {
        Verdict::Faster
    } else if lo > 1.0 || hi < 1.0 {
        Verdict::WithinNoise
    } else {
        Verdict::NoDifference
    }
}

/// A stable per-figure seed, so adding a phase does not change the others' intervals.
pub(super) fn seed_for(cfg: &CompareConfig, name: &str, clients: Option<u32>) -> u64 {
    let mut h = cfg.seed ^ u64::from(clients.unwrap_or(0)).rotate_left(32);
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    h
}

/// p50/p90/p99/max rows of one phase from two runs' samples, each in the
/// order they were measured.
pub(super) fn latency_rows(
    name: &str,
    clients: Option<u32>,
    base: &[u64],
    new: &[u64],
    cfg: &CompareConfig,
) -> Vec<Row> {
    let (base_s, new_s) = (Series::new(base), Series::new(new));
    let judged: Vec<(usize, f64)> = QUANTILES
        .iter()
        .enumerate()
        .filter(|(_, (_, q))| base.len().min(new.len()) >= min_samples(*q))
        .map(|(i, (_, q))| (i, *q))
        .collect();
    let qs: Vec<f64> = judged.iter().map(|(_, q)| *q).collect();
    let resamples =
        (RESAMPLED_VALUES / base.len().max(new.len()).max(1)).clamp(200, cfg.resamples.max(1));
    let intervals = if qs.is_empty() {
        Vec::new()
    } else {
        stats::ratio_intervals(
            &base_s,
            &new_s,
            &qs,
            resamples,
            cfg.confidence,
            seed_for(cfg, name, clients),
        )
    };
    let row = |stat: &str, b: Option<u64>, n: Option<u64>| Row {
        clients,
        metric: name.to_string(),
        stat: stat.to_string(),
        unit: RowUnit::Micros,
        base: b.map(|v| v as f64),
        new: n.map(|v| v as f64),
        base_n: base.len(),
        new_n: new.len(),
        ratio: b.zip(n).map(|(b, n)| stats::ratio(b as f64, n as f64)),
        ci_low: None,
        ci_high: None,
        verdict: Verdict::NotJudged,
        note: None,
    };
    let mut rows: Vec<Row> = QUANTILES
        .iter()
        .enumerate()
        .map(|(i, (stat, q))| {
            let mut r = row(
                stat,
                stats::quantile(&base_s.sorted, *q),
                stats::quantile(&new_s.sorted, *q),
            );
            match judged.iter().position(|(j, _)| *j == i) {
                Some(k) => {
                    let (lo, hi) = intervals[k];
                    r.ci_low = Some(lo);
                    r.ci_high = Some(hi);
                    r.verdict = verdict(lo, hi, cfg.noise, false);
                }
                None => {
                    r.note = Some(format!(
                        "{}/{} samples, {stat} needs {}",
                        base.len(),
                        new.len(),
                        min_samples(*q)
                    ))
                }
            }
            r
        })
        .collect();
    let mut max = row(
        "max",
        base_s.sorted.last().copied(),
        new_s.sorted.last().copied(),
    );
    max.note = Some("a maximum has no interval".into());
    rows.push(max);
    // With fewer samples than p50 needs (connect phases of a keep-open run:
    // one per user), p90 and p99 are the max again: keep p50 and max.
    if base.len().min(new.len()) < min_samples(0.5) {
        rows.retain(|r| r.stat == "p50" || r.stat == "max");
    }
    rows
}

/// A throughput row; judged from `values` (per user, or per repeat) by the
/// bootstrap interval of the ratio of their medians, when there are enough.
#[allow(clippy::too_many_arguments)]
pub(super) fn throughput_row(
    stat: &str,
    unit: RowUnit,
    clients: Option<u32>,
    base: Option<f64>,
    new: Option<f64>,
    values: (&[f64], &[f64]),
    what: &str,
    cfg: &CompareConfig,
) -> Row {
    // The bootstrap works on integers: milli-units keep 3 decimals.
    let ints = |v: &[f64]| {
        let x: Vec<u64> = v.iter().map(|f| (f * 1000.0).round() as u64).collect();
        Series::independent(&x)
    };
    let (b, n) = (ints(values.0), ints(values.1));
    let mut row = Row {
        clients,
        metric: "throughput".into(),
        stat: stat.into(),
        unit,
        base,
        new,
        base_n: b.len(),
        new_n: n.len(),
        ratio: base
            .zip(new)
            .map(|(b, n)| if b > 0.0 { n / b } else { f64::NAN })
            .filter(|r| r.is_finite()),
        ci_low: None,
        ci_high: None,
        verdict: Verdict::NotJudged,
        note: None,
    };
    let need = min_samples(0.5);
    if b.len().min(n.len()) >= need {
        let (lo, hi) = stats::ratio_intervals(
            &b,
            &n,
            &[0.5],
            cfg.resamples,
            cfg.confidence,
            seed_for(cfg, stat, clients),
        )[0];
        row.ci_low = Some(lo);
        row.ci_high = Some(hi);
        row.verdict = verdict(lo, hi, cfg.noise, true);
        row.note = Some(format!("interval of the median {what}"));
    } else {
        row.note = Some(format!("{}/{} {what}, needs {need}", b.len(), n.len()));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_needs_the_whole_interval_beyond_the_band() {
        assert_eq!(verdict(1.9, 2.1, 0.05, false), Verdict::Slower);
        assert_eq!(verdict(1.9, 2.1, 0.05, true), Verdict::Faster);
        assert_eq!(verdict(0.4, 0.6, 0.05, false), Verdict::Faster);
        assert_eq!(verdict(0.4, 0.6, 0.05, true), Verdict::Slower);
        assert_eq!(verdict(1.01, 1.2, 0.05, false), Verdict::WithinNoise);
        assert_eq!(verdict(0.9, 1.2, 0.05, false), Verdict::NoDifference);
    }

    #[test]
    fn percentiles_are_judged_only_with_enough_samples_beyond_them() {
        assert_eq!(
            (min_samples(0.5), min_samples(0.9), min_samples(0.99)),
            (10, 50, 500)
        );
        let base: Vec<u64> = (1000..1100).collect();
        let new: Vec<u64> = (2000..2200).step_by(2).collect();
        let rows = latency_rows("write", None, &base, &new, &CompareConfig::default());
        let v: Vec<(&str, Verdict)> = rows.iter().map(|r| (r.stat.as_str(), r.verdict)).collect();
        assert_eq!(
            v,
            [
                ("p50", Verdict::Slower),
                ("p90", Verdict::Slower),
                ("p99", Verdict::NotJudged),
                ("max", Verdict::NotJudged)
            ]
        );
        assert_eq!(
            rows[2].note.as_deref(),
            Some("100/100 samples, p99 needs 500")
        );
        assert!((rows[0].ratio.unwrap() - 2.0).abs() < 0.01);
        let few = latency_rows(
            "connect",
            None,
            &base[..3],
            &new[..3],
            &CompareConfig::default(),
        );
        let stats: Vec<&str> = few.iter().map(|r| r.stat.as_str()).collect();
        assert_eq!(
            stats,
            ["p50", "max"],
            "p90 and p99 of 3 samples are the max"
        );
        let same = latency_rows("write", None, &base, &base, &CompareConfig::default());
        assert_eq!(same[0].verdict, Verdict::NoDifference);
    }

    #[test]
    fn throughput_is_judged_from_enough_per_user_rates() {
        let cfg = CompareConfig::default();
        let few = throughput_row(
            "MB/s",
            RowUnit::MbPerS,
            None,
            Some(10.0),
            Some(5.0),
            (&[10.0; 3], &[5.0; 3]),
            "per-user MB/s",
            &cfg,
        );
        assert_eq!((few.verdict, few.ratio), (Verdict::NotJudged, Some(0.5)));
        assert_eq!(few.note.as_deref(), Some("3/3 per-user MB/s, needs 10"));
        let b: Vec<f64> = (0..12).map(|i| 10.0 + f64::from(i) * 0.1).collect();
        let n: Vec<f64> = b.iter().map(|x| x / 2.0).collect();
        let many = throughput_row(
            "MB/s",
            RowUnit::MbPerS,
            None,
            Some(10.0),
            Some(5.0),
            (&b, &n),
            "per-user MB/s",
            &cfg,
        );
        assert_eq!(many.verdict, Verdict::Slower, "half the rate is slower");
    }
}
