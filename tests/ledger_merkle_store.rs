//! The Merkle tree as the SQLite store keeps it: written with every append, identical to the
//! in-memory reference, built once when a version-1 ledger is migrated, checked by
//! verification; and the checkpoint table's storage rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ledger_support;

use ledger_support::*;
use modelgate::ledger::merkle::root;
use modelgate::ledger::{
    verify_consistency, verify_inclusion, Hash, Head, LedgerError, MemoryNodes, RecordDraft,
    RecordKind, SealedRecord, SqliteStore, Store, StoredRecord,
};

fn stored_nodes(path: &std::path::Path) -> Vec<(u32, u64, Hash)> {
    let conn = raw(path);
    let mut stmt = conn
        .prepare("SELECT level, idx, hash FROM tree_nodes ORDER BY level, idx")
        .unwrap();
    stmt.query_map([], |r| {
        let hash: Vec<u8> = r.get(2)?;
        Ok((r.get(0)?, r.get(1)?, hash.try_into().unwrap()))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn reference(sealed: &[SealedRecord]) -> MemoryNodes {
    let mut nodes = MemoryNodes::new();
    for r in sealed {
        nodes.push(r.leaf_hash).unwrap();
    }
    nodes
}

/// A ledger of `n` records appended in batches of 1, 2, 3, … records.
fn batched(n: u64) -> Ledger {
    let mut l = ledger(0);
    let (mut next, mut batch) = (0, 1);
    while next < n {
        let end = (next + batch).min(n);
        l.sealed.extend(l.store.append(&drafts(next..end)).unwrap());
        (next, batch) = (end, batch + 1);
    }
    l
}

#[test]
fn appends_in_batches_store_exactly_the_reference_tree_nodes() {
    let mut l = ledger(0);
    let mut next = 0;
    for batch in [1, 2, 3, 5, 8, 1, 13, 4, 7, 16, 1, 1, 9] {
        l.sealed
            .extend(l.store.append(&drafts(next..next + batch)).unwrap());
        next += batch;
        assert_eq!(
            stored_nodes(&l.path),
            reference(&l.sealed).nodes(),
            "after {next} records"
        );
    }
    let report = verify(&l.store);
    assert!(report.is_intact(), "{:?}", report.failure);
    assert_eq!(report.root, l.store.tree_root(next).unwrap());
}

#[test]
fn roots_and_proofs_survive_reopening_and_verify() {
    let l = batched(41);
    let nodes = reference(&l.sealed);
    let path = l.path.clone();
    drop(l.store);
    let rw = SqliteStore::open(&path).unwrap();
    let ro = SqliteStore::open_read_only(&path).unwrap();
    for store in [&rw, &ro] {
        let roots: Vec<Hash> = (0..=41).map(|n| store.tree_root(n).unwrap()).collect();
        for n in 0..=41u64 {
            assert_eq!(roots[n as usize], root(&nodes, n).unwrap(), "root {n}");
            for i in 0..n {
                let proof = store.inclusion_proof(i, n).unwrap();
                verify_inclusion(
                    &l.sealed[i as usize].leaf_hash,
                    i,
                    n,
                    &proof,
                    &roots[n as usize],
                )
                .unwrap();
            }
            for m in 0..=n {
                let proof = store.consistency_proof(m, n).unwrap();
                verify_consistency(m, n, &roots[m as usize], &roots[n as usize], &proof).unwrap();
            }
        }
        assert!(matches!(
            store.tree_root(42),
            Err(LedgerError::TreeBeyondLedger {
                requested: 42,
                size: 41
            })
        ));
        assert!(matches!(
            store.inclusion_proof(41, 41),
            Err(LedgerError::Tree(_))
        ));
        assert!(matches!(
            store.consistency_proof(3, 50),
            Err(LedgerError::TreeBeyondLedger { .. })
        ));
    }
}

/// Turns a current ledger file into the version-1 layout (migration 1 only).
fn downgrade_to_v1(path: &std::path::Path) {
    raw(path)
        .execute_batch(
            "DROP TABLE probe; DROP TABLE attestation_index; DROP INDEX decisions_by_model; DROP TABLE tree_nodes; \
             DROP TABLE checkpoints; PRAGMA user_version = 1;",
        )
        .unwrap();
}

#[test]
fn migrating_a_version_1_ledger_builds_its_tree_once() {
    let l = batched(37);
    let path = l.path.clone();
    drop(l.store);
    downgrade_to_v1(&path);

    // Read-only handles never migrate; tree reads say what to do.
    let ro = SqliteStore::open_read_only(&path).unwrap();
    assert!(matches!(
        ro.tree_root(5),
        Err(LedgerError::NeedsMigration { found: 1, .. })
    ));
    assert!(matches!(
        ro.latest_checkpoint(),
        Err(LedgerError::NeedsMigration { .. })
    ));
    drop(ro);

    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(stored_nodes(&path), reference(&l.sealed).nodes());
    let version: i64 = raw(&path)
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, modelgate::ledger::sqlite::SCHEMA_VERSION);

    // Appends continue the migrated tree.
    let mut sealed = l.sealed.clone();
    sealed.extend(store.append(&drafts(37..45)).unwrap());
    assert_eq!(stored_nodes(&path), reference(&sealed).nodes());
    assert!(verify(&store).is_intact());
}

#[test]
fn a_broken_version_1_ledger_is_not_migrated() {
    let l = batched(10);
    let path = l.path.clone();
    drop(l.store);
    downgrade_to_v1(&path);
    raw(&path)
        .execute("DELETE FROM records WHERE idx = 4", [])
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("record 4 is missing"), "{err}");
    // The failed migration left the file as it was.
    let version: i64 = raw(&path)
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1);
}

fn set_node(path: &std::path::Path, level: u32, idx: u64, hash: &[u8]) -> usize {
    raw(path)
        .execute(
            "UPDATE tree_nodes SET hash = ?1 WHERE level = ?2 AND idx = ?3",
            rusqlite::params![hash, level, idx as i64],
        )
        .unwrap()
}

#[test]
fn a_tampered_tree_node_is_reported_at_the_first_record_it_covers() {
    let l = batched(40);
    // (level, index) -> first record of the subtree.
    for (level, idx, first) in [
        (0u32, 5u64, 5u64),
        (1, 3, 6),
        (2, 1, 4),
        (3, 2, 16),
        (5, 0, 0),
    ] {
        let original: Vec<u8> = raw(&l.path)
            .query_row(
                "SELECT hash FROM tree_nodes WHERE level = ?1 AND idx = ?2",
                rusqlite::params![level, idx as i64],
                |r| r.get(0),
            )
            .unwrap();
        let mut bad = original.clone();
        bad[31] ^= 1;
        assert_eq!(set_node(&l.path, level, idx, &bad), 1);
        let report = verify(&l.store);
        let failure = report.failure.unwrap();
        assert_eq!(failure.index, first, "{failure}");
        assert!(failure.problem.contains("does not match"), "{failure}");
        set_node(&l.path, level, idx, &original);
        assert!(verify(&l.store).is_intact());
    }
}

#[test]
fn a_missing_tree_node_is_reported_and_proofs_needing_it_fail() {
    let l = batched(20);
    raw(&l.path)
        .execute("DELETE FROM tree_nodes WHERE level = 3 AND idx = 1", [])
        .unwrap();
    let failure = verify(&l.store).failure.unwrap();
    assert_eq!(failure.index, 8);
    assert!(failure.problem.contains("missing"), "{failure}");
    // A proof that needs the node fails with a clear error instead of using a wrong hash.
    assert!(matches!(
        l.store.inclusion_proof(0, 16),
        Err(LedgerError::MissingNode { level: 3, index: 1 })
    ));
    // The root of 20 is node(4, 0) over node(2, 4) and does not need it.
    assert!(l.store.tree_root(20).is_ok());
}

#[test]
fn records_and_tree_rewritten_together_still_disagree_with_the_chain() {
    // Rewriting a record's leaf hash and its level-0 node alike is caught by the chain.
    let l = batched(12);
    let fake = [9u8; 32];
    set_leaf_hash(&raw(&l.path), 3, &fake);
    set_node(&l.path, 0, 3, &fake);
    assert_eq!(first_bad_index(&l.store), 3);
}

#[test]
fn checkpoints_are_stored_once_per_size() {
    let mut l = batched(10);
    let store = &mut l.store;
    assert_eq!(store.latest_checkpoint().unwrap(), None);
    assert!(matches!(
        store.put_checkpoint(0, "x"),
        Err(LedgerError::EmptyCheckpoint)
    ));
    assert!(matches!(
        store.put_checkpoint(11, "x"),
        Err(LedgerError::TreeBeyondLedger {
            requested: 11,
            size: 10
        })
    ));
    store.put_checkpoint(7, "note 7\n").unwrap();
    store.put_checkpoint(3, "note 3\n").unwrap();
    store.put_checkpoint(7, "note 7\n").unwrap();
    assert!(matches!(
        store.put_checkpoint(7, "another note 7\n"),
        Err(LedgerError::CheckpointConflict(7))
    ));
    assert_eq!(store.checkpoint(7).unwrap().as_deref(), Some("note 7\n"));
    assert_eq!(store.checkpoint(5).unwrap(), None);
    assert_eq!(
        store.latest_checkpoint().unwrap(),
        Some((7, "note 7\n".to_owned()))
    );
    let path = l.path.clone();
    drop(l.store);
    let mut ro = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(
        ro.checkpoints().unwrap(),
        vec![(3, "note 3\n".to_owned()), (7, "note 7\n".to_owned())]
    );
    assert!(matches!(
        ro.put_checkpoint(9, "x"),
        Err(LedgerError::ReadOnly)
    ));
}

/// Forwards records to a SQLite store but keeps the trait's default tree methods, which derive
/// nodes from the stored leaf hashes.
struct LeavesOnly(SqliteStore);

impl Store for LeavesOnly {
    fn append(&mut self, d: &[RecordDraft]) -> Result<Vec<SealedRecord>, LedgerError> {
        self.0.append(d)
    }
    fn size(&self) -> Result<u64, LedgerError> {
        self.0.size()
    }
    fn record(&self, index: u64) -> Result<Option<StoredRecord>, LedgerError> {
        self.0.record(index)
    }
    fn records(&self, from: u64, limit: u64) -> Result<Vec<StoredRecord>, LedgerError> {
        self.0.records(from, limit)
    }
    fn records_of_kind(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, LedgerError> {
        self.0.records_of_kind(kind)
    }
    fn head(&self) -> Result<Option<Head>, LedgerError> {
        self.0.head()
    }
    fn put_attestation(&mut self, digest: &str, bytes: &[u8]) -> Result<(), LedgerError> {
        self.0.put_attestation(digest, bytes)
    }
    fn attestation(&self, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        self.0.attestation(digest)
    }
}

#[test]
fn default_tree_methods_agree_with_the_stored_tree() {
    let l = batched(19);
    let derived = LeavesOnly(SqliteStore::open_read_only(&l.path).unwrap());
    for n in 0..=19 {
        assert_eq!(derived.tree_root(n).unwrap(), l.store.tree_root(n).unwrap());
        for i in 0..n {
            assert_eq!(
                derived.inclusion_proof(i, n).unwrap(),
                l.store.inclusion_proof(i, n).unwrap()
            );
        }
        for m in 0..=n {
            assert_eq!(
                derived.consistency_proof(m, n).unwrap(),
                l.store.consistency_proof(m, n).unwrap()
            );
        }
    }
    assert!(verify(&derived).is_intact());
    let mut derived = derived;
    assert!(matches!(
        derived.put_checkpoint(3, "x"),
        Err(LedgerError::Unsupported(_))
    ));
}

/// Schema 3 adds the index of decisions by model: a read-only handle on a version-2 file answers
/// by scanning, opening it for writing builds the index, and both give the same records.
#[test]
fn migrating_a_version_2_ledger_adds_the_decision_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let decision = |model: &str, seq: u64| modelgate::ledger::RecordDraft {
        kind: modelgate::ledger::RecordKind::Decision,
        body: serde_json::json!({"request": {"model": model, "version": "1"}, "seq": seq}),
        ..draft(seq)
    };
    store
        .append(&[
            decision("a", 0),
            draft(1),
            decision("b", 2),
            decision("a", 3),
        ])
        .unwrap();
    drop(store);
    raw(&path)
        .execute_batch(
            "DROP TABLE probe; DROP TABLE attestation_index; DROP INDEX decisions_by_model; \
             PRAGMA user_version = 2;",
        )
        .unwrap();
    let indices = |s: &SqliteStore, m: &str| -> Vec<u64> {
        s.decisions_for_model(m)
            .unwrap()
            .iter()
            .map(|r| r.index)
            .collect()
    };
    let ro = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(indices(&ro, "a"), [0, 3]);
    drop(ro);
    let store = SqliteStore::open(&path).unwrap();
    let has_index: i64 = raw(&path)
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'decisions_by_model'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(has_index, 1);
    assert_eq!(indices(&store, "a"), [0, 3]);
    assert_eq!(indices(&store, "b"), [2]);
    assert!(indices(&store, "c").is_empty());
    assert!(verify(&store).is_intact());
}
