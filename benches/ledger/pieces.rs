//! Where `verify_store`'s time goes: each of its per-record steps timed alone on one core,
//! through public functions doing the same work, over the first [`SUBSET`] records of the
//! ledger; then the same checks done the earlier way (record by record, parsing into a `Value`,
//! a point read per tree node) and other ways. Every step is run [`RUNS`] times and the fastest
//! run counts (the machine is shared).

use std::path::Path;
use std::time::Instant;

use modelgate::canonical::{is_canonical, scan_canonical, scan_canonical_members};
use modelgate::clock::{parse_rfc3339, rfc3339};
use modelgate::ledger::{
    leaf_hash, parse_record, Frontier, Hash, SqliteStore, Store, GENESIS_PREV,
};
use rusqlite::{Connection, OpenFlags};

use super::slices;

/// Records each step is timed over (per-record costs barely depend on the ledger size).
const SUBSET: usize = 50_000;
/// Runs of each step; the fastest counts.
const RUNS: usize = 3;
/// Rows per read, as `verify_store` reads them (`VERIFY_BATCH`).
const READ_BATCH: u64 = 256;
/// Records whose tree nodes `verify_store` reads together, one range read per level.
const NODES_AHEAD: u64 = 4 * READ_BATCH;

struct Table {
    n: usize,
    verify_per_record_s: f64,
    sum_s: f64,
}

impl Table {
    /// Times `step` (the fastest of [`RUNS`]) and prints it; `counted` steps add up to the
    /// modelled per-record cost of verification.
    fn row(&mut self, label: &str, counted: bool, mut step: impl FnMut()) {
        let took = (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                step();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let per = took / self.n as f64;
        if counted {
            self.sum_s += per;
        }
        let share = 100.0 * per / self.verify_per_record_s;
        println!("| {label} | {:.2} | {share:.0} % |", per * 1e6);
    }
}

/// Times the steps of verification over the first records and prints them as a table next to
/// the measured per-record cost of `verify_store`.
pub fn breakdown(
    path: &Path,
    store: &SqliteStore,
    buf: &[u8],
    ends: &[usize],
    verify_per_record_s: f64,
) {
    let n = ends.len().min(SUBSET);
    let records: Vec<&[u8]> = slices(buf, ends).take(n).collect();
    // What the steps consume, computed untimed.
    let fields: Vec<(String, String)> = records
        .iter()
        .map(|b| parse_record(b).map(|r| (r.prev, r.time)).unwrap())
        .collect();
    let leaves: Vec<Hash> = records.iter().map(|b| leaf_hash(b)).collect();
    let mut frontier = Frontier::new();
    let nodes: Vec<(u32, u64, Hash)> = leaves
        .iter()
        .flat_map(|l| frontier.push(*l).unwrap())
        .collect();

    let mut table = Table {
        n,
        verify_per_record_s,
        sum_s: 0.0,
    };
    println!(
        "Each step timed alone over the first {n} records (fastest of {RUNS} runs); share of the \
         measured per-record cost of `verify_store` ({:.2} µs, wall time).\n",
        verify_per_record_s * 1e6
    );
    println!("| step | µs per record | share of `verify_store` |");
    println!("|---|---|---|");
    table.row(
        "read rows: `Store::records`, 256 per query (SQLite, row decoding, copies)",
        true,
        || {
            let mut from = 0u64;
            while from < n as u64 {
                let rows = store
                    .records(from, READ_BATCH.min(n as u64 - from))
                    .unwrap();
                from += rows.len() as u64;
                std::hint::black_box(rows);
            }
        },
    );
    table.row(
        "canonical form and header in one pass: `scan_canonical_members` (no value built), \
         header fields picked from its member slices",
        true,
        || {
            for bytes in &records {
                let mut fields = 0;
                assert!(scan_canonical_members(bytes, |key, value| {
                    if key != b"body" {
                        fields += 1;
                        std::hint::black_box(value);
                    }
                }));
                assert_eq!(fields, 5);
            }
        },
    );
    table.row(
        "leaf hash streamed: `Sha256::update(0x00)`, `update(bytes)`, no copy",
        true,
        || {
            use sha2::{Digest, Sha256};
            for bytes in &records {
                let mut h = Sha256::new();
                h.update([0u8]);
                h.update(bytes);
                std::hint::black_box(h.finalize());
            }
        },
    );
    table.row(
        "chain fields: `prev` as hex, `time` parsed and spelt again (an upper bound: verify \
         decodes `prev` instead and skips the parse for the usual time spelling)",
        true,
        || {
            let mut prev = GENESIS_PREV;
            for ((p, time), leaf) in fields.iter().zip(&leaves) {
                assert_eq!(*p, hex::encode(prev));
                assert!(parse_rfc3339(time).is_ok_and(|v| rfc3339(v) == *time));
                prev = *leaf;
            }
        },
    );
    table.row(
        "tree: `Frontier::push` (interior node hashes in memory)",
        true,
        || {
            let mut frontier = Frontier::new();
            for leaf in &leaves {
                drop(std::hint::black_box(frontier.push(*leaf).unwrap()));
            }
        },
    );
    table.row(
        &format!(
            "tree: `Store::tree_nodes`, one range read per level per 1,024 records ({:.2} nodes \
             per record)",
            nodes.len() as f64 / n as f64
        ),
        true,
        || {
            let (mut read, mut from) = (0usize, 0u64);
            while from < n as u64 {
                let to = (from + NODES_AHEAD).min(n as u64);
                for level in 0..64u32 {
                    let (lo, hi) = (from >> level, to >> level);
                    if lo < hi {
                        read +=
                            std::hint::black_box(store.tree_nodes(level, lo, hi).unwrap()).len();
                    }
                }
                from = to;
            }
            assert_eq!(read, nodes.len());
        },
    );
    println!(
        "| **sum of the steps (one core)** | {:.2} | {:.0} % |",
        table.sum_s * 1e6,
        100.0 * table.sum_s / verify_per_record_s
    );
    alternatives(path, store, &records, &nodes, &mut table);
}

/// How the same checks were done before (record by record, parsing into a `Value`, a point
/// read per tree node), and other ways, timed over the same records.
fn alternatives(
    path: &Path,
    store: &SqliteStore,
    records: &[&[u8]],
    nodes: &[(u32, u64, Hash)],
    table: &mut Table,
) {
    println!("\nThe same checks done the earlier way, and others, over the same records:\n");
    println!("| alternative | µs per record | share of `verify_store` |");
    println!("|---|---|---|");
    table.row(
        "earlier: `parse_record` (strict JSON parser into a `Value`, then serde into `Record`)",
        false,
        || records.iter().for_each(|b| drop(parse_record(b).unwrap())),
    );
    table.row(
        "earlier: `is_canonical` (parses again, re-serialises, compares)",
        false,
        || records.iter().for_each(|b| assert!(is_canonical(b))),
    );
    table.row("canonical form alone: `scan_canonical`", false, || {
        records.iter().for_each(|b| assert!(scan_canonical(b)))
    });
    table.row(
        "one scan, no value built: serde_json into `IgnoredAny` (validates JSON only)",
        false,
        || {
            for bytes in records {
                serde_json::from_slice::<serde::de::IgnoredAny>(bytes).unwrap();
            }
        },
    );
    table.row(
        "earlier: `leaf_hash` (copies the bytes behind 0x00, SHA-256)",
        false,
        || {
            for b in records {
                std::hint::black_box(leaf_hash(b));
            }
        },
    );
    table.row(
        "earlier: `Store::tree_node` for every completed node (a point read each, its own read \
         transaction)",
        false,
        || {
            for (level, index, hash) in nodes {
                assert_eq!(store.tree_node(*level, *index).unwrap(), *hash);
            }
        },
    );

    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    let point_reads = || {
        let mut stmt = conn
            .prepare_cached("SELECT hash FROM tree_nodes WHERE level = ?1 AND idx = ?2")
            .unwrap();
        for (level, index, hash) in nodes {
            let stored: Vec<u8> = stmt
                .query_row((*level, *index as i64), |r| r.get(0))
                .unwrap();
            assert_eq!(stored, hash);
        }
    };
    table.row(
        "tree nodes: raw rusqlite point reads, each its own read transaction",
        false,
        point_reads,
    );
    conn.execute_batch("BEGIN").unwrap();
    table.row(
        "tree nodes: the same point reads inside one read transaction",
        false,
        point_reads,
    );
    let mut stmt = conn
        .prepare(
            "SELECT hash FROM tree_nodes WHERE level = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx",
        )
        .unwrap();
    let n = records.len() as u64;
    table.row(
        "tree nodes: range scans (one query per level per 256 records) in one read transaction",
        false,
        || {
            let (mut read, mut from) = (0usize, 0u64);
            while from < n {
                let to = (from + READ_BATCH).min(n);
                for level in 0..64u32 {
                    let (lo, hi) = (from >> level, to >> level);
                    if lo >= hi {
                        continue;
                    }
                    let mut rows = stmt.query((level, lo as i64, hi as i64)).unwrap();
                    while let Some(row) = rows.next().unwrap() {
                        std::hint::black_box(row.get_ref(0).unwrap().as_blob().unwrap());
                        read += 1;
                    }
                }
                from = to;
            }
            assert_eq!(read, nodes.len());
        },
    );
    drop(stmt);
    conn.execute_batch("COMMIT").unwrap();
}
