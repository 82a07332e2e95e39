//! Shared setup for the property tests: a proptest configuration that is deterministic (fixed
//! ChaCha seed, no failure-persistence files, no forking) and a tiny seeded generator for the
//! choices a test makes inside one case.
#![allow(dead_code)]

use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

/// `cases` cases from the fixed `seed`: every run generates the same inputs, and a failure
/// prints its minimal input instead of writing a regressions file.
pub fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 256,
        ..Config::default()
    }
}

/// SplitMix64: a small deterministic generator seeded from a proptest value, for the choices a
/// test makes while walking its input (whitespace, escapes, batch splits).
pub struct Mix(pub u64);

impl Mix {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}
