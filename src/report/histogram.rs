//! Latency histograms: HDR histograms of microseconds with 3 significant
//! digits (0.1% error), auto-resizing, so one type covers a 50 us request and a
//! 2 minute stall. Histograms add losslessly, which is what lets a run split
//! across machines merge into one summary.

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    h: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The figures every report shows for one histogram, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_us: f64,
    pub min_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl LatencyHistogram {
    pub fn new() -> Self {
        let mut h = Histogram::new(3).expect("3 significant digits is valid");
        h.auto(true);
        LatencyHistogram { h }
    }

    pub fn record(&mut self, d: Duration) {
        self.record_us(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn record_us(&mut self, us: u64) {
        // Auto-resize makes recording infallible for any u64 we feed it.
        let _ = self.h.record(us.max(1));
    }

    pub fn add(&mut self, other: &LatencyHistogram) {
        let _ = self.h.add(&other.h);
    }

    pub fn len(&self) -> u64 {
        self.h.len()
    }

    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// The value at quantile `q` (0.0..=1.0), in microseconds.
    pub fn quantile_us(&self, q: f64) -> u64 {
        self.h.value_at_quantile(q)
    }

    /// `(quantile, microseconds)` pairs for a percentile-spectrum chart.
    pub fn spectrum(&self) -> Vec<(f64, u64)> {
        self.h
            .iter_quantiles(2)
            .map(|v| (v.quantile_iterated_to(), v.value_iterated_to()))
            .collect()
    }

    pub fn summary(&self) -> LatencySummary {
        if self.h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: self.h.len(),
            mean_us: self.h.mean(),
            min_us: self.h.min(),
            p50_us: self.h.value_at_quantile(0.50),
            p90_us: self.h.value_at_quantile(0.90),
            p95_us: self.h.value_at_quantile(0.95),
            p99_us: self.h.value_at_quantile(0.99),
            p999_us: self.h.value_at_quantile(0.999),
            max_us: self.h.max(),
        }
    }

    /// The histogram in HdrHistogram's V2 format, base64: other HDR tools
    /// read it, and two of them merge by adding.
    pub fn to_base64(&self) -> String {
        let mut buf = Vec::new();
        V2Serializer::new()
            .serialize(&self.h, &mut buf)
            .expect("serializing to a Vec cannot fail");
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, buf)
    }

    /// Reads back [`LatencyHistogram::to_base64`] (or any HdrHistogram V2 /
    /// V2-compressed histogram, base64): what merging shards starts from.
    pub fn from_base64(text: &str) -> Result<Self, HistogramDecodeError> {
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text.trim())
            .map_err(|e| HistogramDecodeError(e.to_string()))?;
        let mut h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| HistogramDecodeError(format!("{e:?}")))?;
        h.auto(true);
        Ok(LatencyHistogram { h })
    }

    /// The underlying HDR histogram, for writers of HDR formats (interval logs).
    pub fn hdr(&self) -> &Histogram<u64> {
        &self.h
    }
}

/// A histogram text that is not base64 of an HdrHistogram V2 encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an HdrHistogram (base64 of V2): {0}")]
pub struct HistogramDecodeError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_a_tenth_of_a_percent() {
        let mut h = LatencyHistogram::new();
        for us in 1..=10_000u64 {
            h.record_us(us);
        }
        let s = h.summary();
        assert_eq!(s.count, 10_000);
        assert_eq!(s.min_us, 1);
        for (got, want) in [
            (s.p50_us, 5_000),
            (s.p90_us, 9_000),
            (s.p99_us, 9_900),
            (s.max_us, 10_000),
        ] {
            assert!(got.abs_diff(want) <= want / 1000 + 1, "{got} vs {want}");
        }
        assert!((s.mean_us - 5000.5).abs() < 5.0);
    }

    #[test]
    fn histograms_add_losslessly() {
        let (mut a, mut b, mut both) = (
            LatencyHistogram::new(),
            LatencyHistogram::new(),
            LatencyHistogram::new(),
        );
        for us in [10, 20, 30_000_000] {
            a.record_us(us);
            both.record_us(us);
        }
        for us in [15, 2_000] {
            b.record_us(us);
            both.record_us(us);
        }
        a.add(&b);
        assert_eq!(a.summary(), both.summary());
        let back = LatencyHistogram::from_base64(&a.to_base64()).unwrap();
        assert_eq!(back.summary(), both.summary());
        assert!(LatencyHistogram::from_base64("bm90IGEgaGlzdG9ncmFt").is_err());
    }

    #[test]
    fn an_empty_histogram_summarises_to_zeros() {
        assert_eq!(LatencyHistogram::new().summary(), LatencySummary::default());
    }
}
