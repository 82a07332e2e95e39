//! What only the PostgreSQL store has to show (the shared contract is in
//! tests/ledger_backends.rs): several replicas appending to one ledger at once, directly and
//! through one group commit each; the append-only triggers, and the head row (the one row that
//! moves) moved back refusing appends; tampering behind disabled triggers found by verification
//! at the tampered index; schema version checks; a connection killed by the server (a plain
//! handle, a reader and a group commit); a connection cut while `COMMIT` is in flight, after
//! the server had it and before (a proxy in between); the checkpoint signer lock; and a server
//! without `fsync` refused (on a second throwaway server of its own, in a child process,
//! because `fsync` is server-wide).
//!
//! Every test takes a fresh database of the throwaway server (`tests/pg_support`) and returns
//! early, after the harness's skip line, when PostgreSQL is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ledger_support;
mod pg_support;

use std::collections::BTreeSet;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use ledger_support::{draft, drafts};
use modelgate::digest::sha256_prefixed;
use modelgate::ledger::merkle::root;
use modelgate::ledger::postgres::SCHEMA_VERSION;
use modelgate::ledger::{
    parse_record, verify_store, AppendRequest, GroupCommit, GroupOptions, LedgerError, MemoryNodes,
    PgStore, RecordDraft, RecordKind, SealedRecord, Store,
};
use serde_json::json;

/// Set in the child process of `a_server_without_fsync_is_refused`.
const FSYNC_CHILD_VAR: &str = "PG_LEDGER_FSYNC_CHILD";

fn fresh() -> Option<String> {
    Some(pg_support::server()?.fresh_database())
}

fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

fn database_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// A record body naming who appended it, so that each can be found exactly once afterwards.
fn tagged(writer: u64, batch: u64, n: u64) -> RecordDraft {
    RecordDraft {
        kind: RecordKind::Observation,
        body: json!({"writer": writer, "batch": batch, "n": n}),
        ..draft(writer * 1000 + batch * 10 + n)
    }
}

fn tag_of(bytes: &[u8]) -> (u64, u64, u64) {
    let body = parse_record(bytes).unwrap().body;
    let field = |name: &str| body[name].as_u64().unwrap();
    (field("writer"), field("batch"), field("n"))
}

/// The ledger holds exactly `acked`, at indices 0..len without a gap, each tag once, and
/// verifies; the root read through a new writable handle and through a read-only one is the
/// reference root of the acknowledged leaves.
fn assert_one_linear_ledger(url: &str, mut acked: Vec<SealedRecord>, tags: usize) {
    acked.sort_by_key(|r| r.index);
    let n = acked.len() as u64;
    assert_eq!(
        acked.iter().map(|r| r.index).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>(),
        "acknowledged indices are 0..{n} without a gap or a repeat"
    );
    let writer = PgStore::open(url).unwrap();
    let reader = PgStore::open_read_only(url).unwrap();
    let stored = reader.records(0, u64::MAX).unwrap();
    assert_eq!(stored.len() as u64, n);
    let mut seen = BTreeSet::new();
    for (stored, acked) in stored.iter().zip(&acked) {
        assert_eq!(stored.index, acked.index);
        assert_eq!(stored.bytes, acked.bytes);
        assert_eq!(stored.leaf_hash, acked.leaf_hash);
        assert!(
            seen.insert(tag_of(&stored.bytes)),
            "record {} twice",
            stored.index
        );
    }
    assert_eq!(seen.len(), tags);
    let report = verify_store(&reader).unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    assert_eq!(report.size, n);
    let mut reference = MemoryNodes::new();
    for r in &acked {
        reference.push(r.leaf_hash).unwrap();
    }
    let expected = root(&reference, n).unwrap();
    assert_eq!(writer.tree_root(n).unwrap(), expected);
    assert_eq!(reader.tree_root(n).unwrap(), expected);
    assert_eq!(report.root, expected);
}

/// Four replicas (one handle each) open a fresh database together and append 50 batches of two
/// requests (three records) at once: the head row lock serialises them into one gap-free ledger
/// holding every record once.
#[test]
fn four_replicas_appending_at_once_build_one_linear_ledger() {
    const WRITERS: u64 = 4;
    const BATCHES: u64 = 50;
    let Some(url) = fresh() else { return };
    let started = Instant::now();
    let acked = Mutex::new(Vec::new());
    // The replicas also start together on the empty database: the schema is created once.
    let ready = Barrier::new(WRITERS as usize);
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (url, acked, ready) = (&url, &acked, &ready);
            s.spawn(move || {
                ready.wait();
                let mut store = PgStore::open(url).unwrap();
                for b in 0..BATCHES {
                    let outcomes = store
                        .append_batch(&[
                            AppendRequest::records(vec![tagged(w, b, 0)]),
                            AppendRequest::records(vec![tagged(w, b, 1), tagged(w, b, 2)]),
                        ])
                        .unwrap();
                    let sealed: Vec<SealedRecord> =
                        outcomes.into_iter().flat_map(|o| o.unwrap()).collect();
                    // One transaction: the batch's records are consecutive.
                    let first = sealed[0].index;
                    let at: Vec<u64> = sealed.iter().map(|r| r.index).collect();
                    assert_eq!(at, [first, first + 1, first + 2]);
                    acked.lock().unwrap().extend(sealed);
                }
            });
        }
    });
    println!(
        "pg_ledger: {WRITERS} replicas × {BATCHES} batches in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let versions: i64 = client(&url)
        .query_one("SELECT count(*) FROM modelgate_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        versions,
        i64::from(SCHEMA_VERSION),
        "each migration applied once"
    );
    let acked = acked.into_inner().unwrap();
    assert_eq!(acked.len() as u64, WRITERS * BATCHES * 3);
    assert_one_linear_ledger(&url, acked, (WRITERS * BATCHES * 3) as usize);
}

/// Two replicas, each with its own group commit on its own handle, fed by four threads each:
/// every caller gets its own acknowledged record, and the two appenders' batches interleave
/// into one linear ledger.
#[test]
fn two_group_commits_on_two_replicas_share_one_ledger() {
    const THREADS_PER_REPLICA: u64 = 4;
    const APPENDS: u64 = 25;
    let Some(url) = fresh() else { return };
    let groups: Vec<GroupCommit> = (0..2)
        .map(|_| {
            let store: Box<dyn Store> = Box::new(PgStore::open(&url).unwrap());
            GroupCommit::start(store, GroupOptions::default()).unwrap()
        })
        .collect();
    let started = Instant::now();
    let acked = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..THREADS_PER_REPLICA * 2 {
            let (group, acked) = (&groups[(t % 2) as usize], &acked);
            s.spawn(move || {
                for i in 0..APPENDS {
                    let sealed = group
                        .append(AppendRequest::records(vec![tagged(t, i, 0)]))
                        .unwrap();
                    assert_eq!(sealed.len(), 1);
                    acked.lock().unwrap().extend(sealed);
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let mut batches = 0;
    for group in groups {
        let stats = group.stats();
        assert_eq!(stats.requests, THREADS_PER_REPLICA * APPENDS);
        assert_eq!(stats.records, THREADS_PER_REPLICA * APPENDS);
        assert_eq!(stats.failed_batches, 0);
        batches += stats.batches;
        group.shutdown().unwrap();
    }
    println!(
        "pg_ledger: 2 group commits, {} appends in {batches} batches, {:.2} s",
        THREADS_PER_REPLICA * 2 * APPENDS,
        elapsed.as_secs_f64()
    );
    let acked = acked.into_inner().unwrap();
    let total = (THREADS_PER_REPLICA * 2 * APPENDS) as usize;
    assert_eq!(acked.len(), total);
    assert_one_linear_ledger(&url, acked, total);
}

/// A ledger with a record of each history table filled, for the trigger and tamper tests.
fn filled(url: &str, records: u64) -> PgStore {
    let mut store = PgStore::open(url).unwrap();
    store.append(&drafts(0..records)).unwrap();
    let env = b"envelope".to_vec();
    store
        .file_attestation("m", "1", &sha256_prefixed(&env), &env)
        .unwrap();
    store.put_checkpoint(records, "note\n").unwrap();
    store
}

/// Even the superuser cannot rewrite or remove history through SQL while the triggers are on:
/// `UPDATE`, `DELETE` and `TRUNCATE` on every history table are refused, and the ledger is as it
/// was.
#[test]
fn the_triggers_refuse_to_rewrite_history_even_for_the_superuser() {
    let Some(url) = fresh() else { return };
    let store = filled(&url, 5);
    let before = (
        store.records(0, 10).unwrap(),
        store.attestation_filings().unwrap(),
        store.checkpoints().unwrap(),
        store.tree_root(5).unwrap(),
    );
    let mut admin = client(&url);
    for sql in [
        "UPDATE records SET bytes = bytes WHERE idx = 0",
        "UPDATE records SET kind = 'freeze'",
        "DELETE FROM records WHERE idx = 4",
        "DELETE FROM records",
        "TRUNCATE records",
        "UPDATE tree_nodes SET hash = hash",
        "DELETE FROM tree_nodes WHERE level = 0",
        "TRUNCATE tree_nodes",
        "UPDATE checkpoints SET note = 'forged'",
        "DELETE FROM checkpoints",
        "TRUNCATE checkpoints",
        "UPDATE attestations SET bytes = 'x'",
        "DELETE FROM attestation_index",
        "TRUNCATE attestations, attestation_index",
        "DELETE FROM head",
        "TRUNCATE head",
    ] {
        let err = admin.batch_execute(sql).unwrap_err();
        let db = err.as_db_error().unwrap_or_else(|| panic!("{sql}: {err}"));
        assert_eq!(
            db.code(),
            &postgres::error::SqlState::INSUFFICIENT_PRIVILEGE,
            "{sql}"
        );
        assert!(
            db.message().contains("append-only"),
            "{sql}: {}",
            db.message()
        );
    }
    let after = (
        store.records(0, 10).unwrap(),
        store.attestation_filings().unwrap(),
        store.checkpoints().unwrap(),
        store.tree_root(5).unwrap(),
    );
    assert_eq!(before, after);
    assert!(verify_store(&store).unwrap().is_intact());
}

/// The head row is the one row that moves. Moved back behind the store's back, it contradicts
/// the records: the next append is refused instead of forking the chain at the old index.
#[test]
fn a_head_moved_behind_the_stores_back_stops_appends() {
    let Some(url) = fresh() else { return };
    let mut store = filled(&url, 5);
    client(&url)
        .batch_execute("UPDATE head SET size = 3")
        .unwrap();
    let err = store.append(&[draft(5)]).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Inconsistent(m) if m.contains("head says 3 records")),
        "{err}"
    );
    assert_eq!(store.records(0, 10).unwrap().len(), 5);
}

/// With the triggers disabled by the superuser, one flipped byte in one record's stored bytes is
/// reported by verification at exactly that index.
#[test]
fn tampering_behind_disabled_triggers_is_found_at_the_tampered_index() {
    const TAMPERED: i64 = 7;
    let Some(url) = fresh() else { return };
    let store = filled(&url, 20);
    assert!(verify_store(&store).unwrap().is_intact());
    let mut admin = client(&url);
    admin
        .batch_execute("ALTER TABLE records DISABLE TRIGGER USER")
        .unwrap();
    let original: Vec<u8> = admin
        .query_one("SELECT bytes FROM records WHERE idx = $1", &[&TAMPERED])
        .unwrap()
        .get(0);
    // "prod" becomes "qrod": still a well-formed record, so only the hashes can tell.
    let at = original.windows(6).position(|w| w == b"\"prod\"").unwrap() + 1;
    let at_sql = i32::try_from(at).unwrap();
    let changed = admin
        .execute(
            "UPDATE records SET bytes = set_byte(bytes, $2, get_byte(bytes, $2) # 1) \
             WHERE idx = $1",
            &[&TAMPERED, &at_sql],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let stored = store.record(TAMPERED as u64).unwrap().unwrap().bytes;
    let differing: Vec<usize> = (0..original.len())
        .filter(|&i| original[i] != stored[i])
        .collect();
    assert_eq!(differing, [at], "exactly one byte flipped");
    assert!(
        parse_record(&stored).is_ok(),
        "the tampered record still parses"
    );

    for handle in [
        PgStore::open(&url).unwrap(),
        PgStore::open_read_only(&url).unwrap(),
    ] {
        let report = verify_store(&handle).unwrap();
        let failure = report
            .failure
            .expect("verification must find the flipped byte");
        println!("pg_ledger: verification reports {failure}");
        assert_eq!(failure.index, TAMPERED as u64, "{failure}");
    }
}

/// The schema version table: an empty database is no ledger to a reader; open creates the
/// schema; a version from a newer modelgate is refused by both kinds of handle.
#[test]
fn schema_versions_are_checked_at_open() {
    let Some(url) = fresh() else { return };
    let target = database_name(&url).to_owned();
    match PgStore::open_read_only(&url) {
        Err(LedgerError::NotALedger(what)) => assert!(what.ends_with(&target), "{what}"),
        other => panic!("expected NotALedger, got {other:?}"),
    }
    let store = PgStore::open(&url).unwrap();
    assert_eq!(store.size().unwrap(), 0);
    drop(store);
    // Opening again applies nothing twice.
    let again = PgStore::open(&url).unwrap();
    assert_eq!(PgStore::open_read_only(&url).unwrap().size().unwrap(), 0);
    drop(again);
    let versions: Vec<i32> = client(&url)
        .query("SELECT version FROM modelgate_schema ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());

    // A replica already running when a newer modelgate migrates stops appending: the version is
    // read again under the head lock.
    let mut running = PgStore::open(&url).unwrap();
    running.append(&drafts(0..1)).unwrap();
    client(&url)
        .batch_execute("INSERT INTO modelgate_schema (version) VALUES (99)")
        .unwrap();
    let refused = running.append(&drafts(1..2));
    assert!(
        matches!(refused, Err(LedgerError::SchemaTooNew { found: 99, .. })),
        "{refused:?}"
    );
    assert_eq!(
        running.size().unwrap(),
        1,
        "nothing appended under the newer schema"
    );
    let supported = i64::from(SCHEMA_VERSION);
    for result in [PgStore::open(&url), PgStore::open_read_only(&url)] {
        assert!(
            matches!(result, Err(LedgerError::SchemaTooNew { found: 99, supported: s }) if s == supported),
            "{result:?}"
        );
    }
}

/// Terminates every session of `url`'s database that the store opened (application name
/// `modelgate`) and waits until the server has ended them; returns how many there were.
fn kill_store_sessions(url: &str) -> i64 {
    let pg = pg_support::server().unwrap();
    let mut admin = pg.admin();
    let db = database_name(url);
    let killed: i64 = admin
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'modelgate' AND datname = $1",
            &[&db],
        )
        .unwrap()
        .get(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = 'modelgate' AND datname = $1",
                &[&db],
            )
            .unwrap()
            .get(0);
        if left == 0 {
            return killed;
        }
        assert!(
            Instant::now() < deadline,
            "{left} sessions still there after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What we observe when the server ends a handle's session between two calls: the next call
/// fails once with a storage error (the client learns of the closed connection only by using
/// it, so that call cannot be retried inside the store: the gate fails closed), and the call
/// after it reconnects and works. The failed append wrote nothing, so appending the same draft
/// again stores it exactly once. Readers behave the same.
#[test]
fn a_killed_connection_fails_one_call_and_the_next_reconnects() {
    let Some(url) = fresh() else { return };
    let mut store = PgStore::open(&url).unwrap();
    let reader = PgStore::open_read_only(&url).unwrap();
    store.append(&drafts(0..5)).unwrap();
    assert_eq!(reader.size().unwrap(), 5);

    assert_eq!(kill_store_sessions(&url), 2);
    let mut failures = Vec::new();
    let mut sealed = None;
    for _ in 0..3 {
        match store.append(&[draft(5)]) {
            Ok(s) => {
                sealed = Some(s);
                break;
            }
            Err(e) => failures.push(e),
        }
    }
    let sealed = sealed.unwrap_or_else(|| panic!("no append succeeded: {failures:?}"));
    println!(
        "pg_ledger: after the kill, {} append call(s) failed first: {:?}",
        failures.len(),
        failures.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    assert!(failures.len() <= 1, "{failures:?}");
    for e in &failures {
        assert!(matches!(e, LedgerError::Storage { .. }), "{e}");
    }
    assert_eq!(sealed[0].index, 5);

    let mut read_failures = 0;
    let size = loop {
        match reader.size() {
            Ok(size) => break size,
            Err(e) => {
                assert!(matches!(e, LedgerError::Storage { .. }), "{e}");
                read_failures += 1;
                assert!(read_failures <= 1, "{e}");
            }
        }
    };
    println!("pg_ledger: the reader failed {read_failures} call(s) before reconnecting");
    assert_eq!(size, 6);
    // No record lost, none twice.
    let seqs: Vec<u64> = reader
        .records(0, 100)
        .unwrap()
        .iter()
        .map(|r| {
            parse_record(&r.bytes).unwrap().body["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4, 5]);
    assert!(verify_store(&reader).unwrap().is_intact());

    // Killed again while idle, the handle still serves the next calls after at most one failure.
    kill_store_sessions(&url);
    let mut tries = 0;
    while store.append(&[draft(6)]).is_err() {
        tries += 1;
        assert!(tries <= 1);
    }
    assert_eq!(store.size().unwrap(), 7);
}

/// The same under group commit: the batch that meets the dead session fails as a whole (its
/// callers are told, nothing of it is stored), the appender remembers the failure, and the next
/// batch reconnects, commits and clears it.
#[test]
fn a_group_commit_whose_session_is_killed_fails_one_batch_and_recovers() {
    let Some(url) = fresh() else { return };
    let store: Box<dyn Store> = Box::new(PgStore::open(&url).unwrap());
    let group = GroupCommit::start(store, GroupOptions::default()).unwrap();
    group.append(AppendRequest::records(drafts(0..2))).unwrap();
    assert_eq!(kill_store_sessions(&url), 1);
    let mut failed = 0;
    let sealed = loop {
        match group.append(AppendRequest::records(vec![draft(2)])) {
            Ok(sealed) => break sealed,
            Err(e) => {
                assert!(matches!(e, LedgerError::BatchFailed(_)), "{e}");
                assert!(group.last_failure().is_some());
                failed += 1;
                assert!(failed <= 1, "{e}");
            }
        }
    };
    println!("pg_ledger: the group commit failed {failed} batch(es) after the kill");
    assert_eq!(sealed[0].index, 2);
    assert!(group.last_failure().is_none());
    let stats = group.stats();
    assert_eq!(stats.failed_batches, failed);
    let store = group.shutdown().unwrap();
    assert_eq!(store.size().unwrap(), 3);
    assert!(verify_store(store.as_ref()).unwrap().is_intact());
}

/// `fsync` is server-wide, and the harness's server has it on its command line (which
/// `ALTER SYSTEM` cannot override): this test runs its body in a child process that starts a
/// server of its own with `fsync=off` (`pg_support::SETTINGS_VAR`), so that no other test ever
/// shares a server without `fsync`.
#[test]
fn a_server_without_fsync_is_refused() {
    if std::env::var_os(FSYNC_CHILD_VAR).is_some() {
        return;
    }
    let Some(pg) = pg_support::server() else {
        return;
    };
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "fsync_child_opens_a_ledger_on_a_server_without_fsync",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FSYNC_CHILD_VAR, "1")
        .env(pg_support::SETTINGS_VAR, "fsync=off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("fsync child: refused"), "{stdout}");
    let fsync: String = pg.admin().query_one("SHOW fsync", &[]).unwrap().get(0);
    assert_eq!(fsync, "on", "the shared server is untouched");
}

/// The body of `a_server_without_fsync_is_refused` (does nothing unless run as its child).
#[test]
fn fsync_child_opens_a_ledger_on_a_server_without_fsync() {
    if std::env::var_os(FSYNC_CHILD_VAR).is_none() {
        return;
    }
    let pg = pg_support::server().unwrap();
    let fsync: String = pg.admin().query_one("SHOW fsync", &[]).unwrap().get(0);
    assert_eq!(fsync, "off");
    let url = pg.fresh_database();
    match PgStore::open(&url) {
        Err(LedgerError::NotDurable(why)) => assert!(why.contains("fsync = off"), "{why}"),
        other => panic!("expected NotDurable, got {other:?}"),
    }
    println!("fsync child: refused");
}

/// One checkpoint signer at a time: while one replica holds the signer lock, another's blocking
/// `audit checkpoint` path would wait, and its automatic checkpoint (run on its appender
/// thread) skips instead of stalling the replica's appends; once the lock is free it signs.
#[test]
fn an_automatic_checkpoint_skips_while_another_replica_signs() {
    let Some(url) = fresh() else {
        return;
    };
    let mut signing = filled(&url, 10);
    let mut other = PgStore::open(&url).unwrap();
    other.append(&drafts(10..20)).unwrap();
    signing.lock_checkpoints().unwrap();
    assert!(!other.try_lock_checkpoints().unwrap(), "the lock is held");
    let auto = modelgate::engine::audit::AutoCheckpoint {
        signer: modelgate::attest::NoteSigner::new(
            "modelgate.test/ledger",
            modelgate::attest::PrivateKey::from_seed(&[7; 32]),
        )
        .unwrap(),
        origin: "modelgate.test/ledger".into(),
        every_records: 5,
        every_seconds: 0,
    };
    let now = modelgate::clock::parse_rfc3339("2026-12-06T12:00:00Z").unwrap();
    let skipped = auto.maybe_checkpoint(&mut other, now).unwrap();
    assert!(skipped.is_none(), "skipped while another replica signs");
    assert_eq!(other.latest_checkpoint().unwrap().unwrap().0, 10);
    signing.unlock_checkpoints().unwrap();
    let made = auto.maybe_checkpoint(&mut other, now).unwrap().unwrap();
    assert_eq!(made.size, 20);
    assert!(
        signing.try_lock_checkpoints().unwrap(),
        "released after signing"
    );
    signing.unlock_checkpoints().unwrap();
}

/// The checkpoint signer lock is a session lock: when the session dies, the lock goes with it,
/// and the handle says so on reconnecting instead of signing on as if it still held it; another
/// replica can then take it.
#[test]
fn a_signer_lock_lost_with_the_connection_is_reported() {
    let Some(url) = fresh() else { return };
    let mut holder = filled(&url, 3);
    let mut other = PgStore::open(&url).unwrap();
    holder.lock_checkpoints().unwrap();
    assert!(!other.try_lock_checkpoints().unwrap());
    // Only the holder's session: the other handle keeps its own.
    let pg = pg_support::server().unwrap();
    let holder_pid: i32 = client(&url)
        .query_one(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .unwrap()
        .get(0);
    pg.admin()
        .execute("SELECT pg_terminate_backend($1)", &[&holder_pid])
        .unwrap();
    let mut reported = None;
    for _ in 0..3 {
        match holder.size() {
            Err(e) if e.to_string().contains("signer lock was lost") => {
                reported = Some(e);
                break;
            }
            Err(_) => continue,
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    assert!(reported.is_some(), "the lost lock was not reported");
    assert_eq!(holder.size().unwrap(), 3, "the handle works again");
    holder.unlock_checkpoints().unwrap();
    assert!(
        other.try_lock_checkpoints().unwrap(),
        "the lock went with the session"
    );
    other.unlock_checkpoints().unwrap();
}

/// What a proxy between the store and the server does with the next `COMMIT` it sees.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AtCommit {
    /// Pass everything through.
    Forward,
    /// Pass the `COMMIT` to the server, then cut both connections before its answer comes back.
    DeliverThenCut,
    /// Cut both connections instead of passing the `COMMIT` on.
    CutBefore,
}

/// A loopback TCP proxy to the test server that can cut a session around its next `COMMIT`
/// (a simple-query message, as tokio-postgres sends it); returns its port and the switch.
fn commit_cutting_proxy(server_port: u16) -> (u16, std::sync::Arc<Mutex<AtCommit>>) {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    const COMMIT: &[u8] = b"Q\0\0\0\x0bCOMMIT\0";
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mode = std::sync::Arc::new(Mutex::new(AtCommit::Forward));
    let switch = std::sync::Arc::clone(&mode);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", server_port)) else {
                return;
            };
            let (mut client_r, mut upstream_w) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            // Set before a COMMIT goes on: from then on nothing the server says reaches the
            // client, so its answer to the COMMIT is lost with the connection.
            let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let cut_answers = std::sync::Arc::clone(&cut);
            // Server to client.
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = upstream.read(&mut buf) {
                    if n == 0 || cut_answers.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    if client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
            });
            let mode = std::sync::Arc::clone(&mode);
            // Client to server, watching for COMMIT.
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = client_r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let chunk = &buf[..n];
                    let commit = chunk.windows(COMMIT.len()).any(|w| w == COMMIT);
                    let armed = *mode.lock().unwrap();
                    if commit && armed != AtCommit::Forward {
                        *mode.lock().unwrap() = AtCommit::Forward;
                        cut.store(true, std::sync::atomic::Ordering::SeqCst);
                        if armed == AtCommit::DeliverThenCut {
                            upstream_w.write_all(chunk).unwrap();
                            upstream_w.flush().unwrap();
                            // Let the server read and execute the whole message before the cut.
                            std::thread::sleep(Duration::from_millis(300));
                        }
                        let _ = upstream_w.shutdown(Shutdown::Both);
                        let _ = client_r.shutdown(Shutdown::Both);
                        break;
                    }
                    if upstream_w.write_all(chunk).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, switch)
}

/// The connection breaks while `COMMIT` is in flight. If the server had the `COMMIT`, the batch
/// is durable and the store, looking for the batch's last record on a new session, answers it
/// as committed (not as failed, which would invite a retry and a second record); if the server
/// never had it, nothing of the batch is stored and the answer is an error.
#[test]
fn a_commit_cut_off_in_flight_is_settled_by_looking_for_the_batch() {
    let Some(url) = fresh() else { return };
    let pg = pg_support::server().unwrap();
    let (port, switch) = commit_cutting_proxy(pg.port());
    let proxied = url.replace(&format!(":{}/", pg.port()), &format!(":{port}/"));
    let mut store = PgStore::open(&proxied).unwrap();
    store.append(&drafts(0..2)).unwrap();

    *switch.lock().unwrap() = AtCommit::DeliverThenCut;
    let landed = store.append(&drafts(2..5));
    let sealed = landed.expect("a COMMIT the server received is answered as committed");
    assert_eq!(
        sealed.iter().map(|r| r.index).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    let direct = PgStore::open_read_only(&url).unwrap();
    assert_eq!(direct.size().unwrap(), 5);
    assert_eq!(
        direct.record(4).unwrap().unwrap().leaf_hash,
        sealed[2].leaf_hash
    );

    *switch.lock().unwrap() = AtCommit::CutBefore;
    let lost = store.append(&drafts(5..7));
    assert!(lost.is_err(), "{lost:?}");
    assert_eq!(
        direct.size().unwrap(),
        5,
        "nothing of the cut batch is stored"
    );
    // The handle reconnects and goes on; the ledger is one chain.
    store.append(&drafts(5..6)).unwrap();
    assert_eq!(direct.size().unwrap(), 6);
    assert!(verify_store(&direct).unwrap().is_intact());
}
