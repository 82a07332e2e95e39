//! [`SqliteStore`]: the embedded ledger store on SQLite (the only file that imports rusqlite).
//!
//! Durability comes from three settings checked at open: `journal_mode=WAL`,
//! `synchronous=FULL` (every commit syncs the write-ahead log before it returns) and a busy
//! timeout so that concurrent appenders wait instead of failing. Each append runs in one
//! `BEGIN IMMEDIATE` transaction, which takes the write lock up front: two handles or two
//! processes on the same file serialise, and each reads the head only once it holds the lock.
//! See `docs/adr/0001-ledger-storage-sqlite.md` for why SQLite.
//!
//! The schema is versioned through `PRAGMA user_version` (the `schema` submodule: migration 1
//! creates `records`, `head` and `attestations`; 2 adds `tree_nodes` and `checkpoints` and builds
//! the Merkle tree of an existing ledger once; 3 indexes decisions by model; 4 files attestations
//! by model and version); a file written by a newer schema is refused rather than misread. Every
//! append writes the perfect tree nodes its records complete in the same transaction as the
//! records and the head, so tree and chain are never out of step. A batch of several callers'
//! requests ([`Store::append_batch`], used by group commit) is one such transaction (`batch`);
//! the attestation store and its index are in `attest`, the tree and checkpoint queries in `tree`.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::merkle::{Hash, NodeSource};
use super::record::{RecordDraft, RecordKind, SealedRecord};
use super::store::{append_one, AppendOutcome, AppendRequest, Head, Store, StoredRecord};
use super::LedgerError;

/// Bytes [`Store::probe_write`] writes: about what a large batch of decisions commits.
pub const PROBE_BYTES: i64 = 256 * 1024;

/// Schema version this build creates and understands (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 5;

/// First schema version with the Merkle tree and checkpoint tables.
const TREE_VERSION: i64 = 2;

/// First schema version with the index of decisions by model.
const MODEL_INDEX_VERSION: i64 = 3;

/// First schema version with the attestation index by model and version.
const ATTESTATION_INDEX_VERSION: i64 = 4;

/// The indexed expression: the model a decision record's request names.
const DECISION_MODEL: &str = "json_extract(CAST(bytes AS TEXT), '$.body.request.model')";

mod attest;
mod batch;
mod schema;
mod tree;

use schema::{check_version, configure_durability, migrate};

/// Bytes of the file a read-only handle maps into memory.
const READ_MMAP_BYTES: i64 = 1 << 30;

/// How long an appender waits for another writer's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SELECT_RECORD: &str = "SELECT idx, kind, leaf_hash, bytes FROM records";

/// A ledger in one SQLite file.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    read_only: bool,
    /// Schema version of the file (always [`SCHEMA_VERSION`] for a writable handle).
    version: i64,
}

fn storage(context: &'static str) -> impl FnOnce(rusqlite::Error) -> LedgerError {
    move |source| LedgerError::Storage {
        context,
        source: Box::new(source),
    }
}

impl SqliteStore {
    /// Opens the ledger at `path` for appending, creating the file and schema if missing.
    ///
    /// Fails if the durability settings do not take effect, if the file holds a newer schema,
    /// or if it is some other SQLite database.
    pub fn open(path: &Path) -> Result<SqliteStore, LedgerError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(path, flags).map_err(storage("opening the database"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(storage("setting the busy timeout"))?;
        check_version(&conn, path)?;
        configure_durability(&conn)?;
        migrate(&mut conn, path)?;
        Ok(SqliteStore {
            conn,
            read_only: false,
            version: SCHEMA_VERSION,
        })
    }

    /// Opens an existing ledger for reading only (verification, export, audit tools). Never
    /// creates a file; appends through this handle fail with [`LedgerError::ReadOnly`].
    pub fn open_read_only(path: &Path) -> Result<SqliteStore, LedgerError> {
        if !path.is_file() {
            return Err(LedgerError::Missing(path.display().to_string()));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(storage("opening the database"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(storage("setting the busy timeout"))?;
        let version = check_version(&conn, path)?;
        if version == 0 {
            return Err(LedgerError::NotALedger(path.display().to_string()));
        }
        // Readers (verification, export, the server's read pool) scan large ranges: map the
        // file instead of copying every page through SQLite's cache. Advisory; failure is fine.
        let _ = conn.pragma_update(None, "mmap_size", READ_MMAP_BYTES);
        Ok(SqliteStore {
            conn,
            read_only: true,
            version,
        })
    }

    /// Fails when the file predates the tree tables (a read-only handle on a version-1 ledger).
    fn has_tree(&self, feature: &'static str) -> Result<(), LedgerError> {
        if self.version < TREE_VERSION {
            Err(LedgerError::NeedsMigration {
                found: self.version,
                required: TREE_VERSION,
                feature,
            })
        } else {
            Ok(())
        }
    }

    fn writable(&self) -> Result<(), LedgerError> {
        if self.read_only {
            Err(LedgerError::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn query_records(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(storage("preparing a record query"))?;
        let rows = stmt
            .query_map(params, |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(storage("reading records"))?;
        let mut out = Vec::new();
        for row in rows {
            let (idx, kind, leaf, bytes) = row.map_err(storage("reading records"))?;
            out.push(decode_row(idx, kind, leaf, bytes)?);
        }
        Ok(out)
    }
}

fn read_head(conn: &Connection) -> Result<Option<Head>, LedgerError> {
    let row: Option<(i64, Vec<u8>)> = conn
        .query_row("SELECT size, leaf_hash FROM head WHERE id = 0", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()
        .map_err(storage("reading the head"))?;
    let Some((size, hash)) = row else {
        return Ok(None);
    };
    let size = u64::try_from(size)
        .map_err(|_| LedgerError::Inconsistent(format!("head size {size} is negative")))?;
    if size == 0 {
        return Ok(None);
    }
    let leaf_hash = <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| {
        LedgerError::Inconsistent(format!("head leaf hash is {} bytes, not 32", hash.len()))
    })?;
    Ok(Some(Head { size, leaf_hash }))
}

fn sql_index(index: u64) -> Result<i64, LedgerError> {
    i64::try_from(index).map_err(|_| LedgerError::IndexOutOfRange(index))
}

/// Converts one row, tolerating column types that the schema forbids so that a damaged row is
/// reported as [`LedgerError::CorruptRow`] at its index instead of as an opaque driver error.
fn decode_row(
    idx: i64,
    kind: SqlValue,
    leaf: SqlValue,
    bytes: SqlValue,
) -> Result<StoredRecord, LedgerError> {
    let index = u64::try_from(idx)
        .map_err(|_| LedgerError::Inconsistent(format!("record index {idx} is negative")))?;
    let corrupt = |problem: String| LedgerError::CorruptRow { index, problem };
    let kind = match kind {
        SqlValue::Text(name) => name
            .parse::<RecordKind>()
            .map_err(|_| corrupt(format!("stored kind `{name}` is not a record kind")))?,
        _ => return Err(corrupt("stored kind is not text".to_owned())),
    };
    let leaf_hash = match leaf {
        SqlValue::Blob(b) => <[u8; 32]>::try_from(b.as_slice())
            .map_err(|_| corrupt(format!("stored leaf hash is {} bytes, not 32", b.len())))?,
        _ => return Err(corrupt("stored leaf hash is not a blob".to_owned())),
    };
    let bytes = match bytes {
        SqlValue::Blob(b) => b,
        SqlValue::Text(t) => t.into_bytes(),
        _ => return Err(corrupt("stored record bytes are not a blob".to_owned())),
    };
    Ok(StoredRecord {
        index,
        kind,
        bytes,
        leaf_hash,
    })
}

impl Store for SqliteStore {
    fn append(&mut self, drafts: &[RecordDraft]) -> Result<Vec<SealedRecord>, LedgerError> {
        append_one(self, AppendRequest::records(drafts.to_vec()))
    }

    fn append_unless(
        &mut self,
        kind: RecordKind,
        since: u64,
        drafts: &[RecordDraft],
    ) -> Result<Vec<SealedRecord>, LedgerError> {
        append_one(self, AppendRequest::guarded(kind, since, drafts))
    }

    /// One `BEGIN IMMEDIATE` transaction and one sync for the whole batch.
    fn append_batch(&mut self, batch: &[AppendRequest]) -> Result<Vec<AppendOutcome>, LedgerError> {
        self.commit_batch(batch)
    }

    fn size(&self) -> Result<u64, LedgerError> {
        Ok(read_head(&self.conn)?.map_or(0, |head| head.size))
    }

    fn record(&self, index: u64) -> Result<Option<StoredRecord>, LedgerError> {
        let Ok(idx) = i64::try_from(index) else {
            return Ok(None);
        };
        let sql = format!("{SELECT_RECORD} WHERE idx = ?1");
        Ok(self.query_records(&sql, [idx])?.into_iter().next())
    }

    fn records(&self, from: u64, limit: u64) -> Result<Vec<StoredRecord>, LedgerError> {
        let Ok(from) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!("{SELECT_RECORD} WHERE idx >= ?1 ORDER BY idx LIMIT ?2");
        self.query_records(&sql, [from, limit])
    }

    fn records_of_kind(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, LedgerError> {
        let sql = format!("{SELECT_RECORD} WHERE kind = ?1 ORDER BY idx");
        self.query_records(&sql, [kind.as_str()])
    }

    fn head(&self) -> Result<Option<Head>, LedgerError> {
        read_head(&self.conn)
    }

    /// One index seek per kind.
    fn last_of_kinds(&self, kinds: &[RecordKind]) -> Result<Option<u64>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT MAX(idx) FROM records WHERE kind = ?1")
            .map_err(storage("preparing a last-of-kind query"))?;
        let mut last = None;
        for kind in kinds {
            let found: Option<i64> = stmt
                .query_row([kind.as_str()], |row| row.get(0))
                .map_err(storage("reading the last record of a kind"))?;
            last = last.max(found.and_then(|i| u64::try_from(i).ok()));
        }
        Ok(last)
    }

    /// One indexed query (schema 3); an older read-only file falls back to the scan.
    fn decisions_for_model(&self, model: &str) -> Result<Vec<StoredRecord>, LedgerError> {
        if self.version < MODEL_INDEX_VERSION {
            return super::store::scan_decisions_for_model(self, model);
        }
        let sql = format!(
            "{SELECT_RECORD} WHERE kind = 'decision' AND {DECISION_MODEL} = ?1 ORDER BY idx"
        );
        self.query_records(&sql, [model])
    }

    fn decisions_for_model_before(
        &self,
        model: &str,
        before: u64,
        limit: u64,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        if self.version < MODEL_INDEX_VERSION {
            let mut all = super::store::scan_decisions_for_model(self, model)?;
            all.retain(|r| r.index < before);
            all.reverse();
            all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            return Ok(all);
        }
        // The index's entries for one model are in rowid (= idx) order: a range read from
        // `before` downwards.
        let sql = format!(
            "{SELECT_RECORD} WHERE kind = 'decision' AND {DECISION_MODEL} = ?1 AND idx < ?2 \
             ORDER BY idx DESC LIMIT ?3"
        );
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_records(&sql, rusqlite::params![model, before, limit])
    }

    fn put_attestation(&mut self, digest: &str, bytes: &[u8]) -> Result<(), LedgerError> {
        attest::check(digest, bytes)?;
        self.writable()?;
        attest::put(&mut self.conn, None, digest, bytes)
    }

    fn attestation(&self, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        attest::get(&self.conn, digest)
    }

    fn file_attestation(
        &mut self,
        model: &str,
        version: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(), LedgerError> {
        attest::check(digest, bytes)?;
        self.writable()?;
        attest::put(&mut self.conn, Some((model, version)), digest, bytes)
    }

    fn filed_attestations(&self, model: &str, version: &str) -> Result<Vec<Vec<u8>>, LedgerError> {
        if self.version < ATTESTATION_INDEX_VERSION {
            return Ok(Vec::new());
        }
        attest::filed(&self.conn, model, version)
    }

    fn attestation_digests(&self) -> Result<Vec<String>, LedgerError> {
        attest::digests(&self.conn)
    }

    fn attestation_filings(&self) -> Result<Vec<(String, String, String)>, LedgerError> {
        if self.version < ATTESTATION_INDEX_VERSION {
            return Ok(Vec::new());
        }
        attest::filings(&self.conn)
    }

    /// One indexed read of `tree_nodes`.
    fn tree_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        self.has_tree("merkle tree")?;
        tree::SqlNodes(&self.conn).perfect_node(level, index)
    }

    /// One range read of `tree_nodes`.
    fn tree_nodes(&self, level: u32, from: u64, to: u64) -> Result<Vec<(u64, Hash)>, LedgerError> {
        self.has_tree("merkle tree")?;
        tree::nodes_in_range(&self.conn, level, from, to)
    }

    /// Rewrites the one row of the `probe` table with [`PROBE_BYTES`] of fresh data in a
    /// durable write transaction: as many pages through the write-ahead log, and a sync, as a
    /// large batch of decisions needs, so a disk too full for decisions fails the probe too.
    /// The ledger's tables are not touched.
    fn probe_write(&mut self) -> Result<(), LedgerError> {
        self.writable()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage("starting a write probe"))?;
        tx.execute(
            "INSERT OR REPLACE INTO probe (id, filler) VALUES (1, randomblob(?1))",
            [PROBE_BYTES],
        )
        .map_err(storage("writing the probe"))?;
        tx.commit().map_err(storage("committing the write probe"))
    }

    fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<(), LedgerError> {
        self.writable()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage("starting a checkpoint insert"))?;
        let ledger_size = read_head(&tx)?.map_or(0, |h| h.size);
        tree::put_checkpoint(&tx, ledger_size, size, note)?;
        tx.commit().map_err(storage("committing a checkpoint"))
    }

    fn checkpoint(&self, size: u64) -> Result<Option<String>, LedgerError> {
        self.has_tree("checkpoints")?;
        tree::checkpoint(&self.conn, size)
    }

    fn latest_checkpoint(&self) -> Result<Option<(u64, String)>, LedgerError> {
        self.has_tree("checkpoints")?;
        Ok(tree::checkpoints(&self.conn, Some(1))?.into_iter().next())
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, LedgerError> {
        self.has_tree("checkpoints")?;
        tree::checkpoints(&self.conn, None)
    }

    fn latest_checkpoints(&self, n: u64) -> Result<Vec<(u64, String)>, LedgerError> {
        self.has_tree("checkpoints")?;
        tree::checkpoints(&self.conn, Some(n))
    }

    fn first_checkpoint_after(&self, index: u64) -> Result<Option<(u64, String)>, LedgerError> {
        self.has_tree("checkpoints")?;
        tree::first_checkpoint_after(&self.conn, index)
    }
}

impl NodeSource for SqliteStore {
    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        self.tree_node(level, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_with_forbidden_column_types_are_reported_at_their_index() {
        let kind = || SqlValue::Text("decision".to_owned());
        let hash = || SqlValue::Blob(vec![0; 32]);
        let cases = [
            (
                4,
                kind(),
                SqlValue::Blob(vec![1, 2, 3]),
                SqlValue::Blob(vec![]),
            ),
            (
                5,
                kind(),
                SqlValue::Text("x".into()),
                SqlValue::Blob(vec![]),
            ),
            (6, kind(), hash(), SqlValue::Null),
            (
                7,
                SqlValue::Text("decisions".into()),
                hash(),
                SqlValue::Blob(vec![]),
            ),
            (8, SqlValue::Integer(1), hash(), SqlValue::Blob(vec![])),
        ];
        for (idx, kind, leaf, bytes) in cases {
            let result = decode_row(idx, kind, leaf, bytes);
            assert!(
                matches!(result, Err(LedgerError::CorruptRow { index, .. }) if index == idx as u64),
                "{idx}: {result:?}"
            );
        }
        let text_bytes = decode_row(9, kind(), hash(), SqlValue::Text("{}".into())).unwrap();
        assert_eq!(text_bytes.bytes, b"{}");
        assert_eq!(text_bytes.kind, RecordKind::Decision);
    }
}
