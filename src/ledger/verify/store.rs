//! The walk over a [`Store`]: [`verify_store`] (records, tree, head) and
//! [`verify_store_against`] (the same, plus every stored checkpoint under a verifier key and the
//! checkpoints an auditor holds), with [`verify_store_against_with_progress`] reporting how far
//! the walk has come.
//!
//! The walking thread reads batches of [`VERIFY_BATCH`] rows and the tree nodes they complete
//! ([`Prefetched`]), a few batches ahead, while [`Checkers`] run each record's own checks; it
//! then folds the results into the chain in index order, so the first failure is the one a
//! record-by-record walk would report.

use std::collections::VecDeque;
use std::rc::Rc;

use super::chain::Chain;
use super::nodes::{check_node, Prefetched};
use super::pins::Pins;
use super::precheck::{precheck, Checked};
use super::workers::{worker_count, Checkers, Ticket};
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
    walk(store, Pins::new(&[], Vec::new()), &mut |_, _| {})
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
    verify_store_against_with_progress(store, verifier, given, &mut |_, _| {})
}

/// [`verify_store_against`], telling `progress` how far the walk has come: `(done, total)`
/// records, where `total` is the size the head announced. It is called once before the first
/// record (`done` 0) and after each batch of records that passed; a walk that stops at a
/// failure stops reporting there. The checks and the report are those of
/// [`verify_store_against`].
pub fn verify_store_against_with_progress(
    store: &dyn Store,
    verifier: &NoteVerifier,
    given: &[Checkpoint],
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, LedgerError> {
    let stored = store
        .checkpoints()?
        .into_iter()
        .map(|(size, note)| (size, open_stored_checkpoint(size, &note, verifier)))
        .collect();
    walk(store, Pins::new(given, stored), progress)
}

/// The root a checkpoint note stored under `size` commits to, or why it cannot be believed: it
/// must open under `verifier` (signature, and origin = the key's name) and say that size.
pub fn open_stored_checkpoint(
    size: u64,
    note: &str,
    verifier: &NoteVerifier,
) -> Result<Hash, String> {
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

/// Walks the records the head announces with the records' own checks on worker threads
/// ([`Checkers`]), then checks the head, the root and what lies beyond the head.
fn walk(
    store: &dyn Store,
    pins: Pins,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, LedgerError> {
    std::thread::scope(|scope| {
        let mut checkers = Checkers::start(scope, worker_count());
        let report = walk_with(store, pins, &mut checkers, progress);
        let stopped = checkers.finish();
        let report = report?;
        stopped?;
        Ok(report)
    })
}

/// Most record bytes read ahead of the fold beyond the first batch, however many batches the
/// checkers could take: records may be up to 64 KiB each.
const MAX_BYTES_AHEAD: usize = 16 << 20;

/// Records whose tree nodes are read together (one range read per level): several batches, so
/// that the reads of the few upper levels are shared.
const NODES_AHEAD: u64 = 4 * VERIFY_BATCH;

/// A batch read ahead of the fold.
enum Ahead {
    /// Rows handed to the checkers, with their stored indices, their size in bytes and the
    /// tree nodes they complete.
    Rows {
        indices: Vec<u64>,
        bytes: usize,
        nodes: Rc<Prefetched>,
        ticket: Ticket,
    },
    /// The read at position `from` that ended the reading: no rows, or an error.
    End {
        from: u64,
        read: Result<Vec<StoredRecord>, LedgerError>,
    },
}

/// The batches read ahead, in order. Batches are read while earlier ones are checked and
/// folded strictly in order: a batch read ahead matters (its rows, its read error) only once
/// every record before it has passed, exactly as if it had been read then.
struct ReadAhead {
    batches: VecDeque<Ahead>,
    /// Record bytes in `batches`.
    bytes: usize,
    /// The tree nodes of the records last read, and of up to [`NODES_AHEAD`] after them.
    nodes: Rc<Prefetched>,
    /// Where the next read starts.
    next: u64,
    /// The head's size: where reading stops.
    size: u64,
    /// Whether a read ended the reading.
    ended: bool,
}

impl ReadAhead {
    fn new(size: u64) -> Self {
        ReadAhead {
            batches: VecDeque::new(),
            bytes: 0,
            nodes: Rc::new(Prefetched::none()),
            next: 0,
            size,
            ended: false,
        }
    }

    /// Reads batches and hands them to `checkers` until as many are ahead as they take (or
    /// [`MAX_BYTES_AHEAD`] is reached, or there is nothing more to read).
    fn fill(&mut self, store: &dyn Store, checkers: &mut Checkers<'_>) {
        while !self.ended
            && self.next < self.size
            && self.batches.len() < checkers.depth()
            && (self.batches.is_empty() || self.bytes < MAX_BYTES_AHEAD)
        {
            match store.records(self.next, VERIFY_BATCH.min(self.size - self.next)) {
                Ok(rows) if !rows.is_empty() => {
                    let to = self.next.saturating_add(rows.len() as u64);
                    let bytes = rows.iter().map(|row| row.bytes.len()).sum();
                    self.bytes += bytes;
                    if !self.nodes.covers(self.next, to) {
                        let end = self.next.saturating_add(NODES_AHEAD).min(self.size);
                        self.nodes = Rc::new(Prefetched::read(store, self.next, end.max(to)));
                    }
                    self.batches.push_back(Ahead::Rows {
                        indices: rows.iter().map(|row| row.index).collect(),
                        bytes,
                        nodes: Rc::clone(&self.nodes),
                        ticket: checkers.submit(rows),
                    });
                    self.next = to;
                }
                read => {
                    self.batches.push_back(Ahead::End {
                        from: self.next,
                        read,
                    });
                    self.ended = true;
                }
            }
        }
    }

    fn pop(&mut self) -> Option<Ahead> {
        let batch = self.batches.pop_front()?;
        if let Ahead::Rows { bytes, .. } = &batch {
            self.bytes -= bytes;
        }
        Some(batch)
    }
}

fn walk_with(
    store: &dyn Store,
    pins: Pins,
    checkers: &mut Checkers<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, LedgerError> {
    let (size, head_hash) = store
        .head()?
        .map_or((0, GENESIS_PREV), |h| (h.size, h.leaf_hash));
    progress(0, size);
    let mut chain = Chain::new(pins);
    if let Some(failure) = chain.check_pins() {
        return Ok(chain.report(Some(failure)));
    }
    let mut ahead = ReadAhead::new(size);
    loop {
        ahead.fill(store, checkers);
        let Some(batch) = ahead.pop() else {
            break;
        };
        let failure = match batch {
            Ahead::Rows {
                indices,
                nodes,
                ticket,
                ..
            } => {
                let checked = checkers.wait(ticket)?;
                fold_rows(&mut chain, store, &indices, checked, &nodes)?
            }
            Ahead::End { from, read } => Some(end_of_rows(&mut chain, store, size, from, read)?),
        };
        if let Some(failure) = failure {
            return Ok(chain.report(Some(failure)));
        }
        progress(chain.next, size);
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

/// The finding for a read at `from` (= `chain.next`) that returned no rows or failed before
/// the head's `size` was reached; other errors end the walk.
fn end_of_rows(
    chain: &mut Chain,
    store: &dyn Store,
    size: u64,
    from: u64,
    read: Result<Vec<StoredRecord>, LedgerError>,
) -> Result<VerifyFailure, LedgerError> {
    match read {
        // Rows deleted at the end while the head row still counts them.
        Ok(_) => Ok(chain.fail(format!(
            "record is missing: the head says the ledger holds {size} records"
        ))),
        // A row too damaged to load: check the rows before it, then report it.
        Err(LedgerError::CorruptRow { index, problem }) if index >= from => {
            let before = store.records(from, index - from)?;
            let indices: Vec<u64> = before.iter().map(|row| row.index).collect();
            let checked = before
                .iter()
                .map(|row| precheck(&row.bytes, Some((&row.leaf_hash, row.kind))))
                .collect();
            Ok(
                match fold_rows(chain, store, &indices, checked, &Prefetched::none())? {
                    Some(failure) => failure,
                    None if chain.next < index => chain.fail(format!(
                        "record is missing (the next stored record is {index})"
                    )),
                    None => chain.fail(problem),
                },
            )
        }
        Err(e) => Err(e),
    }
}

/// Folds a batch of stored rows, which must continue at position `chain.next`, into the chain:
/// `indices` are the positions the store filed them under, `checked` their own checks. Checks
/// the tree nodes each completes against the store and the checkpoints each new size reaches.
fn fold_rows(
    chain: &mut Chain,
    store: &dyn Store,
    indices: &[u64],
    checked: Vec<Checked>,
    prefetched: &Prefetched,
) -> Result<Option<VerifyFailure>, LedgerError> {
    if checked.len() != indices.len() {
        return Err(LedgerError::Inconsistent(format!(
            "verification got {} results for {} records",
            checked.len(),
            indices.len()
        )));
    }
    for (&index, checked) in indices.iter().zip(checked) {
        if index > chain.next {
            return Ok(Some(chain.fail(format!(
                "record is missing (the next stored record is {index})"
            ))));
        }
        if index < chain.next {
            return Ok(Some(
                chain.fail(format!("store returned record {index} out of order")),
            ));
        }
        let nodes = match chain.fold(checked) {
            Ok(nodes) => nodes,
            Err(problem) => return Ok(Some(chain.fail(problem))),
        };
        for (level, index, hash) in nodes {
            if let Some(failure) = check_node(store, prefetched, level, index, &hash)? {
                return Ok(Some(failure));
            }
        }
        if let Some(failure) = chain.check_pins() {
            return Ok(Some(failure));
        }
    }
    Ok(None)
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
