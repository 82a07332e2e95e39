//! Durable appends next to their floor: raw SQLite inserts into a plain table shaped like the
//! ledger's `records` table (`idx INTEGER PRIMARY KEY, kind, leaf_hash, bytes`), WAL,
//! `synchronous=FULL`, one transaction and so one fsync per batch, with real record bytes.
//!
//! Every row of the table is an [`Appender`]: a factory of closures that each make one durable
//! commit, run by [`measure`] from N threads. fsync latency on a shared virtual disk drifts
//! from second to second, so the rows are measured in [`ROUNDS`] interleaved slices and each row
//! sums its slices: every row sees the same disk. A group-commit appender is one more row: a
//! closure that submits one record and returns once the record is durable, run from 1, 8 and 64
//! writers and compared with the floor at a batch of the same size.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use modelgate::ledger::{
    AppendRequest, GroupCommit, GroupOptions, RecordDraft, SqliteStore, Store, StoredRecord,
};
use rusqlite::{params, Connection, TransactionBehavior};
use serde_json::Value;

use super::{decision_draft, spread};

/// Interleaved rounds; each row runs for one [`SLICE`] per round.
const ROUNDS: u32 = 5;
/// How long a row runs in one round.
const SLICE: Duration = Duration::from_millis(400);
/// Distinct decision drafts the ledger rows cycle through.
const DRAFT_POOL: u64 = 4_096;
/// Records per fsync for the floor.
const FLOOR_BATCHES: [usize; 4] = [1, 8, 64, 256];
/// Concurrent writers for the ledger's appender.
const WRITERS: [usize; 3] = [1, 8, 64];

/// One durable commit; returns the records it made durable.
type Commit<'a> = Box<dyn FnMut() -> Result<u64, String> + 'a>;

/// One row of the table: how to make each writer's commit closure, and whom to compare with.
struct Appender<'a> {
    name: &'static str,
    writers: usize,
    batch: usize,
    /// Floor batch size to compare with (`None` for a floor row).
    floor: Option<usize>,
    make: Box<dyn Fn() -> Commit<'a> + Sync + 'a>,
}

/// What [`measure`] saw: records made durable, commits, failed commits, wall time and the latency
/// of every commit.
pub struct Throughput {
    records: u64,
    commits: u64,
    errors: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Throughput {
    fn per_s(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }

    /// Both measurements as one.
    fn merge(mut self, other: Throughput) -> Throughput {
        self.records += other.records;
        self.commits += other.commits;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self
    }
}

/// Runs `writers` threads for `budget`. Each builds its appender with `make(thread)` and calls it
/// until the time is up; one call makes one durable commit and returns the records it wrote.
pub fn measure<W>(writers: usize, budget: Duration, make: impl Fn(usize) -> W + Sync) -> Throughput
where
    W: FnMut() -> Result<u64, String>,
{
    let barrier = Barrier::new(writers + 1);
    let (start, results) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (make, barrier) = (&make, &barrier);
                s.spawn(move || {
                    let mut commit = make(w);
                    let (mut records, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
                    barrier.wait();
                    let deadline = Instant::now() + budget;
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        match commit() {
                            Ok(n) => {
                                records += n;
                                latencies.push(t.elapsed());
                            }
                            Err(_) => errors += 1,
                        }
                    }
                    (records, errors, latencies)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (start, results)
    });
    let mut out = Throughput {
        records: 0,
        commits: 0,
        errors: 0,
        elapsed: start.elapsed(),
        latencies: Vec::new(),
    };
    for (records, errors, latencies) in results {
        out.records += records;
        out.errors += errors;
        out.commits += latencies.len() as u64;
        out.latencies.extend(latencies);
    }
    out
}

fn print_row(row: &Appender, t: Throughput, floor: Option<f64>) -> f64 {
    let (name, writers, batch) = (row.name, row.writers, row.batch);
    let per_s = t.per_s();
    let commits_s = t.commits as f64 / t.elapsed.as_secs_f64();
    let vs = floor.map_or_else(
        || "floor".to_owned(),
        |f| format!("{:.1} %", 100.0 * per_s / f),
    );
    let (p50, p99, _) = spread(t.latencies);
    println!(
        "| {name} | {writers} | {batch} | {} | {per_s:.0} | {commits_s:.0} | {:.2} | {:.2} | {} | {vs} |",
        t.records,
        p50 / 1e3,
        p99 / 1e3,
        t.errors,
    );
    per_s
}

fn floor_connection(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    let sync: i64 = conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2);
    conn
}

/// One floor commit: `batch` rows of real record bytes in one IMMEDIATE transaction.
fn floor_writer<'a>(
    path: &Path,
    batch: usize,
    samples: &'a [StoredRecord],
    next: &'a AtomicU64,
) -> impl FnMut() -> Result<u64, String> + 'a {
    let mut conn = floor_connection(path);
    move || {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| e.to_string())?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO records (idx, kind, leaf_hash, bytes) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| e.to_string())?;
            for _ in 0..batch {
                let idx = next.fetch_add(1, Ordering::Relaxed);
                let r = &samples[idx as usize % samples.len()];
                insert
                    .execute(params![idx as i64, "decision", &r.leaf_hash[..], &r.bytes])
                    .map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(batch as u64)
    }
}

/// One ledger commit: `batch` decision records through `SqliteStore::append`, taken from a pool
/// of drafts made beforehand (so that making them is not timed).
fn ledger_writer<'a>(
    path: &Path,
    batch: usize,
    pool: &'a [RecordDraft],
    next: &'a AtomicU64,
) -> impl FnMut() -> Result<u64, String> + 'a {
    let mut store = SqliteStore::open(path).unwrap();
    move || {
        let start = next.fetch_add(batch as u64, Ordering::Relaxed) as usize % (pool.len() - batch);
        let sealed = store
            .append(&pool[start..start + batch])
            .map_err(|e| e.to_string())?;
        Ok(sealed.len() as u64)
    }
}

/// Prints the durable-append table: the floor at each batch size, then the ledger's appender.
pub fn run(ledger: &Path, floor_db: &Path, templates: &[Value], size: u64) {
    let samples = SqliteStore::open_read_only(ledger)
        .unwrap()
        .records(size.saturating_sub(1024), 1024)
        .unwrap();
    floor_connection(floor_db)
        .execute_batch(
            "CREATE TABLE records (idx INTEGER PRIMARY KEY, kind TEXT NOT NULL, \
             leaf_hash BLOB NOT NULL, bytes BLOB NOT NULL) STRICT",
        )
        .unwrap();
    let pool: Vec<RecordDraft> = (size..size + DRAFT_POOL)
        .map(|i| decision_draft(templates, i))
        .collect();
    let (floor_next, ledger_next) = (AtomicU64::new(0), AtomicU64::new(0));
    // One group-commit appender per writer count, each with its own handle on the ledger.
    let groups: Vec<(usize, GroupCommit)> = WRITERS
        .iter()
        .map(|&w| {
            let store = SqliteStore::open(ledger).unwrap();
            (
                w,
                GroupCommit::start(Box::new(store), GroupOptions::default()).unwrap(),
            )
        })
        .collect();
    let groups = &groups;
    let (samples, pool, floor_next, ledger_next) = (&samples, &pool, &floor_next, &ledger_next);
    let mut rows: Vec<Appender> = Vec::new();
    for batch in FLOOR_BATCHES {
        rows.push(Appender {
            name: "floor: raw SQLite insert, one transaction per batch",
            writers: 1,
            batch,
            floor: None,
            make: Box::new(move || Box::new(floor_writer(floor_db, batch, samples, floor_next))),
        });
    }
    for writers in WRITERS {
        rows.push(Appender {
            name: "`SqliteStore::append`, one record per call, a handle per writer",
            writers,
            batch: 1,
            floor: Some(writers),
            make: Box::new(move || Box::new(ledger_writer(ledger, 1, pool, ledger_next))),
        });
    }
    for batch in FLOOR_BATCHES.into_iter().skip(1) {
        rows.push(Appender {
            name: "`SqliteStore::append` of a whole batch in one call",
            writers: 1,
            batch,
            floor: Some(batch),
            make: Box::new(move || Box::new(ledger_writer(ledger, batch, pool, ledger_next))),
        });
    }

    for (writers, group) in groups {
        rows.push(Appender {
            name: "`GroupCommit::append`, one record per call, one appender thread",
            writers: *writers,
            batch: 1,
            floor: Some(*writers),
            make: Box::new(move || Box::new(group_writer(group, pool, ledger_next))),
        });
    }

    let mut seen: Vec<Option<Throughput>> = rows.iter().map(|_| None).collect();
    for _ in 0..ROUNDS {
        for (row, total) in rows.iter().zip(&mut seen) {
            let t = measure(row.writers, SLICE, |_| (row.make)());
            *total = Some(match total.take() {
                None => t,
                Some(before) => before.merge(t),
            });
        }
    }

    println!(
        "Each row ran {ROUNDS} slices of {} ms, interleaved with the other rows (2 s in all); a \
         commit returns only once SQLite has synced the WAL (`synchronous=FULL`). \"vs floor\" \
         compares with the floor at as many records per fsync as the row has writers × records \
         per commit.\n",
        SLICE.as_millis()
    );
    println!("| appender | writers | records per commit | records | records/s | commits/s | p50 commit ms | p99 commit ms | errors | vs floor |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut floor = BTreeMap::new();
    for (row, t) in rows.iter().zip(seen) {
        let t = t.unwrap();
        let vs = row.floor.and_then(|b| floor.get(&b).copied());
        let per_s = print_row(row, t, vs);
        if row.floor.is_none() {
            floor.insert(row.batch, per_s);
        }
    }
    println!();
    for (writers, group) in groups {
        let stats = group.stats();
        println!(
            "Group commit with {writers} writers: {} records in {} batches, {:.1} records per \
             batch (one fsync each), {} failed batches.",
            stats.records,
            stats.batches,
            stats.records as f64 / stats.batches.max(1) as f64,
            stats.failed_batches
        );
    }
}

/// One group commit: a single decision record handed to the shared appender, returning once the
/// batch that holds it is durable.
fn group_writer<'a>(
    group: &'a GroupCommit,
    pool: &'a [RecordDraft],
    next: &'a AtomicU64,
) -> impl FnMut() -> Result<u64, String> + 'a {
    move || {
        let i = next.fetch_add(1, Ordering::Relaxed) as usize % pool.len();
        let sealed = group
            .append(AppendRequest::records(vec![pool[i].clone()]))
            .map_err(|e| e.to_string())?;
        Ok(sealed.len() as u64)
    }
}
