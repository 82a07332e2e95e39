//! The walk's running state: [`Chain`] folds one record at a time into the chain so far (its
//! own checks, [`precheck`], may have run elsewhere), grows the recomputed tree and checks the
//! checkpoints ([`Pins`]) each new size reaches.

use super::pins::Pins;
use super::precheck::{precheck, Checked};
use super::{VerifyFailure, VerifyReport};
use crate::ledger::merkle::{Frontier, Hash};
use crate::ledger::record::{RecordKind, GENESIS_PREV};

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
        self.fold(precheck(bytes, stored))
    }

    /// Continues the chain with the record at position `self.next`, whose own checks
    /// ([`precheck`]) gave `checked`: its index, its `prev`, then the problems found after
    /// those. Advances past it and returns the perfect tree nodes it completes.
    pub(super) fn fold(&mut self, checked: Checked) -> Result<Vec<(u32, u64, Hash)>, String> {
        let facts = match checked {
            Checked::Bad(problem) => return Err(problem),
            Checked::Good(facts) => facts,
        };
        if facts.index != self.next {
            return Err(format!(
                "record says index {} but sits at position {}",
                facts.index, self.next
            ));
        }
        if facts.prev != Some(self.prev) {
            return Err(match self.next.checked_sub(1) {
                Some(before) => format!("prev does not match the leaf hash of record {before}"),
                None => "prev of the first record is not all zeros".to_owned(),
            });
        }
        if let Some(problem) = facts.late {
            return Err(problem);
        }
        let nodes = self.tree.push(facts.leaf).map_err(|e| e.to_string())?;
        self.prev = facts.leaf;
        self.next += 1;
        Ok(nodes)
    }
}
