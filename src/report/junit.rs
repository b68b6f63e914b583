//! Thresholds as a JUnit XML report (`--junit FILE`): the one test-report
//! format every CI system (GitLab, Jenkins, GitHub Actions reporters, Azure)
//! shows natively, so a failed threshold appears as a failed test with the
//! measured value as its message.
//!
//! One `<testsuite>` per run; one `<testcase>` per threshold result (per
//! client count for perf), named by the expression, with a `<failure>` when it
//! failed. The XML is five element kinds with attribute-only text, so it is
//! written here rather than through a JUnit crate; [`escape`] is the part that
//! must be right, and tests/thresholds.rs checks the file with an independent
//! parser.

use super::threshold::ThresholdReport;
use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::Write;

/// Renders `report` as a JUnit XML document. `suite` names the run
/// (`xfer sftp-bench`), `elapsed_s` is the run's duration.
pub fn render(suite: &str, report: &ThresholdReport, at: DateTime<Utc>, elapsed_s: f64) -> String {
    let tests = report.results.len();
    let failures = report.failed();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" time=\"{elapsed_s:.3}\">",
        escape(suite)
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{} thresholds\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" timestamp=\"{}\" time=\"{elapsed_s:.3}\">",
        escape(suite),
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    for r in &report.results {
        let name = match r.scope_text() {
            Some(scope) => format!("{} at {scope}", r.threshold),
            None => r.threshold.clone(),
        };
        let _ = write!(
            x,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
            escape(&format!("{suite}.thresholds")),
            escape(&name)
        );
        if r.pass {
            x.push_str("/>\n");
        } else {
            let _ = write!(
                x,
                ">\n      <failure type=\"threshold\" message=\"{}\">{}</failure>\n    </testcase>\n",
                escape(&format!("{} is {}", r.metric, r.measured_text)),
                escape(&r.to_string())
            );
        }
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Escapes text for XML attributes and content. Control characters other
/// than tab, newline and carriage return are not allowed in XML 1.0 at all,
/// so they become `?` rather than making the file unreadable.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::threshold::{check, parse, Metrics, Stat};

    struct Run;
    impl Metrics for Run {
        fn latency(&self, _: &str, _: Stat) -> Option<f64> {
            Some(250_000.0)
        }
        fn steps_ok(&self) -> u64 {
            10
        }
        fn failed_attempts(&self) -> u64 {
            0
        }
        fn users_gave_up(&self) -> u64 {
            0
        }
        fn mb_per_s(&self) -> f64 {
            1.0
        }
        fn steps_per_s(&self) -> f64 {
            1.0
        }
    }

    #[test]
    fn failures_carry_the_measured_value_and_text_is_escaped() {
        let ts = vec![
            parse("write.p99<200ms").unwrap(),
            parse("errors==0").unwrap(),
        ];
        let at = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let x = render("xfer sftp-bench", &check(&ts, &Run), at, 2.5);
        assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
        assert!(x.contains("timestamp=\"2026-12-05T10:00:00Z\""), "{x}");
        assert!(x.contains("name=\"write.p99&lt;200ms\" time=\"0\">"), "{x}");
        assert!(
            x.contains("message=\"write.p99 is 250.00ms\">FAIL write.p99&lt;200ms (measured 250.00ms)</failure>"),
            "{x}"
        );
        assert!(x.contains("name=\"errors==0\" time=\"0\"/>"), "{x}");
    }

    #[test]
    fn escape_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(escape("x\ny\u{1}"), "x&#10;y?");
    }
}
