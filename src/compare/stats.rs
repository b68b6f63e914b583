//! The statistics behind `xfer compare`'s verdicts: nearest-rank percentiles
//! of raw samples and a percentile-bootstrap confidence interval for the
//! ratio NEW/BASE of a percentile, with a fixed-seed generator so the same
//! two run directories always give the same report.
//!
//! Resampling is O(n) per resample, not O(n log n): the samples are sorted
//! once, a resample is drawn as counts per sorted position, and its
//! percentiles are read by walking the counts. That keeps 2,000 resamples of
//! a 10,000-chunk run well under a second.

/// SplitMix64: tiny, fast, and defined by its algorithm, so a seed gives the
/// same stream on every platform and in every future build (rand's `StdRng`
/// promises neither).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-40
    /// for any sample count we see).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// The 1-based nearest rank of quantile `q` among `n` values (as HdrHistogram
/// and `summary.json` define percentiles: the smallest value with at least
/// `q` of the values at or below it).
fn rank(q: f64, n: usize) -> usize {
    ((q * n as f64).ceil() as usize).clamp(1, n)
}

/// The `q` quantile of sorted values (nearest rank); `None` when empty.
pub fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    (!sorted.is_empty()).then(|| sorted[rank(q, sorted.len()) - 1])
}

/// One run's samples of a figure, in the order they were measured, ready
/// for resampling.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The values, ascending.
    pub sorted: Vec<u64>,
    /// For the i-th sample in measurement order, its index in `sorted`.
    position: Vec<u32>,
    /// Block length of the moving-block bootstrap.
    pub block: usize,
}

impl Series {
    /// From values in measurement order, which may depend on their
    /// neighbours: blocks of n^(1/3), the usual rate for quantiles of a
    /// weakly dependent series.
    pub fn new(in_order: &[u64]) -> Series {
        let mut s = Series::independent(in_order);
        s.block = ((s.len() as f64).cbrt().ceil() as usize).max(1);
        s
    }

    /// From values that do not depend on each other (one per user or per
    /// repeat): the plain bootstrap.
    pub fn independent(in_order: &[u64]) -> Series {
        let mut idx: Vec<u32> = (0..in_order.len() as u32).collect();
        idx.sort_by_key(|&i| in_order[i as usize]);
        let mut position = vec![0u32; in_order.len()];
        for (sorted_at, &i) in idx.iter().enumerate() {
            position[i as usize] = sorted_at as u32;
        }
        Series {
            sorted: idx.iter().map(|&i| in_order[i as usize]).collect(),
            position,
            block: 1,
        }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }
}

/// For each of `resamples` moving-block bootstrap resamples of `s` (blocks
/// of `block` consecutive samples from random starts, wrapping around, until
/// the resample has the run's size), its `qs` quantiles: `out[i][j]` is
/// quantile `qs[j]` of resample `i`. `qs` must be ascending. Blocks keep what
/// neighbours share (a stall slows a run of chunks), so a burst counts as
/// one piece of evidence, not as many; `block = 1` is the plain bootstrap.
pub fn resampled_quantiles(
    s: &Series,
    qs: &[f64],
    resamples: usize,
    block: usize,
    rng: &mut SplitMix64,
) -> Vec<Vec<f64>> {
    let n = s.len();
    let ranks: Vec<usize> = qs.iter().map(|&q| rank(q, n)).collect();
    let mut counts = vec![0u32; n];
    (0..resamples)
        .map(|_| {
            counts.iter_mut().for_each(|c| *c = 0);
            let mut drawn = 0;
            while drawn < n {
                let start = rng.below(n);
                for j in 0..block.min(n - drawn) {
                    counts[s.position[(start + j) % n] as usize] += 1;
                }
                drawn += block.min(n - drawn);
            }
            let mut out = Vec::with_capacity(ranks.len());
            let (mut seen, mut pos) = (0usize, 0usize);
            for &r in &ranks {
                while seen + (counts[pos] as usize) < r {
                    seen += counts[pos] as usize;
                    pos += 1;
                }
                out.push(s.sorted[pos] as f64);
            }
            out
        })
        .collect()
}

/// A confidence interval for NEW/BASE of each quantile in `qs`: the
/// `(1-level)/2` and `(1+level)/2` percentiles of the ratios of
/// independently resampled quantiles (the percentile bootstrap).
pub fn ratio_intervals(
    base: &Series,
    new: &Series,
    qs: &[f64],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Vec<(f64, f64)> {
    let mut rng = SplitMix64::new(seed);
    let b = resampled_quantiles(base, qs, resamples, base.block, &mut rng);
    let n = resampled_quantiles(new, qs, resamples, new.block, &mut rng);
    (0..qs.len())
        .map(|j| {
            let mut ratios: Vec<f64> = b.iter().zip(&n).map(|(b, n)| ratio(b[j], n[j])).collect();
            ratios.sort_by(f64::total_cmp);
            let at = |p: f64| {
                let i = ((p * ratios.len() as f64).floor() as usize).min(ratios.len() - 1);
                ratios[i]
            };
            (at((1.0 - level) / 2.0), at((1.0 + level) / 2.0))
        })
        .collect()
}

/// NEW/BASE, with microsecond values of 0 (a phase under 1 us) read as 1 so
/// that a ratio is always finite.
pub fn ratio(base: f64, new: f64) -> f64 {
    new.max(1.0) / base.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), Some(50));
        assert_eq!(quantile(&v, 0.9), Some(90));
        assert_eq!(quantile(&v, 0.99), Some(99));
        assert_eq!(quantile(&v, 1.0), Some(100));
        assert_eq!(quantile(&v, 0.0), Some(1));
        assert_eq!(quantile(&[7], 0.99), Some(7));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn the_generator_is_fixed_by_its_seed() {
        let mut a = SplitMix64::new(1);
        let mut b = SplitMix64::new(1);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..5).map(|_| b.next_u64()).collect::<Vec<_>>());
        // The reference value of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut r = SplitMix64::new(3);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }

    #[test]
    fn a_resample_holds_values_of_the_sample_in_order() {
        let v: Vec<u64> = (0..50).map(|i| (i * 37 % 50) * 10).collect();
        let s = Series::new(&v);
        assert_eq!(s.sorted, (0..50).map(|i| i * 10).collect::<Vec<u64>>());
        let mut rng = SplitMix64::new(9);
        for qs in resampled_quantiles(&s, &[0.5, 0.9, 0.99], 100, 4, &mut rng) {
            assert!(qs.iter().all(|x| v.contains(&(*x as u64))));
            assert!(qs[0] <= qs[1] && qs[1] <= qs[2], "{qs:?}");
        }
    }

    fn noisy(n: usize, scale: f64, seed: u64) -> Series {
        let mut rng = SplitMix64::new(seed);
        let v: Vec<u64> = (0..n)
            .map(|_| (scale * (1000.0 + (rng.below(400) as f64))) as u64)
            .collect();
        Series::new(&v)
    }

    #[test]
    fn blocks_widen_the_interval_of_a_series_with_bursts() {
        // Bursts of 25 slow samples: the evidence is 8 bursts, not 200 samples.
        let bursty: Vec<u64> = (0..400u64)
            .map(|i| {
                if (i / 25) % 5 < 3 {
                    1000 + i % 7
                } else {
                    3000 + i % 7
                }
            })
            .collect();
        let s = Series::new(&bursty);
        let width = |block: usize| {
            let mut rng = SplitMix64::new(5);
            let mut p50: Vec<f64> = resampled_quantiles(&s, &[0.5], 500, block, &mut rng)
                .into_iter()
                .map(|q| q[0])
                .collect();
            p50.sort_by(f64::total_cmp);
            p50[487] - p50[12]
        };
        assert!(width(25) > width(1), "{} vs {}", width(25), width(1));
        assert_eq!(s.block, 8);
    }

    #[test]
    fn a_doubled_sample_gives_an_interval_around_two() {
        let (base, new) = (noisy(300, 1.0, 1), noisy(300, 2.0, 2));
        let ci = ratio_intervals(&base, &new, &[0.5, 0.9], 1000, 0.95, 7);
        for (lo, hi) in ci {
            assert!(lo > 1.8 && hi < 2.2 && lo < hi, "{lo} {hi}");
        }
    }

    #[test]
    fn intervals_for_two_samples_of_one_distribution_cover_one_about_95_percent_of_the_time() {
        let pairs = 40;
        let mut covered = [0; 2];
        for k in 0..pairs {
            let (base, new) = (noisy(300, 1.0, 2 * k), noisy(300, 1.0, 2 * k + 1));
            let ci = ratio_intervals(&base, &new, &[0.5, 0.9], 400, 0.95, k);
            for (j, (lo, hi)) in ci.into_iter().enumerate() {
                assert!(hi < 1.15 && lo > 0.85, "{lo} {hi}");
                covered[j] += usize::from(lo <= 1.0 && 1.0 <= hi);
            }
        }
        // 95% nominal; 34 of 40 leaves room for sampling error (P < 1%).
        assert!(covered.iter().all(|&c| c >= 34), "{covered:?} of {pairs}");
        let base = noisy(300, 1.0, 1);
        assert_eq!(
            ratio_intervals(&base, &base, &[0.5], 100, 0.95, 7),
            ratio_intervals(&base, &base, &[0.5], 100, 0.95, 7),
            "same seed, same interval"
        );
    }
}
