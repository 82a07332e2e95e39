//! The Merkle tree code against the RFC 6962 test vectors and against a naive implementation
//! written here straight from the RFC 6962 §2.1 definitions (MTH, PATH, PROOF/SUBPROOF).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use modelgate::ledger::merkle::{completed_nodes, consistency_proof, inclusion_proof, root};
use modelgate::ledger::{
    leaf_hash, verify_consistency, verify_inclusion, Frontier, Hash, LedgerError, MemoryNodes,
    NodeSource, Overlay, ProofError, EMPTY_ROOT,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

const MAX: u64 = 70;

// ---- naive reference, from the RFC text -------------------------------------------------

fn sha(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn naive_node(l: &Hash, r: &Hash) -> Hash {
    sha(&[&[1], l, r])
}

/// Largest power of two strictly less than n.
fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => sha(&[]),
        1 => d[0],
        n => {
            let k = k_of(n);
            naive_node(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k_of(n);
    let (mut p, sibling) = if m < k {
        (path(m, &d[..k]), mth(&d[k..]))
    } else {
        (path(m - k, &d[k..]), mth(&d[..k]))
    };
    p.push(sibling);
    p
}

fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = k_of(n);
    let (mut p, sibling) = if m <= k {
        (subproof(m, &d[..k], b), mth(&d[k..]))
    } else {
        (subproof(m - k, &d[k..], false), mth(&d[..k]))
    };
    p.push(sibling);
    p
}

fn naive_consistency(m: usize, d: &[Hash]) -> Vec<Hash> {
    if m == 0 || m == d.len() {
        vec![]
    } else {
        subproof(m, d, true)
    }
}

// ---- fixtures -----------------------------------------------------------------------------

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

fn tree(leaves: &[Hash]) -> MemoryNodes {
    let mut nodes = MemoryNodes::new();
    for leaf in leaves {
        nodes.push(*leaf).unwrap();
    }
    nodes
}

#[derive(Deserialize)]
struct Vectors {
    leaves_hex: Vec<String>,
    roots_hex: Vec<String>,
    empty_root_hex: String,
    inclusion: BTreeMap<String, Vec<String>>,
    consistency: BTreeMap<String, Vec<String>>,
}

fn h(hex_str: &str) -> Hash {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn pair(key: &str) -> (u64, u64) {
    let (a, b) = key.split_once(',').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

fn vectors() -> Vectors {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rfc6962/rfc6962.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

// ---- RFC 6962 vectors -------------------------------------------------------------------------

#[test]
fn rfc6962_vectors_roots_inclusion_and_consistency_match() {
    let v = vectors();
    assert_eq!(EMPTY_ROOT, h(&v.empty_root_hex));
    let hashes: Vec<Hash> = v
        .leaves_hex
        .iter()
        .map(|l| leaf_hash(&hex::decode(l).unwrap()))
        .collect();
    let nodes = tree(&hashes);
    assert_eq!(root(&nodes, 0).unwrap(), EMPTY_ROOT);
    assert_eq!(v.roots_hex.len(), hashes.len());
    for (k, expected) in v.roots_hex.iter().enumerate() {
        let size = k as u64 + 1;
        assert_eq!(root(&nodes, size).unwrap(), h(expected), "root of {size}");
    }
    assert!(!v.inclusion.is_empty() && !v.consistency.is_empty());
    for (key, expected) in &v.inclusion {
        let (index, size) = pair(key);
        let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
        assert_eq!(
            inclusion_proof(&nodes, index, size).unwrap(),
            expected,
            "{key}"
        );
        let root_hash = h(&v.roots_hex[size as usize - 1]);
        verify_inclusion(&hashes[index as usize], index, size, &expected, &root_hash).unwrap();
    }
    for (key, expected) in &v.consistency {
        let (old, new) = pair(key);
        let expected: Vec<Hash> = expected.iter().map(|x| h(x)).collect();
        assert_eq!(
            consistency_proof(&nodes, old, new).unwrap(),
            expected,
            "{key}"
        );
        let old_root = h(&v.roots_hex[old as usize - 1]);
        let new_root = h(&v.roots_hex[new as usize - 1]);
        verify_consistency(old, new, &old_root, &new_root, &expected).unwrap();
    }
}

// ---- exhaustive agreement with the naive definitions ------------------------------------------

#[test]
fn roots_and_proofs_agree_with_the_rfc_definitions_for_all_sizes_up_to_70() {
    let all = leaves(MAX);
    let nodes = tree(&all);
    assert_eq!(root(&nodes, 0).unwrap(), mth(&[]));
    for n in 1..=MAX {
        let d = &all[..n as usize];
        let r = root(&nodes, n).unwrap();
        assert_eq!(r, mth(d), "root {n}");
        for i in 0..n {
            let proof = inclusion_proof(&nodes, i, n).unwrap();
            assert_eq!(proof, path(i as usize, d), "path {i} of {n}");
            verify_inclusion(&d[i as usize], i, n, &proof, &r).unwrap();
        }
        for m in 0..=n {
            let proof = consistency_proof(&nodes, m, n).unwrap();
            assert_eq!(proof, naive_consistency(m as usize, d), "proof {m} -> {n}");
            verify_consistency(m, n, &mth(&d[..m as usize]), &r, &proof).unwrap();
        }
    }
}

#[test]
fn frontier_and_completed_nodes_agree_with_the_stored_tree() {
    let all = leaves(MAX);
    let nodes = tree(&all);
    let mut frontier = Frontier::new();
    for (i, leaf) in all.iter().enumerate() {
        let completed = frontier.push(*leaf).unwrap();
        assert_eq!(completed, completed_nodes(i as u64, *leaf, &nodes).unwrap());
        for (level, index, hash) in completed {
            assert_eq!(nodes.perfect_node(level, index).unwrap(), hash);
            let first = (index << level) as usize;
            assert_eq!(hash, mth(&all[first..first + (1 << level)]));
        }
        assert_eq!(frontier.root(), mth(&all[..=i]));
    }
    // Only perfect nodes are stored: one per complete aligned block.
    let expected: usize = (0..7).map(|l| (MAX >> l) as usize).sum();
    assert_eq!(nodes.nodes().len(), expected);
}

#[test]
fn an_overlay_reads_fresh_nodes_first_and_falls_back_to_its_base() {
    let all = leaves(23);
    let base = tree(&all[..13]);
    let mut overlay = Overlay::new(&base);
    let mut reference = base.clone();
    for (i, leaf) in all.iter().enumerate().skip(13) {
        let fresh = overlay.push(i as u64, *leaf).unwrap();
        reference.push(*leaf).unwrap();
        for (level, index, hash) in fresh {
            assert_eq!(reference.perfect_node(level, index).unwrap(), hash);
        }
    }
    assert_eq!(root(&overlay, 23).unwrap(), mth(&all));
    assert_eq!(root(&base, 13).unwrap(), mth(&all[..13]));
    assert!(matches!(
        base.perfect_node(0, 13),
        Err(LedgerError::MissingNode {
            level: 0,
            index: 13
        })
    ));
}

// ---- verifiers reject what they must -----------------------------------------------------------

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut out = *hash;
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

#[test]
fn inclusion_verification_rejects_any_flipped_bit_and_wrong_positions() {
    let all = leaves(MAX);
    let nodes = tree(&all);
    let roots: Vec<Hash> = (0..=MAX).map(|n| root(&nodes, n).unwrap()).collect();
    for n in 1..=MAX {
        let r = roots[n as usize];
        for i in 0..n {
            let leaf = all[i as usize];
            let proof = inclusion_proof(&nodes, i, n).unwrap();
            // One bit per hash, varying with the position; every bit for a few proofs.
            let bits: Vec<usize> = if n % 17 == 0 && i % 5 == 0 {
                (0..256).collect()
            } else {
                vec![((i * 31 + n * 7) % 256) as usize]
            };
            for &bit in &bits {
                assert!(verify_inclusion(&flip(&leaf, bit), i, n, &proof, &r).is_err());
                assert_eq!(
                    verify_inclusion(&leaf, i, n, &proof, &flip(&r, bit)),
                    Err(ProofError::RootMismatch)
                );
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k] = flip(&bad[k], bit);
                    assert!(
                        verify_inclusion(&leaf, i, n, &bad, &r).is_err(),
                        "{i} {n} {k}"
                    );
                }
            }
            for j in (0..n).filter(|&j| j != i) {
                assert!(
                    verify_inclusion(&leaf, j, n, &proof, &r).is_err(),
                    "index {j}"
                );
            }
            // Against the root of any other size, the proof fails.
            for m in [n - 1, n + 1, n + 2, 2 * n]
                .into_iter()
                .filter(|&m| m > i && m <= MAX)
            {
                let other = roots[m as usize];
                assert!(verify_inclusion(&leaf, i, m, &proof, &other).is_err());
            }
            assert_eq!(
                verify_inclusion(&leaf, n, n, &proof, &r),
                Err(ProofError::IndexOutOfRange { index: n, size: n })
            );
            let mut longer = proof.clone();
            longer.push(r);
            assert!(matches!(
                verify_inclusion(&leaf, i, n, &longer, &r),
                Err(ProofError::WrongLength { .. })
            ));
            if !proof.is_empty() {
                assert!(matches!(
                    verify_inclusion(&leaf, i, n, &proof[1..], &r),
                    Err(ProofError::WrongLength { .. })
                ));
            }
        }
    }
}

#[test]
fn consistency_verification_rejects_any_flipped_bit_and_wrong_sizes() {
    let all = leaves(MAX);
    let nodes = tree(&all);
    let roots: Vec<Hash> = (0..=MAX).map(|n| root(&nodes, n).unwrap()).collect();
    for n in 1..=MAX {
        for m in 1..n {
            let (ro, rn) = (roots[m as usize], roots[n as usize]);
            let proof = consistency_proof(&nodes, m, n).unwrap();
            let bit = ((m * 13 + n * 3) % 256) as usize;
            // (When `m` is a power of two the old root is the proof's seed, so a wrong old root
            // shows up as a wrong new root.)
            assert!(verify_consistency(m, n, &flip(&ro, bit), &rn, &proof).is_err());
            assert_eq!(
                verify_consistency(m, n, &ro, &flip(&rn, bit), &proof),
                Err(ProofError::NewRootMismatch)
            );
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k] = flip(&bad[k], bit);
                assert!(
                    verify_consistency(m, n, &ro, &rn, &bad).is_err(),
                    "{m} {n} {k}"
                );
            }
            for m2 in (1..n).filter(|&m2| m2 != m) {
                let r2 = roots[m2 as usize];
                assert!(verify_consistency(m2, n, &r2, &rn, &proof).is_err());
            }
            for n2 in [n + 1, n + 2].into_iter().filter(|&n2| n2 <= MAX) {
                let r2 = roots[n2 as usize];
                assert!(verify_consistency(m, n2, &ro, &r2, &proof).is_err());
            }
            assert!(verify_consistency(m, n, &ro, &rn, &[]).is_err());
            let mut longer = proof.clone();
            longer.push(rn);
            assert!(matches!(
                verify_consistency(m, n, &ro, &rn, &longer),
                Err(ProofError::WrongLength { .. })
            ));
        }
    }
}

#[test]
fn consistency_edge_sizes_are_handled_without_panics() {
    let all = leaves(8);
    let nodes = tree(&all);
    let r8 = root(&nodes, 8).unwrap();
    let r4 = root(&nodes, 4).unwrap();
    // Equal sizes: empty proof and equal roots.
    verify_consistency(8, 8, &r8, &r8, &[]).unwrap();
    assert!(verify_consistency(8, 8, &r8, &r4, &[]).is_err());
    assert!(verify_consistency(8, 8, &r8, &r8, &[r8]).is_err());
    // From the empty tree: empty proof, and the old root must be the empty root.
    verify_consistency(0, 8, &EMPTY_ROOT, &r8, &[]).unwrap();
    assert!(verify_consistency(0, 8, &r4, &r8, &[]).is_err());
    assert!(verify_consistency(0, 8, &EMPTY_ROOT, &r8, &[r8]).is_err());
    // Shrinking is refused by both the prover and the verifier.
    assert_eq!(
        verify_consistency(8, 4, &r8, &r4, &[]),
        Err(ProofError::SizesOutOfOrder { old: 8, new: 4 })
    );
    assert!(matches!(
        consistency_proof(&nodes, 8, 4),
        Err(LedgerError::Tree(ProofError::SizesOutOfOrder { .. }))
    ));
    // Huge sizes: errors, never panics or overflow.
    assert!(verify_inclusion(&r8, u64::MAX - 1, u64::MAX, &[], &r8).is_err());
    assert!(verify_consistency(u64::MAX - 1, u64::MAX, &r8, &r8, &[r8]).is_err());
    assert!(verify_consistency(1 << 63, u64::MAX, &r8, &r8, &[]).is_err());
    assert!(matches!(
        inclusion_proof(&nodes, 3, 9),
        Err(LedgerError::MissingNode { .. })
    ));
}
