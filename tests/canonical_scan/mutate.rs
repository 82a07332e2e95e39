//! Deterministic mutations of JSON documents for `tests/canonical_scan.rs`: byte flips and
//! replacements, deletions, doublings, swaps, inserted whitespace, escapes and characters,
//! respelt numbers and reordered object keys.

use serde_json::{Map, Value};

/// A deterministic pseudo-random sequence (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
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
pub const NUMBERS: &[&str] = &[
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
pub fn mutations(doc: &[u8], positions: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
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
