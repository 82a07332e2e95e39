//! HTTP decision throughput and latency: a load generator over loopback against a real
//! `modelgate serve` process (release build), next to the in-process decision cost measured in
//! the same run.
//!
//! Workload: valid signed promotion requests (tier 0/1/2, allow and deny, inline attestations)
//! to `POST /v1/decisions` with a pipeline token. Fixed rates are open-loop: each request has a
//! scheduled send time and its latency counts from that time, so a slow server cannot hide its
//! queueing (no coordinated omission). Saturation is closed-loop with many connections.
//!
//! Run: `cargo bench --bench http` (prints Markdown tables for docs/benchmarks.md).
//! `MODELGATE_BENCH_SECONDS` sets the seconds per measurement (default 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/figures.rs"]
mod figures;
#[path = "support/http_load.rs"]
mod http_load;

use std::time::{Duration, Instant};

use common::*;
use http_load::*;
use modelgate::engine::load_trust;
use modelgate::server::auth::{ApiRole, TokenFile};

fn row(name: &str, key: &str, mut o: Outcome, took: Duration) {
    o.latencies.sort();
    figures::figure(&format!("{key}.rps"), o.ok as f64 / took.as_secs_f64());
    figures::figure(&format!("{key}.p50_ms"), percentile(&o.latencies, 0.5));
    figures::figure(&format!("{key}.p99_ms"), percentile(&o.latencies, 0.99));
    println!(
        "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
        o.ok + o.errors,
        o.ok as f64 / took.as_secs_f64(),
        percentile(&o.latencies, 0.5),
        percentile(&o.latencies, 0.9),
        percentile(&o.latencies, 0.99),
        percentile(&o.latencies, 0.999),
        o.errors,
        o.late_allows,
    );
}

fn main() {
    let secs: u64 = std::env::var("MODELGATE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let f = Fixture::new();
    let requests = mixed_requests();

    // In-process cost of the same requests, same run.
    let trust = load_trust(&f.store).unwrap();
    let mut judge = Vec::new();
    for _ in 0..300 {
        for r in &requests {
            let t = Instant::now();
            std::hint::black_box(f.engine.judge(&trust, r).unwrap());
            judge.push(t.elapsed());
        }
    }
    judge.sort();

    let mut tokens = TokenFile::default();
    let token = tokens.create("bench", ApiRole::Pipeline).unwrap();
    tokens.save(&f.ws.tokens_path()).unwrap();
    let (server, addr) = start_server(f.dir.path());
    // Warm up.
    let mut warm = Conn::open(addr);
    for r in &requests {
        let (status, body) = warm.post("/v1/decisions", &token, r);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    println!(
        "In-process judgement of the same requests (no I/O): p50 {:.3} ms, p99 {:.3} ms ({} samples).\n",
        percentile(&judge, 0.5),
        percentile(&judge, 0.99),
        judge.len()
    );
    println!("| load | requests | answered/s | p50 ms | p90 ms | p99 ms | p99.9 ms | non-200 | allows after the 2 s deadline |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for rate in [500u64, 1_000, 2_000] {
        let (o, took) = fixed_rate(addr, &token, &requests, rate, secs, 64);
        row(
            &format!("fixed {rate} rps, 64 connections"),
            &format!("http.fixed{rate}"),
            o,
            took,
        );
    }
    for conns in [16usize, 64] {
        let (o, took) = saturation(&[addr], &token, &requests, secs, conns);
        row(
            &format!("saturation, {conns} connections"),
            &format!("http.saturation{conns}"),
            o,
            took,
        );
    }
    drop(server);
    let store = modelgate::ledger::SqliteStore::open_read_only(&f.ws.ledger_path()).unwrap();
    let report = modelgate::ledger::verify_store(&store).unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    println!(
        "\nAfter the run the ledger holds {} records and verifies.",
        report.size
    );
}
