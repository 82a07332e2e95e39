//! Proof verification that needs nothing but hashes: [`verify_inclusion`],
//! [`verify_consistency`] and their error, [`ProofError`].
//!
//! The algorithms are those of RFC 9162 §2.1.3.2 and §2.1.4.2 in the form used by
//! transparency-dev: the expected proof length is computed from the index and sizes first, so a
//! proof that is too short or too long is refused before any hashing.

use super::{node_hash, Hash, EMPTY_ROOT};

/// Why a proof was refused, or why a proof could not be requested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// A leaf index at or beyond the tree size.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesOutOfOrder {
        /// The earlier size.
        old: u64,
        /// The later size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("proof has {found} hashes, but {expected} are required")]
    WrongLength {
        /// Hashes required by the index and sizes.
        expected: usize,
        /// Hashes supplied.
        found: usize,
    },
    /// The root computed from the leaf and its audit path differs from the expected root.
    #[error("inclusion proof does not lead to the given root")]
    RootMismatch,
    /// The consistency proof does not reproduce the old root.
    #[error("consistency proof does not reproduce the old root")]
    OldRootMismatch,
    /// The consistency proof does not reproduce the new root.
    #[error("consistency proof does not reproduce the new root")]
    NewRootMismatch,
}

/// Bit length of `x` (0 for 0).
fn bit_len(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// Number of proof hashes below the point where the path of `index` leaves the right border of
/// a tree of `size`, and the number along that border.
fn decompose(index: u64, size: u64) -> (u32, u32) {
    let inner = bit_len(index ^ (size - 1));
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

fn chain_inner(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, h) in proof.iter().enumerate() {
        if (index >> i) & 1 == 0 {
            seed = node_hash(&seed, h);
        } else {
            seed = node_hash(h, &seed);
        }
    }
    seed
}

fn chain_inner_right(mut seed: Hash, proof: &[Hash], index: u64) -> Hash {
    for (i, h) in proof.iter().enumerate() {
        if (index >> i) & 1 == 1 {
            seed = node_hash(h, &seed);
        }
    }
    seed
}

fn chain_border_right(mut seed: Hash, proof: &[Hash]) -> Hash {
    for h in proof {
        seed = node_hash(h, &seed);
    }
    seed
}

fn expect_len(proof: &[Hash], expected: usize) -> Result<(), ProofError> {
    if proof.len() == expected {
        Ok(())
    } else {
        Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        })
    }
}

/// Checks that `leaf` (a leaf hash) sits at `index` in the tree of `size` leaves whose root is
/// `root`, given its audit path `proof` (leaf upwards, as [`super::inclusion_proof`] makes it).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (inner, border) = decompose(index, size);
    let inner = inner as usize;
    expect_len(proof, inner + border as usize)?;
    let (lower, upper) = proof.split_at(inner);
    let computed = chain_border_right(chain_inner(*leaf, lower, index), upper);
    if computed == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root`, given the RFC 6962 consistency proof `proof`.
///
/// Equal sizes need an empty proof and equal roots. An old size of 0 needs an empty proof and
/// `old_root` equal to [`EMPTY_ROOT`] (every tree extends the empty one).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        expect_len(proof, 0)?;
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::NewRootMismatch)
        };
    }
    if old_size == 0 {
        expect_len(proof, 0)?;
        return if *old_root == EMPTY_ROOT {
            Ok(())
        } else {
            Err(ProofError::OldRootMismatch)
        };
    }
    let (inner, border) = decompose(old_size - 1, new_size);
    let shift = old_size.trailing_zeros();
    // `old_size - 1` ends in `shift` one bits, so the paths part above level `shift`.
    let inner = inner.saturating_sub(shift) as usize;
    // The proof starts with the hash of the subtree of 2^shift leaves the old tree ends with,
    // unless that subtree is the whole old tree.
    let (seed, rest) = if old_size == 1u64 << shift {
        (*old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => {
                return Err(ProofError::WrongLength {
                    expected: 1 + inner + border as usize,
                    found: 0,
                })
            }
        }
    };
    let start = proof.len() - rest.len();
    expect_len(proof, start + inner + border as usize)?;
    let (lower, upper) = rest.split_at(inner);
    let mask = (old_size - 1) >> shift;
    let old = chain_border_right(chain_inner_right(seed, lower, mask), upper);
    if old != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    let new = chain_border_right(chain_inner(seed, lower, mask), upper);
    if new != *new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}
