//! Shared fixtures for the ledger integration tests: drafts, a ledger on a temporary file, and
//! a raw SQLite connection for tampering behind the store's back.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use modelgate::ledger::{
    verify_store, RecordDraft, RecordKind, SealedRecord, SqliteStore, Store, VerifyReport,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use time::macros::datetime;
use time::Duration;

/// A small, distinct draft per `seq` (kinds alternate between decision and observation).
pub fn draft(seq: u64) -> RecordDraft {
    let kind = if seq.is_multiple_of(2) {
        RecordKind::Decision
    } else {
        RecordKind::Observation
    };
    RecordDraft {
        kind,
        time: datetime!(2026-11-27 10:00:00 UTC) + Duration::seconds(seq as i64),
        body: json!({"seq": seq, "model": "fraud-scorer", "environment": "prod", "allow": !seq.is_multiple_of(3)}),
    }
}

pub fn drafts(range: std::ops::Range<u64>) -> Vec<RecordDraft> {
    range.map(draft).collect()
}

/// A fresh ledger file with `n` records appended one per transaction.
pub struct Ledger {
    pub dir: TempDir,
    pub path: PathBuf,
    pub store: SqliteStore,
    pub sealed: Vec<SealedRecord>,
}

pub fn ledger(n: u64) -> Ledger {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let mut sealed = Vec::new();
    for seq in 0..n {
        sealed.extend(store.append(&[draft(seq)]).unwrap());
    }
    Ledger {
        dir,
        path,
        store,
        sealed,
    }
}

/// A second connection to the same file, bypassing the store (for tampering).
pub fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

pub fn stored_bytes(conn: &rusqlite::Connection, idx: i64) -> Vec<u8> {
    conn.query_row("SELECT bytes FROM records WHERE idx = ?1", [idx], |r| {
        r.get(0)
    })
    .unwrap()
}

pub fn set_bytes(conn: &rusqlite::Connection, idx: i64, bytes: &[u8]) {
    let n = conn
        .execute(
            "UPDATE records SET bytes = ?1 WHERE idx = ?2",
            rusqlite::params![bytes, idx],
        )
        .unwrap();
    assert_eq!(n, 1);
}

pub fn set_leaf_hash(conn: &rusqlite::Connection, idx: i64, hash: &[u8; 32]) {
    let n = conn
        .execute(
            "UPDATE records SET leaf_hash = ?1 WHERE idx = ?2",
            rusqlite::params![&hash[..], idx],
        )
        .unwrap();
    assert_eq!(n, 1);
}

/// SHA-256(0x00 ‖ bytes), computed with sha2 directly, independently of the crate's code.
pub fn independent_leaf_hash(bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(bytes);
    h.finalize().into()
}

pub fn verify(store: &dyn Store) -> VerifyReport {
    verify_store(store).unwrap()
}

/// The first bad index verification reports, asserting that there is one.
pub fn first_bad_index(store: &dyn Store) -> u64 {
    let report = verify(store);
    let failure = report.failure.expect("verification should find a problem");
    eprintln!("{failure}");
    failure.index
}

/// Implements the [`Store`] methods a test wrapper does not override by forwarding them to its
/// `inner` store. Invoke inside `impl Store for Wrapper { … }` after the overridden methods.
#[macro_export]
macro_rules! forward_store {
    (append) => {
        fn append(
            &mut self,
            drafts: &[modelgate::ledger::RecordDraft],
        ) -> Result<Vec<modelgate::ledger::SealedRecord>, modelgate::ledger::LedgerError> {
            modelgate::ledger::append_one(
                self,
                modelgate::ledger::AppendRequest::records(drafts.to_vec()),
            )
        }
    };
    (reads) => {
        fn size(&self) -> Result<u64, modelgate::ledger::LedgerError> {
            self.inner.size()
        }
        fn record(
            &self,
            index: u64,
        ) -> Result<Option<modelgate::ledger::StoredRecord>, modelgate::ledger::LedgerError> {
            self.inner.record(index)
        }
        fn records(
            &self,
            from: u64,
            limit: u64,
        ) -> Result<Vec<modelgate::ledger::StoredRecord>, modelgate::ledger::LedgerError> {
            self.inner.records(from, limit)
        }
        fn head(&self) -> Result<Option<modelgate::ledger::Head>, modelgate::ledger::LedgerError> {
            self.inner.head()
        }
        fn last_of_kinds(
            &self,
            kinds: &[modelgate::ledger::RecordKind],
        ) -> Result<Option<u64>, modelgate::ledger::LedgerError> {
            self.inner.last_of_kinds(kinds)
        }
        fn put_attestation(
            &mut self,
            digest: &str,
            bytes: &[u8],
        ) -> Result<(), modelgate::ledger::LedgerError> {
            self.inner.put_attestation(digest, bytes)
        }
        fn attestation(
            &self,
            digest: &str,
        ) -> Result<Option<Vec<u8>>, modelgate::ledger::LedgerError> {
            self.inner.attestation(digest)
        }
        fn tree_node(
            &self,
            level: u32,
            index: u64,
        ) -> Result<modelgate::ledger::Hash, modelgate::ledger::LedgerError> {
            self.inner.tree_node(level, index)
        }
    };
}
