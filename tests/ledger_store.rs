//! The SQLite store: sealing, chaining, durability across reopen, atomic batches, attestations,
//! schema versioning and concurrent handles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ledger_support;

use ledger_support::*;
use modelgate::ledger::{
    leaf_hash, parse_record, seal, LedgerError, RecordDraft, RecordKind, SqliteStore, Store,
    GENESIS_PREV, MAX_RECORD_BYTES,
};
use serde_json::json;

/// Known answer: the RFC 6962 hash of an empty leaf, SHA-256(0x00).
#[test]
fn leaf_hash_of_empty_input_is_the_rfc6962_known_answer() {
    assert_eq!(
        hex::encode(leaf_hash(b"")),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
}

/// The sealed leaf hash is SHA-256 over 0x00 followed by exactly the canonical bytes.
#[test]
fn sealed_leaf_hash_matches_an_independent_computation() {
    let sealed = seal(&draft(7), 0, &GENESIS_PREV).unwrap();
    let expected = format!(
        r#"{{"body":{{"allow":true,"environment":"prod","model":"fraud-scorer","seq":7}},"index":0,"kind":"observation","prev":"{}","time":"2026-11-27T10:00:07Z","v":1}}"#,
        "0".repeat(64)
    );
    assert_eq!(String::from_utf8(sealed.bytes.clone()).unwrap(), expected);
    assert_eq!(sealed.leaf_hash, independent_leaf_hash(expected.as_bytes()));
}

#[test]
fn seal_refuses_a_record_over_the_entry_limit() {
    let mut big = draft(0);
    big.body = json!({ "blob": "x".repeat(MAX_RECORD_BYTES) });
    match seal(&big, 0, &GENESIS_PREV) {
        Err(LedgerError::RecordTooLarge {
            index: 0,
            size,
            limit,
        }) => {
            assert!(size > limit);
            assert_eq!(limit, MAX_RECORD_BYTES);
        }
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
}

/// A batch gets consecutive indices and each prev is the leaf hash of the record before.
#[test]
fn batch_append_assigns_consecutive_indices_and_chains_prev() {
    let mut l = ledger(2);
    let sealed = l.store.append(&drafts(2..7)).unwrap();
    assert_eq!(
        sealed.iter().map(|s| s.index).collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6]
    );
    let all = l.store.records(0, 100).unwrap();
    assert_eq!(all.len(), 7);
    let mut prev = GENESIS_PREV;
    for (i, stored) in all.iter().enumerate() {
        let record = parse_record(&stored.bytes).unwrap();
        assert_eq!(stored.index, i as u64);
        assert_eq!(record.index, i as u64);
        assert_eq!(record.prev, hex::encode(prev));
        assert_eq!(stored.leaf_hash, independent_leaf_hash(&stored.bytes));
        prev = stored.leaf_hash;
    }
    let head = l.store.head().unwrap().unwrap();
    assert_eq!((head.size, head.leaf_hash), (7, prev));
    assert_eq!(l.store.size().unwrap(), 7);
}

/// What append returned is exactly what a reopened file gives back.
#[test]
fn appended_records_survive_reopening_the_file() {
    let l = ledger(4);
    let path = l.path.clone();
    let expected = l.sealed.clone();
    drop(l.store);
    let mut store = SqliteStore::open(&path).unwrap();
    for sealed in &expected {
        let stored = store.record(sealed.index).unwrap().unwrap();
        assert_eq!(stored.bytes, sealed.bytes);
        assert_eq!(stored.leaf_hash, sealed.leaf_hash);
    }
    assert_eq!(store.record(4).unwrap(), None);
    // Appending after reopen continues the chain.
    let next = store.append(&[draft(4)]).unwrap();
    let record = parse_record(&next[0].bytes).unwrap();
    assert_eq!(record.index, 4);
    assert_eq!(record.prev, hex::encode(expected[3].leaf_hash));
    assert!(verify(&store).is_intact());
}

#[test]
fn empty_append_is_a_no_op() {
    let mut l = ledger(0);
    assert!(l.store.append(&[]).unwrap().is_empty());
    assert_eq!(l.store.size().unwrap(), 0);
    assert_eq!(l.store.head().unwrap(), None);
    let report = verify(&l.store);
    assert!(report.is_intact());
    assert_eq!((report.size, report.head), (0, None));
}

/// A batch whose third record is too large rolls back the two inserted before it.
#[test]
fn failed_batch_leaves_the_ledger_unchanged() {
    let mut l = ledger(3);
    let head_before = l.store.head().unwrap();
    let mut batch = drafts(3..5);
    let mut big = draft(5);
    big.body = json!({ "blob": "x".repeat(MAX_RECORD_BYTES) });
    batch.push(big);
    let err = l.store.append(&batch).unwrap_err();
    assert!(
        matches!(err, LedgerError::RecordTooLarge { index: 5, .. }),
        "{err}"
    );
    assert_eq!(l.store.head().unwrap(), head_before);
    assert_eq!(l.store.records(0, 100).unwrap().len(), 3);
    assert_eq!(l.store.record(3).unwrap(), None);
    // The next append reuses index 3.
    let sealed = l.store.append(&[draft(3)]).unwrap();
    assert_eq!(sealed[0].index, 3);
    assert!(verify(&l.store).is_intact());
}

#[test]
fn records_of_kind_returns_only_that_kind_in_order() {
    let l = ledger(6);
    let decisions = l.store.records_of_kind(RecordKind::Decision).unwrap();
    assert_eq!(
        decisions.iter().map(|r| r.index).collect::<Vec<_>>(),
        vec![0, 2, 4]
    );
    for r in &decisions {
        assert_eq!(parse_record(&r.bytes).unwrap().kind, RecordKind::Decision);
    }
    assert!(l
        .store
        .records_of_kind(RecordKind::Freeze)
        .unwrap()
        .is_empty());
}

#[test]
fn records_pages_from_an_offset() {
    let l = ledger(5);
    let page = l.store.records(2, 2).unwrap();
    assert_eq!(page.iter().map(|r| r.index).collect::<Vec<_>>(), vec![2, 3]);
    assert!(l.store.records(5, 10).unwrap().is_empty());
    assert!(l.store.records(0, 0).unwrap().is_empty());
    assert_eq!(l.store.record(u64::MAX).unwrap(), None);
}

#[test]
fn put_attestation_is_idempotent_and_refuses_conflicts() {
    let mut l = ledger(0);
    let bytes = br#"{"payloadType":"application/vnd.in-toto+json"}"#;
    let digest = modelgate::digest::sha256_prefixed(bytes);
    l.store.put_attestation(&digest, bytes).unwrap();
    l.store.put_attestation(&digest, bytes).unwrap();
    assert_eq!(
        l.store.attestation(&digest).unwrap().as_deref(),
        Some(&bytes[..])
    );

    // Bytes that do not hash to the digest are refused before touching the store.
    let other = modelgate::digest::sha256_prefixed(b"other");
    assert!(matches!(
        l.store.put_attestation(&other, bytes),
        Err(LedgerError::AttestationDigestMismatch { .. })
    ));
    assert!(matches!(
        l.store.put_attestation("sha256:ABC", bytes),
        Err(LedgerError::InvalidDigest(_))
    ));
    assert_eq!(l.store.attestation(&other).unwrap(), None);

    // A row holding different bytes under `other` (only possible by tampering) is a conflict,
    // and reading it is refused rather than returning bytes that do not match the digest.
    raw(&l.path)
        .execute(
            "INSERT INTO attestations (digest, bytes) VALUES (?1, ?2)",
            rusqlite::params![other, &b"forged"[..]],
        )
        .unwrap();
    assert!(matches!(
        l.store.put_attestation(&other, b"other"),
        Err(LedgerError::AttestationConflict(d)) if d == other
    ));
    assert!(matches!(
        l.store.attestation(&other),
        Err(LedgerError::Inconsistent(_))
    ));
}

#[test]
fn a_database_with_a_newer_schema_is_refused() {
    let l = ledger(1);
    drop(l.store);
    let newer = modelgate::ledger::sqlite::SCHEMA_VERSION + 1;
    raw(&l.path)
        .pragma_update(None, "user_version", newer)
        .unwrap();
    for result in [
        SqliteStore::open(&l.path),
        SqliteStore::open_read_only(&l.path),
    ] {
        assert!(matches!(
            result,
            Err(LedgerError::SchemaTooNew {
                found,
                supported: modelgate::ledger::sqlite::SCHEMA_VERSION,
            }) if found == newer
        ));
    }
}

#[test]
fn another_sqlite_database_is_not_taken_for_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    raw(&path).execute_batch("CREATE TABLE t (x)").unwrap();
    assert!(matches!(
        SqliteStore::open(&path),
        Err(LedgerError::NotALedger(_))
    ));
    assert!(matches!(
        SqliteStore::open_read_only(&path),
        Err(LedgerError::NotALedger(_))
    ));
}

#[test]
fn read_only_open_needs_an_existing_file_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    assert!(matches!(
        SqliteStore::open_read_only(&missing),
        Err(LedgerError::Missing(_))
    ));
    assert!(!missing.exists(), "read-only open must not create the file");

    let l = ledger(2);
    let mut ro = SqliteStore::open_read_only(&l.path).unwrap();
    assert_eq!(ro.records(0, 10).unwrap().len(), 2);
    assert!(verify(&ro).is_intact());
    assert!(matches!(ro.append(&[draft(2)]), Err(LedgerError::ReadOnly)));
    let digest = modelgate::digest::sha256_prefixed(b"x");
    assert!(matches!(
        ro.put_attestation(&digest, b"x"),
        Err(LedgerError::ReadOnly)
    ));
}

#[test]
fn the_file_is_in_wal_mode() {
    let l = ledger(1);
    let mode: String = raw(&l.path)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

/// Two handles on one file, appending in turn, extend one gap-free chain.
#[test]
fn two_handles_appending_alternately_keep_one_chain() {
    let mut l = ledger(0);
    let mut other = SqliteStore::open(&l.path).unwrap();
    let mut seq = 0;
    for round in 0..6 {
        let (store, n): (&mut dyn Store, u64) = if round % 2 == 0 {
            (&mut l.store, 2)
        } else {
            (&mut other, 1)
        };
        let sealed = store.append(&drafts(seq..seq + n)).unwrap();
        assert_eq!(sealed[0].index, seq);
        seq += n;
    }
    let report = verify(&l.store);
    assert!(report.is_intact(), "{:?}", report.failure);
    assert_eq!(report.size, seq);
    assert_eq!(other.size().unwrap(), seq);
}

/// Concurrent appenders on separate connections are serialised by BEGIN IMMEDIATE.
#[test]
fn concurrent_appenders_are_serialised() {
    let l = ledger(0);
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let path = l.path.clone();
            std::thread::spawn(move || {
                let mut store = SqliteStore::open(&path).unwrap();
                for i in 0..15 {
                    let d: Vec<RecordDraft> = vec![draft(t * 100 + i)];
                    store.append(&d).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = verify(&l.store);
    assert!(report.is_intact(), "{:?}", report.failure);
    assert_eq!(report.size, 30);
}
