//! The ledger at scale, each figure next to the floor measured on the same machine in the same
//! run: `verify_store` against raw SHA-256 over the same bytes, inclusion and consistency proofs
//! at a million records, startup on a million-record ledger, and durable appends against raw
//! SQLite batched inserts with one fsync per batch.
//!
//! The ledger is a real workspace (the test `Fixture`: SQLite ledger, reference bundle, five
//! trusted keys) filled through `SqliteStore::append` with decision records whose bodies come
//! from real decisions (tiers 0/1/2, allow and deny) with their fields varied per record, and a
//! signed checkpoint every 100,000 records.
//!
//! Run: `cargo bench --bench ledger` (prints Markdown tables for docs/benchmarks.md).
//! `MODELGATE_BENCH_RECORDS=100000` builds a smaller ledger for a quick look;
//! `MODELGATE_BENCH_VERIFY_ONLY=1` stops after the verification tables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "ledger/durable.rs"]
mod durable;
#[path = "support/filler.rs"]
mod filler;
#[path = "ledger/pieces.rs"]
mod pieces;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use filler::{decision_draft, decision_templates};
use modelgate::engine::{audit, load_trust};
use modelgate::ledger::{
    leaf_hash, verify_consistency, verify_inclusion, verify_store, verify_store_against,
    verify_tlog_proof, SqliteStore, Store,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Ledger size measured (records), unless `MODELGATE_BENCH_RECORDS` says otherwise.
const RECORDS: u64 = 1_000_000;
/// Records per `append` call while building the ledger.
const BUILD_BATCH: u64 = 10_000;
/// A signed checkpoint is stored at every multiple of this size.
const CHECKPOINT_EVERY: u64 = 100_000;
/// Samples per proof measurement.
const PROOF_SAMPLES: usize = 2_000;
/// Repetitions of each startup measurement.
const STARTUP_RUNS: usize = 30;

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `(p50, p99, mean)` of `samples`, in microseconds.
fn spread(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    samples.sort();
    let at = |p: f64| {
        let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
        micros(samples[idx.min(samples.len() - 1)])
    };
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    (at(0.5), at(0.99), micros(mean))
}

fn latency_row(name: &str, samples: Vec<Duration>) {
    let n = samples.len();
    let (p50, p99, mean) = spread(samples);
    println!("| {name} | {n} | {p50:.1} | {p99:.1} | {mean:.1} |");
}

/// A deterministic pseudo-random sequence (splitmix64), so every run draws the same indices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)` (`hi > lo`).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Fills the fixture's ledger up to `records` records; returns the build time, the part of it
/// spent making the drafts, and the average size of the records it appended.
fn build_ledger(f: &mut Fixture, templates: &[Value], records: u64) -> (Duration, Duration, f64) {
    let signer = f.ws.note_signer().unwrap();
    let origin = f.ws.config().origin.clone();
    let start = Instant::now();
    let mut appended_bytes = 0u64;
    let mut making = Duration::ZERO;
    let mut size = f.size();
    let first = size;
    while size < records {
        let end = ((size / BUILD_BATCH + 1) * BUILD_BATCH).min(records);
        let t = Instant::now();
        let drafts: Vec<_> = (size..end).map(|i| decision_draft(templates, i)).collect();
        making += t.elapsed();
        let sealed = f.store.append(&drafts).unwrap();
        appended_bytes += sealed.iter().map(|s| s.bytes.len() as u64).sum::<u64>();
        size = end;
        if size.is_multiple_of(CHECKPOINT_EVERY) || size == records {
            audit::checkpoint(&mut f.store, &signer, &origin).unwrap();
        }
    }
    let average = appended_bytes as f64 / (size - first).max(1) as f64;
    (start.elapsed(), making, average)
}

/// Every record's bytes read with raw rusqlite (no decoding), in index order, into one buffer.
fn read_all_bytes(path: &Path) -> (Vec<u8>, Vec<usize>) {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT bytes FROM records ORDER BY idx")
        .unwrap();
    let mut rows = stmt.query([]).unwrap();
    let (mut buf, mut ends) = (Vec::new(), Vec::new());
    while let Some(row) = rows.next().unwrap() {
        buf.extend_from_slice(row.get_ref(0).unwrap().as_blob().unwrap());
        ends.push(buf.len());
    }
    (buf, ends)
}

/// The records as slices of the buffer [`read_all_bytes`] filled.
fn slices<'a>(buf: &'a [u8], ends: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    ends.iter().scan(0usize, move |start, &end| {
        let s = &buf[*start..end];
        *start = end;
        Some(s)
    })
}

fn rate_row(name: &str, records: u64, bytes: u64, took: Duration, floor: Option<f64>) -> f64 {
    let per_s = records as f64 / took.as_secs_f64();
    let share = floor.map_or_else(
        || "floor".to_owned(),
        |f| format!("{:.1} %", 100.0 * per_s / f),
    );
    println!(
        "| {name} | {records} | {:.2} | {per_s:.0} | {:.0} | {share} |",
        took.as_secs_f64(),
        bytes as f64 / 1e6 / took.as_secs_f64()
    );
    per_s
}

fn main() {
    let records: u64 = std::env::var("MODELGATE_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RECORDS);
    let mut f = Fixture::new();
    let templates = decision_templates(&mut f);
    let path = f.ws.ledger_path();

    println!("## Building the ledger\n");
    let (took, making, average) = build_ledger(&mut f, &templates, records);
    let size = f.size();
    let (db, wal) = (
        file_size(&path),
        file_size(Path::new(&format!("{}-wal", path.display()))),
    );
    println!("| records | build s | of which making drafts s | records/s | checkpoints | `ledger.db` MB | WAL MB | file bytes per record | avg record bytes |");
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {size} | {:.1} | {:.1} | {:.0} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
        took.as_secs_f64(),
        making.as_secs_f64(),
        size as f64 / took.as_secs_f64(),
        f.store.checkpoints().unwrap().len(),
        db as f64 / 1e6,
        wal as f64 / 1e6,
        db as f64 / size as f64,
        average,
    );

    println!("\n## Verification next to the floor\n");
    println!("| measurement | records | s | records/s | MB/s | share of the SHA-256 floor |");
    println!("|---|---|---|---|---|---|");
    let (buf, ends) = {
        let t = Instant::now();
        let all = read_all_bytes(&path);
        let took = t.elapsed();
        let n = all.1.len() as u64;
        rate_row(
            "raw SQLite read of every record's bytes (rusqlite, one scan)",
            n,
            all.0.len() as u64,
            took,
            None,
        );
        all
    };
    let total_bytes = buf.len() as u64;
    let t = Instant::now();
    let mut acc = 0u8;
    for bytes in slices(&buf, &ends) {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(bytes);
        acc ^= h.finalize()[0];
    }
    std::hint::black_box(acc);
    let floor = rate_row(
        "SHA-256 floor: `SHA-256(0x00 ‖ bytes)` over the bytes in memory",
        size,
        total_bytes,
        t.elapsed(),
        None,
    );
    let ro = SqliteStore::open_read_only(&path).unwrap();
    let t = Instant::now();
    let report = verify_store(&ro).unwrap();
    let verify_took = t.elapsed();
    assert!(report.is_intact(), "{:?}", report.failure);
    assert_eq!(report.size, size);
    let verify_rate = rate_row(
        "`verify_store` (chain, canonical form, leaf hashes, every tree node, root)",
        size,
        total_bytes,
        verify_took,
        Some(floor),
    );
    let verifier = f.ws.note_verifier().unwrap();
    let t = Instant::now();
    let report = verify_store_against(&ro, &verifier, &[]).unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    rate_row(
        "`audit verify` in process (`verify_store_against`: the same plus every checkpoint)",
        size,
        total_bytes,
        t.elapsed(),
        Some(floor),
    );
    let t = Instant::now();
    let out = mg(f.dir.path(), &["audit", "verify"]);
    let cli_took = t.elapsed();
    assert!(out.status.success(), "{out:?}");
    rate_row(
        "`modelgate audit verify` (the binary, cold process)",
        size,
        total_bytes,
        cli_took,
        Some(floor),
    );
    println!(
        "\nverify: {:.0} % of the 300,000 records/s goal; share of floor {:.1} % (goal 25 %)",
        100.0 * verify_rate / 300_000.0,
        100.0 * verify_rate / floor
    );

    println!("\n## Where verification time goes\n");
    pieces::breakdown(
        &path,
        &ro,
        &buf,
        &ends,
        verify_took.as_secs_f64() / size as f64,
    );
    drop(buf);
    if std::env::var_os("MODELGATE_BENCH_VERIFY_ONLY").is_some() {
        return;
    }

    println!("\n## Proofs at {size} records\n");
    proofs(&f, &ro, size);

    println!("\n## Startup on {size} records\n");
    startup(&path);

    println!("\n## Durable appends\n");
    durable::run(&path, &f.dir.path().join("floor.db"), &templates, size);
}

/// Proof generation from the store and proof verification with hashes only, at random
/// indices and sizes.
fn proofs(f: &Fixture, store: &SqliteStore, size: u64) {
    let mut rng = Rng(42);
    let root = store.tree_root(size).unwrap();
    println!("| operation | n | p50 µs | p99 µs | mean µs |");
    println!("|---|---|---|---|---|");
    let mut roots = Vec::new();
    for _ in 0..PROOF_SAMPLES {
        let t = Instant::now();
        let r = store.tree_root(size).unwrap();
        roots.push(t.elapsed());
        assert_eq!(r, root);
    }
    latency_row(&format!("tree root of size {size} (stored nodes)"), roots);

    let (mut made, mut checked) = (Vec::new(), Vec::new());
    for _ in 0..PROOF_SAMPLES {
        let index = rng.range(0, size);
        let leaf = store.record(index).unwrap().unwrap().leaf_hash;
        let t = Instant::now();
        let proof = store.inclusion_proof(index, size).unwrap();
        made.push(t.elapsed());
        let t = Instant::now();
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
        checked.push(t.elapsed());
    }
    latency_row(
        &format!("inclusion proof, random record, size {size}: make (`Store::inclusion_proof`)"),
        made,
    );
    latency_row("inclusion proof: verify (`verify_inclusion`)", checked);

    let (mut made, mut checked) = (Vec::new(), Vec::new());
    for _ in 0..PROOF_SAMPLES {
        let new = rng.range(2, size + 1);
        let old = rng.range(1, new);
        let (old_root, new_root) = (store.tree_root(old).unwrap(), store.tree_root(new).unwrap());
        let t = Instant::now();
        let proof = store.consistency_proof(old, new).unwrap();
        made.push(t.elapsed());
        let t = Instant::now();
        verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
        checked.push(t.elapsed());
    }
    latency_row(
        "consistency proof, random sizes old < new ≤ size: make (`Store::consistency_proof`)",
        made,
    );
    latency_row("consistency proof: verify (`verify_consistency`)", checked);

    let verifiers = [f.ws.note_verifier().unwrap()];
    let origin = f.ws.config().origin.clone();
    let (mut made, mut checked) = (Vec::new(), Vec::new());
    for _ in 0..PROOF_SAMPLES / 4 {
        let index = rng.range(0, size);
        let bytes = store.record(index).unwrap().unwrap().bytes;
        let t = Instant::now();
        let text = audit::prove(store, index, None).unwrap().to_text();
        made.push(t.elapsed());
        let t = Instant::now();
        verify_tlog_proof(&text, &bytes, &verifiers, &origin, |l, i, s, p, r| {
            verify_inclusion(l, i, s, p, r).is_ok()
        })
        .unwrap();
        checked.push(t.elapsed());
    }
    latency_row(
        "tlog-proof against the latest checkpoint: make (`audit::prove`, as text)",
        made,
    );
    latency_row(
        "tlog-proof: verify (parse, checkpoint signature, inclusion)",
        checked,
    );
    // A proof check that cannot fail would measure nothing: a wrong leaf must be refused.
    let wrong = leaf_hash(b"not a record");
    let proof = store.inclusion_proof(0, size).unwrap();
    assert!(verify_inclusion(&wrong, 0, size, &proof, &root).is_err());
}

/// What a process does before it can serve: open the ledger, read its size, its latest
/// checkpoint and the trust store.
fn startup(path: &Path) {
    println!("| step | n | p50 µs | p99 µs | mean µs |");
    println!("|---|---|---|---|---|");
    for (label, read_only) in [("`SqliteStore::open`", false), ("`open_read_only`", true)] {
        let (mut open, mut size, mut cp, mut trust, mut total) =
            (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..STARTUP_RUNS {
            let t0 = Instant::now();
            let store = if read_only {
                SqliteStore::open_read_only(path).unwrap()
            } else {
                SqliteStore::open(path).unwrap()
            };
            let t1 = Instant::now();
            std::hint::black_box(store.size().unwrap());
            let t2 = Instant::now();
            std::hint::black_box(store.latest_checkpoint().unwrap());
            let t3 = Instant::now();
            std::hint::black_box(load_trust(&store).unwrap());
            let t4 = Instant::now();
            open.push(t1 - t0);
            size.push(t2 - t1);
            cp.push(t3 - t2);
            trust.push(t4 - t3);
            total.push(t4 - t0);
        }
        latency_row(label, open);
        latency_row("`size()`", size);
        latency_row("`latest_checkpoint()`", cp);
        latency_row("`load_trust` (replays the `key_change` records)", trust);
        latency_row(&format!("**startup total** ({label})"), total);
    }
}
