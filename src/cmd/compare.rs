//! `xfer compare BASE NEW`: flags -> [`CompareConfig`], Markdown or JSON out.
//! Pointing at something that is not a run directory, or at runs of two
//! kinds, is a usage error (exit 2); an unreadable file in a run directory
//! is an error (exit 1).

use crate::compare::{self, CompareConfig};
use crate::usage;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// Compare two run directories (sftp-bench or perf) side by side.
///
/// For each phase (sftp-bench) or client count (perf): p50, p90, p99 and max
/// of the raw samples, throughput, the ratio NEW/BASE, a 95% bootstrap
/// confidence interval of that ratio, and a verdict: slower / faster (the
/// interval lies beyond the --noise band), within noise, no difference, or
/// not judged (too few samples). perf runs need --samples for intervals.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct CompareArgs {
    /// The reference run directory.
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// The run directory to judge against BASE.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Print the comparison as JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// Smallest difference that counts as slower or faster, e.g. 5% or 10%.
    #[arg(long, value_name = "PERCENT", default_value = "10%")]
    pub noise: String,
    /// Bootstrap resamples per figure.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub resamples: usize,
    /// Seed of the resampling (the same seed gives the same report).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
}

fn parse_noise(s: &str) -> anyhow::Result<f64> {
    let n = s.trim().strip_suffix('%').unwrap_or(s.trim());
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..100.0).contains(&v) => Ok(v / 100.0),
        _ => Err(usage!(
            "--noise must be a percentage from 0% to under 100%, e.g. 5%, got '{s}'"
        )),
    }
}

pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let cfg = CompareConfig {
        noise: parse_noise(&args.noise)?,
        resamples: args.resamples,
        seed: args.seed,
        ..CompareConfig::default()
    };
    if cfg.resamples < 100 {
        return Err(usage!(
            "--resamples must be at least 100, got '{}'",
            args.resamples
        ));
    }
    let c = match compare::compare(&args.base, &args.new, &cfg) {
        Ok(c) => c,
        Err(e) if e.is_usage() => return Err(usage!("{e}")),
        Err(e) => return Err(e).context("comparing run directories"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print!("{}", compare::markdown::render(&c));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_a_percentage() {
        assert_eq!(parse_noise("5%").unwrap(), 0.05);
        assert_eq!(parse_noise("10").unwrap(), 0.1);
        assert_eq!(parse_noise("0%").unwrap(), 0.0);
        for bad in ["", "-1%", "100%", "five"] {
            let e = parse_noise(bad).unwrap_err();
            assert!(e.is::<crate::cmd::UsageError>());
            assert!(e.to_string().starts_with("--noise must be"), "{e}");
        }
    }
}
