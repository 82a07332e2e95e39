//! The RFC 6962 Merkle tree over the ledger's leaf hashes (pure: no I/O).
//!
//! Hashes (RFC 6962 §2.1): a leaf is `SHA-256(0x00 ‖ record bytes)` (see
//! [`super::leaf_hash`]), an interior node is [`node_hash`] = `SHA-256(0x01 ‖ left ‖ right)`,
//! and the tree over `n > 1` leaves splits at the largest power of two strictly below `n`. The
//! root of the empty tree is [`EMPTY_ROOT`].
//!
//! Storage model: only **perfect subtrees** are ever stored. `node(level, index)` is the hash of
//! the `2^level` leaves `[index << level, (index + 1) << level)`; level 0 holds the leaf hashes.
//! A perfect node never changes once its last leaf exists, so an append only adds nodes
//! ([`completed_nodes`]: at most one per level) and never rewrites any. Every subtree the RFC
//! algorithms need decomposes into at most 64 perfect nodes, so [`root`], [`inclusion_proof`]
//! and [`consistency_proof`] read `O(log n)` nodes (`O(log² n)` in the worst case) from a
//! [`NodeSource`] and never rebuild the tree.
//!
//! - [`NodeSource`]: where perfect nodes come from (the SQLite store, [`MemoryNodes`],
//!   [`Overlay`] for a batch being appended).
//! - [`Frontier`]: the `O(log n)` right edge of a tree grown leaf by leaf (verification and
//!   migration use it instead of holding every node).
//! - [`verify_inclusion`], [`verify_consistency`] and [`ProofError`]: proof checks that need
//!   nothing but hashes (module `check`).

mod check;
mod nodes;

pub use check::{verify_consistency, verify_inclusion, ProofError};
pub use nodes::{Frontier, MemoryNodes, Overlay};

use sha2::{Digest, Sha256};

use super::LedgerError;

/// A SHA-256 hash: a leaf hash, an interior node or a root.
pub type Hash = [u8; 32];

/// Root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Interior node hash: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Where perfect subtree hashes come from.
pub trait NodeSource {
    /// The hash of the `2^level` leaves `[index << level, (index + 1) << level)`.
    ///
    /// Fails with [`LedgerError::MissingNode`] when the source does not hold that node (its
    /// last leaf has not been appended, or the row is gone).
    fn perfect_node(&self, level: u32, index: u64) -> Result<Hash, LedgerError>;
}

/// The perfect nodes covering `[start, start + len)`, largest first. `start` must be a multiple
/// of the largest power of two in `len` (true for every subtree of the RFC 6962 split), which
/// makes every piece aligned.
fn subtree_hash(src: &dyn NodeSource, start: u64, len: u64) -> Result<Hash, LedgerError> {
    if len == 0 {
        return Ok(EMPTY_ROOT);
    }
    let mut pieces = Vec::with_capacity(len.count_ones() as usize);
    let mut offset = start;
    for level in (0..64u32).rev() {
        let width = 1u64 << level;
        if len & width != 0 {
            pieces.push(src.perfect_node(level, offset >> level)?);
            offset = offset.wrapping_add(width);
        }
    }
    let mut acc: Option<Hash> = None;
    for piece in pieces.iter().rev() {
        acc = Some(match acc {
            None => *piece,
            Some(right) => node_hash(piece, &right),
        });
    }
    Ok(acc.unwrap_or(EMPTY_ROOT))
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The RFC 6962 root (Merkle Tree Hash) of the first `size` leaves; [`EMPTY_ROOT`] for 0.
pub fn root(src: &dyn NodeSource, size: u64) -> Result<Hash, LedgerError> {
    subtree_hash(src, 0, size)
}

/// The RFC 6962 audit path (`PATH(index, D[size])`) for leaf `index` in the tree of `size`
/// leaves, ordered from the leaf upwards.
pub fn inclusion_proof(
    src: &dyn NodeSource,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, LedgerError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size }.into());
    }
    let mut siblings = Vec::new();
    let (mut start, mut len, mut m) = (0u64, size, index);
    // Walk down from the root, noting the sibling subtree at each split.
    while len > 1 {
        let k = split(len);
        if m < k {
            siblings.push(subtree_hash(src, start + k, len - k)?);
            len = k;
        } else {
            siblings.push(subtree_hash(src, start, k)?);
            start += k;
            len -= k;
            m -= k;
        }
    }
    siblings.reverse();
    Ok(siblings)
}

/// The RFC 6962 consistency proof (`PROOF(old, D[new])`, built with `SUBPROOF`) showing that the
/// tree of `new` leaves extends the tree of `old` leaves. Empty when `old` is 0 or equals `new`.
pub fn consistency_proof(
    src: &dyn NodeSource,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, LedgerError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new }.into());
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let (mut start, mut len, mut m, mut complete) = (0u64, new, old, true);
    // SUBPROOF(m, D[start..start+len], complete), unrolled: each step appends its sibling
    // after the deeper part, so the siblings are collected top-down and reversed at the end.
    loop {
        if m == len {
            if !complete {
                out.push(subtree_hash(src, start, len)?);
            }
            break;
        }
        let k = split(len);
        if m <= k {
            out.push(subtree_hash(src, start + k, len - k)?);
            len = k;
        } else {
            out.push(subtree_hash(src, start, k)?);
            start += k;
            len -= k;
            m -= k;
            complete = false;
        }
    }
    out.reverse();
    Ok(out)
}

/// The perfect nodes completed by appending leaf number `index` with hash `leaf`: `(0, index,
/// leaf)` and, for every level `l` such that `index + 1` is a multiple of `2^l`, the node
/// `(l, index >> l)`, whose left child is read from `src`. Ordered by level.
pub fn completed_nodes(
    index: u64,
    leaf: Hash,
    src: &dyn NodeSource,
) -> Result<Vec<(u32, u64, Hash)>, LedgerError> {
    if index == u64::MAX {
        return Err(LedgerError::IndexOutOfRange(index));
    }
    let mut out = vec![(0, index, leaf)];
    let mut hash = leaf;
    let mut level = 0u32;
    while (index >> level) & 1 == 1 {
        let left = src.perfect_node(level, (index >> level) - 1)?;
        hash = node_hash(&left, &hash);
        level += 1;
        out.push((level, index >> level, hash));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, sha256(b""));
    }

    #[test]
    fn split_is_the_largest_power_of_two_strictly_below() {
        assert_eq!(split(2), 1);
        assert_eq!(split(3), 2);
        assert_eq!(split(4), 2);
        assert_eq!(split(5), 4);
        assert_eq!(split(u64::MAX), 1 << 63);
    }

    #[test]
    fn requests_beyond_the_tree_are_errors_not_panics() {
        let nodes = MemoryNodes::new();
        assert!(matches!(
            inclusion_proof(&nodes, 0, 0),
            Err(LedgerError::Tree(ProofError::IndexOutOfRange { .. }))
        ));
        assert!(matches!(
            consistency_proof(&nodes, 3, 2),
            Err(LedgerError::Tree(ProofError::SizesOutOfOrder { .. }))
        ));
        assert!(matches!(
            root(&nodes, 1),
            Err(LedgerError::MissingNode { level: 0, index: 0 })
        ));
        assert!(completed_nodes(u64::MAX, EMPTY_ROOT, &nodes).is_err());
    }
}
