//! The schema of [`super::PgStore`]: versioned migrations recorded in `modelgate_schema`,
//! applied at open in one transaction under an advisory lock (replicas starting together apply
//! each migration once), and the durability check.

use postgres::Client;

use super::storage;
use crate::ledger::LedgerError;

/// Schema version this build creates and understands.
pub const SCHEMA_VERSION: i32 = 1;

/// The advisory lock key of migrations: "mgmi" in ASCII.
const MIGRATION_LOCK: i64 = 0x6d67_6d69;

/// Migration `n` (1-based) brings the database from version `n - 1` to `n`. `CHECK`s refuse
/// malformed rows in the database too; triggers keep the history tables append-only.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = ["
    CREATE TABLE records (
        idx BIGINT PRIMARY KEY CHECK (idx >= 0),
        kind TEXT NOT NULL,
        leaf_hash BYTEA NOT NULL CHECK (length(leaf_hash) = 32),
        bytes BYTEA NOT NULL,
        -- The model a decision's request names (an accelerator: readers re-check the bytes).
        model TEXT
    );
    CREATE INDEX records_by_kind ON records (kind, idx);
    CREATE INDEX decisions_by_model ON records (model, idx) WHERE kind = 'decision';
    CREATE TABLE head (
        id INTEGER PRIMARY KEY CHECK (id = 0),
        size BIGINT NOT NULL CHECK (size >= 0),
        leaf_hash BYTEA NOT NULL CHECK (length(leaf_hash) IN (0, 32))
    );
    INSERT INTO head (id, size, leaf_hash) VALUES (0, 0, '');
    CREATE TABLE attestations (
        digest TEXT PRIMARY KEY,
        bytes BYTEA NOT NULL
    );
    CREATE TABLE attestation_index (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        model TEXT NOT NULL,
        version TEXT NOT NULL,
        digest TEXT NOT NULL REFERENCES attestations (digest),
        UNIQUE (model, version, digest)
    );
    CREATE TABLE tree_nodes (
        level INTEGER NOT NULL CHECK (level >= 0 AND level < 64),
        idx BIGINT NOT NULL CHECK (idx >= 0),
        hash BYTEA NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (level, idx)
    );
    CREATE TABLE checkpoints (
        size BIGINT PRIMARY KEY CHECK (size > 0),
        note TEXT NOT NULL
    );
    CREATE TABLE probe (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        filler BYTEA NOT NULL
    );
    CREATE FUNCTION modelgate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'modelgate: % on % refused: the ledger is append-only', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON records
        FOR EACH ROW EXECUTE FUNCTION modelgate_append_only();
    CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON records
        FOR EACH STATEMENT EXECUTE FUNCTION modelgate_append_only();
    CREATE TRIGGER tree_nodes_append_only BEFORE UPDATE OR DELETE ON tree_nodes
        FOR EACH ROW EXECUTE FUNCTION modelgate_append_only();
    CREATE TRIGGER tree_nodes_no_truncate BEFORE TRUNCATE ON tree_nodes
        FOR EACH STATEMENT EXECUTE FUNCTION modelgate_append_only();
    CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
        FOR EACH ROW EXECUTE FUNCTION modelgate_append_only();
    CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION modelgate_append_only();
    CREATE TRIGGER attestations_append_only BEFORE UPDATE OR DELETE ON attestations
        FOR EACH ROW EXECUTE FUNCTION modelgate_append_only();
    CREATE TRIGGER attestations_no_truncate BEFORE TRUNCATE ON attestations
        FOR EACH STATEMENT EXECUTE FUNCTION modelgate_append_only();
    CREATE TRIGGER attestation_index_append_only BEFORE UPDATE OR DELETE ON attestation_index
        FOR EACH ROW EXECUTE FUNCTION modelgate_append_only();
    CREATE TRIGGER attestation_index_no_truncate BEFORE TRUNCATE ON attestation_index
        FOR EACH STATEMENT EXECUTE FUNCTION modelgate_append_only();
    CREATE TRIGGER head_no_delete BEFORE DELETE OR TRUNCATE ON head
        FOR EACH STATEMENT EXECUTE FUNCTION modelgate_append_only();
"];

/// The schema version recorded in the database, `None` when it holds no modelgate schema.
pub(super) fn version(client: &mut Client) -> Result<Option<i32>, LedgerError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('modelgate_schema') IS NOT NULL", &[])
        .and_then(|row| row.try_get(0))
        .map_err(storage("reading the schema version"))?;
    if !exists {
        return Ok(None);
    }
    client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM modelgate_schema",
            &[],
        )
        .and_then(|row| row.try_get(0))
        .map(Some)
        .map_err(storage("reading the schema version"))
}

/// Applies the migrations the database lacks, one transaction under the migration lock.
pub(super) fn migrate(client: &mut Client) -> Result<(), LedgerError> {
    let mut tx = client
        .transaction()
        .map_err(storage("starting the schema migration"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(storage("taking the migration lock"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS modelgate_schema (
            version INTEGER PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .map_err(storage("creating the schema version table"))?;
    let found: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM modelgate_schema",
            &[],
        )
        .and_then(|row| row.try_get(0))
        .map_err(storage("reading the schema version"))?;
    if found > SCHEMA_VERSION {
        return Err(LedgerError::SchemaTooNew {
            found: i64::from(found),
            supported: i64::from(SCHEMA_VERSION),
        });
    }
    for (at, migration) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let to = i32::try_from(at + 1).unwrap_or(i32::MAX);
        tx.batch_execute(migration)
            .map_err(storage("applying a schema migration"))?;
        tx.execute("INSERT INTO modelgate_schema (version) VALUES ($1)", &[&to])
            .map_err(storage("recording a schema migration"))?;
        tracing::info!(version = to, "PostgreSQL ledger schema migrated");
    }
    tx.commit()
        .map_err(storage("committing the schema migration"))
}

/// Refuses a database that does not hold exactly this build's schema: none (not a ledger), an
/// older one (open it for writing once to migrate) or a newer one (a newer modelgate migrated it).
pub(super) fn expect_current(client: &mut Client, target: &str) -> Result<(), LedgerError> {
    match version(client)? {
        None | Some(0) => Err(LedgerError::NotALedger(target.to_owned())),
        Some(v) if v > SCHEMA_VERSION => Err(LedgerError::SchemaTooNew {
            found: i64::from(v),
            supported: i64::from(SCHEMA_VERSION),
        }),
        Some(v) if v < SCHEMA_VERSION => Err(LedgerError::NeedsMigration {
            found: i64::from(v),
            required: i64::from(SCHEMA_VERSION),
            feature: "the current schema",
        }),
        Some(_) => Ok(()),
    }
}

/// Refuses a server that does not flush its write-ahead log: a commit there is not durable.
/// (`synchronous_commit` is set to `on` for every session of the store, so it is not checked
/// here.)
pub(super) fn check_durability(client: &mut Client) -> Result<(), LedgerError> {
    let value: String = client
        .query_one("SHOW fsync", &[])
        .and_then(|row| row.try_get(0))
        .map_err(storage("reading the durability settings"))?;
    if value != "on" {
        return Err(LedgerError::NotDurable(format!(
            "the PostgreSQL server runs with `fsync = {value}`, so a commit may be lost in a \
             crash; set it to `on`"
        )));
    }
    Ok(())
}
