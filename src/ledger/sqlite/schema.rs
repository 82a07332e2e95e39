//! The schema of [`super::SqliteStore`]: versioned migrations (`PRAGMA user_version`), applied
//! in one write transaction, and the durability settings checked at every open.

use std::path::Path;

use super::{
    read_head, storage, tree, Connection, TransactionBehavior, SCHEMA_VERSION, TREE_VERSION,
};
use crate::ledger::LedgerError;

/// Migration `n` (1-based) brings a database from `user_version` `n - 1` to `n`.
/// `STRICT` tables and `CHECK`s refuse malformed rows at the database level too.
const MIGRATIONS: [&str; 5] = [
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
    // One scratch row the write probe rewrites (`Store::probe_write`); never part of the ledger.
    "CREATE TABLE probe (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        filler BLOB NOT NULL
    ) STRICT;",
];

/// Reads `user_version`, refusing versions this build does not understand.
pub(super) fn check_version(conn: &Connection, path: &Path) -> Result<i64, LedgerError> {
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
pub(super) fn configure_durability(conn: &Connection) -> Result<(), LedgerError> {
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
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), LedgerError> {
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
