//! `scan_canonical` (one pass over the bytes, no value built) reaches the same verdict as
//! `is_canonical` (parse, serialise again, compare) on every input: the RFC 8785 vectors, the
//! records the test fixtures and the demo write, generated documents, and many deterministic
//! mutations of all of them (byte flips, swaps, deletions, inserted whitespace and escapes,
//! reordered keys, respelt numbers, deep nesting). Verification trusts the scan, so any
//! disagreement is a bug in it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ledger_support;
#[path = "canonical_scan/mutate.rs"]
mod mutate;

use std::path::PathBuf;

use modelgate::canonical::{
    is_canonical, scan_canonical, scan_canonical_members, to_canonical_vec, MAX_DEPTH,
};
use modelgate::ledger::{seal, SqliteStore, Store, GENESIS_PREV};
use mutate::{mutations, Rng, NUMBERS};
use serde_json::{json, Map, Value};

/// Verdicts seen so far, so that each test can show it exercised both answers.
#[derive(Default)]
struct Tally {
    canonical: usize,
    not: usize,
}

impl Tally {
    /// Asserts both checks agree on `bytes`.
    fn check(&mut self, bytes: &[u8]) {
        let reference = is_canonical(bytes);
        assert_eq!(
            scan_canonical(bytes),
            reference,
            "verdicts differ (is_canonical says {reference}) on {:?}",
            String::from_utf8_lossy(bytes)
        );
        if reference {
            self.canonical += 1;
        } else {
            self.not += 1;
        }
    }

    fn assert_saw_both(&self, at_least: usize) {
        assert!(
            self.canonical >= at_least && self.not >= at_least,
            "too few cases: {} canonical, {} not",
            self.canonical,
            self.not
        );
    }
}

fn fixture(dir: &str, name: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/fixtures/rfc8785",
        dir,
        name,
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn vector_names() -> Vec<String> {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/rfc8785/input"]
        .iter()
        .collect();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn rfc8785_vectors_and_their_mutations_get_the_same_verdict() {
    let mut tally = Tally::default();
    let mut rng = Rng(8785);
    let names = vector_names();
    assert_eq!(names.len(), 6);
    for name in names {
        for doc in [fixture("input", &name), fixture("output", &name)] {
            tally.check(&doc);
            for m in mutations(&doc, 400, &mut rng) {
                tally.check(&m);
            }
        }
        assert!(scan_canonical(&fixture("output", &name)), "{name}");
    }
    tally.assert_saw_both(1_000);
}

/// Every record a ledger test writes: the small drafts of the ledger tests, and the records of
/// a workspace with trust changes, a bundle activation and decisions of every tier.
fn fixture_records() -> Vec<Vec<u8>> {
    let mut records: Vec<Vec<u8>> = (0..12)
        .map(|seq| {
            seal(&ledger_support::draft(seq), seq, &GENESIS_PREV)
                .unwrap()
                .bytes
        })
        .collect();
    let mut f = common::Fixture::new();
    for tier in [0, 1, 2] {
        let name = format!("scan-t{tier}");
        let (md, approvals) = common::complete(&name, "1.0.0", tier);
        for envelopes in [common::with(&md, &approvals), vec![md.clone()]] {
            f.decide(&common::request(&name, "1.0.0", "production", &envelopes))
                .unwrap();
        }
    }
    f.revoke(common::BOB);
    let rows = f.store.records(0, u64::MAX).unwrap();
    assert!(rows.len() >= 12, "{}", rows.len());
    records.extend(rows.into_iter().map(|r| r.bytes));
    records
}

/// The records `modelgate demo` writes.
fn demo_records() -> Vec<Vec<u8>> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .args(["demo", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let store = SqliteStore::open_read_only(&dir.join("ledger.db")).unwrap();
    store
        .records(0, u64::MAX)
        .unwrap()
        .into_iter()
        .map(|r| r.bytes)
        .collect()
}

fn check_records(records: &[Vec<u8>], positions: usize, seed: u64) {
    let mut tally = Tally::default();
    let mut rng = Rng(seed);
    for record in records {
        assert!(
            scan_canonical(record),
            "{}",
            String::from_utf8_lossy(record)
        );
        tally.check(record);
        for m in mutations(record, positions, &mut rng) {
            tally.check(&m);
        }
    }
    tally.assert_saw_both(records.len());
}

#[test]
fn fixture_records_and_their_mutations_get_the_same_verdict() {
    check_records(&fixture_records(), 60, 1);
}

#[test]
fn demo_records_and_their_mutations_get_the_same_verdict() {
    let records = demo_records();
    assert!(records.len() >= 10, "{}", records.len());
    check_records(&records, 40, 2);
}

/// Strings on both sides of every escaping and ordering rule.
const TRICKY: &[&str] = &[
    "",
    "a",
    "A",
    "b",
    "ab",
    "\"",
    "\\",
    "/",
    "\u{0}",
    "\u{8}",
    "\t",
    "\n",
    "\u{b}",
    "\u{c}",
    "\r",
    "\u{1f}",
    " ",
    "\u{7f}",
    "é",
    "\u{d7ff}",
    "\u{e000}",
    "\u{ffff}",
    "\u{10000}",
    "😂",
    "\u{10ffff}",
    "a\u{e000}",
    "a\u{10000}",
    "€uro",
];

fn generated(rng: &mut Rng, depth: usize) -> Value {
    let leaf = depth >= 4 || rng.below(3) == 0;
    match if leaf { rng.below(5) } else { 5 + rng.below(2) } {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => json!(*rng.pick(TRICKY)),
        3 => {
            let spelling = *rng.pick(NUMBERS);
            serde_json::from_str(spelling).unwrap_or(json!(7))
        }
        4 => {
            let f = f64::from_bits(rng.next());
            if f.is_finite() {
                json!(f)
            } else {
                json!(-3)
            }
        }
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| generated(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(5) {
                let key = format!("{}{}", rng.pick(TRICKY), rng.pick(TRICKY));
                map.insert(key, generated(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

/// Generated documents: the canonical form of each, serde_json's compact form (keys in
/// insertion order, its own escapes and number spellings), and mutations of the canonical form.
#[test]
fn generated_documents_and_their_mutations_get_the_same_verdict() {
    let mut tally = Tally::default();
    let mut rng = Rng(42);
    for _ in 0..300 {
        let value = generated(&mut rng, 0);
        let Ok(canonical) = to_canonical_vec(&value) else {
            continue;
        };
        tally.check(&canonical);
        tally.check(&serde_json::to_vec(&value).unwrap());
        for m in mutations(&canonical, 12, &mut rng) {
            tally.check(&m);
        }
    }
    tally.assert_saw_both(1_000);
}

/// Doubles over the whole range in their canonical spelling and in Rust's spellings.
#[test]
fn number_spellings_get_the_same_verdict() {
    let mut tally = Tally::default();
    let mut rng = Rng(7);
    for _ in 0..5_000 {
        let f = f64::from_bits(rng.next());
        if !f.is_finite() {
            continue;
        }
        let canonical = to_canonical_vec(&json!(f)).unwrap();
        assert!(scan_canonical(&canonical));
        for spelling in [
            canonical.clone(),
            format!("{f}").into_bytes(),
            format!("{f:?}").into_bytes(),
            format!("{f:e}").into_bytes(),
            format!("{f:E}").into_bytes(),
            format!("{f:.3}").into_bytes(),
            format!("[{f:e},{}]", String::from_utf8_lossy(&canonical)).into_bytes(),
        ] {
            tally.check(&spelling);
        }
    }
    for n in NUMBERS {
        tally.check(n.as_bytes());
        tally.check(format!("[{n}]").as_bytes());
    }
    for i in (0..64).flat_map(|shift| {
        let p = 1u64 << shift;
        [p - 1, p, p + 1]
    }) {
        tally.check(i.to_string().as_bytes());
        tally.check(format!("-{i}").as_bytes());
    }
    tally.assert_saw_both(1_000);
}

/// Nesting right up to the limit and one beyond, in arrays, objects and a record body.
#[test]
fn nesting_at_and_beyond_the_limit_gets_the_same_verdict() {
    let mut tally = Tally::default();
    for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1] {
        let arrays = "[".repeat(depth) + &"]".repeat(depth);
        let objects = "{\"a\":".repeat(depth - 1) + "{}" + &"}".repeat(depth - 1);
        let mixed = "[{\"a\":".repeat(depth / 2) + "0" + &"}]".repeat(depth / 2);
        let record = format!(
            r#"{{"body":{},"index":0,"kind":"freeze","prev":"{}","time":"2026-11-27T10:49:24Z","v":1}}"#,
            "[".repeat(depth - 1) + &"]".repeat(depth - 1),
            "0".repeat(64)
        );
        for doc in [arrays, objects, mixed, record] {
            tally.check(doc.as_bytes());
        }
    }
    tally.assert_saw_both(3);
}

/// For a canonical object, the members handed out are its members, in order, as bytes that
/// parse to the same values.
#[test]
fn members_of_canonical_records_are_handed_out_as_parsed() {
    for record in fixture_records() {
        let parsed: Map<String, Value> = serde_json::from_slice(&record).unwrap();
        let mut members = Vec::new();
        assert!(scan_canonical_members(&record, |key, value| {
            members.push((
                String::from_utf8(key.to_vec()).unwrap(),
                serde_json::from_slice::<Value>(value).unwrap(),
            ));
        }));
        let expected: Vec<(String, Value)> = parsed.into_iter().collect();
        assert_eq!(members, expected);
    }
}
