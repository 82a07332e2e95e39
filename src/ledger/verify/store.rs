//! The walk over a [`Store`]: [`verify_store`] (records, tree, head) and
//! [`verify_store_against`] (the same, plus every stored checkpoint under a verifier key and the
//! checkpoints an auditor holds).

use super::chain::Chain;
use super::pins::Pins;
use super::{VerifyFailure, VerifyReport, VERIFY_BATCH};
use crate::attest::NoteVerifier;
use crate::ledger::checkpoint::{open_checkpoint, Checkpoint};
use crate::ledger::merkle::Hash;
use crate::ledger::record::GENESIS_PREV;
use crate::ledger::store::{Store, StoredRecord};
use crate::ledger::LedgerError;

/// Verifies every record in `store` and its head row. See the module docs for the checks.
///
/// The head is read first and the walk covers exactly the records it announces, so records
/// appended while verification runs are not mistaken for tampering; they are left to the next
/// run. Stored checkpoints are not looked at: see [`verify_store_against`].
pub fn verify_store(store: &dyn Store) -> Result<VerifyReport, LedgerError> {
    walk(store, Pins::new(&[], Vec::new()))
}

/// [`verify_store`], and the checkpoints: every stored checkpoint must open under `verifier`
/// (signature, and origin = the key's name), say the size it is stored under, and name the
/// recomputed root of that many records; every checkpoint in `given` (opened by the caller)
/// must name that root too. A checkpoint beyond the ledger means a cut-off tail. Each
/// checkpoint is checked as soon as the walk has passed its size, so the first finding in
/// ledger order is reported.
///
/// The stored checkpoints are read before the head, so one signed after a concurrent append is
/// never beyond the head this walk covers.
pub fn verify_store_against(
    store: &dyn Store,
    verifier: &NoteVerifier,
    given: &[Checkpoint],
) -> Result<VerifyReport, LedgerError> {
    let stored = store
        .checkpoints()?
        .into_iter()
        .map(|(size, note)| (size, open_stored(size, &note, verifier)))
        .collect();
    walk(store, Pins::new(given, stored))
}

/// The root a stored note commits to, or why it cannot be believed.
fn open_stored(size: u64, note: &str, verifier: &NoteVerifier) -> Result<Hash, String> {
    let cp = open_checkpoint(note, std::slice::from_ref(verifier), Some(verifier.name())).map_err(
        |e| {
            format!(
                "stored checkpoint does not verify under the key `{}` ({:08x}): {e}",
                verifier.name(),
                verifier.key_id()
            )
        },
    )?;
    if cp.size != size {
        return Err(format!(
            "checkpoint stored as size {size} says size {}",
            cp.size
        ));
    }
    Ok(cp.root)
}

fn walk(store: &dyn Store, pins: Pins) -> Result<VerifyReport, LedgerError> {
    let (size, head_hash) = store
        .head()?
        .map_or((0, GENESIS_PREV), |h| (h.size, h.leaf_hash));
    let mut chain = Chain::new(pins);
    if let Some(failure) = chain.check_pins() {
        return Ok(chain.report(Some(failure)));
    }
    while chain.next < size {
        let from = chain.next;
        let rows = match store.records(from, VERIFY_BATCH.min(size - from)) {
            Ok(rows) => rows,
            // A row too damaged to load: check the rows before it, then report it.
            Err(LedgerError::CorruptRow { index, problem }) if index >= from => {
                let before = store.records(from, index - from)?;
                let failure = match check_rows(&mut chain, store, &before)? {
                    Some(failure) => failure,
                    None if chain.next < index => chain.fail(format!(
                        "record is missing (the next stored record is {index})"
                    )),
                    None => chain.fail(problem),
                };
                return Ok(chain.report(Some(failure)));
            }
            Err(e) => return Err(e),
        };
        if rows.is_empty() {
            // Rows deleted at the end while the head row still counts them.
            let failure = chain.fail(format!(
                "record is missing: the head says the ledger holds {size} records"
            ));
            return Ok(chain.report(Some(failure)));
        }
        if let Some(failure) = check_rows(&mut chain, store, &rows)? {
            return Ok(chain.report(Some(failure)));
        }
    }
    if size > 0 && head_hash != chain.prev {
        let failure = VerifyFailure::record(
            size - 1,
            "the head's leaf hash does not match this last record",
        );
        return Ok(chain.report(Some(failure)));
    }
    if let Some(failure) = check_root(store, size, &chain.tree.root())? {
        return Ok(chain.report(Some(failure)));
    }
    if has_rows_beyond_head(store, size)? {
        let failure = chain.fail(format!(
            "record lies beyond the head, which says the ledger holds {size} records"
        ));
        return Ok(chain.report(Some(failure)));
    }
    let beyond = chain.pins_beyond("the ledger");
    Ok(chain.report(beyond))
}

/// Checks a batch of stored rows, which must continue at position `chain.next`, the tree nodes
/// each completes against `store`, and the checkpoints each new size reaches.
fn check_rows(
    chain: &mut Chain,
    store: &dyn Store,
    rows: &[StoredRecord],
) -> Result<Option<VerifyFailure>, LedgerError> {
    for row in rows {
        if row.index > chain.next {
            return Ok(Some(chain.fail(format!(
                "record is missing (the next stored record is {})",
                row.index
            ))));
        }
        if row.index < chain.next {
            return Ok(Some(chain.fail(format!(
                "store returned record {} out of order",
                row.index
            ))));
        }
        let nodes = match chain.check(&row.bytes, Some((&row.leaf_hash, row.kind))) {
            Ok(nodes) => nodes,
            Err(problem) => return Ok(Some(chain.fail(problem))),
        };
        for (level, index, hash) in nodes {
            if let Some(failure) = check_node(store, level, index, &hash)? {
                return Ok(Some(failure));
            }
        }
        if let Some(failure) = chain.check_pins() {
            return Ok(Some(failure));
        }
    }
    Ok(None)
}

/// Compares the stored tree node `(level, index)` with the recomputed `hash`. A disagreement is
/// reported at the first record the node covers.
fn check_node(
    store: &dyn Store,
    level: u32,
    index: u64,
    hash: &Hash,
) -> Result<Option<VerifyFailure>, LedgerError> {
    let first = index << level;
    let last = first + ((1u64 << level) - 1);
    let covering = if level == 0 {
        "of this record".to_owned()
    } else {
        format!("(level {level}, index {index}) over records {first}..={last}")
    };
    let problem = match store.tree_node(level, index) {
        Ok(stored) if stored == *hash => return Ok(None),
        Ok(_) => format!("stored tree node {covering} does not match the records"),
        Err(LedgerError::MissingNode { .. }) => format!("tree node {covering} is missing"),
        Err(LedgerError::CorruptNode { problem, .. }) => {
            format!("stored tree node {covering} is corrupt: {problem}")
        }
        Err(e) => return Err(e),
    };
    Ok(Some(VerifyFailure::record(first, problem)))
}

/// Compares the store's root for `size` (assembled from stored nodes) with the recomputed one.
fn check_root(
    store: &dyn Store,
    size: u64,
    root: &Hash,
) -> Result<Option<VerifyFailure>, LedgerError> {
    let Some(last) = size.checked_sub(1) else {
        return Ok(None);
    };
    let problem = match store.tree_root(size) {
        Ok(stored) if stored == *root => return Ok(None),
        Ok(_) => "the stored tree's root does not match the records".to_owned(),
        Err(LedgerError::MissingNode { level, index }) => {
            format!("tree node (level {level}, index {index}) needed for the root is missing")
        }
        Err(LedgerError::CorruptNode { problem, .. }) => {
            format!("a tree node needed for the root is corrupt: {problem}")
        }
        Err(e) => return Err(e),
    };
    Ok(Some(VerifyFailure::record(last, problem)))
}

/// Whether rows exist at or after `size` that no append accounts for. A row there is either
/// planted or appended since the head was read; in the second case the head has moved on
/// (append refuses to run while rows lie beyond the head, so a moved head vouches for them).
fn has_rows_beyond_head(store: &dyn Store, size: u64) -> Result<bool, LedgerError> {
    let exists = match store.records(size, 1) {
        Ok(rows) => !rows.is_empty(),
        Err(LedgerError::CorruptRow { .. }) => true,
        Err(e) => return Err(e),
    };
    Ok(exists && store.head()?.map_or(0, |h| h.size) <= size)
}
