//! Decision latency, in process: `Engine::judge` (verify + validate + derive + evaluate +
//! explain, no I/O) and `Engine::decide` (the same plus the durable SQLite append), over a mixed
//! workload of tier-0/1/2 requests, allows and denies.
//!
//! Run: `cargo bench --bench decision` (prints a Markdown table for docs/benchmarks.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use modelgate::engine::load_trust;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e6,
        percentile(&samples, 0.9).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
    );
}

fn main() {
    let mut f = Fixture::new();
    let requests = mixed_requests();
    let trust = load_trust(&f.store).unwrap();
    for r in &requests {
        f.engine.judge(&trust, r).unwrap();
    }

    println!("| measurement | n | p50 µs | p90 µs | p99 µs | mean µs |");
    println!("|---|---|---|---|---|---|");
    let rounds = 500;
    let mut judge = Vec::with_capacity(rounds * requests.len());
    for _ in 0..rounds {
        for r in &requests {
            let t = Instant::now();
            let j = f.engine.judge(&trust, r).unwrap();
            judge.push(t.elapsed());
            std::hint::black_box(j);
        }
    }
    report(
        "in-process judgement (no I/O), mixed tier 0/1/2 allow+deny",
        judge,
    );

    let mut decide = Vec::new();
    for _ in 0..50 {
        for r in &requests {
            let t = Instant::now();
            let d = f.decide_bytes(r).unwrap();
            decide.push(t.elapsed());
            std::hint::black_box(d);
        }
    }
    report(
        "in-process durable decision (SQLite WAL, synchronous=FULL, one fsync per decision)",
        decide,
    );
    f.assert_ledger_intact();
}
