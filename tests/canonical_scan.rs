//! `scan_canonical` (one pass over the bytes, no value built) reaches the same verdict as
//! `is_canonical` (parse, serialise again, compare) on every input: the RFC 8785 vectors, the
//! records the test fixtures and the demo write, generated documents, and many deterministic
//! mutations of all of them (byte flips, swaps, deletions, inserted whitespace and escapes,
//! reordered keys, respelt numbers, deep nesting). Verification trusts the scan, so any
//! disagreement is a bug in it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ledger_support;

use std::path::PathBuf;

use modelgate::canonical::{
    is_canonical, scan_canonical, scan_canonical_members, to_canonical_vec, MAX_DEPTH,
};
use modelgate::ledger::{seal, SqliteStore, Store, GENESIS_PREV};
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

/// A deterministic pseudo-random sequence (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Bytes written in place of one byte.
const REPLACEMENTS: &[u8] = &[
    b' ', b'\n', b'"', b'\\', b'/', b'0', b'1', b'9', b'-', b'+', b'.', b'e', b'E', b'{', b'}',
    b'[', b']', b',', b':', b'a', b'A', b'f', b'u', b'n', b't', 0x00, 0x08, 0x1f, 0x7f, 0x80, 0xbf,
    0xc3, 0xe0, 0xed, 0xf0, 0xff,
];

/// Byte strings inserted at a position: whitespace, escapes (canonical or not), characters on
/// both sides of the UTF-16 ordering quirk, broken UTF-8.
const INSERTIONS: &[&[u8]] = &[
    b" ",
    b"\t",
    b"\r\n",
    b"\\n",
    b"\\t",
    b"\\b",
    b"\\f",
    b"\\r",
    b"\\\"",
    b"\\\\",
    b"\\/",
    b"\\u0041",
    b"\\u0000",
    b"\\u0007",
    b"\\u0008",
    b"\\u0009",
    b"\\u000a",
    b"\\u000b",
    b"\\u000B",
    b"\\u001f",
    b"\\u001F",
    b"\\u007f",
    b"\\u00e9",
    b"\\ud83d\\ude00",
    b"\\ud83d",
    b"\\u",
    b"\x7f",
    "é".as_bytes(),
    "\u{e000}".as_bytes(),
    "\u{ffff}".as_bytes(),
    "\u{10000}".as_bytes(),
    "😂".as_bytes(),
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf4\x90\x80\x80",
    b"0",
    b"-",
    b".5",
    b"e1",
    b",",
    b"null",
];

/// Spellings put in place of a number.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "0.0",
    "-0.0",
    "00",
    "01",
    "1",
    "1.0",
    "1.",
    ".5",
    "+1",
    "1e0",
    "1E0",
    "1e+0",
    "10e-1",
    "0.1",
    "4.5",
    "4.50",
    "-1.5",
    "1e21",
    "1e+21",
    "1E+21",
    "1e20",
    "100000000000000000000",
    "999999999999999",
    "-999999999999999",
    "9999999999999999",
    "9007199254740991",
    "-9007199254740991",
    "9007199254740992",
    "9007199254740993",
    "-9007199254740993",
    "1152921504606846976",
    "1152921504606847000",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012345678",
    "1.7976931348623157e+308",
    "1.7976931348623157e308",
    "2e308",
    "-2e308",
    "5e-324",
    "5E-324",
    "1e-400",
    "0.000001",
    "0.0000001",
    "1e-7",
    "1e-07",
    "333333333.3333333",
    "333333333.33333329",
    "0.30000000000000004",
    "1e",
    "1e+",
    "-",
    "--1",
];

/// Every way of mutating `doc` this test knows, at positions spread over the document
/// (`positions` of them, all when the document is shorter).
fn mutations(doc: &[u8], positions: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let len = doc.len();
    let mut at: Vec<usize> = if len <= positions {
        (0..len).collect()
    } else {
        (0..positions).map(|_| rng.below(len)).collect()
    };
    at.extend([0, len.saturating_sub(1)]);
    for &i in at.iter().filter(|&&i| i < len) {
        for &r in REPLACEMENTS.iter().chain(&[doc[i] ^ 0x01, doc[i] ^ 0x20]) {
            let mut m = doc.to_vec();
            m[i] = r;
            out.push(m);
        }
        let mut deleted = doc.to_vec();
        deleted.remove(i);
        out.push(deleted);
        let mut doubled = doc.to_vec();
        doubled.insert(i, doc[i]);
        out.push(doubled);
        if i + 1 < len {
            let mut swapped = doc.to_vec();
            swapped.swap(i, i + 1);
            out.push(swapped);
        }
        for _ in 0..4 {
            let insertion = rng.pick(INSERTIONS);
            let mut m = doc.to_vec();
            m.splice(i..i, insertion.iter().copied());
            out.push(m);
        }
    }
    let mut truncated = doc.to_vec();
    truncated.truncate(len / 2);
    out.push(truncated);
    out.push([b" ", doc].concat());
    out.push([doc, b"\n"].concat());
    out.extend(number_respellings(doc));
    out.extend(key_reorderings(doc));
    out
}

/// `doc` with each number literal (outside strings) replaced by every spelling in [`NUMBERS`]
/// and by respellings of itself.
fn number_respellings(doc: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut in_string = false;
    let mut i = 0;
    while i < doc.len() {
        let b = doc[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let end = doc[i..]
                .iter()
                .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .map_or(doc.len(), |p| i + p);
            let literal = String::from_utf8_lossy(&doc[i..end]).into_owned();
            let own = [
                format!("{literal}.0"),
                format!("{literal}e0"),
                format!("{literal}0"),
                format!("0{literal}"),
                format!("-{literal}"),
                literal.replace('e', "E"),
                literal.trim_start_matches('-').to_owned(),
            ];
            for spelling in NUMBERS.iter().map(|s| s.to_string()).chain(own) {
                out.push([&doc[..i], spelling.as_bytes(), &doc[end..]].concat());
            }
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

/// `doc` (if JSON) with the members of each object rotated by one, serialised compactly in
/// that order (keys out of order, but otherwise as canonical as serde_json writes).
fn key_reorderings(doc: &[u8]) -> Vec<Vec<u8>> {
    let Ok(value) = serde_json::from_slice::<Value>(doc) else {
        return Vec::new();
    };
    let mut out = vec![serde_json::to_vec(&value).unwrap()];
    let mut count = 0;
    count_objects(&value, &mut count);
    for target in 0..count.min(40) {
        let mut v = value.clone();
        let mut seen = 0;
        rotate_object(&mut v, target, &mut seen);
        out.push(serde_json::to_vec(&v).unwrap());
    }
    out
}

fn count_objects(v: &Value, count: &mut usize) {
    match v {
        Value::Object(map) => {
            *count += 1;
            map.values().for_each(|v| count_objects(v, count));
        }
        Value::Array(items) => items.iter().for_each(|v| count_objects(v, count)),
        _ => {}
    }
}

fn rotate_object(v: &mut Value, target: usize, seen: &mut usize) {
    match v {
        Value::Object(map) => {
            if *seen == target {
                let mut members: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                let by = 1.min(members.len());
                members.rotate_left(by);
                *map = members.into_iter().collect::<Map<_, _>>();
            }
            *seen += 1;
            map.values_mut()
                .for_each(|v| rotate_object(v, target, seen));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| rotate_object(v, target, seen)),
        _ => {}
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
