//! The `--fail-if` expression language: `METRIC OP VALUE`, parsed once at the
//! edge into a [`Threshold`] whose limit is already in the metric's unit, so
//! that checking a run is a plain comparison and a malformed expression is a
//! usage error before anything runs.

use super::{Metric, Op, Stat, Threshold, ThresholdError, Unit};
use crate::units::parse_duration;

/// What the error message lists: the metrics and operators accepted.
pub const GRAMMAR: &str = "expected METRIC OP VALUE, e.g. write.p99<200ms, errors<0.1%, \
throughput>50MB/s, users_gave_up==0; METRIC is PHASE.STAT (PHASE: a phase such as connect, \
handshake, auth, sftp_init, open, write, verify, close, request, or cycle, schedule_true, \
response; STAT: count, mean, min, p50, p90, p95, p99, p99.9, max), errors, users_gave_up, \
throughput, requests_per_s (alias steps_per_s) or requests (alias steps_ok); OP is one of \
< <= > >= == !=";

/// Parses one expression; see [`GRAMMAR`].
pub fn parse(expr: &str) -> Result<Threshold, ThresholdError> {
    let bad = |reason: String| ThresholdError::Malformed {
        expr: expr.to_string(),
        reason,
    };
    let at = expr
        .find(['<', '>', '=', '!'])
        .ok_or_else(|| bad("no comparison operator".into()))?;
    let (metric_text, rest) = expr.split_at(at);
    let run_len = rest
        .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
        .unwrap_or(rest.len());
    let (op_text, value_text) = rest.split_at(run_len);
    let op = match op_text {
        "<=" => Op::Le,
        ">=" => Op::Ge,
        "==" => Op::Eq,
        "!=" => Op::Ne,
        "<" => Op::Lt,
        ">" => Op::Gt,
        other => return Err(bad(format!("'{other}' is not an operator"))),
    };
    let value_text = value_text.trim();
    let metric = parse_metric(metric_text.trim()).map_err(bad)?;
    if value_text.is_empty() {
        return Err(bad("no value after the operator".into()));
    }
    let (limit, unit) = parse_value(&metric, value_text).map_err(bad)?;
    Ok(Threshold {
        expr: expr.split_whitespace().collect::<String>(),
        metric,
        op,
        limit,
        unit,
    })
}

fn parse_metric(s: &str) -> Result<Metric, String> {
    if s.is_empty() {
        return Err("no metric before the operator".into());
    }
    let scalar = match s {
        "errors" => Some(Metric::Errors),
        "users_gave_up" => Some(Metric::UsersGaveUp),
        "throughput" => Some(Metric::Throughput),
        "requests_per_s" | "steps_per_s" => Some(Metric::StepsPerSec),
        "requests" | "steps_ok" => Some(Metric::Steps),
        _ => None,
    };
    if let Some(m) = scalar {
        return Ok(m);
    }
    // `p99.9` contains a dot itself, so the phase ends at the first dot.
    let Some((phase, stat)) = s.split_once('.') else {
        return Err(format!(
            "unknown metric '{s}' (a phase needs a statistic, e.g. {s}.p99)"
        ));
    };
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !valid_name(phase) {
        return Err(format!("'{phase}' is not a phase name"));
    }
    let stat = Stat::from_name(stat).ok_or_else(|| format!("unknown statistic '{stat}'"))?;
    Ok(Metric::Latency {
        // The console prints `schedule-true`; summary.json says `schedule_true`.
        phase: phase.replace('-', "_"),
        stat,
    })
}

/// The limit in the metric's canonical unit (microseconds, MB/s, a fraction
/// for percentages, a plain number for counts and rates).
fn parse_value(metric: &Metric, v: &str) -> Result<(f64, Unit), String> {
    let number = |t: &str| -> Result<f64, String> {
        match t.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
            _ => Err(format!("'{v}' is not a non-negative number")),
        }
    };
    match metric {
        Metric::Latency {
            stat: Stat::Count, ..
        }
        | Metric::UsersGaveUp
        | Metric::Steps => Ok((number(v)?, Unit::Count)),
        Metric::Latency { .. } => parse_duration(v)
            .map(|d| (d.as_secs_f64() * 1e6, Unit::Micros))
            .map_err(|e| e.to_string()),
        Metric::Errors => match v.strip_suffix('%') {
            Some(p) => {
                let p = number(p)?;
                if p > 100.0 {
                    return Err(format!("'{v}' is more than 100%"));
                }
                Ok((p / 100.0, Unit::Fraction))
            }
            None => Ok((number(v)?, Unit::Count)),
        },
        Metric::StepsPerSec => Ok((number(v.strip_suffix("/s").unwrap_or(v))?, Unit::PerSec)),
        Metric::Throughput => {
            let split = v
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| format!("'{v}' needs a unit, e.g. 50MB/s, 400KB/s, 1GiB/s"))?;
            let (n, unit) = v.split_at(split);
            let factor = match unit.trim().to_ascii_lowercase().as_str() {
                "b/s" => 1e-6,
                "kb/s" => 1e-3,
                "mb/s" => 1.0,
                "gb/s" => 1e3,
                "kib/s" => 1024.0 / 1e6,
                "mib/s" => 1_048_576.0 / 1e6,
                "gib/s" => 1_073_741_824.0 / 1e6,
                _ => {
                    return Err(format!(
                        "'{unit}' is not a throughput unit: use B/s, KB/s, MB/s, GB/s (decimal) or KiB/s, MiB/s, GiB/s"
                    ))
                }
            };
            Ok((number(n)? * factor, Unit::MbPerSec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Threshold {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn the_examples_of_the_issue_parse_into_canonical_units() {
        let t = ok("write.p99<200ms");
        assert_eq!(
            t.metric,
            Metric::Latency {
                phase: "write".into(),
                stat: Stat::P99
            }
        );
        assert_eq!((t.op, t.limit, t.unit), (Op::Lt, 200_000.0, Unit::Micros));
        let t = ok("schedule_true.p99<1s");
        assert_eq!(t.limit, 1e6);
        let t = ok("errors<0.1%");
        assert_eq!((t.metric.clone(), t.unit), (Metric::Errors, Unit::Fraction));
        assert!((t.limit - 0.001).abs() < 1e-12);
        let t = ok("throughput>50MB/s");
        assert_eq!((t.op, t.limit, t.unit), (Op::Gt, 50.0, Unit::MbPerSec));
        let t = ok("users_gave_up==0");
        assert_eq!(
            (t.metric.clone(), t.op, t.limit),
            (Metric::UsersGaveUp, Op::Eq, 0.0)
        );
    }

    #[test]
    fn spaces_units_and_aliases_are_accepted() {
        assert_eq!(ok(" write.p99 <= 1.5s ").expr, "write.p99<=1.5s");
        assert_eq!(ok("write.p99 <= 1.5s").limit, 1.5e6);
        assert_eq!(
            ok("schedule-true.p99.9>=250us").metric,
            Metric::Latency {
                phase: "schedule_true".into(),
                stat: Stat::P999
            }
        );
        assert_eq!(ok("throughput>1GiB/s").limit, 1_073.741824);
        assert_eq!(ok("throughput>=400kb/s").limit, 0.4);
        assert_eq!(ok("errors!=3").unit, Unit::Count);
        assert_eq!(ok("requests_per_s>1000/s").limit, 1000.0);
        assert_eq!(ok("steps_per_s>10").metric, Metric::StepsPerSec);
        assert_eq!(ok("write.count>=100").unit, Unit::Count);
        assert_eq!(ok("cycle.max<0").limit, 0.0);
    }

    #[test]
    fn malformed_expressions_say_what_was_expected() {
        for (expr, why) in [
            ("write.p99", "no comparison operator"),
            ("write.p99<<200ms", "'<<' is not an operator"),
            ("write.p99=<200ms", "'=<' is not an operator"),
            ("write.p99=200ms", "'=' is not an operator"),
            ("<200ms", "no metric"),
            ("write.p99<", "no value"),
            ("write<200ms", "a phase needs a statistic"),
            ("write.p42<200ms", "unknown statistic 'p42'"),
            ("write.p99<200", "not a duration"),
            ("throughput>50", "needs a unit"),
            ("throughput>50Mbit/s", "not a throughput unit"),
            ("errors<101%", "more than 100%"),
            ("errors<-1", "not a non-negative number"),
            ("users_gave_up==none", "not a non-negative number"),
            ("wr ite.p99<1s", "not a phase name"),
            ("latency!1s", "'!' is not an operator"),
        ] {
            let err = parse(expr).expect_err(expr).to_string();
            assert!(err.contains(why), "{expr}: {err}");
            assert!(err.contains("expected METRIC OP VALUE"), "{expr}: {err}");
            assert!(err.contains("users_gave_up") && err.contains("<="), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
