//! Tampering behind the store's back is reported at the exact first bad index: damage to the
//! store's own bookkeeping (leaf and kind columns, head row, unloadable rows, rows beyond the
//! head, batch boundaries). The attacks an auditor reasons about (flip, delete, reorder,
//! truncate, duplicate, splice, suffix rewrite, replaced checkpoints) form the table in
//! `tests/ledger_tamper_matrix.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ledger_support;

use ledger_support::*;
use modelgate::ledger::verify::VERIFY_BATCH;
use modelgate::ledger::{
    seal, verify_store, Head, LedgerError, RecordDraft, RecordKind, SealedRecord, Store,
    StoredRecord,
};

#[test]
fn intact_ledger_verifies() {
    let l = ledger(6);
    let report = verify(&l.store);
    assert!(report.is_intact(), "{:?}", report.failure);
    assert_eq!(report.size, 6);
    assert_eq!(report.head, Some(l.sealed[5].leaf_hash));
}

#[test]
fn modified_leaf_hash_column_is_reported_at_its_index() {
    let l = ledger(6);
    set_leaf_hash(&raw(&l.path), 3, &[0xab; 32]);
    assert_eq!(first_bad_index(&l.store), 3);
}

/// Relabelling the kind column would hide a decision from `records_of_kind`: caught at 2.
#[test]
fn relabelled_kind_column_is_reported_at_its_index() {
    let l = ledger(6);
    raw(&l.path)
        .execute("UPDATE records SET kind = 'observation' WHERE idx = 2", [])
        .unwrap();
    let failure = verify(&l.store).failure.unwrap();
    assert_eq!(failure.index, 2);
    assert!(
        failure.problem.contains("filed as `observation`"),
        "{failure}"
    );
}

#[test]
fn cut_short_record_bytes_are_reported_at_their_index() {
    let l = ledger(6);
    let conn = raw(&l.path);
    let bytes = stored_bytes(&conn, 3);
    set_bytes(&conn, 3, &bytes[..bytes.len() - 10]);
    let failure = verify(&l.store).failure.unwrap();
    assert_eq!(failure.index, 3);
    assert!(failure.problem.contains("not a record"), "{failure}");
}

/// Same JSON, different bytes (pretty-printed) with a matching leaf column: not canonical.
#[test]
fn non_canonical_bytes_are_reported_at_their_index() {
    let l = ledger(6);
    let conn = raw(&l.path);
    let value: serde_json::Value = serde_json::from_slice(&stored_bytes(&conn, 3)).unwrap();
    let pretty = serde_json::to_vec_pretty(&value).unwrap();
    set_bytes(&conn, 3, &pretty);
    set_leaf_hash(&conn, 3, &independent_leaf_hash(&pretty));
    let failure = verify(&l.store).failure.unwrap();
    assert_eq!(failure.index, 3);
    assert!(failure.problem.contains("canonical"), "{failure}");
}

#[test]
fn head_leaf_hash_mismatch_is_reported_at_the_last_record() {
    let l = ledger(6);
    raw(&l.path)
        .execute("UPDATE head SET leaf_hash = ?1", [&[0u8; 32][..]])
        .unwrap();
    assert_eq!(first_bad_index(&l.store), 5);
}

#[test]
fn record_beyond_the_head_is_reported() {
    let l = ledger(6);
    let extra = seal(&draft(6), 6, &l.sealed[5].leaf_hash).unwrap();
    raw(&l.path)
        .execute(
            "INSERT INTO records (idx, kind, leaf_hash, bytes) VALUES (6, 'decision', ?1, ?2)",
            rusqlite::params![&extra.leaf_hash[..], &extra.bytes],
        )
        .unwrap();
    assert_eq!(first_bad_index(&l.store), 6);
}

/// A store whose head contradicts its rows refuses to append instead of forking the chain.
#[test]
fn append_refuses_an_inconsistent_head() {
    let mut l = ledger(3);
    raw(&l.path).execute("DELETE FROM head", []).unwrap();
    assert_eq!(first_bad_index(&l.store), 0);
    assert!(matches!(
        l.store.append(&[draft(3)]),
        Err(LedgerError::Inconsistent(_))
    ));
}

/// Failures beyond the first verification batch are found at their exact index too.
#[test]
fn tampering_across_batch_boundaries_is_located_exactly() {
    let n = VERIFY_BATCH * 2 + 10;
    let mut l = ledger(0);
    l.store.append(&drafts(0..n)).unwrap();
    assert!(verify(&l.store).is_intact());
    let conn = raw(&l.path);
    conn.execute("DELETE FROM records WHERE idx = ?1", [VERIFY_BATCH as i64])
        .unwrap();
    assert_eq!(first_bad_index(&l.store), VERIFY_BATCH);
    set_leaf_hash(&conn, (VERIFY_BATCH - 1) as i64, &[1; 32]);
    assert_eq!(first_bad_index(&l.store), VERIFY_BATCH - 1);
}

/// An in-memory store whose row at `corrupt_at` cannot be loaded, as a damaged database would.
struct DamagedStore {
    rows: Vec<StoredRecord>,
    corrupt_at: u64,
}

impl Store for DamagedStore {
    fn append(&mut self, _: &[RecordDraft]) -> Result<Vec<SealedRecord>, LedgerError> {
        Err(LedgerError::ReadOnly)
    }
    fn size(&self) -> Result<u64, LedgerError> {
        Ok(self.rows.len() as u64)
    }
    fn record(&self, index: u64) -> Result<Option<StoredRecord>, LedgerError> {
        Ok(self.rows.get(index as usize).cloned())
    }
    fn records(&self, from: u64, limit: u64) -> Result<Vec<StoredRecord>, LedgerError> {
        let end = from.saturating_add(limit).min(self.rows.len() as u64);
        if (from..end).contains(&self.corrupt_at) {
            return Err(LedgerError::CorruptRow {
                index: self.corrupt_at,
                problem: "stored leaf hash is 3 bytes, not 32".to_owned(),
            });
        }
        Ok(self.rows[from.min(end) as usize..end as usize].to_vec())
    }
    fn records_of_kind(&self, _: RecordKind) -> Result<Vec<StoredRecord>, LedgerError> {
        Ok(Vec::new())
    }
    fn head(&self) -> Result<Option<Head>, LedgerError> {
        Ok(self.rows.last().map(|r| Head {
            size: self.rows.len() as u64,
            leaf_hash: r.leaf_hash,
        }))
    }
    fn put_attestation(&mut self, _: &str, _: &[u8]) -> Result<(), LedgerError> {
        Err(LedgerError::ReadOnly)
    }
    fn attestation(&self, _: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(None)
    }
}

/// A row the store cannot even load is a verification finding at its index, not an error.
#[test]
fn unloadable_row_is_reported_at_its_index() {
    let l = ledger(6);
    let rows = l.store.records(0, 10).unwrap();
    let damaged = DamagedStore {
        rows: rows.clone(),
        corrupt_at: 4,
    };
    let failure = verify_store(&damaged).unwrap().failure.unwrap();
    assert_eq!(failure.index, 4);
    assert_eq!(
        failure.to_string(),
        "record 4: stored leaf hash is 3 bytes, not 32"
    );

    // An earlier problem in the same batch still wins.
    let mut rows = rows;
    rows[1].leaf_hash = [7; 32];
    let damaged = DamagedStore {
        rows,
        corrupt_at: 4,
    };
    assert_eq!(verify_store(&damaged).unwrap().failure.unwrap().index, 1);
}

/// A store whose first `head()` answer is a snapshot taken before more records were appended,
/// as when an appender commits while verification is walking.
struct AppendedDuringWalk {
    inner: modelgate::ledger::SqliteStore,
    snapshot: std::sync::Mutex<Option<Head>>,
}

impl Store for AppendedDuringWalk {
    fn append(&mut self, d: &[RecordDraft]) -> Result<Vec<SealedRecord>, LedgerError> {
        self.inner.append(d)
    }
    fn size(&self) -> Result<u64, LedgerError> {
        self.inner.size()
    }
    fn record(&self, index: u64) -> Result<Option<StoredRecord>, LedgerError> {
        self.inner.record(index)
    }
    fn records(&self, from: u64, limit: u64) -> Result<Vec<StoredRecord>, LedgerError> {
        self.inner.records(from, limit)
    }
    fn records_of_kind(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, LedgerError> {
        self.inner.records_of_kind(kind)
    }
    fn head(&self) -> Result<Option<Head>, LedgerError> {
        match self.snapshot.lock().unwrap().take() {
            Some(stale) => Ok(Some(stale)),
            None => self.inner.head(),
        }
    }
    fn put_attestation(&mut self, digest: &str, bytes: &[u8]) -> Result<(), LedgerError> {
        self.inner.put_attestation(digest, bytes)
    }
    fn attestation(&self, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        self.inner.attestation(digest)
    }
}

/// Records committed after verification read the head are not reported as tampering.
#[test]
fn records_appended_during_verification_are_not_flagged() {
    let mut l = ledger(4);
    let snapshot = l.store.head().unwrap();
    l.store.append(&drafts(4..6)).unwrap();
    let store = AppendedDuringWalk {
        inner: l.store,
        snapshot: std::sync::Mutex::new(snapshot),
    };
    let report = verify_store(&store).unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    assert_eq!(report.size, 4);
    assert_eq!(report.head, Some(l.sealed[3].leaf_hash));
}
