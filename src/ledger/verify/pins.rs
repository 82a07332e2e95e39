//! Checkpoints a walk must reproduce. [`Pins`] holds the stored checkpoints (each already
//! opened, or the reason it cannot be believed) and the given ones, ordered by size, and checks
//! every one of size `n` once the walk has passed `n` records.
//!
//! A checkpoint *holds* when the recomputed root of the first `n` records is its root. The size
//! of the last checkpoint that held bounds a later mismatch from below: the records before it
//! are as signed, so the change lies between it and the mismatching checkpoint's last record.

use super::VerifyFailure;
use crate::ledger::checkpoint::Checkpoint;
use crate::ledger::merkle::{Frontier, Hash};

/// Where a checkpoint came from: the ledger's own table, or the auditor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Stored,
    Given,
}

struct Pin {
    size: u64,
    source: Source,
    /// The root it commits to, or why a stored note cannot be believed.
    root: Result<Hash, String>,
}

/// The checkpoints still ahead of a walk, and those that held so far.
pub(super) struct Pins {
    /// By size, stored before given at the same size.
    pins: Vec<Pin>,
    next: usize,
    /// Size of the last checkpoint that held (0: none yet).
    vouched: u64,
    held: Vec<(u64, Source)>,
}

impl Pins {
    /// `given` checkpoints (opened by the caller) and `stored` ones as (stored size, opened root
    /// or problem).
    pub(super) fn new(given: &[Checkpoint], stored: Vec<(u64, Result<Hash, String>)>) -> Self {
        let mut pins: Vec<Pin> = stored
            .into_iter()
            .map(|(size, root)| Pin {
                size,
                source: Source::Stored,
                root,
            })
            .chain(given.iter().map(|cp| Pin {
                size: cp.size,
                source: Source::Given,
                root: Ok(cp.root),
            }))
            .collect();
        pins.sort_by_key(|p| (p.size, p.source));
        Pins {
            pins,
            next: 0,
            vouched: 0,
            held: Vec::new(),
        }
    }

    /// Sizes of the (stored, given) checkpoints that held, increasing.
    pub(super) fn held(&self) -> (Vec<u64>, Vec<u64>) {
        let of = |source| {
            self.held
                .iter()
                .filter(|(_, s)| *s == source)
                .map(|(size, _)| *size)
                .collect()
        };
        (of(Source::Stored), of(Source::Given))
    }

    /// Checks every checkpoint of `size` against `tree`, which holds exactly `size` leaves. A
    /// stored note that cannot be believed is reported before a root that differs.
    pub(super) fn check(&mut self, size: u64, tree: &Frontier) -> Option<VerifyFailure> {
        let here = self.pins[self.next..]
            .iter()
            .take_while(|p| p.size == size)
            .count();
        let pins = &self.pins[self.next..self.next + here];
        if pins.is_empty() {
            return None;
        }
        if let Some(problem) = pins.iter().find_map(|p| p.root.as_ref().err()) {
            return Some(VerifyFailure::checkpoint(size, None, problem));
        }
        let root = Ok(tree.root());
        if let Some(bad) = pins.iter().find(|p| p.root != root) {
            let split = pins.iter().any(|p| p.root == root);
            return Some(self.mismatch(bad, split));
        }
        self.held.extend(pins.iter().map(|p| (size, p.source)));
        self.next += here;
        self.vouched = size;
        None
    }

    fn mismatch(&self, pin: &Pin, split: bool) -> VerifyFailure {
        let size = pin.size;
        let records = size.checked_sub(1).map(|last| (self.vouched, last));
        let whose = match pin.source {
            Source::Stored => "the stored checkpoint",
            Source::Given => "the checkpoint",
        };
        let mut problem = format!("the first {size} records do not hash to the root {whose} names");
        if let Some((first, last)) = records {
            problem.push_str(&format!(
                ": a record in {first}..={last} was changed, removed or inserted, or the signer signed another tree"
            ));
        }
        if split {
            problem.push_str(
                "; another checkpoint of this size does match, so the signer signed two different trees",
            );
        }
        VerifyFailure::checkpoint(size, records, problem)
    }

    /// The first checkpoint beyond `size` walked records, as a cut-off tail of `what`.
    pub(super) fn beyond(&self, size: u64, what: &str) -> Option<VerifyFailure> {
        let pin = self.pins.get(self.next).filter(|p| p.size > size)?;
        Some(match &pin.root {
            Err(problem) => VerifyFailure::checkpoint(pin.size, None, problem.clone()),
            Ok(_) => VerifyFailure::checkpoint(
                pin.size,
                Some((size, pin.size - 1)),
                format!(
                    "the checkpoint covers {} records but {what} holds {size}: records {size}..={} are missing (cut off?)",
                    pin.size,
                    pin.size - 1
                ),
            ),
        })
    }
}
