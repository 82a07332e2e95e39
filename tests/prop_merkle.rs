//! Properties of the RFC 6962 Merkle tree for random sizes (0..=1500 and powers of two ± 1) and
//! random leaves: the roots, inclusion proofs and consistency proofs of the pure `merkle`
//! module and those served by a `SqliteStore` (records appended in random batch splits) equal a
//! naive implementation written here from RFC 6962 §2.1 (MTH, PATH, PROOF/SUBPROOF); the
//! crate's verifiers accept them and refuse each with one hash changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod prop_support;

use std::collections::HashMap;

use modelgate::ledger::merkle::{consistency_proof, inclusion_proof, root};
use modelgate::ledger::{
    verify_consistency, verify_inclusion, Hash, MemoryNodes, RecordDraft, RecordKind, SqliteStore,
    Store,
};
use prop_support::{config, Mix};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::macros::datetime;

// ---- the naive reference, from the RFC text --------------------------------------------------

fn sha(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Largest power of two strictly less than `n` (`n > 1`).
fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The entries `D[0..n]` of RFC 6962 §2.1, with MTH memoised per `(start, len)` so that many
/// proofs over one list stay cheap; every value is still computed by the RFC's recursion.
struct Naive {
    data: Vec<Vec<u8>>,
    memo: HashMap<(usize, usize), Hash>,
}

impl Naive {
    fn new(data: Vec<Vec<u8>>) -> Naive {
        Naive {
            data,
            memo: HashMap::new(),
        }
    }

    /// MTH(D[start..start + len]).
    fn mth(&mut self, start: usize, len: usize) -> Hash {
        if let Some(h) = self.memo.get(&(start, len)) {
            return *h;
        }
        let h = match len {
            0 => sha(&[]),
            1 => sha(&[&[0], &self.data[start]]),
            n => {
                let k = k_of(n);
                let left = self.mth(start, k);
                let right = self.mth(start + k, n - k);
                sha(&[&[1], &left, &right])
            }
        };
        self.memo.insert((start, len), h);
        h
    }

    fn leaf(&mut self, m: usize) -> Hash {
        self.mth(m, 1)
    }

    /// PATH(m, D[start..start + n]).
    fn path(&mut self, m: usize, start: usize, n: usize) -> Vec<Hash> {
        if n <= 1 {
            return Vec::new();
        }
        let k = k_of(n);
        if m < k {
            let mut p = self.path(m, start, k);
            p.push(self.mth(start + k, n - k));
            p
        } else {
            let mut p = self.path(m - k, start + k, n - k);
            p.push(self.mth(start, k));
            p
        }
    }

    /// SUBPROOF(m, D[start..start + n], b).
    fn subproof(&mut self, m: usize, start: usize, n: usize, b: bool) -> Vec<Hash> {
        if m == n {
            return if b {
                Vec::new()
            } else {
                vec![self.mth(start, n)]
            };
        }
        let k = k_of(n);
        if m <= k {
            let mut p = self.subproof(m, start, k, b);
            p.push(self.mth(start + k, n - k));
            p
        } else {
            let mut p = self.subproof(m - k, start + k, n - k, false);
            p.push(self.mth(start, k));
            p
        }
    }

    /// PROOF(m, D[n]); the RFC defines it for 0 < m < n, and the empty proof is used otherwise.
    fn proof(&mut self, m: usize, n: usize) -> Vec<Hash> {
        if m == 0 || m == n {
            Vec::new()
        } else {
            self.subproof(m, 0, n, true)
        }
    }
}

// ---- shared checks ---------------------------------------------------------------------------

/// `proof` with hash `i` changed in byte `byte`.
fn tampered(proof: &[Hash], i: usize, byte: usize) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p[i][byte % 32] ^= 1 << (byte % 8);
    p
}

/// The indices and old sizes a case checks: the edges and a few random ones.
fn samples(n: usize, mix: &mut Mix, count: usize) -> Vec<usize> {
    let mut out = vec![0, n / 2, n.saturating_sub(1), n];
    for _ in 0..count {
        out.push(mix.below(n as u64 + 1) as usize);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Checks the inclusion proof `proof` of leaf `m` in the tree of `n` leaves against the
/// reference, the verifier, and every single-hash change.
fn check_inclusion(naive: &mut Naive, m: usize, n: usize, proof: &[Hash], mix: &mut Mix) {
    assert_eq!(proof, naive.path(m, 0, n), "PATH({m}, D[{n}])");
    let (leaf, root) = (naive.leaf(m), naive.mth(0, n));
    verify_inclusion(&leaf, m as u64, n as u64, proof, &root).unwrap();
    for i in 0..proof.len() {
        let bad = tampered(proof, i, mix.below(256) as usize);
        assert!(
            verify_inclusion(&leaf, m as u64, n as u64, &bad, &root).is_err(),
            "PATH({m}, D[{n}]) with hash {i} changed verifies"
        );
    }
    let mut wrong_leaf = leaf;
    wrong_leaf[mix.below(32) as usize] ^= 0x80;
    assert!(verify_inclusion(&wrong_leaf, m as u64, n as u64, proof, &root).is_err());
}

/// Checks the consistency proof `proof` from `m` to `n` leaves likewise.
fn check_consistency(naive: &mut Naive, m: usize, n: usize, proof: &[Hash], mix: &mut Mix) {
    assert_eq!(proof, naive.proof(m, n), "PROOF({m}, D[{n}])");
    let (old, new) = (naive.mth(0, m), naive.mth(0, n));
    verify_consistency(m as u64, n as u64, &old, &new, proof).unwrap();
    for i in 0..proof.len() {
        let bad = tampered(proof, i, mix.below(256) as usize);
        assert!(
            verify_consistency(m as u64, n as u64, &old, &new, &bad).is_err(),
            "PROOF({m}, D[{n}]) with hash {i} changed verifies"
        );
    }
    if m > 0 && m < n {
        let mut wrong_old = old;
        wrong_old[mix.below(32) as usize] ^= 0x01;
        assert!(verify_consistency(m as u64, n as u64, &wrong_old, &new, proof).is_err());
    }
}

/// Sizes: uniform in 0..=1500, or a power of two up to 1024 and its neighbours.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        2 => 0usize..=1500,
        1 => (0u32..=10, -1i64..=1)
            .prop_map(|(p, d)| ((1i64 << p) + d).max(0) as usize),
    ]
}

// ---- the pure module -------------------------------------------------------------------------

/// Roots of every prefix checked along the way, proofs for sampled indices and old sizes.
#[test]
fn pure_merkle_module_matches_rfc6962_definitions() {
    let mut runner = TestRunner::new(config(300, 0x6962_0001));
    runner
        .run(&(size(), any::<u64>()), |(n, seed)| {
            let mut mix = Mix(seed);
            let data: Vec<Vec<u8>> = (0..n)
                .map(|i| {
                    let len = mix.below(40) as usize;
                    (0..len)
                        .map(|_| mix.next() as u8)
                        .chain([i as u8])
                        .collect()
                })
                .collect();
            let mut naive = Naive::new(data);
            let mut nodes = MemoryNodes::new();
            for m in 0..n {
                nodes.push(naive.leaf(m)).unwrap();
            }
            for size in samples(n, &mut mix, 6) {
                assert_eq!(root(&nodes, size as u64).unwrap(), naive.mth(0, size));
            }
            if n > 0 {
                for m in samples(n - 1, &mut mix, 12) {
                    let proof = inclusion_proof(&nodes, m as u64, n as u64).unwrap();
                    check_inclusion(&mut naive, m, n, &proof, &mut mix);
                }
            }
            for m in samples(n, &mut mix, 12) {
                let proof = consistency_proof(&nodes, m as u64, n as u64).unwrap();
                check_consistency(&mut naive, m, n, &proof, &mut mix);
            }
            Ok(())
        })
        .unwrap();
}

// ---- the SQLite store ------------------------------------------------------------------------

fn draft(seq: usize, mix: &mut Mix) -> RecordDraft {
    let kind = [
        RecordKind::Decision,
        RecordKind::Observation,
        RecordKind::Retire,
    ][mix.below(3) as usize];
    let noise: String = (0..mix.below(24))
        .map(|_| char::from(b'a' + mix.below(26) as u8))
        .collect();
    RecordDraft {
        kind,
        time: datetime!(2026-11-27 10:00:00 UTC) + time::Duration::seconds(seq as i64),
        body: json!({"seq": seq, "noise": noise, "n": mix.below(1 << 40)}),
    }
}

/// Random batch splits: after each batch, the store's root, consistency proof from the
/// previous size and some inclusion proofs equal the reference; at the end, the same for
/// sampled sizes and indices.
#[test]
fn sqlite_store_serves_rfc6962_roots_and_proofs_after_random_batches() {
    let mut runner = TestRunner::new(config(24, 0x6962_0002));
    runner
        .run(&(size(), any::<u64>()), |(n, seed)| {
            let mut mix = Mix(seed);
            let dir = tempfile::tempdir().unwrap();
            let mut store = SqliteStore::open(&dir.path().join("ledger.db")).unwrap();
            let mut data: Vec<Vec<u8>> = Vec::new();
            let mut reached = vec![0usize];
            while data.len() < n {
                let batch = (1 + mix.below(1 + n as u64 / 4) as usize).min(n - data.len());
                let drafts: Vec<RecordDraft> = (data.len()..data.len() + batch)
                    .map(|s| draft(s, &mut mix))
                    .collect();
                let sealed = store.append(&drafts).unwrap();
                assert_eq!(sealed.len(), batch);
                for record in sealed {
                    assert_eq!(record.index as usize, data.len());
                    data.push(record.bytes);
                }
                reached.push(data.len());
            }
            // The stored bytes are what `append` returned; the reference hashes those.
            assert_eq!(store.size().unwrap() as usize, n);
            let stored: Vec<Vec<u8>> = store
                .records(0, n as u64 + 1)
                .unwrap()
                .into_iter()
                .map(|r| r.bytes)
                .collect();
            assert_eq!(stored, data);
            let mut naive = Naive::new(data);
            for pair in reached.windows(2) {
                let (old, new) = (pair[0], pair[1]);
                assert_eq!(store.tree_root(new as u64).unwrap(), naive.mth(0, new));
                let proof = store.consistency_proof(old as u64, new as u64).unwrap();
                check_consistency(&mut naive, old, new, &proof, &mut mix);
                let m = mix.below(new as u64) as usize;
                let proof = store.inclusion_proof(m as u64, new as u64).unwrap();
                check_inclusion(&mut naive, m, new, &proof, &mut mix);
            }
            for size in samples(n, &mut mix, 4) {
                assert_eq!(store.tree_root(size as u64).unwrap(), naive.mth(0, size));
                for m in samples(size, &mut mix, 3) {
                    let proof = store.consistency_proof(m as u64, size as u64).unwrap();
                    check_consistency(&mut naive, m, size, &proof, &mut mix);
                }
                if size > 0 {
                    for m in samples(size - 1, &mut mix, 3) {
                        let proof = store.inclusion_proof(m as u64, size as u64).unwrap();
                        check_inclusion(&mut naive, m, size, &proof, &mut mix);
                    }
                }
            }
            assert!(
                store.tree_root(n as u64 + 1).is_err(),
                "no tree beyond the ledger"
            );
            Ok(())
        })
        .unwrap();
}
