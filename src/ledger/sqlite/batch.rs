//! The batch transaction of [`SqliteStore`] (part of [`super::SqliteStore`]): one
//! `BEGIN IMMEDIATE` transaction and one sync for every request of a group-commit batch, each
//! request admitted or refused on its own against the head as the batch has moved it.

use super::{
    attest, params, read_head, sql_index, storage, tree, Connection, SqliteStore,
    TransactionBehavior,
};
use crate::ledger::merkle::Overlay;
use crate::ledger::store::{seal_batch, AppendOutcome, AppendRequest, Head, RunningHead};
use crate::ledger::LedgerError;

impl SqliteStore {
    /// The batch transaction: read and check the head once, admit each request against the
    /// running head, write the admitted ones, move the head, commit (one sync).
    pub(super) fn commit_batch(
        &mut self,
        batch: &[AppendRequest],
    ) -> Result<Vec<AppendOutcome>, LedgerError> {
        if batch.iter().all(AppendRequest::is_empty) {
            return Ok(batch.iter().map(|_| Ok(Vec::new())).collect());
        }
        self.writable()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage("starting an append"))?;
        let head = checked_head(&tx)?;
        let mut batch_state = RunningHead::new(head);
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
                }
                batch_state.advance(&request.drafts, &sealed)?;
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
    state: &RunningHead,
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
        if let Err(refusal) = attest::check(digest, bytes) {
            return Ok(Err(refusal));
        }
        if attest::select(tx, digest)?.is_some_and(|stored| stored != *bytes) {
            return Ok(Err(LedgerError::AttestationConflict(digest.clone())));
        }
    }
    Ok(seal_batch(&request.drafts, state.head, |_, _| Ok(())))
}
