//! [`SqliteStore`]: the embedded ledger store on SQLite (the only file that imports rusqlite).
//!
//! Durability comes from three settings checked at open: `journal_mode=WAL`,
//! `synchronous=FULL` (every commit syncs the write-ahead log before it returns) and a busy
//! timeout so that concurrent appenders wait instead of failing. Each append runs in one
//! `BEGIN IMMEDIATE` transaction, which takes the write lock up front: two handles or two
//! processes on the same file serialise, and each reads the head only once it holds the lock.
//! See `docs/adr/0001-ledger-storage-sqlite.md` for why SQLite.
//!
//! The schema is versioned through `PRAGMA user_version` (migration 1 creates `records`, `head`
//! and `attestations`; migration 2 adds `tree_nodes` and `checkpoints` and builds the Merkle tree
//! of an existing ledger once); a file written by a newer schema is refused rather than misread.
//! Every append writes the perfect tree nodes its records complete in the same transaction as the
//! records and the head, so tree and chain are never out of step. A batch of several callers'
//! requests ([`Store::append_batch`], used by group commit) is one such transaction. The tree and checkpoint
//! queries live in the `tree` submodule.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use super::merkle::{Hash, NodeSource, Overlay};
use super::record::{RecordDraft, RecordKind, SealedRecord};
use super::store::{
    append_one, seal_batch, AppendGuard, AppendOutcome, AppendRequest, Head, Store, StoredRecord,
};
use super::LedgerError;
use crate::digest::{parse_prefixed, sha256_prefixed};

/// Schema version this build creates and understands (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 4;

/// First schema version with the Merkle tree and checkpoint tables.
const TREE_VERSION: i64 = 2;

/// First schema version with the index of decisions by model.
const MODEL_INDEX_VERSION: i64 = 3;

/// First schema version with the attestation index by model and version.
const ATTESTATION_INDEX_VERSION: i64 = 4;

/// The indexed expression: the model a decision record's request names.
const DECISION_MODEL: &str = "json_extract(CAST(bytes AS TEXT), '$.body.request.model')";

mod tree;

/// Bytes of the file a read-only handle maps into memory.
const READ_MMAP_BYTES: i64 = 1 << 30;

/// How long an appender waits for another writer's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Migration `n` (1-based) brings a database from `user_version` `n - 1` to `n`.
/// `STRICT` tables and `CHECK`s refuse malformed rows at the database level too.
const MIGRATIONS: [&str; 4] = [
    "
    CREATE TABLE records (
        idx INTEGER PRIMARY KEY CHECK (idx >= 0),
        kind TEXT NOT NULL,
        leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
        bytes BLOB NOT NULL
    ) STRICT;
    CREATE INDEX records_by_kind ON records (kind);
    CREATE TABLE head (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        size INTEGER NOT NULL CHECK (size >= 0),
        leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32)
    ) STRICT;
    CREATE TABLE attestations (
        digest TEXT PRIMARY KEY,
        bytes BLOB NOT NULL
    ) STRICT;
",
    tree::MIGRATION_2,
    // Decisions by the model their request names (an accelerator: readers re-check the bytes).
    "CREATE INDEX decisions_by_model ON records \
     (json_extract(CAST(bytes AS TEXT), '$.body.request.model')) WHERE kind = 'decision';",
    // Attestations received ahead of a decision, filed by model and version.
    "CREATE TABLE attestation_index (
        seq INTEGER PRIMARY KEY,
        model TEXT NOT NULL,
        version TEXT NOT NULL,
        digest TEXT NOT NULL REFERENCES attestations (digest),
        UNIQUE (model, version, digest)
    ) STRICT;",
];

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

/// Reads `user_version`, refusing versions this build does not understand.
fn check_version(conn: &Connection, path: &Path) -> Result<i64, LedgerError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(storage("reading the schema version"))?;
    if version > SCHEMA_VERSION {
        return Err(LedgerError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 0 {
        return Err(LedgerError::NotALedger(path.display().to_string()));
    }
    Ok(version)
}

/// Applies and reads back the settings an acknowledgement relies on.
fn configure_durability(conn: &Connection) -> Result<(), LedgerError> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(storage("enabling the write-ahead log"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LedgerError::PragmaNotApplied {
            pragma: "journal_mode",
            expected: "WAL",
            found: mode,
        });
    }
    set_and_check(conn, "synchronous", "FULL", 2)?;
    set_and_check(conn, "foreign_keys", "ON", 1)?;
    // Only meaningful on macOS, where fsync() does not reach stable storage; a no-op elsewhere.
    conn.pragma_update(None, "fullfsync", "ON")
        .map_err(storage("enabling fullfsync"))?;
    Ok(())
}

fn set_and_check(
    conn: &Connection,
    pragma: &'static str,
    value: &'static str,
    expected: i64,
) -> Result<(), LedgerError> {
    conn.pragma_update(None, pragma, value)
        .map_err(storage("applying a durability setting"))?;
    let found: i64 = conn
        .pragma_query_value(None, pragma, |row| row.get(0))
        .map_err(storage("reading back a durability setting"))?;
    if found == expected {
        Ok(())
    } else {
        Err(LedgerError::PragmaNotApplied {
            pragma,
            expected: value,
            found: found.to_string(),
        })
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] inside one write transaction, so two processes
/// opening a fresh file at once cannot both run a migration.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), LedgerError> {
    if check_version(conn, path)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(storage("starting the schema migration"))?;
    let version = check_version(&tx, path)?;
    if version == 0 {
        let objects: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(storage("inspecting the database"))?;
        if objects > 0 {
            return Err(LedgerError::NotALedger(path.display().to_string()));
        }
    }
    for migration in MIGRATIONS
        .iter()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        tx.execute_batch(migration)
            .map_err(storage("migrating the schema"))?;
    }
    if version < TREE_VERSION {
        // Build the tree of the records already there, once, in the migration transaction.
        let size = read_head(&tx)?.map_or(0, |h| h.size);
        tree::backfill(&tx, size)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(storage("recording the schema version"))?;
    tx.commit()
        .map_err(storage("committing the schema migration"))
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
        let request = AppendRequest {
            guard: Some(AppendGuard {
                kinds: kind_slice(kind),
                since,
            }),
            ..AppendRequest::records(drafts.to_vec())
        };
        append_one(self, request)
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

    fn put_attestation(&mut self, digest: &str, bytes: &[u8]) -> Result<(), LedgerError> {
        check_attestation(digest, bytes)?;
        self.writable()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage("starting an attestation insert"))?;
        let existing = select_attestation(&tx, digest)?;
        match existing {
            Some(stored) if stored == bytes => return Ok(()),
            Some(_) => return Err(LedgerError::AttestationConflict(digest.to_owned())),
            None => {}
        }
        tx.execute(
            "INSERT INTO attestations (digest, bytes) VALUES (?1, ?2)",
            params![digest, bytes],
        )
        .map_err(storage("inserting an attestation"))?;
        tx.commit().map_err(storage("committing an attestation"))
    }

    fn attestation(&self, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
        if parse_prefixed(digest).is_none() {
            return Err(LedgerError::InvalidDigest(digest.to_owned()));
        }
        let stored = select_attestation(&self.conn, digest)?;
        match stored {
            Some(bytes) if sha256_prefixed(&bytes) != digest => Err(LedgerError::Inconsistent(
                format!("stored attestation `{digest}` does not match its digest"),
            )),
            other => Ok(other),
        }
    }

    fn file_attestation(
        &mut self,
        model: &str,
        version: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<(), LedgerError> {
        check_attestation(digest, bytes)?;
        self.writable()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage("starting an attestation filing"))?;
        match select_attestation(&tx, digest)? {
            Some(stored) if stored != bytes => {
                return Err(LedgerError::AttestationConflict(digest.to_owned()))
            }
            Some(_) => {}
            None => {
                tx.execute(
                    "INSERT INTO attestations (digest, bytes) VALUES (?1, ?2)",
                    params![digest, bytes],
                )
                .map_err(storage("inserting an attestation"))?;
            }
        }
        tx.execute(
            "INSERT INTO attestation_index (model, version, digest) VALUES (?1, ?2, ?3) \
             ON CONFLICT (model, version, digest) DO NOTHING",
            params![model, version, digest],
        )
        .map_err(storage("filing an attestation"))?;
        tx.commit()
            .map_err(storage("committing an attestation filing"))
    }

    fn filed_attestations(&self, model: &str, version: &str) -> Result<Vec<Vec<u8>>, LedgerError> {
        if self.version < ATTESTATION_INDEX_VERSION {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT i.digest, a.bytes FROM attestation_index i \
                 JOIN attestations a ON a.digest = i.digest \
                 WHERE i.model = ?1 AND i.version = ?2 ORDER BY i.seq",
            )
            .map_err(storage("preparing the attestation index query"))?;
        let rows = stmt
            .query_map(params![model, version], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
            })
            .map_err(storage("reading the attestation index"))?;
        let mut out = Vec::new();
        for row in rows {
            let (digest, bytes) = row.map_err(storage("reading the attestation index"))?;
            if sha256_prefixed(&bytes) != digest {
                return Err(LedgerError::Inconsistent(format!(
                    "stored attestation `{digest}` does not match its digest"
                )));
            }
            out.push(bytes);
        }
        Ok(out)
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
        Ok(tree::checkpoints(&self.conn, true)?.into_iter().next())
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, LedgerError> {
        self.has_tree("checkpoints")?;
        tree::checkpoints(&self.conn, false)
    }
}

impl NodeSource for SqliteStore {
    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        self.tree_node(level, index)
    }
}

impl SqliteStore {
    /// The batch transaction: read and check the head once, admit each request against the
    /// running head, write the admitted ones, move the head, commit (one sync).
    fn commit_batch(&mut self, batch: &[AppendRequest]) -> Result<Vec<AppendOutcome>, LedgerError> {
        if batch.iter().all(AppendRequest::is_empty) {
            return Ok(batch.iter().map(|_| Ok(Vec::new())).collect());
        }
        self.writable()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage("starting an append"))?;
        let head = checked_head(&tx)?;
        let mut batch_state = BatchState {
            head,
            filed: Vec::new(),
        };
        let mut outcomes = Vec::with_capacity(batch.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO records (idx, kind, leaf_hash, bytes) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(storage("preparing the record insert"))?;
            let mut keep = tx
                .prepare_cached(
                    "INSERT INTO attestations (digest, bytes) VALUES (?1, ?2) \
                     ON CONFLICT (digest) DO NOTHING",
                )
                .map_err(storage("preparing the attestation insert"))?;
            let stored_nodes = tree::SqlNodes(&tx);
            let mut nodes = Overlay::new(&stored_nodes);
            for request in batch {
                let sealed = match admit(&tx, &batch_state, request)? {
                    Ok(sealed) => sealed,
                    Err(refusal) => {
                        outcomes.push(Err(refusal));
                        continue;
                    }
                };
                for (digest, bytes) in &request.attestations {
                    keep.execute(params![digest, bytes])
                        .map_err(storage("inserting an attestation"))?;
                }
                for (draft, record) in request.drafts.iter().zip(&sealed) {
                    tree::insert_nodes(&tx, &nodes.push(record.index, record.leaf_hash)?)?;
                    insert
                        .execute(params![
                            sql_index(record.index)?,
                            draft.kind.as_str(),
                            &record.leaf_hash[..],
                            &record.bytes
                        ])
                        .map_err(storage("inserting a record"))?;
                    batch_state.filed.push((draft.kind, record.index));
                }
                batch_state.advance(&sealed)?;
                outcomes.push(Ok(sealed));
            }
        }
        if let Some(last) = batch_state.head.filter(|h| Some(*h) != head) {
            tx.execute(
                "INSERT INTO head (id, size, leaf_hash) VALUES (0, ?1, ?2) \
                 ON CONFLICT (id) DO UPDATE SET size = excluded.size, leaf_hash = excluded.leaf_hash",
                params![sql_index(last.size)?, &last.leaf_hash[..]],
            )
            .map_err(storage("moving the head"))?;
        }
        // With WAL and synchronous=FULL, COMMIT returns only after the log is synced.
        tx.commit().map_err(storage("committing an append"))?;
        Ok(outcomes)
    }
}

/// The head as the batch has moved it so far, and the records it has filed.
struct BatchState {
    head: Option<Head>,
    filed: Vec<(RecordKind, u64)>,
}

impl BatchState {
    fn advance(&mut self, sealed: &[SealedRecord]) -> Result<(), LedgerError> {
        if let Some(last) = sealed.last() {
            let size = last
                .index
                .checked_add(1)
                .ok_or(LedgerError::IndexOutOfRange(last.index))?;
            self.head = Some(Head {
                size,
                leaf_hash: last.leaf_hash,
            });
        }
        Ok(())
    }
}

/// The head row, checked against the highest stored index: a store whose bookkeeping
/// contradicts itself refuses to append instead of forking the chain.
fn checked_head(tx: &Connection) -> Result<Option<Head>, LedgerError> {
    let head = read_head(tx)?;
    let highest: Option<i64> = tx
        .query_row("SELECT MAX(idx) FROM records", [], |row| row.get(0))
        .map_err(storage("reading the highest index"))?;
    let head_size = head.map_or(0, |h| h.size);
    let stored_size = highest.map_or(Ok(0), |h| u64::try_from(h).map(|h| h + 1));
    if stored_size != Ok(head_size) {
        return Err(LedgerError::Inconsistent(format!(
            "head says {head_size} records but the highest stored index is {}",
            highest.map_or_else(|| "none".to_owned(), |h| h.to_string())
        )));
    }
    Ok(head)
}

/// Decides whether `request` can follow the batch so far and seals its records if so. The outer
/// `Err` is a storage failure (the whole batch fails); the inner one refuses this request only.
fn admit(
    tx: &Connection,
    state: &BatchState,
    request: &AppendRequest,
) -> Result<AppendOutcome, LedgerError> {
    if let Some(guard) = request.guard {
        let mut filed = state.filed.clone();
        for &kind in guard.kinds {
            let stored: Option<i64> = tx
                .query_row(
                    "SELECT MIN(idx) FROM records WHERE kind = ?1 AND idx >= ?2",
                    params![kind.as_str(), sql_index(guard.since)?],
                    |row| row.get(0),
                )
                .map_err(storage("checking the append guard"))?;
            filed.extend(
                stored
                    .and_then(|i| u64::try_from(i).ok())
                    .map(|i| (kind, i)),
            );
        }
        if let Some((kind, index)) = guard.trips_on(filed) {
            return Ok(Err(LedgerError::Raced { kind, index }));
        }
    }
    for (digest, bytes) in &request.attestations {
        if let Err(refusal) = check_attestation(digest, bytes) {
            return Ok(Err(refusal));
        }
        if select_attestation(tx, digest)?.is_some_and(|stored| stored != *bytes) {
            return Ok(Err(LedgerError::AttestationConflict(digest.clone())));
        }
    }
    Ok(seal_batch(&request.drafts, state.head, |_, _| Ok(())))
}

/// A `'static` one-kind slice for [`AppendGuard::kinds`].
fn kind_slice(kind: RecordKind) -> &'static [RecordKind] {
    let at = RecordKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    RecordKind::ALL.get(at..=at).unwrap_or(&[])
}

/// Refuses a digest that is malformed or not the SHA-256 of `bytes`.
fn check_attestation(digest: &str, bytes: &[u8]) -> Result<(), LedgerError> {
    if parse_prefixed(digest).is_none() {
        return Err(LedgerError::InvalidDigest(digest.to_owned()));
    }
    let actual = sha256_prefixed(bytes);
    if actual != digest {
        return Err(LedgerError::AttestationDigestMismatch {
            claimed: digest.to_owned(),
            actual,
        });
    }
    Ok(())
}

/// The stored bytes of attestation `digest`, if any.
fn select_attestation(conn: &Connection, digest: &str) -> Result<Option<Vec<u8>>, LedgerError> {
    conn.query_row(
        "SELECT bytes FROM attestations WHERE digest = ?1",
        [digest],
        |row| row.get(0),
    )
    .optional()
    .map_err(storage("reading an attestation"))
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
