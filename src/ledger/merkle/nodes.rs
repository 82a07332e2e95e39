//! In-memory node holders: [`MemoryNodes`] (a whole tree in a map), [`Overlay`] (nodes of a
//! batch being appended, layered over a store's nodes) and [`Frontier`] (only the right edge,
//! `O(log n)` hashes, for walks over a whole ledger).

use std::collections::HashMap;

use super::{completed_nodes, node_hash, Hash, NodeSource, EMPTY_ROOT};
use crate::ledger::LedgerError;

/// Every perfect node of a tree, in memory. The reference implementation of [`NodeSource`]
/// (tests compare the SQLite store with it) and a store for small, short-lived trees.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryNodes {
    nodes: HashMap<(u32, u64), Hash>,
    size: u64,
}

impl MemoryNodes {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash and stores the nodes it completes; returns its index.
    pub fn push(&mut self, leaf: Hash) -> Result<u64, LedgerError> {
        let index = self.size;
        for (level, idx, hash) in completed_nodes(index, leaf, self)? {
            self.nodes.insert((level, idx), hash);
        }
        self.size += 1;
        Ok(index)
    }

    /// Number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Every stored node as `(level, index, hash)`, sorted by level then index.
    pub fn nodes(&self) -> Vec<(u32, u64, Hash)> {
        let mut all: Vec<_> = self.nodes.iter().map(|(&(l, i), h)| (l, i, *h)).collect();
        all.sort_unstable_by_key(|&(l, i, _)| (l, i));
        all
    }
}

impl NodeSource for MemoryNodes {
    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        self.nodes
            .get(&(level, index))
            .copied()
            .ok_or(LedgerError::MissingNode { level, index })
    }
}

/// Freshly computed nodes layered over a base source: reads hit the fresh nodes first. An
/// append of several records in one transaction computes each record's nodes against the
/// overlay, so left siblings completed earlier in the same batch need no read back.
pub struct Overlay<'a> {
    base: &'a dyn NodeSource,
    fresh: HashMap<(u32, u64), Hash>,
}

impl<'a> Overlay<'a> {
    /// An overlay with no fresh nodes over `base`.
    pub fn new(base: &'a dyn NodeSource) -> Self {
        Overlay {
            base,
            fresh: HashMap::new(),
        }
    }

    /// Computes and keeps the nodes completed by leaf `index`, and returns them (to be written
    /// to the base's storage by the caller).
    pub fn push(&mut self, index: u64, leaf: Hash) -> Result<Vec<(u32, u64, Hash)>, LedgerError> {
        let nodes = completed_nodes(index, leaf, self)?;
        for &(level, idx, hash) in &nodes {
            self.fresh.insert((level, idx), hash);
        }
        Ok(nodes)
    }
}

impl NodeSource for Overlay<'_> {
    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError> {
        match self.fresh.get(&(level, index)) {
            Some(hash) => Ok(*hash),
            None => self.base.perfect_node(level, index),
        }
    }
}

/// The right edge of a tree grown leaf by leaf: one perfect root per set bit of the size. Holds
/// at most 64 hashes however many leaves are pushed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// Perfect subtree roots, largest (leftmost) first.
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; returns the perfect nodes it completes, as [`completed_nodes`]
    /// would (level 0 first).
    pub fn push(&mut self, leaf: Hash) -> Result<Vec<(u32, u64, Hash)>, LedgerError> {
        let index = self.size;
        let next = index
            .checked_add(1)
            .ok_or(LedgerError::IndexOutOfRange(index))?;
        let mut out = vec![(0, index, leaf)];
        let mut hash = leaf;
        let mut level = 0u32;
        while (index >> level) & 1 == 1 {
            let left = self.peaks.pop().ok_or_else(|| {
                LedgerError::Inconsistent("frontier lost a subtree root".to_owned())
            })?;
            hash = node_hash(&left, &hash);
            level += 1;
            out.push((level, index >> level, hash));
        }
        self.peaks.push(hash);
        self.size = next;
        Ok(out)
    }

    /// The RFC 6962 root of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return EMPTY_ROOT;
        };
        peaks.fold(*last, |right, left| node_hash(left, &right))
    }
}
