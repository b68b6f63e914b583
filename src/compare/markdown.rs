//! The default output of `xfer compare`: Markdown that reads well in a
//! terminal and pastes into a pull request, shaped like hyperfine's: who was
//! compared, what differs in their settings, one table, then a summary line
//! per headline figure ("write p50: NEW is 2.01x slower than BASE").

use super::{Comparison, Row, RowUnit, Verdict};
use crate::units::Micros;
use std::fmt::Write;

fn value(unit: RowUnit, v: Option<f64>) -> String {
    match (unit, v) {
        (_, None) => "-".into(),
        (RowUnit::Micros, Some(v)) => Micros(v.round() as u64).to_string(),
        (RowUnit::MbPerS, Some(v)) => format!("{v:.2}"),
        (RowUnit::PerS, Some(v)) => format!("{v:.1}"),
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}x"))
}

fn interval(row: &Row) -> String {
    match (row.ci_low, row.ci_high) {
        (Some(lo), Some(hi)) => format!("{lo:.2}x – {hi:.2}x"),
        _ => String::new(),
    }
}

fn verdict(row: &Row) -> String {
    match (row.verdict, &row.note) {
        (Verdict::NotJudged, Some(note)) => format!("not judged ({note})"),
        (Verdict::Slower | Verdict::Faster, _) => format!("**{}**", row.verdict.text()),
        (v, _) => v.text().to_string(),
    }
}

/// The summary sentence of a row: `NEW is 2.01x slower than BASE (95% CI 1.95x – 2.07x)`.
pub fn sentence(row: &Row, confidence: f64) -> String {
    let Some(r) = row.ratio else {
        return "no value in one of the runs".into();
    };
    let higher_is_better = row.metric == "throughput";
    let worse = if higher_is_better { r < 1.0 } else { r > 1.0 };
    let factor = if worse == higher_is_better {
        1.0 / r
    } else {
        r
    };
    let word = if worse { "slower" } else { "faster" };
    let how = if (r - 1.0).abs() < 0.005 {
        "NEW is as fast as BASE".to_string()
    } else {
        format!("NEW is {factor:.2}x {word} than BASE")
    };
    let ci = match (row.ci_low, row.ci_high) {
        (Some(lo), Some(hi)) => format!(
            " ({:.0}% CI of NEW/BASE {lo:.2}x – {hi:.2}x): {}",
            confidence * 100.0,
            row.verdict.text()
        ),
        _ => format!(": {}", verdict(row)),
    };
    format!("{how}{ci}")
}

pub fn render(c: &Comparison) -> String {
    let mut out = String::new();
    let perf = c.kind == super::RunKind::Perf;
    let _ = writeln!(out, "# xfer compare: {}\n", c.kind.name());
    let _ = writeln!(out, "|  | BASE | NEW |\n|:--|:--|:--|");
    let _ = writeln!(
        out,
        "| run | `{}` | `{}` |",
        c.base.dir.display(),
        c.new.dir.display()
    );
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "| started | {} | {} |",
        opt(&c.base.started_at),
        opt(&c.new.started_at)
    );
    let num = |v: Option<u64>| v.map_or("-".into(), |v| v.to_string());
    let _ = writeln!(
        out,
        "| {} ok / failed attempts | {} / {} | {} / {} |",
        if perf { "requests" } else { "chunks" },
        num(c.base.steps_ok),
        num(c.base.failed_attempts),
        num(c.new.steps_ok),
        num(c.new.failed_attempts)
    );
    for s in &c.settings_changed {
        let _ = writeln!(out, "| `{}` | {} | {} |", s.key, s.base, s.new);
    }
    if c.settings_changed.is_empty() {
        let _ = writeln!(out, "| settings | same | same |");
    }
    if !c.clients_only_in_base.is_empty() || !c.clients_only_in_new.is_empty() {
        let _ = writeln!(
            out,
            "\nClient counts in one run only (not compared): BASE {:?}, NEW {:?}.",
            c.clients_only_in_base, c.clients_only_in_new
        );
    }
    let _ = writeln!(out);
    let clients_col = if perf { "| clients " } else { "" };
    let _ = writeln!(
        out,
        "{clients_col}| metric | stat | BASE | NEW | NEW/BASE | {:.0}% CI | verdict |",
        c.confidence * 100.0
    );
    let _ = writeln!(
        out,
        "{}|:--|:--|--:|--:|--:|:--|:--|",
        if perf { "|--:" } else { "" }
    );
    for r in &c.rows {
        let clients = r.clients.map_or(String::new(), |n| format!("| {n} "));
        let _ = writeln!(
            out,
            "{clients}| {} | {} | {} | {} | {} | {} | {} |",
            r.metric,
            r.stat,
            value(r.unit, r.base),
            value(r.unit, r.new),
            ratio(r.ratio),
            interval(r),
            verdict(r)
        );
    }
    let _ = writeln!(out, "\n## Summary\n");
    for &i in &c.headline {
        let r = &c.rows[i];
        let at = r
            .clients
            .map_or(String::new(), |n| format!(" at {n} clients"));
        let _ = writeln!(
            out,
            "- {} {}{at}: {}",
            r.metric,
            r.stat,
            sentence(r, c.confidence)
        );
    }
    let (slower, faster) = (
        c.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Slower)
            .count(),
        c.rows
            .iter()
            .filter(|r| r.verdict == Verdict::Faster)
            .count(),
    );
    let _ = writeln!(
        out,
        "- {slower} figure(s) slower and {faster} faster beyond the noise; the rest within noise, not different, or not judged."
    );
    let _ = writeln!(out, "\nMethod: {}.", c.method);
    out
}
