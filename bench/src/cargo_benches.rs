//! The benchmarks of each capability (`cargo bench --bench NAME` of the main package), run as
//! child processes one after another; each prints its own Markdown, which goes into its block of
//! `docs/benchmarks.md`, and writes its headline figures for the ratio table.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use crate::doc::demote_headings;

/// `(bench target, what it measures)`, in the order they run.
pub const BENCHES: [(&str, &str); 8] = [
    ("decision", "decision latency in process, judgement and one-fsync decision"),
    ("ledger", "a 1,000,000-record ledger: build, verification next to the SHA-256 floor, proofs, startup, durable appends next to the SQLite floor"),
    ("http", "HTTP decisions at fixed rates and at saturation against a `modelgate serve` process"),
    ("evidence", "evidence packs of one model (1,000 decisions) from 10,000- and 1,000,000-record ledgers"),
    ("inventory", "the inventory report at 1,000,000 records, cold and warm"),
    ("console", "the web console's pages at 1,000,000 records"),
    ("replicas", "replicas on PostgreSQL (needs PostgreSQL's server binaries, as the tests do)"),
    ("soak", "ten minutes at 1,000 decisions/s: latency, memory and open files over time"),
];

/// Runs `cargo bench --bench name` in `root`, with the figures file and, when `quick`, the
/// smaller sizes every benchmark accepts. Returns its standard output with its headings
/// lowered two levels and the time it took.
pub fn run(root: &Path, name: &str, figures: &Path, quick: bool) -> Result<(String, f64)> {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root)
        .args(["bench", "--locked", "-p", "modelgate", "--bench", name])
        .env("MODELGATE_BENCH_FIGURES", figures)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if quick {
        cmd.env("MODELGATE_BENCH_RECORDS", "100000")
            .env("MODELGATE_BENCH_SECONDS", "2")
            .env("MODELGATE_SOAK_SECONDS", "60");
    }
    let t = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("starting cargo bench --bench {name}"))?;
    let took = t.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "`cargo bench --bench {name}` failed ({}); its last output: {}",
            out.status,
            stdout.lines().rev().take(3).collect::<Vec<_>>().join(" / ")
        );
    }
    Ok((demote_headings(stdout.trim(), 2), took))
}
