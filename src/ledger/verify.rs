//! Ledger verification: recompute every hash and the chain, report the first bad index.
//!
//! [`verify_store`] walks a [`Store`] in batches of [`VERIFY_BATCH`] records (memory stays
//! bounded however long the ledger is); [`verify_lines`] does the same for a JSON Lines export.
//! Both return a [`VerifyReport`]; a tampered record is a finding ([`VerifyFailure`]), not an
//! error. Errors mean the check could not be carried out (I/O, database).
//!
//! Per record, in this order: it is present at its position (no gap), at most
//! [`MAX_RECORD_BYTES`], parses as a [`super::Record`], is RFC 8785 canonical, has `v == 1`,
//! its `index` equals its position, its `prev` equals the recomputed leaf hash of the record
//! before (zeros at 0), its `time` is RFC 3339 UTC with second precision, and (store only) the
//! stored leaf hash equals `SHA-256(0x00 ‖ bytes)` and the stored kind (the index behind
//! [`Store::records_of_kind`]) equals the record's `kind`, so relabelling cannot hide a record
//! from kind queries. For a store, the head row must then equal
//! the number of records and the last leaf hash, which catches a deleted tail.
//!
//! The Merkle tree is recomputed alongside, from the recomputed leaf hashes, with a
//! [`Frontier`] (`O(log n)` memory). For a store, every perfect node a record completes is
//! compared with the stored node right after the record passes its own checks; a missing or
//! different node is a failure at the first record of that node's subtree. At the end the
//! store's root for the head size must equal the recomputed root. Proofs are built from the
//! stored nodes alone, so this is what makes a proof as trustworthy as the chain.
//!
//! Verification stops at the first failure: every later `prev` depends on the bad record.
//! Someone who rewrites a record *and* every record after it, the leaf hash column and the head
//! row produces a ledger that verifies; only signed checkpoints held elsewhere catch that.

use std::fmt;
use std::io::{BufRead, Read};

use super::merkle::{Frontier, Hash};
use super::record::{
    leaf_hash, parse_record, RecordKind, GENESIS_PREV, MAX_RECORD_BYTES, RECORD_VERSION,
};
use super::store::{Store, StoredRecord};
use super::LedgerError;
use crate::canonical::is_canonical;
use crate::clock::{parse_rfc3339, rfc3339};

/// Number of records read from the store per query during verification.
pub const VERIFY_BATCH: u64 = 256;

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of records, from index 0, that passed every per-record check.
    pub size: u64,
    /// Recomputed leaf hash of the last of those records (`None` when `size` is 0).
    pub head: Option<[u8; 32]>,
    /// RFC 6962 root of those `size` records, recomputed from their bytes.
    pub root: Hash,
    /// The first problem found, or `None` if the ledger is intact.
    pub failure: Option<VerifyFailure>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_intact(&self) -> bool {
        self.failure.is_none()
    }
}

/// The first bad index and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// Index (position) of the first record that fails a check.
    pub index: u64,
    /// Human-readable description of the failed check.
    pub problem: String,
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}: {}", self.index, self.problem)
    }
}

/// The running state of a walk: which position comes next and the leaf hash before it.
struct Chain {
    next: u64,
    prev: [u8; 32],
    tree: Frontier,
}

impl Chain {
    fn new() -> Self {
        Chain {
            next: 0,
            prev: GENESIS_PREV,
            tree: Frontier::new(),
        }
    }

    fn fail(&self, problem: String) -> VerifyFailure {
        VerifyFailure {
            index: self.next,
            problem,
        }
    }

    fn report(&self, failure: Option<VerifyFailure>) -> VerifyReport {
        VerifyReport {
            size: self.next,
            head: (self.next > 0).then_some(self.prev),
            root: self.tree.root(),
            failure,
        }
    }

    /// Checks the record at position `self.next` and advances past it; returns the perfect tree
    /// nodes it completes.
    fn check(
        &mut self,
        bytes: &[u8],
        stored: Option<(&[u8; 32], RecordKind)>,
    ) -> Result<Vec<(u32, u64, Hash)>, String> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(format!(
                "record is {} bytes, over the {MAX_RECORD_BYTES}-byte limit",
                bytes.len()
            ));
        }
        let record =
            parse_record(bytes).map_err(|e| format!("stored bytes are not a record ({e})"))?;
        if !is_canonical(bytes) {
            return Err("record bytes are not in RFC 8785 canonical form".to_owned());
        }
        if record.v != RECORD_VERSION {
            return Err(format!("unsupported record version {}", record.v));
        }
        if record.index != self.next {
            return Err(format!(
                "record says index {} but sits at position {}",
                record.index, self.next
            ));
        }
        if record.prev != hex::encode(self.prev) {
            return Err(match self.next.checked_sub(1) {
                Some(before) => format!("prev does not match the leaf hash of record {before}"),
                None => "prev of the first record is not all zeros".to_owned(),
            });
        }
        let time_ok = parse_rfc3339(&record.time).is_ok_and(|t| rfc3339(t) == record.time);
        if !time_ok {
            return Err(format!(
                "time `{}` is not an RFC 3339 UTC timestamp with second precision",
                record.time
            ));
        }
        let leaf = leaf_hash(bytes);
        if let Some((stored_leaf, stored_kind)) = stored {
            if *stored_leaf != leaf {
                return Err("stored leaf hash does not match the record bytes".to_owned());
            }
            if stored_kind != record.kind {
                return Err(format!(
                    "filed as `{stored_kind}` but the record is `{}`",
                    record.kind
                ));
            }
        }
        let nodes = self.tree.push(leaf).map_err(|e| e.to_string())?;
        self.prev = leaf;
        self.next += 1;
        Ok(nodes)
    }

    /// Checks a batch of stored rows, which must continue at position `self.next`, and the
    /// tree nodes each completes against `store`.
    fn check_rows(
        &mut self,
        store: &dyn Store,
        rows: &[StoredRecord],
    ) -> Result<Option<VerifyFailure>, LedgerError> {
        for row in rows {
            if row.index > self.next {
                return Ok(Some(self.fail(format!(
                    "record is missing (the next stored record is {})",
                    row.index
                ))));
            }
            if row.index < self.next {
                return Ok(Some(self.fail(format!(
                    "store returned record {} out of order",
                    row.index
                ))));
            }
            let nodes = match self.check(&row.bytes, Some((&row.leaf_hash, row.kind))) {
                Ok(nodes) => nodes,
                Err(problem) => return Ok(Some(self.fail(problem))),
            };
            for (level, index, hash) in nodes {
                if let Some(failure) = check_node(store, level, index, &hash)? {
                    return Ok(Some(failure));
                }
            }
        }
        Ok(None)
    }
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
    Ok(Some(VerifyFailure {
        index: first,
        problem,
    }))
}

/// Verifies every record in `store` and its head row. See the module docs for the checks.
///
/// The head is read first and the walk covers exactly the records it announces, so records
/// appended while verification runs are not mistaken for tampering; they are left to the next
/// run.
pub fn verify_store(store: &dyn Store) -> Result<VerifyReport, LedgerError> {
    let (size, head_hash) = store
        .head()?
        .map_or((0, GENESIS_PREV), |h| (h.size, h.leaf_hash));
    let mut chain = Chain::new();
    while chain.next < size {
        let from = chain.next;
        let rows = match store.records(from, VERIFY_BATCH.min(size - from)) {
            Ok(rows) => rows,
            // A row too damaged to load: check the rows before it, then report it.
            Err(LedgerError::CorruptRow { index, problem }) if index >= from => {
                let before = store.records(from, index - from)?;
                let failure = match chain.check_rows(store, &before)? {
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
        if let Some(failure) = chain.check_rows(store, &rows)? {
            return Ok(chain.report(Some(failure)));
        }
    }
    if size > 0 && head_hash != chain.prev {
        let failure = VerifyFailure {
            index: size - 1,
            problem: "the head's leaf hash does not match this last record".to_owned(),
        };
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
    Ok(chain.report(None))
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
    Ok(Some(VerifyFailure {
        index: last,
        problem,
    }))
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

/// Verifies a JSON Lines export ([`super::export_jsonl`]): one record per `\n`-terminated line,
/// line N holding record N. The same per-record checks as [`verify_store`] apply, without the
/// stored leaf hash and head row; a blank, unterminated or unparsable line is a failure at its
/// position. Lines are read with a bounded buffer.
pub fn verify_lines(mut reader: impl BufRead) -> Result<VerifyReport, LedgerError> {
    // A record plus its newline; anything longer is a failure, not an allocation.
    let line_limit = u64::try_from(MAX_RECORD_BYTES).unwrap_or(u64::MAX) + 1;
    let mut chain = Chain::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(line_limit)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            let problem = if u64::try_from(read).map_or(true, |r| r >= line_limit) {
                format!("line is longer than the {MAX_RECORD_BYTES}-byte record limit")
            } else {
                "line is not terminated by a newline (truncated export?)".to_owned()
            };
            return Ok(chain.report(Some(chain.fail(problem))));
        }
        line.pop();
        if line.is_empty() {
            return Ok(chain.report(Some(chain.fail("line is blank".to_owned()))));
        }
        if let Err(problem) = chain.check(&line, None) {
            return Ok(chain.report(Some(chain.fail(problem))));
        }
    }
    Ok(chain.report(None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::canonical_bytes;
    use crate::ledger::record::Record;

    fn line_for(record: &Record) -> Vec<u8> {
        let mut line = canonical_bytes(record).unwrap();
        line.push(b'\n');
        line
    }

    fn record() -> Record {
        Record {
            v: RECORD_VERSION,
            index: 0,
            time: "2026-11-27T10:49:24Z".to_owned(),
            kind: RecordKind::Freeze,
            prev: hex::encode(GENESIS_PREV),
            body: serde_json::json!({"environment": "prod"}),
        }
    }

    fn problem(record: &Record) -> String {
        let report = verify_lines(&line_for(record)[..]).unwrap();
        let failure = report.failure.unwrap();
        assert_eq!(failure.index, 0);
        failure.problem
    }

    #[test]
    fn a_well_formed_first_record_verifies() {
        let report = verify_lines(&line_for(&record())[..]).unwrap();
        assert!(report.is_intact(), "{:?}", report.failure);
        assert_eq!(report.size, 1);
    }

    #[test]
    fn an_unknown_record_version_is_a_failure() {
        let mut r = record();
        r.v = 2;
        assert!(problem(&r).contains("version 2"));
    }

    #[test]
    fn a_time_not_in_the_one_rfc3339_form_is_a_failure() {
        for time in [
            "2026-11-27T11:49:24+01:00",
            "2026-11-27T10:49:24.5Z",
            "yesterday",
        ] {
            let mut r = record();
            r.time = time.to_owned();
            assert!(problem(&r).contains("time"), "{time}");
        }
    }

    #[test]
    fn a_first_record_with_nonzero_prev_is_a_failure() {
        let mut r = record();
        r.prev = hex::encode([1u8; 32]);
        assert!(problem(&r).contains("all zeros"));
    }
}
