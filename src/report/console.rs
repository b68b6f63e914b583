//! The summary people read on stdout: a latency table per phase, throughput,
//! errors by kind. Pure (`render` returns a string) so tests can read it.

use super::histogram::LatencySummary;
use super::recorder::{PhaseSummary, RunSummary};
use crate::units::{Bytes, Micros};
use std::fmt::Write;

fn row(out: &mut String, name: &str, l: &LatencySummary) {
    let _ = writeln!(
        out,
        "{name:<14}{:>8}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}",
        l.count,
        Micros(l.mean_us.round() as u64).to_string(),
        Micros(l.p50_us).to_string(),
        Micros(l.p90_us).to_string(),
        Micros(l.p99_us).to_string(),
        Micros(l.p999_us).to_string(),
        Micros(l.max_us).to_string(),
    );
}

/// A rate in decimal units that fit it: a slow user's 0.004 MB/s prints as
/// `4.0 KB/s`, not `0.00`.
pub fn rate(mb_per_s: f64) -> String {
    if mb_per_s >= 1.0 {
        format!("{mb_per_s:.2} MB/s")
    } else if mb_per_s * 1e3 >= 1.0 {
        format!("{:.1} KB/s", mb_per_s * 1e3)
    } else {
        format!("{:.0} B/s", mb_per_s * 1e6)
    }
}

/// Renders the summary table. `step_noun` names a step ("chunks", "requests").
pub fn render(s: &RunSummary, step_noun: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14}{:>8}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}",
        "phase", "count", "mean", "p50", "p90", "p99", "p99.9", "max"
    );
    let lines: Vec<&PhaseSummary> = s.phases.iter().collect();
    for p in lines {
        let marker = if p.name == s.response_phase { " *" } else { "" };
        row(&mut out, &format!("{}{marker}", p.name), &p.latency);
    }
    if s.steps_ok > 0 {
        row(&mut out, "cycle", &s.cycle.latency);
        row(&mut out, "schedule-true", &s.schedule_true.latency);
    }
    let _ = writeln!(
        out,
        "* response time. cycle: whole {} incl. connect phases. schedule-true: from the intended start to the end of the response.",
        step_noun.trim_end_matches('s')
    );
    let t = &s.throughput;
    let _ = writeln!(
        out,
        "\nthroughput  {}, {:.1} {step_noun}/s ({} in {:.2}s); per user min {} / median {} / max {}",
        rate(t.mb_per_s),
        t.steps_per_s,
        Bytes(t.bytes),
        s.elapsed_s,
        rate(t.per_user_min_mb_per_s),
        rate(t.per_user_median_mb_per_s),
        rate(t.per_user_max_mb_per_s)
    );
    let _ = write!(
        out,
        "{step_noun:<11} {} ok, {} failed attempts",
        s.steps_ok, s.failed_attempts
    );
    if !s.errors.is_empty() {
        let kinds: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = write!(out, " ({})", kinds.join(", "));
    }
    let _ = writeln!(out, "; users {} ({} gave up)", s.users, s.users_gave_up);
    if s.interrupted {
        let _ = writeln!(
            out,
            "interrupted: the run was stopped before all work was done"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Event, Sample, MAX_PHASES};
    use crate::report::Recorder;
    use std::time::Duration;

    #[test]
    fn the_table_names_phases_marks_the_response_and_lists_errors() {
        let mut r = Recorder::new(&["open", "write"], 1, 1);
        let mut phases = [None; MAX_PHASES];
        phases[0] = Some(Duration::from_micros(300));
        phases[1] = Some(Duration::from_millis(12));
        let ok = Sample {
            user: 0,
            pass: 0,
            step: 0,
            attempt: 1,
            offset: 0,
            bytes: 1 << 20,
            intended: Duration::ZERO,
            started: Duration::ZERO,
            elapsed: Duration::from_millis(13),
            phases,
            error: None,
        };
        r.observe(&Event::Sample(ok.clone()));
        r.observe(&Event::Sample(Sample {
            step: 1,
            bytes: 0,
            phases: [None; MAX_PHASES],
            error: Some(Box::new(("refused", "x".into()))),
            ..ok
        }));
        let text = render(&r.summary(Duration::from_secs(1), true), "chunks");
        assert!(text.contains("write *"), "{text}");
        assert!(text.contains("12.00ms"), "{text}");
        assert!(text.contains("300us"), "{text}");
        assert!(text.contains("(refused 1)"), "{text}");
        assert!(text.contains("interrupted"), "{text}");
        // 1 MiB in 1 s: 1.05 MB/s.
        assert!(text.contains("throughput  1.05 MB/s,"), "{text}");
    }

    #[test]
    fn rates_use_units_that_fit() {
        assert_eq!(rate(12.345), "12.35 MB/s");
        assert_eq!(rate(0.004), "4.0 KB/s");
        assert_eq!(rate(0.0000005), "0 B/s");
        assert_eq!(rate(0.00025), "250 B/s");
    }
}
