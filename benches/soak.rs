//! Soak: a real `modelgate serve` (release build) taking decisions at a fixed rate for a long
//! time, its resident memory and open file descriptors sampled every slice, so that a leak (of
//! memory, connections, files or SQLite handles) shows as growth after warm-up.
//!
//! Workload: the mixed signed requests of the HTTP bench (tier 0/1/2, allow and deny) to
//! `POST /v1/decisions`, open loop (latency counted from each request's scheduled time), 64
//! keep-alive connections per slice. After the run the ledger must verify and hold one decision
//! record per 200 answer.
//!
//! Run: `cargo bench --bench soak` (10 minutes at 1,000 decisions/s, sampled every 10 s; prints
//! the Markdown table for docs/benchmarks.md). `MODELGATE_SOAK_SECONDS`, `MODELGATE_SOAK_RATE`
//! and `MODELGATE_SOAK_SLICE` change the duration, the rate and the sampling interval.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/http_load.rs"]
mod http_load;

use std::time::Instant;

use common::*;
use http_load::*;
use modelgate::ledger::{parse_record, RecordKind, Store as _};
use modelgate::server::auth::{ApiRole, TokenFile};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// One sample of the server process: resident memory in KiB, split into anonymous memory (the
/// heap: where a leak shows) and file pages (the ledger file mapped by the read connections,
/// which grows with the ledger and which the kernel reclaims), and open file descriptors.
#[derive(Clone, Copy)]
struct Sample {
    rss: u64,
    anon: u64,
    file: u64,
    fds: usize,
}

fn sample(pid: u32) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    Sample {
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:") + field("RssShmem:"),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count(),
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let seconds = setting("MODELGATE_SOAK_SECONDS", 600);
    let rate = setting("MODELGATE_SOAK_RATE", 1_000);
    let slice = setting("MODELGATE_SOAK_SLICE", 10).max(1);
    let f = Fixture::new();
    let requests = mixed_requests();
    let mut tokens = TokenFile::default();
    let token = tokens.create("soak", ApiRole::Pipeline).unwrap();
    tokens.save(&f.ws.tokens_path()).unwrap();
    let (server, addr) = start_server(f.dir.path());
    let pid = server.0.id();
    let before = f.ws.store().unwrap().size().unwrap();

    println!(
        "Soak: {rate} decisions/s for {seconds} s, sampled every {slice} s, server pid {pid}.\n"
    );
    println!("| t (s) | answered/s | p50 ms | p99 ms | non-200 | RSS MiB | anonymous MiB | file-backed MiB | open fds |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let s0 = sample(pid);
    println!(
        "| 0 | — | — | — | — | {:.1} | {:.1} | {:.1} | {} |",
        mib(s0.rss),
        mib(s0.anon),
        mib(s0.file),
        s0.fds
    );
    let started = Instant::now();
    let mut samples = Vec::new();
    let (mut ok, mut errors, mut late_allows) = (0u64, 0u64, 0u64);
    for k in 1..=seconds / slice {
        let (mut o, took) = fixed_rate(addr, &token, &requests, rate, slice, 64);
        let now = sample(pid);
        o.latencies.sort();
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} | {:.1} | {:.1} | {:.1} | {} |",
            k * slice,
            o.ok as f64 / took.as_secs_f64(),
            percentile(&o.latencies, 0.5),
            percentile(&o.latencies, 0.99),
            o.errors,
            mib(now.rss),
            mib(now.anon),
            mib(now.file),
            now.fds,
        );
        ok += o.ok;
        errors += o.errors;
        late_allows += o.late_allows;
        samples.push(now);
    }
    let elapsed = started.elapsed();
    drop(server);

    // Warm-up: the first fifth of the run (at least one sample) fills caches and pools.
    let warm = (samples.len() / 5).max(1).min(samples.len() - 1);
    let (at_warm, at_end) = (samples[warm - 1], *samples.last().unwrap());
    let growth = |a: u64, b: u64| (b as f64 / a as f64 - 1.0) * 100.0;
    println!(
        "\n{ok} decisions answered 200 and {errors} not in {:.0} s ({:.0}/s); {late_allows} allows after the deadline.",
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64()
    );
    println!(
        "After warm-up (t = {} s) to the end: RSS {:.1} → {:.1} MiB ({:+.1} %, peak {:.1} MiB); \
         anonymous {:.1} → {:.1} MiB ({:+.1} %); file-backed {:.1} → {:.1} MiB; open fds {} → {}.",
        warm as u64 * slice,
        mib(at_warm.rss),
        mib(at_end.rss),
        growth(at_warm.rss, at_end.rss),
        mib(samples.iter().map(|s| s.rss).max().unwrap()),
        mib(at_warm.anon),
        mib(at_end.anon),
        growth(at_warm.anon, at_end.anon),
        mib(at_warm.file),
        mib(at_end.file),
        at_warm.fds,
        at_end.fds,
    );

    let store = f.ws.store().unwrap();
    let report = modelgate::ledger::verify_store(&store).unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    let size = store.size().unwrap();
    let mut decisions = 0u64;
    let mut from = before;
    while from < size {
        let page = store.records(from, 10_000).unwrap();
        from += page.len() as u64;
        decisions += page
            .iter()
            .filter(|r| parse_record(&r.bytes).unwrap().kind == RecordKind::Decision)
            .count() as u64;
    }
    println!(
        "The ledger verifies: {size} records, {decisions} decision records for {ok} decisions answered 200."
    );
    assert_eq!(decisions, ok, "one decision record per answered decision");
}
