//! `xfer merge DIR... -o OUT`: the shards of one run (`--shard I/N` on
//! several machines or pods) become one run directory. The work is
//! [`crate::merge::dir::merge_dirs`]; this module checks OUT, maps errors to
//! exit codes (shards of different runs, the same shard twice, or a
//! directory that is not a run are usage errors, exit 2; an unreadable file
//! is exit 1) and prints the warnings and the start skew.

use crate::merge::dir::merge_dirs;
use crate::report::run_dir;
use crate::usage;
use std::path::PathBuf;
use std::process::ExitCode;

/// Merge the run directories of the shards of one run into one
///
/// Each DIR is one shard's sftp-bench or perf run directory (`--shard I/N`).
/// OUT gets the same files as a single run: run.json, summary.json (counts
/// added, HDR histograms added, so merged percentiles are exact; throughput
/// over the union of the shards' windows), chunks.csv and users.csv with a
/// leading `shard` column, timeseries.csv and latency.hlog aligned by
/// interval; perf.json, perf.csv (and samples/) for perf. `xfer perf plot OUT`
/// and `xfer compare` read it like any run.
///
/// Shards of different runs (another target, configuration or xfer version)
/// are refused with the first differing field (exit 2). A shard killed
/// mid-run (no summary.json) is merged from its chunks.csv, with a warning.
/// The start skew (latest shard start minus earliest) is printed.
///
/// Example: a 4-pod Kubernetes Indexed Job (deploy/k8s/, whose README has
/// every step), each pod writing /results/$RUN/shard-$(JOB_COMPLETION_INDEX):
///
///   kubectl apply -f deploy/k8s/job.yaml
///   kubectl wait --for=condition=complete --timeout=2h job/xfer-sftp-bench
///   kubectl apply -f deploy/k8s/collector.yaml
///   kubectl exec xfer-collect -- sh -c "xfer merge /results/$RUN/shard-* -o /results/$RUN/merged"
///   kubectl cp xfer-collect:/results/$RUN ./$RUN
///   xfer perf plot ./$RUN/merged
///
/// On one machine, scripts/netns-shards runs N shards in network namespaces
/// of their own; README.md, "Running across machines", shows a full run.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct MergeArgs {
    /// The shards' run directories (at least one; all sftp-bench or all perf).
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// The merged run directory (must be new or empty unless --overwrite).
    #[arg(short, long, value_name = "OUT")]
    pub out: PathBuf,
    /// Write into a non-empty OUT, replacing files of the same names.
    #[arg(long)]
    pub overwrite: bool,
}

pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    run_dir::check_out_dir(&args.out, args.overwrite).map_err(|e| usage!("-o {e}"))?;
    for d in &args.dirs {
        if d == &args.out {
            return Err(usage!(
                "-o {} is also a shard to merge: choose a new directory",
                d.display()
            ));
        }
    }
    let outcome = merge_dirs(&args.dirs, &args.out).map_err(|e| {
        if e.is_usage() {
            usage!("{e}")
        } else {
            anyhow::Error::new(e).context("xfer merge")
        }
    })?;
    for w in &outcome.warnings {
        eprintln!("{w}");
    }
    println!(
        "merged {} {} shards into {}",
        outcome.shards,
        outcome.kind,
        args.out.display()
    );
    println!(
        "start skew: {:.1} ms (latest shard start minus earliest)",
        outcome.start_skew.as_secs_f64() * 1e3
    );
    if let Some(s) = &outcome.summary {
        println!(
            "users {}, steps ok {}, failed attempts {}, bytes {}, {:.2} MB/s over {:.3} s",
            s.users,
            s.steps_ok,
            s.failed_attempts,
            s.throughput.bytes,
            s.throughput.mb_per_s,
            s.elapsed_s
        );
        if let Some(p) = s.response() {
            let l = &p.latency;
            println!(
                "{} p50 {} us, p90 {} us, p99 {} us, max {} us",
                p.name, l.p50_us, l.p90_us, l.p99_us, l.max_us
            );
        }
    }
    println!(
        "rows {}, time-series intervals {}",
        outcome.rows, outcome.intervals
    );
    Ok(ExitCode::SUCCESS)
}
