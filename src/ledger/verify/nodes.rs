//! The stored tree during a walk: [`Prefetched`] holds the stored nodes a run of records
//! completes (a few batches), read by range ([`Store::tree_nodes`], one read per level) before
//! those records are folded; [`check_node`] compares one recomputed node with it. A node that is not among the
//! prefetched ones, or differs from them, is read again on its own ([`Store::tree_node`]), and
//! that answer decides, so a finding is worded (and an error raised) exactly as by a walk that
//! reads every node on its own.

use super::VerifyFailure;
use crate::ledger::merkle::Hash;
use crate::ledger::store::Store;
use crate::ledger::LedgerError;

/// The stored nodes completed by records `[from, to)`, by level, each level's `(index, hash)`
/// in index order.
#[derive(Debug, Default)]
pub(super) struct Prefetched {
    from: u64,
    to: u64,
    levels: Vec<Vec<(u64, Hash)>>,
}

impl Prefetched {
    /// Nothing prefetched: every node is read on its own.
    pub(super) fn none() -> Self {
        Self::default()
    }

    /// Whether the nodes records `[from, to)` complete were read (`from < to`).
    pub(super) fn covers(&self, from: u64, to: u64) -> bool {
        self.from <= from && to <= self.to
    }

    /// The stored nodes completed by records `[from, to)`: at each level `l`, the indices
    /// `[from >> l, to >> l)`. A level whose read fails is left out (its nodes are then read
    /// on their own, which reports the failure where it belongs).
    pub(super) fn read(store: &dyn Store, from: u64, to: u64) -> Self {
        let mut levels = Vec::new();
        for level in 0..64u32 {
            let (lo, hi) = (from >> level, to >> level);
            if hi == 0 {
                break;
            }
            let nodes = if lo < hi {
                store.tree_nodes(level, lo, hi).unwrap_or_default()
            } else {
                Vec::new()
            };
            levels.push(nodes);
        }
        Prefetched { from, to, levels }
    }

    fn get(&self, level: u32, index: u64) -> Option<&Hash> {
        let nodes = self.levels.get(usize::try_from(level).ok()?)?;
        let at = nodes.binary_search_by_key(&index, |(i, _)| *i).ok()?;
        nodes.get(at).map(|(_, hash)| hash)
    }
}

/// Compares the stored tree node `(level, index)` with the recomputed `hash`. A disagreement is
/// reported at the first record the node covers.
pub(super) fn check_node(
    store: &dyn Store,
    prefetched: &Prefetched,
    level: u32,
    index: u64,
    hash: &Hash,
) -> Result<Option<VerifyFailure>, LedgerError> {
    if prefetched.get(level, index) == Some(hash) {
        return Ok(None);
    }
    let first = index << level;
    let covering = || {
        if level == 0 {
            "of this record".to_owned()
        } else {
            let last = first + ((1u64 << level) - 1);
            format!("(level {level}, index {index}) over records {first}..={last}")
        }
    };
    let problem = match store.tree_node(level, index) {
        Ok(stored) if stored == *hash => return Ok(None),
        Ok(_) => format!("stored tree node {} does not match the records", covering()),
        Err(LedgerError::MissingNode { .. }) => format!("tree node {} is missing", covering()),
        Err(LedgerError::CorruptNode { problem, .. }) => {
            format!("stored tree node {} is corrupt: {problem}", covering())
        }
        Err(e) => return Err(e),
    };
    Ok(Some(VerifyFailure::record(first, problem)))
}

#[cfg(test)]
mod tests {
    /// Records `[from, to)` complete exactly the nodes `[from >> l, to >> l)` of each level `l`.
    #[test]
    fn the_prefetched_ranges_are_the_nodes_the_records_complete() {
        use crate::ledger::merkle::Frontier;
        let mut frontier = Frontier::new();
        let completed: Vec<Vec<(u32, u64)>> = (0..70u8)
            .map(|i| {
                frontier
                    .push([i; 32])
                    .unwrap()
                    .into_iter()
                    .map(|(l, i, _)| (l, i))
                    .collect()
            })
            .collect();
        for from in 0..70u64 {
            for to in from..=70 {
                let mut want: Vec<(u32, u64)> = completed[from as usize..to as usize]
                    .iter()
                    .flatten()
                    .copied()
                    .collect();
                want.sort_unstable();
                let mut ranges = Vec::new();
                for level in 0..64u32 {
                    ranges.extend(((from >> level)..(to >> level)).map(|i| (level, i)));
                }
                ranges.sort_unstable();
                assert_eq!(ranges, want, "records {from}..{to}");
            }
        }
    }
}
