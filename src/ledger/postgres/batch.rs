//! The write transactions of [`super::PgStore`]: the group-commit batch, attestation filing,
//! checkpoints and the raw import `storage migrate` uses.
//!
//! A batch costs a fixed number of round trips whatever its size: lock and read the head, read
//! the guard records and the stored attestations the batch names (one query each), then one
//! multi-row insert each for attestations, records and tree nodes (`unnest` of arrays), one head
//! update and the commit.

use std::cell::RefCell;
use std::collections::HashMap;

use postgres::Transaction;

use super::{node_hash, read_head, read_node, sql_index, storage, to_u64, Cached, Session, Sql};
use crate::ledger::merkle::{Hash, NodeSource, Overlay};
use crate::ledger::record::{leaf_hash, parse_record, RecordKind, GENESIS_PREV};
use crate::ledger::store::{
    check_attestation, seal_batch, AppendOutcome, AppendRequest, Head, RunningHead, StoredRecord,
};
use crate::ledger::LedgerError;

/// The batch's transaction with the session's prepared statements.
type Tx<'s, 't> = Cached<'s, Transaction<'t>>;

/// Perfect nodes for the batch: the frontier read under the lock, else read through the batch's
/// transaction (not needed when the frontier is complete, kept for safety).
struct TxNodes<'a, 's, 't>(&'a HashMap<(u32, u64), Hash>, &'a RefCell<Tx<'s, 't>>);

impl NodeSource for TxNodes<'_, '_, '_> {
    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        if let Some(hash) = self.0.get(&(level, index)) {
            return Ok(*hash);
        }
        let mut tx = self
            .1
            .try_borrow_mut()
            .map_err(|_| LedgerError::Inconsistent("the batch transaction is in use".to_owned()))?;
        read_node(&mut *tx, level, index)
    }
}

/// Rows a batch writes, gathered first and inserted with one statement.
#[derive(Default)]
struct Rows {
    idx: Vec<i64>,
    kind: Vec<&'static str>,
    leaf: Vec<Vec<u8>>,
    bytes: Vec<Vec<u8>>,
    model: Vec<Option<String>>,
    node_level: Vec<i32>,
    node_idx: Vec<i64>,
    node_hash: Vec<Vec<u8>>,
    digests: Vec<String>,
    attestations: Vec<Vec<u8>>,
}

impl Rows {
    fn record(
        &mut self,
        index: u64,
        kind: RecordKind,
        leaf: Hash,
        bytes: &[u8],
        model: Option<String>,
    ) -> Result<(), LedgerError> {
        self.idx.push(sql_index(index)?);
        self.kind.push(kind.as_str());
        self.leaf.push(leaf.to_vec());
        self.bytes.push(bytes.to_vec());
        self.model.push(model);
        Ok(())
    }

    fn nodes(&mut self, nodes: &[(u32, u64, Hash)]) -> Result<(), LedgerError> {
        for &(level, index, hash) in nodes {
            self.node_level
                .push(i32::try_from(level).map_err(|_| LedgerError::IndexOutOfRange(index))?);
            self.node_idx.push(sql_index(index)?);
            self.node_hash.push(hash.to_vec());
        }
        Ok(())
    }

    /// Inserts every gathered row and moves the head to `head`, in one statement (data-modifying
    /// common table expressions: one round trip while the head row is locked).
    fn write(&self, tx: &mut impl Sql, head: Head) -> Result<(), LedgerError> {
        tx.execute(
            "WITH a AS (INSERT INTO attestations (digest, bytes) \
                 SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (digest) DO NOTHING), \
             r AS (INSERT INTO records (idx, kind, leaf_hash, bytes, model) \
                 SELECT * FROM unnest($3::bigint[], $4::text[], $5::bytea[], $6::bytea[], $7::text[])), \
             t AS (INSERT INTO tree_nodes (level, idx, hash) \
                 SELECT * FROM unnest($8::int[], $9::bigint[], $10::bytea[])) \
             UPDATE head SET size = $11, leaf_hash = $12 WHERE id = 0",
            &[
                &self.digests,
                &self.attestations,
                &self.idx,
                &self.kind,
                &self.leaf,
                &self.bytes,
                &self.model,
                &self.node_level,
                &self.node_idx,
                &self.node_hash,
                &sql_index(head.size)?,
                &&head.leaf_hash[..],
            ],
        )
        .map_err(storage("writing a batch"))?;
        Ok(())
    }

    /// Inserts attestations alone (a batch that appends no record).
    fn write_attestations(&self, tx: &mut impl Sql) -> Result<(), LedgerError> {
        if self.digests.is_empty() {
            return Ok(());
        }
        tx.execute(
            "INSERT INTO attestations (digest, bytes) \
             SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (digest) DO NOTHING",
            &[&self.digests, &self.attestations],
        )
        .map_err(storage("inserting attestations"))?;
        Ok(())
    }
}

/// The model a decision body's request names (filed in the `model` column).
fn decision_model(kind: RecordKind, body: &serde_json::Value) -> Option<String> {
    (kind == RecordKind::Decision)
        .then(|| body.pointer("/request/model")?.as_str().map(str::to_owned))
        .flatten()
}

/// What an appender reads once it holds the head row: the head, the guard records, and the
/// frontier of the tree (the perfect nodes the next leaves are hashed with).
struct Locked {
    head: Option<Head>,
    guarded: Vec<(RecordKind, u64)>,
    frontier: HashMap<(u32, u64), Hash>,
}

/// Locks the head row, then reads, in one more statement (a fresh snapshot under read committed,
/// so it sees every batch committed before the lock was granted): the highest stored index (a
/// store whose bookkeeping contradicts itself refuses to append instead of forking the chain),
/// the records of the guarded kinds filed at or after the lowest `since` of the batch, and the
/// frontier nodes.
fn lock_and_read(tx: &mut impl Sql, batch: &[AppendRequest]) -> Result<Locked, LedgerError> {
    let head = read_head(tx, true)?;
    let head_size = head.map_or(0, |h| h.size);
    let guards: Vec<_> = batch.iter().filter_map(|r| r.guard).collect();
    let since = guards.iter().map(|g| g.since).min().unwrap_or(u64::MAX);
    let mut kinds: Vec<&str> = guards
        .iter()
        .flat_map(|g| g.kinds.iter().map(|k| k.as_str()))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let (mut levels, mut indices) = (Vec::new(), Vec::new());
    for level in 0..64u32 {
        if head_size >> level & 1 == 1 {
            levels.push(i32::try_from(level).unwrap_or(i32::MAX));
            indices.push(sql_index((head_size >> level) - 1)?);
        }
    }
    let rows = tx
        .query(
            "SELECT 0 AS part, MAX(idx) AS idx, NULL::text AS kind, NULL::int AS level, \
                    NULL::bytea AS hash FROM records \
             UNION ALL \
             SELECT 1, idx, kind, NULL, NULL FROM records WHERE kind = ANY($1) AND idx >= $2 \
             UNION ALL \
             SELECT 2, n.idx, NULL, n.level, n.hash FROM tree_nodes n \
                 JOIN unnest($3::int[], $4::bigint[]) AS f(level, idx) \
                 ON n.level = f.level AND n.idx = f.idx \
             UNION ALL \
             SELECT 3, MAX(version), NULL, NULL, NULL FROM modelgate_schema",
            &[
                &kinds,
                &i64::try_from(since).unwrap_or(i64::MAX),
                &levels,
                &indices,
            ],
        )
        .map_err(storage("reading the head's state"))?;
    let mut highest: Option<i64> = None;
    let mut guarded = Vec::new();
    let mut frontier = HashMap::new();
    for row in &rows {
        let part: i32 = row
            .try_get(0)
            .map_err(storage("reading the head's state"))?;
        let idx: Option<i64> = row
            .try_get(1)
            .map_err(storage("reading the head's state"))?;
        match part {
            0 => highest = idx,
            3 => {
                // A newer modelgate migrated the schema since this session checked it: stop
                // appending rather than write under a layout this build does not know.
                let found = idx.unwrap_or(0);
                if found != i64::from(super::SCHEMA_VERSION) {
                    return Err(LedgerError::SchemaTooNew {
                        found,
                        supported: i64::from(super::SCHEMA_VERSION),
                    });
                }
            }
            1 => {
                let kind: String = row
                    .try_get(2)
                    .map_err(storage("reading the head's state"))?;
                let kind = kind.parse::<RecordKind>().map_err(|_| {
                    LedgerError::Inconsistent(format!("stored kind `{kind}` is not a record kind"))
                })?;
                let idx = idx.ok_or_else(|| {
                    LedgerError::Inconsistent("a record without an index".to_owned())
                })?;
                guarded.push((kind, to_u64(idx, "record index")?));
            }
            _ => {
                let level: i32 = row
                    .try_get(3)
                    .map_err(storage("reading the head's state"))?;
                let hash: Vec<u8> = row
                    .try_get(4)
                    .map_err(storage("reading the head's state"))?;
                let (Some(idx), Ok(level)) = (idx, u32::try_from(level)) else {
                    continue;
                };
                let index = to_u64(idx, "tree node index")?;
                frontier.insert((level, index), node_hash(level, index, &hash)?);
            }
        }
    }
    let stored = highest.map_or(Ok(0), |h| to_u64(h, "record index").map(|h| h + 1))?;
    if stored != head_size {
        return Err(LedgerError::Inconsistent(format!(
            "head says {head_size} records but the highest stored index is {}",
            highest.map_or_else(|| "none".to_owned(), |h| h.to_string())
        )));
    }
    guarded.sort_by_key(|&(_, index)| index);
    Ok(Locked {
        head,
        guarded,
        frontier,
    })
}

/// The stored bytes of every attestation the batch names.
fn stored_attestations(
    tx: &mut impl Sql,
    batch: &[AppendRequest],
) -> Result<HashMap<String, Vec<u8>>, LedgerError> {
    let digests: Vec<&str> = batch
        .iter()
        .flat_map(|r| r.attestations.iter().map(|(d, _)| d.as_str()))
        .collect();
    if digests.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = tx
        .query(
            "SELECT digest, bytes FROM attestations WHERE digest = ANY($1)",
            &[&digests],
        )
        .map_err(storage("reading attestations"))?;
    rows.iter()
        .map(|row| {
            let digest: String = row.try_get(0).map_err(storage("reading attestations"))?;
            let bytes: Vec<u8> = row.try_get(1).map_err(storage("reading attestations"))?;
            Ok((digest, bytes))
        })
        .collect()
}

/// Why a batch is not acknowledged.
pub(super) enum CommitError {
    /// It was not committed (anything before `COMMIT`, or `COMMIT` answered with an error).
    Failed(LedgerError),
    /// The connection broke while `COMMIT` was in flight: committed or not, the server knows.
    Unknown {
        /// The outcomes, if it was committed.
        outcomes: Vec<AppendOutcome>,
        /// Index and leaf hash of the batch's last record, to look for.
        last: (u64, Hash),
        /// What the commit came to.
        error: LedgerError,
    },
}

impl From<LedgerError> for CommitError {
    fn from(e: LedgerError) -> Self {
        CommitError::Failed(e)
    }
}

/// The batch transaction: lock the head, admit each request against the running head, write the
/// admitted ones, move the head, commit.
pub(super) fn commit(
    session: &mut Session,
    batch: &[AppendRequest],
) -> Result<Vec<AppendOutcome>, CommitError> {
    let Session { client, statements } = session;
    let mut transaction = client
        .transaction()
        .map_err(storage("starting an append"))?;
    let mut tx = Cached {
        client: &mut transaction,
        statements,
    };
    // Attestations are content-addressed (bytes fixed by their digest), so they are read before
    // the lock: the head row is held only for what depends on it.
    let mut known = stored_attestations(&mut tx, batch)?;
    let Locked {
        head,
        guarded,
        frontier,
    } = lock_and_read(&mut tx, batch)?;
    let mut running = RunningHead::new(head);
    let mut rows = Rows::default();
    let mut outcomes = Vec::with_capacity(batch.len());
    let cell = RefCell::new(tx);
    {
        let stored_nodes = TxNodes(&frontier, &cell);
        let mut nodes = Overlay::new(&stored_nodes);
        for request in batch {
            let sealed = match admit(&guarded, &known, &running, request) {
                Ok(sealed) => sealed,
                Err(refusal) => {
                    outcomes.push(Err(refusal));
                    continue;
                }
            };
            for (digest, bytes) in &request.attestations {
                if !known.contains_key(digest) {
                    known.insert(digest.clone(), bytes.clone());
                    rows.digests.push(digest.clone());
                    rows.attestations.push(bytes.clone());
                }
            }
            for (draft, record) in request.drafts.iter().zip(&sealed) {
                rows.nodes(&nodes.push(record.index, record.leaf_hash)?)?;
                let model = decision_model(draft.kind, &draft.body);
                rows.record(
                    record.index,
                    draft.kind,
                    record.leaf_hash,
                    &record.bytes,
                    model,
                )?;
            }
            running.advance(&request.drafts, &sealed)?;
            outcomes.push(Ok(sealed));
        }
    }
    let mut tx = cell.into_inner();
    let moved = running.head.filter(|h| Some(*h) != head);
    match moved {
        Some(last) => rows.write(&mut tx, last)?,
        None => rows.write_attestations(&mut tx)?,
    }
    // synchronous_commit = on: COMMIT returns once the WAL record is flushed.
    match transaction.commit() {
        Ok(()) => Ok(outcomes),
        Err(e) => {
            // The server answering COMMIT with an error means it did not commit; any other
            // failure (the connection closed, an I/O error) leaves the outcome with the server.
            let lost = e.as_db_error().is_none();
            let error = storage("committing an append")(e);
            match moved {
                Some(last) if lost => Err(CommitError::Unknown {
                    outcomes,
                    last: (last.size - 1, last.leaf_hash),
                    error,
                }),
                _ => Err(CommitError::Failed(error)),
            }
        }
    }
}

/// Whether `request` can follow the batch so far; its sealed records if so, the refusal if not.
fn admit(
    guarded: &[(RecordKind, u64)],
    known: &HashMap<String, Vec<u8>>,
    running: &RunningHead,
    request: &AppendRequest,
) -> AppendOutcome {
    if let Some(guard) = request.guard {
        let filed = guarded.iter().chain(&running.filed).copied();
        if let Some((kind, index)) = guard.trips_on(filed) {
            return Err(LedgerError::Raced { kind, index });
        }
    }
    for (digest, bytes) in &request.attestations {
        check_attestation(digest, bytes)?;
        if known.get(digest).is_some_and(|stored| stored != bytes) {
            return Err(LedgerError::AttestationConflict(digest.clone()));
        }
    }
    seal_batch(&request.drafts, running.head, |_, _| Ok(()))
}

/// Stores `bytes` under `digest` (checked by the caller) unless the identical bytes are there,
/// and files it under `filed_as` (model, version) if given; one transaction.
pub(super) fn put_attestation(
    session: &mut Session,
    filed_as: Option<(&str, &str)>,
    digest: &str,
    bytes: &[u8],
) -> Result<(), LedgerError> {
    let Session { client, statements } = session;
    let mut transaction = client
        .transaction()
        .map_err(storage("starting an attestation insert"))?;
    let mut tx = Cached {
        client: &mut transaction,
        statements,
    };
    tx.execute(
        "INSERT INTO attestations (digest, bytes) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
        &[&digest, &bytes],
    )
    .map_err(storage("inserting an attestation"))?;
    let stored: Vec<u8> = tx
        .query_one(
            "SELECT bytes FROM attestations WHERE digest = $1",
            &[&digest],
        )
        .and_then(|row| row.try_get(0))
        .map_err(storage("reading an attestation"))?;
    if stored != bytes {
        return Err(LedgerError::AttestationConflict(digest.to_owned()));
    }
    if let Some((model, version)) = filed_as {
        tx.execute(
            "INSERT INTO attestation_index (model, version, digest) VALUES ($1, $2, $3) \
             ON CONFLICT (model, version, digest) DO NOTHING",
            &[&model, &version, &digest],
        )
        .map_err(storage("filing an attestation"))?;
    }
    transaction
        .commit()
        .map_err(storage("committing an attestation"))
}

/// Stores checkpoint `note` for `size` (see [`crate::ledger::Store::put_checkpoint`]).
pub(super) fn put_checkpoint(
    session: &mut Session,
    size: u64,
    note: &str,
) -> Result<(), LedgerError> {
    if size == 0 {
        return Err(LedgerError::EmptyCheckpoint);
    }
    let Session { client, statements } = session;
    let mut transaction = client
        .transaction()
        .map_err(storage("starting a checkpoint insert"))?;
    let mut tx = Cached {
        client: &mut transaction,
        statements,
    };
    let ledger_size = read_head(&mut tx, false)?.map_or(0, |h| h.size);
    if size > ledger_size {
        return Err(LedgerError::TreeBeyondLedger {
            requested: size,
            size: ledger_size,
        });
    }
    let size_sql = sql_index(size)?;
    tx.execute(
        "INSERT INTO checkpoints (size, note) VALUES ($1, $2) ON CONFLICT (size) DO NOTHING",
        &[&size_sql, &note],
    )
    .map_err(storage("inserting a checkpoint"))?;
    let stored: String = tx
        .query_one("SELECT note FROM checkpoints WHERE size = $1", &[&size_sql])
        .and_then(|row| row.try_get(0))
        .map_err(storage("reading a checkpoint"))?;
    if stored != note {
        return Err(LedgerError::CheckpointConflict(size));
    }
    transaction
        .commit()
        .map_err(storage("committing a checkpoint"))
}

/// Appends already-sealed `records` (read from another store) after the head, in one
/// transaction: each must sit at the next index, carry the leaf hash of its bytes and link to the
/// one before. The tree nodes are computed here, not copied.
pub(super) fn import(session: &mut Session, records: &[StoredRecord]) -> Result<(), LedgerError> {
    if records.is_empty() {
        return Ok(());
    }
    let Session { client, statements } = session;
    let mut transaction = client
        .transaction()
        .map_err(storage("starting an import"))?;
    let mut tx = Cached {
        client: &mut transaction,
        statements,
    };
    let Locked { head, frontier, .. } = lock_and_read(&mut tx, &[])?;
    let (mut next, mut prev) = head.map_or((0, GENESIS_PREV), |h| (h.size, h.leaf_hash));
    let mut rows = Rows::default();
    let cell = RefCell::new(tx);
    {
        let stored_nodes = TxNodes(&frontier, &cell);
        let mut nodes = Overlay::new(&stored_nodes);
        for record in records {
            let corrupt = |problem: String| LedgerError::CorruptRow {
                index: record.index,
                problem,
            };
            if record.index != next {
                return Err(LedgerError::Inconsistent(format!(
                    "record {} arrived where record {next} belongs",
                    record.index
                )));
            }
            if leaf_hash(&record.bytes) != record.leaf_hash {
                return Err(corrupt("its leaf hash does not match its bytes".to_owned()));
            }
            let parsed = parse_record(&record.bytes)?;
            if parsed.index != record.index
                || parsed.kind != record.kind
                || parsed.prev != hex::encode(prev)
            {
                return Err(corrupt(
                    "its index, kind or prev link does not match its position".to_owned(),
                ));
            }
            rows.nodes(&nodes.push(record.index, record.leaf_hash)?)?;
            let model = decision_model(record.kind, &parsed.body);
            rows.record(
                record.index,
                record.kind,
                record.leaf_hash,
                &record.bytes,
                model,
            )?;
            prev = record.leaf_hash;
            next += 1;
        }
    }
    let mut tx = cell.into_inner();
    rows.write(
        &mut tx,
        Head {
            size: next,
            leaf_hash: prev,
        },
    )?;
    transaction
        .commit()
        .map_err(storage("committing an import"))
}
