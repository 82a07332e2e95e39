//! Ledger verification: recompute every hash, the chain and the tree, check every checkpoint,
//! report the first bad index.
//!
//! [`verify_store`] walks a [`super::Store`] in batches of [`VERIFY_BATCH`] records (memory
//! stays bounded however long the ledger is); [`verify_lines`] does the same for a JSON Lines
//! export. [`verify_store_against`] and [`verify_lines_against`] also check checkpoints on the
//! way: the stored ones (their signature under a [`crate::attest::NoteVerifier`]) and the ones
//! an auditor holds. All return a [`VerifyReport`]; a tampered record or checkpoint is a finding
//! ([`VerifyFailure`], with a [`CheckpointFinding`] when a checkpoint is involved), not an
//! error. Errors mean the check could not be carried out (I/O, database).
//!
//! Per record, in this order: it is present at its position (no gap), at most
//! [`MAX_RECORD_BYTES`], parses as a [`super::Record`], is RFC 8785 canonical, has `v == 1`,
//! its `index` equals its position, its `prev` equals the recomputed leaf hash of the record
//! before (zeros at 0), its `time` is RFC 3339 UTC with second precision, and (store only) the
//! stored leaf hash equals `SHA-256(0x00 ‖ bytes)` and the stored kind (the index behind
//! [`super::Store::records_of_kind`]) equals the record's `kind`, so relabelling cannot hide a
//! record from kind queries. For a store, the head row must then equal the number of records
//! and the last leaf hash, which catches a deleted tail.
//!
//! The Merkle tree is recomputed alongside, from the recomputed leaf hashes, with a
//! [`super::Frontier`] (`O(log n)` memory). For a store, every perfect node a record completes
//! is compared with the stored node right after the record passes its own checks; a missing or
//! different node is a failure at the first record of that node's subtree. At the end the
//! store's root for the head size must equal the recomputed root. Proofs are built from the
//! stored nodes alone, so this is what makes a proof as trustworthy as the chain.
//!
//! Checkpoints: when the walk has passed `n` records, every checkpoint of size `n`
//! must name the recomputed root of those `n` records. A checkpoint beyond the last record is a
//! cut-off tail. Since each checkpoint is compared with the one tree the records define, the
//! checkpoints are also consistent with each other.
//!
//! Verification stops at the first failure: every later `prev` depends on the bad record.
//! Someone who rewrites a record *and* every record after it, the leaf hash column, the tree and
//! the head row produces records that verify; only checkpoints signed before the rewrite, with a
//! key the rewriter does not hold, catch that.

mod chain;
mod nodes;
mod pins;
mod precheck;
mod store;
mod workers;

use std::fmt;
use std::io::{BufRead, Read};

use super::checkpoint::Checkpoint;
use super::merkle::Hash;
use super::record::MAX_RECORD_BYTES;
use super::LedgerError;
use chain::Chain;
use pins::Pins;

pub use store::{
    open_stored_checkpoint, verify_store, verify_store_against, verify_store_against_with_progress,
};

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
    /// Sizes of the stored checkpoints that verified and name the records' root, increasing.
    pub stored_checkpoints: Vec<u64>,
    /// Sizes of the given (auditor's) checkpoints whose root the records reproduce, increasing.
    pub given_checkpoints: Vec<u64>,
    /// The first problem found, or `None` if the ledger is intact.
    pub failure: Option<VerifyFailure>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_intact(&self) -> bool {
        self.failure.is_none()
    }
}

/// The first problem found: where, what, and which checkpoint if one is involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// Index (position) of the first record that fails a check. For a checkpoint finding, the
    /// last record the checkpoint covers (its size − 1, 0 for size 0).
    pub index: u64,
    /// Human-readable description of the failed check.
    pub problem: String,
    /// Set when the finding is about a checkpoint rather than one record.
    pub checkpoint: Option<CheckpointFinding>,
}

/// Which checkpoint a finding is about, and where the records it disagrees with lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointFinding {
    /// The tree size the checkpoint is for (for a stored checkpoint, the size it is stored
    /// under).
    pub size: u64,
    /// The records known to hold the change, `(first, last)` inclusive: after the last
    /// checkpoint that held, up to this one's last record; for a cut-off tail, the missing
    /// records. `None` when the finding says nothing about the records (a signature that does
    /// not verify).
    pub records: Option<(u64, u64)>,
}

impl VerifyFailure {
    /// A finding about record `index`.
    pub fn record(index: u64, problem: impl Into<String>) -> Self {
        VerifyFailure {
            index,
            problem: problem.into(),
            checkpoint: None,
        }
    }

    /// A finding about the checkpoint of `size`, with the records known to hold the change.
    pub fn checkpoint(size: u64, records: Option<(u64, u64)>, problem: impl Into<String>) -> Self {
        VerifyFailure {
            index: size.saturating_sub(1),
            problem: problem.into(),
            checkpoint: Some(CheckpointFinding { size, records }),
        }
    }
}

impl fmt::Display for VerifyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.checkpoint {
            None => write!(f, "record {}: {}", self.index, self.problem),
            Some(CheckpointFinding {
                size,
                records: None,
            }) => write!(f, "checkpoint of size {size}: {}", self.problem),
            Some(CheckpointFinding {
                size,
                records: Some((first, last)),
            }) => write!(
                f,
                "checkpoint of size {size}, records {first}..={last}: {}",
                self.problem
            ),
        }
    }
}

/// Verifies a JSON Lines export ([`super::export_jsonl`]): one record per `\n`-terminated line,
/// line N holding record N. The same per-record checks as [`verify_store`] apply, without the
/// stored leaf hash and head row; a blank, unterminated or unparsable line is a failure at its
/// position. Lines are read with a bounded buffer.
pub fn verify_lines(reader: impl BufRead) -> Result<VerifyReport, LedgerError> {
    verify_lines_against(reader, &[])
}

/// [`verify_lines`], and every checkpoint in `checkpoints` (already opened, i.e. signature and
/// origin checked by the caller with [`super::open_checkpoint`]) must name the root the export's
/// first `size` records hash to. A checkpoint beyond the last line means the export was cut
/// short. Failures name the checkpoint's size and the records that hold the change: those after
/// the last checkpoint that held, up to its size.
///
/// An export on its own cannot show a changed last line or a cut-off tail; a checkpoint of the
/// full size can.
pub fn verify_lines_against(
    mut reader: impl BufRead,
    checkpoints: &[Checkpoint],
) -> Result<VerifyReport, LedgerError> {
    // A record plus its newline; anything longer is a failure, not an allocation.
    let line_limit = u64::try_from(MAX_RECORD_BYTES).unwrap_or(u64::MAX) + 1;
    let mut chain = Chain::new(Pins::new(checkpoints, Vec::new()));
    if let Some(failure) = chain.check_pins() {
        return Ok(chain.report(Some(failure)));
    }
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
            return Ok(chain.report(Some(chain.fail("line is blank"))));
        }
        if let Err(problem) = chain.check(&line, None) {
            return Ok(chain.report(Some(chain.fail(problem))));
        }
        if let Some(failure) = chain.check_pins() {
            return Ok(chain.report(Some(failure)));
        }
    }
    let beyond = chain.pins_beyond("the export");
    Ok(chain.report(beyond))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::canonical_bytes;
    use crate::ledger::record::{Record, RecordKind, GENESIS_PREV, RECORD_VERSION};

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

    fn checkpoint(size: u64, root: Hash) -> Checkpoint {
        Checkpoint {
            origin: "example.com/log".to_owned(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// A size-0 checkpoint is checked before the first line, against the empty root.
    #[test]
    fn a_size_zero_checkpoint_must_name_the_empty_root() {
        let line = line_for(&record());
        let good = checkpoint(0, crate::ledger::EMPTY_ROOT);
        let report = verify_lines_against(&line[..], std::slice::from_ref(&good)).unwrap();
        assert!(report.is_intact(), "{:?}", report.failure);
        assert_eq!(report.given_checkpoints, [0]);

        let bad = checkpoint(0, [9; 32]);
        let failure = verify_lines_against(&line[..], &[bad])
            .unwrap()
            .failure
            .unwrap();
        assert_eq!(
            failure.checkpoint,
            Some(CheckpointFinding {
                size: 0,
                records: None
            })
        );
    }

    /// Two checkpoints of one size with different roots that both opened: whichever is given
    /// first, the finding says the signer signed two different trees.
    #[test]
    fn two_checkpoints_of_one_size_with_different_roots_are_a_split_view() {
        let line = line_for(&record());
        let good = checkpoint(1, crate::ledger::leaf_hash(&line[..line.len() - 1]));
        let bad = checkpoint(1, [9; 32]);
        for given in [[good.clone(), bad.clone()], [bad, good]] {
            let failure = verify_lines_against(&line[..], &given)
                .unwrap()
                .failure
                .unwrap();
            assert_eq!(failure.checkpoint.map(|c| c.size), Some(1));
            assert!(failure.problem.contains("two different trees"), "{failure}");
        }
    }

    #[test]
    fn checkpoint_findings_display_their_size_and_range() {
        let f = VerifyFailure::checkpoint(8, Some((4, 7)), "root differs");
        assert_eq!(f.index, 7);
        assert_eq!(
            f.to_string(),
            "checkpoint of size 8, records 4..=7: root differs"
        );
        let f = VerifyFailure::checkpoint(8, None, "bad signature");
        assert_eq!(f.to_string(), "checkpoint of size 8: bad signature");
    }
}
