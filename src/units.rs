//! Human units at the edge: byte sizes (`64K`, `1M`, `1MiB`, `1.5G`) and
//! durations (`500ms`, `5s`, `2m`, `1h`, `250us`).
//!
//! Every flag that takes a size or a duration goes through these parsers, so
//! `--chunk-size 1M`, `--max-upload 64MiB` and `--delay 500ms` behave the same
//! way everywhere. Sizes are binary: `K` = `KiB` = 1024 (OpenSSH, curl and
//! dd agree); a bare number is bytes. Durations need a unit, because a bare
//! `5` is ambiguous between the seed's seconds and everybody else's
//! milliseconds.

use std::fmt;
use std::time::Duration;

/// Why a size or duration string was rejected; `Display` says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("'{0}' is not a size: use a number of bytes with an optional unit, e.g. 4096, 64K, 1M, 1MiB, 2G")]
    BadSize(String),
    #[error("'{0}' is not a duration: use a number with a unit, e.g. 250us, 500ms, 5s, 2m, 1h")]
    BadDuration(String),
}

/// Parses a byte size: `4096`, `64K`, `64k`, `64KiB`, `64KB`, `1.5M`, `2G`, `1T`.
pub fn parse_size(s: &str) -> Result<u64, UnitError> {
    let bad = || UnitError::BadSize(s.to_string());
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: String = num.chars().filter(|&c| c != '_').collect();
    if num.is_empty() {
        return Err(bad());
    }
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(1u64 << shift).ok_or_else(bad);
    }
    let f: f64 = num.parse().map_err(|_| bad())?;
    let v = f * (1u64 << shift) as f64;
    if !v.is_finite() || v < 0.0 || v >= u64::MAX as f64 || v.fract() != 0.0 {
        return Err(bad());
    }
    Ok(v as u64)
}

/// Parses a duration with a unit: `250us`, `500ms`, `5s`, `1.5s`, `2m`, `1h`.
/// `0` alone is accepted (zero needs no unit).
pub fn parse_duration(s: &str) -> Result<Duration, UnitError> {
    let bad = || UnitError::BadDuration(s.to_string());
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" | "sec" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

/// A byte count printed the way people read it: `512 B`, `64.0 KiB`, `1.00 MiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
        let mut v = self.0 as f64;
        let mut i = 0;
        while v >= 1024.0 && i + 1 < UNITS.len() {
            v /= 1024.0;
            i += 1;
        }
        match i {
            0 => write!(f, "{} B", self.0),
            _ if v >= 100.0 => write!(f, "{v:.0} {}", UNITS[i]),
            _ if v >= 10.0 => write!(f, "{v:.1} {}", UNITS[i]),
            _ => write!(f, "{v:.2} {}", UNITS[i]),
        }
    }
}

/// A duration printed with a unit that fits it: `850us`, `12.3ms`, `4.56s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Micros(pub u64);

impl fmt::Display for Micros {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us < 1_000 {
            write!(f, "{us}us")
        } else if us < 1_000_000 {
            write!(f, "{:.2}ms", us as f64 / 1e3)
        } else {
            write!(f, "{:.2}s", us as f64 / 1e6)
        }
    }
}

/// MB/s (decimal megabytes, as wrk, curl and dd print) for `bytes` moved in `elapsed`.
pub fn mb_per_sec(bytes: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s <= 0.0 {
        0.0
    } else {
        bytes as f64 / 1e6 / s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_binary_units_in_any_case() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64K"), Ok(64 * 1024));
        assert_eq!(parse_size("64kib"), Ok(64 * 1024));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("1.5M"), Ok(3 << 19));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1_000"), Ok(1000));
        assert_eq!(parse_size("0"), Ok(0));
    }

    #[test]
    fn sizes_reject_garbage_and_overflow() {
        for s in [
            "",
            "K",
            "1X",
            "-1",
            "1.2.3M",
            "0.3",
            "99999999999T",
            "1 M B",
        ] {
            assert!(parse_size(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for s in ["5", "", "ms", "5 parsecs", "-1s", "1e400s"] {
            assert!(parse_duration(s).is_err(), "{s} should be rejected");
        }
    }

    #[test]
    fn display_picks_a_readable_unit() {
        assert_eq!(Bytes(512).to_string(), "512 B");
        assert_eq!(Bytes(64 * 1024).to_string(), "64.0 KiB");
        assert_eq!(Bytes(1 << 20).to_string(), "1.00 MiB");
        assert_eq!(Micros(850).to_string(), "850us");
        assert_eq!(Micros(12_345).to_string(), "12.35ms");
        assert_eq!(Micros(4_560_000).to_string(), "4.56s");
    }
}
