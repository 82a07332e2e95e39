//! The walk's running state: [`Chain`] checks one record at a time against the chain so far,
//! grows the recomputed tree and checks the checkpoints ([`Pins`]) each new size reaches.

use super::pins::Pins;
use super::{VerifyFailure, VerifyReport};
use crate::canonical::is_canonical;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::ledger::merkle::{Frontier, Hash};
use crate::ledger::record::{
    leaf_hash, parse_record, RecordKind, GENESIS_PREV, MAX_RECORD_BYTES, RECORD_VERSION,
};

/// Which position comes next, the leaf hash before it, the tree so far and the checkpoints
/// still ahead.
pub(super) struct Chain {
    pub(super) next: u64,
    pub(super) prev: [u8; 32],
    pub(super) tree: Frontier,
    pins: Pins,
}

impl Chain {
    pub(super) fn new(pins: Pins) -> Self {
        Chain {
            next: 0,
            prev: GENESIS_PREV,
            tree: Frontier::new(),
            pins,
        }
    }

    /// A finding at the next position.
    pub(super) fn fail(&self, problem: impl Into<String>) -> VerifyFailure {
        VerifyFailure::record(self.next, problem)
    }

    pub(super) fn report(&self, failure: Option<VerifyFailure>) -> VerifyReport {
        let (stored_checkpoints, given_checkpoints) = self.pins.held();
        VerifyReport {
            size: self.next,
            head: (self.next > 0).then_some(self.prev),
            root: self.tree.root(),
            stored_checkpoints,
            given_checkpoints,
            failure,
        }
    }

    /// Checks the checkpoints for the current size (the records walked so far).
    pub(super) fn check_pins(&mut self) -> Option<VerifyFailure> {
        self.pins.check(self.next, &self.tree)
    }

    /// The first checkpoint beyond the walked records, as a finding; `what` names the source
    /// ("the ledger", "the export").
    pub(super) fn pins_beyond(&self, what: &str) -> Option<VerifyFailure> {
        self.pins.beyond(self.next, what)
    }

    /// Checks the record at position `self.next` and advances past it; returns the perfect tree
    /// nodes it completes. `stored` is the store's leaf hash and kind columns, if any.
    pub(super) fn check(
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
}
