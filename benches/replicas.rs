//! Durable HTTP decisions per second with 1, 2 and 3 `modelgate serve` replicas on one
//! PostgreSQL database, next to one server on the embedded SQLite ledger, in the same run.
//!
//! Each configuration gets a fresh ledger with the same trust store and the same mixed workload
//! (tier 0/1/2, allow and deny, inline attestations) to `POST /v1/decisions`, closed loop with
//! 64 keep-alive connections spread round robin over the replicas. Every 200 is a decision
//! durably committed before the answer. PostgreSQL's own counters give the number of commits,
//! so the table shows how many decisions each transaction on the head row carried: the head
//! row lock is the one point every replica's appends pass through.
//!
//! The PostgreSQL server is the throwaway one of the tests (`tests/pg_support`: a fresh cluster
//! on loopback, fsync and synchronous_commit on) on the same 2-core machine as the replicas and
//! the load generator.
//!
//! Run: `cargo bench --bench replicas` (prints Markdown for docs/benchmarks.md).
//! `MODELGATE_BENCH_SECONDS` sets the seconds per measurement (default 10).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/http_load.rs"]
mod http_load;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use http_load::*;
use modelgate::ledger::Store;
use modelgate::server::auth::{ApiRole, TokenFile};
use modelgate::workspace::LedgerLocation;

const CONNECTIONS: usize = 64;

/// Copies the workspace files a replica needs (config, keys, policies, tokens).
fn copy_workspace(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// (append transactions, WAL syncs): the updates of the head row in the bench database (one per
/// committed batch) and the server's WAL fsyncs, from PostgreSQL's statistics.
fn counters(url: &str) -> (i64, i64) {
    // Backends flush their statistics at most about once a second; wait past that.
    std::thread::sleep(Duration::from_millis(1_500));
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .execute("SELECT pg_stat_clear_snapshot()", &[])
        .unwrap();
    let head: i64 = client
        .query_one(
            "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'head'",
            &[],
        )
        .unwrap()
        .get(0);
    let syncs: i64 = client
        .query_one("SELECT wal_sync FROM pg_stat_wal", &[])
        .unwrap()
        .get(0);
    (head, syncs)
}

/// (sum of seconds, count) of `modelgate_ledger_batch_seconds` on one replica: from the start of
/// each batch transaction (including the wait for the head row) to its durable commit.
fn batch_seconds(addr: SocketAddr) -> (f64, f64) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    (
        value("modelgate_ledger_batch_seconds_sum "),
        value("modelgate_ledger_batch_seconds_count "),
    )
}

/// Samples, every 2 ms until `stop`, whether some session of the database `url` is waiting for
/// a lock (the only lock modelgate's sessions wait for is the head row); returns the share of
/// samples that found one.
fn lock_wait_share(url: &str, stop: &std::sync::atomic::AtomicBool) -> f64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let (mut waiting, mut samples) = (0u64, 0u64);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get(0);
        samples += 1;
        waiting += u64::from(n > 0);
        std::thread::sleep(Duration::from_millis(2));
    }
    waiting as f64 / samples.max(1) as f64
}

struct Run {
    name: String,
    outcome: Outcome,
    took: Duration,
    /// (append transactions, WAL syncs) during the measurement.
    commits: Option<(i64, i64)>,
    /// Mean batch transaction time in milliseconds, over every replica.
    batch_ms: f64,
    /// Share of samples in which a replica waited for the head row (PostgreSQL only).
    lock_wait: Option<f64>,
}

fn run(replicas: usize, postgres: bool, secs: u64) -> Run {
    let f = Fixture::new_on(postgres);
    let requests = mixed_requests();
    let mut tokens = TokenFile::default();
    let token = tokens.create("bench", ApiRole::Pipeline).unwrap();
    tokens.save(&f.ws.tokens_path()).unwrap();
    let mut homes = vec![f.dir.path().to_path_buf()];
    let extra: Vec<tempfile::TempDir> = (1..replicas)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    for dir in &extra {
        copy_workspace(f.dir.path(), dir.path());
        homes.push(dir.path().to_path_buf());
    }
    let servers: Vec<(Server, SocketAddr)> = homes.iter().map(|h| start_server(h)).collect();
    let addrs: Vec<SocketAddr> = servers.iter().map(|(_, a)| *a).collect();
    for addr in &addrs {
        let mut warm = Conn::open(*addr);
        for r in &requests {
            let (status, body) = warm.post("/v1/decisions", &token, r);
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        }
    }
    let url = match f.ws.ledger_location().unwrap() {
        LedgerLocation::Postgres(url) => Some(url),
        LedgerLocation::Sqlite(_) => None,
    };
    let before = url.as_deref().map(counters);
    let batches_before: Vec<(f64, f64)> = addrs.iter().map(|a| batch_seconds(*a)).collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (outcome, took, lock_wait) = std::thread::scope(|s| {
        let sampler = url
            .as_deref()
            .map(|url| s.spawn(|| lock_wait_share(url, &stop)));
        let (outcome, took) = saturation(&addrs, &token, &requests, secs, CONNECTIONS);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (outcome, took, sampler.map(|h| h.join().unwrap()))
    });
    let (mut sum, mut count) = (0.0, 0.0);
    for (addr, (s0, c0)) in addrs.iter().zip(batches_before) {
        let (s1, c1) = batch_seconds(*addr);
        sum += s1 - s0;
        count += c1 - c0;
    }
    drop(servers);
    let after = url.as_deref().map(counters);
    let store = f.ws.read_store().unwrap();
    let report = modelgate::ledger::verify_store(&*store).unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    assert!(store.size().unwrap() as usize >= outcome.ok as usize);
    let name = if postgres {
        format!(
            "PostgreSQL, {replicas} replica{}",
            if replicas > 1 { "s" } else { "" }
        )
    } else {
        "SQLite, 1 server".to_owned()
    };
    Run {
        name,
        outcome,
        took,
        commits: before.zip(after).map(|(b, a)| (a.0 - b.0, a.1 - b.1)),
        batch_ms: 1000.0 * sum / count.max(1.0),
        lock_wait,
    }
}

/// The head-row transaction alone: one thread appending batches of `per_batch` real decision
/// records (from the same workload) to a fresh PostgreSQL ledger through `PgStore`, no HTTP and
/// nothing else running: the time the head row is held when nothing competes for the CPU.
fn isolated_batches(per_batch: usize, batches: usize) -> (f64, f64) {
    let mut f = Fixture::new_on(true);
    let mut records = Vec::new();
    for r in &mixed_requests() {
        let d = f.decide_bytes(r).unwrap();
        records.push(f.store.record(d.ledger.index).unwrap().unwrap());
    }
    let drafts: Vec<modelgate::ledger::RecordDraft> = records
        .iter()
        .map(|r| {
            let record = modelgate::ledger::parse_record(&r.bytes).unwrap();
            modelgate::ledger::RecordDraft {
                kind: record.kind,
                time: modelgate::clock::parse_rfc3339(&record.time).unwrap(),
                body: record.body,
            }
        })
        .collect();
    let LedgerLocation::Postgres(url) = f.ws.ledger_location().unwrap() else {
        unreachable!("a PostgreSQL fixture");
    };
    let mut store = modelgate::ledger::PgStore::open(&url).unwrap();
    let mut times = Vec::with_capacity(batches);
    for b in 0..batches {
        let batch: Vec<modelgate::ledger::AppendRequest> = (0..per_batch)
            .map(|i| {
                modelgate::ledger::AppendRequest::records(vec![
                    drafts[(b + i) % drafts.len()].clone()
                ])
            })
            .collect();
        let t = Instant::now();
        for outcome in store.append_batch(&batch).unwrap() {
            outcome.unwrap();
        }
        times.push(t.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn main() {
    let secs: u64 = std::env::var("MODELGATE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    if pg_support::server().is_none() {
        eprintln!("no PostgreSQL server: install Debian's postgresql package (scripts/test-deps)");
        return;
    }
    let (p50, p99) = isolated_batches(16, 300);
    println!(
        "One batch of 16 decision records through `PgStore::append_batch` alone (no HTTP, nothing \
         else running): p50 {p50:.2} ms, p99 {p99:.2} ms; the head row admits about {:.0} such \
         transactions per second, {:.0} decisions/s.\n",
        1000.0 / p50,
        16_000.0 / p50
    );
    let mut runs = vec![run(1, false, secs)];
    for replicas in 1..=3 {
        runs.push(run(replicas, true, secs));
    }
    println!(
        "| ledger | decisions | durable decisions/s | p50 ms | p99 ms | non-200 | append transactions | decisions per transaction | mean batch ms | WAL syncs | a replica waits for the head row |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for mut r in runs {
        r.outcome.latencies.sort();
        let dash = || "–".to_owned();
        let per_tx = r
            .commits
            .map(|(c, _)| format!("{:.1}", r.outcome.ok as f64 / c.max(1) as f64))
            .unwrap_or_else(dash);
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {:.2} | {} | {} |",
            r.name,
            r.outcome.ok,
            r.outcome.ok as f64 / r.took.as_secs_f64(),
            percentile(&r.outcome.latencies, 0.5),
            percentile(&r.outcome.latencies, 0.99),
            r.outcome.errors,
            r.commits.map_or_else(dash, |(c, _)| c.to_string()),
            per_tx,
            r.batch_ms,
            r.commits.map_or_else(dash, |(_, w)| w.to_string()),
            r.lock_wait
                .map_or_else(dash, |w| format!("{:.0} % of the time", 100.0 * w)),
        );
    }
}
