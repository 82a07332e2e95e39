//! Properties of RFC 8785 canonicalisation over generated JSON (nested objects and arrays,
//! strings with control characters, BMP and supplementary characters, integers, finite doubles
//! of every exponent): the canonical bytes equal an independent serialiser written here from
//! the RFC (UTF-16 key order, ECMAScript number spelling), survive a parse and a second
//! canonicalisation byte for byte, pass the one-pass checker, and are what any non-canonical
//! spelling of the same document (whitespace, shuffled members, `\u` escapes including
//! surrogate pairs, other number spellings) canonicalises to.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod prop_support;

use std::fmt::Write as _;
use std::path::PathBuf;

use modelgate::canonical::{
    is_canonical, parse_json, scan_canonical, scan_canonical_members, to_canonical_vec,
    MAX_SAFE_INTEGER,
};
use prop_support::{config, Mix};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Number, Value};

// ---------------------------------------------------------------------------------------------
// An independent reference serialiser, straight from RFC 8785 §3.2 and ECMA-262 Number::toString.

/// ECMAScript `Number.prototype.toString` of a finite double, built from the shortest
/// round-trip digits Rust's `{:e}` gives (ECMA-262 §6.1.6.1.20, radix 10).
fn es_number(f: f64) -> String {
    assert!(f.is_finite());
    if f == 0.0 {
        return "0".to_owned();
    }
    // The fewest digits that read back as `f` (Rust's shortest round trip) ...
    let shortest = format!("{:e}", f.abs());
    let k = shortest.split_once('e').unwrap().0.replace('.', "").len();
    // ... and, among the k-digit decimals, the one closest to `f`, ties to even (ECMA-262:
    // "if there are two such possible values of n, choose the one that is even"): Rust's
    // exact formatting at that precision rounds the exact binary value half to even.
    let sci = format!("{:.*e}", k - 1, f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap();
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i64;
    let n = exponent.parse::<i64>().unwrap() + 1;
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let e = n - 1;
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if e >= 0 { '+' } else { '-' };
        write!(out, "e{sign}{}", e.abs()).unwrap();
    }
    out
}

fn reference_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

/// The RFC 8785 form of `v` (integers only within ±(2^53 − 1); the generators keep to that).
fn reference(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                assert!(i.unsigned_abs() <= MAX_SAFE_INTEGER);
                write!(out, "{i}").unwrap();
            } else if let Some(u) = n.as_u64() {
                assert!(u <= MAX_SAFE_INTEGER);
                write!(out, "{u}").unwrap();
            } else {
                out.push_str(&es_number(n.as_f64().unwrap()));
            }
        }
        Value::String(s) => reference_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                reference(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| utf16(k));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                reference_string(out, key);
                out.push(':');
                reference(out, &map[key]);
            }
            out.push('}');
        }
    }
}

fn reference_bytes(v: &Value) -> Vec<u8> {
    let mut out = String::new();
    reference(&mut out, v);
    out.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Non-canonical spellings of the same document.

fn whitespace(out: &mut String, mix: &mut Mix) {
    while mix.one_in(3) {
        out.push([' ', '\t', '\n', '\r'][mix.below(4) as usize]);
    }
}

fn noisy_string(out: &mut String, s: &str, mix: &mut Mix) {
    out.push('"');
    for c in s.chars() {
        let code = c as u32;
        let must_escape = code < 0x20 || c == '"' || c == '\\';
        match mix.below(4) {
            // A `\u` escape, upper- or lowercase hex, as a surrogate pair beyond the BMP.
            0 => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    if mix.one_in(2) {
                        write!(out, "\\u{unit:04X}").unwrap();
                    } else {
                        write!(out, "\\u{unit:04x}").unwrap();
                    }
                }
            }
            1 if c == '/' => out.push_str("\\/"),
            _ if must_escape => match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                _ => write!(out, "\\u{code:04x}").unwrap(),
            },
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// Another spelling of the number `n` that denotes the same double.
fn noisy_number(n: &Number, mix: &mut Mix) -> String {
    let add_plus = |s: String| s.replacen("e", "e+", 1).replace("e+-", "e-");
    if let Some(i) = n.as_i64().map(i128::from).or(n.as_u64().map(i128::from)) {
        return match mix.below(5) {
            0 if i == 0 => "-0".to_owned(),
            1 => format!("{i}.0"),
            2 => format!("{i}e0"),
            3 => format!("{i}.000E+0"),
            _ => i.to_string(),
        };
    }
    let f = n.as_f64().unwrap();
    match mix.below(6) {
        0 => format!("{f:e}"),
        1 => format!("{f:E}"),
        2 => add_plus(format!("{f:e}")),
        3 => format!("{f:?}"),
        4 => format!("{f}"),
        _ => ryu_js::Buffer::new().format_finite(f).to_owned(),
    }
}

fn noisy(out: &mut String, v: &Value, mix: &mut Mix) {
    whitespace(out, mix);
    match v {
        Value::Null | Value::Bool(_) => out.push_str(&v.to_string()),
        Value::Number(n) => out.push_str(&noisy_number(n, mix)),
        Value::String(s) => noisy_string(out, s, mix),
        Value::Array(items) => {
            out.push('[');
            whitespace(out, mix);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                noisy(out, item, mix);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            for i in (1..members.len()).rev() {
                members.swap(i, mix.below(i as u64 + 1) as usize);
            }
            out.push('{');
            whitespace(out, mix);
            for (i, (key, value)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    whitespace(out, mix);
                }
                noisy_string(out, key, mix);
                whitespace(out, mix);
                out.push(':');
                noisy(out, value, mix);
            }
            out.push('}');
        }
    }
    whitespace(out, mix);
}

fn noisy_bytes(v: &Value, seed: u64) -> Vec<u8> {
    let mut out = String::new();
    noisy(&mut out, v, &mut Mix(seed));
    out.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Generators.

/// Characters that stress escaping and ordering: ASCII, every control character, the quote
/// and backslash, BMP characters on both sides of the surrogate block, supplementary ones.
fn character() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::char::range(' ', '~'),
        2 => prop::char::range('\0', '\u{1f}'),
        1 => prop::sample::select(vec![
            '"', '\\', '/', '\u{7f}', '\u{80}', '\u{2028}', '\u{feff}', '\u{d7ff}', '\u{e000}',
            '\u{fffd}', '\u{ffff}', '\u{10000}', '\u{1f600}', '\u{10ffff}'
        ]),
        1 => prop::char::range('\u{80}', '\u{d7ff}'),
        1 => prop::char::range('\u{e000}', '\u{ffff}'),
        1 => prop::char::range('\u{10000}', '\u{10ffff}'),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(character(), 0..max).prop_map(|cs| cs.into_iter().collect())
}

/// Finite doubles of every magnitude: random bit patterns (uniform over exponents), subnormals,
/// short decimals, and the edges of the ECMAScript spelling rules.
fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("finite", |f| f.is_finite()),
        1 => (any::<bool>(), 0u64..(1 << 52))
            .prop_map(|(neg, m)| f64::from_bits(m | if neg { 1 << 63 } else { 0 })),
        2 => (-99_999i64..99_999, -12i32..25)
            .prop_map(|(m, e)| format!("{m}e{e}").parse::<f64>().unwrap()),
        1 => prop::sample::select(vec![
            0.0, -0.0, 1e21, 1e-6, 1e-7, 9.999_999_999_999_999e20, 5e-324, f64::MAX, f64::MIN,
            f64::MIN_POSITIVE, f64::EPSILON, 0.1, 1.0 / 3.0, 2f64.powi(53), -(2f64.powi(53)),
        ]),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    let safe = MAX_SAFE_INTEGER as i64;
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => (-safe..=safe).prop_map(Value::from),
        1 => (-1000i64..1000).prop_map(Value::from),
        3 => double().prop_map(|f| Value::Number(Number::from_f64(f).unwrap())),
        3 => text(12).prop_map(Value::String),
    ]
}

/// Keys, with a bias towards characters whose UTF-16 order differs from their UTF-8 order.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => text(6),
        1 => prop::collection::vec(
            prop::sample::select(vec!['a', 'B', '\u{e000}', '\u{ffff}', '\u{10000}', '\u{1f600}', '\u{80}', '\u{0}']),
            0..4,
        )
        .prop_map(|cs| cs.into_iter().collect()),
    ]
}

fn document() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// The canonical bytes are the reference serialisation, are recognised by both checkers, and
/// parse back to a document whose canonical bytes are identical.
#[test]
fn canonical_bytes_equal_the_reference_and_round_trip_byte_for_byte() {
    let mut runner = TestRunner::new(config(4000, 0x8785_0001));
    runner
        .run(&document(), |v| {
            let canonical = to_canonical_vec(&v).unwrap();
            let expected = reference_bytes(&v);
            prop_assert_eq!(
                String::from_utf8_lossy(&canonical),
                String::from_utf8_lossy(&expected)
            );
            prop_assert!(
                scan_canonical(&canonical),
                "scan_canonical refuses its own output"
            );
            prop_assert!(is_canonical(&canonical));
            let again = to_canonical_vec(&parse_json(&canonical).unwrap()).unwrap();
            prop_assert_eq!(&again, &canonical);
            Ok(())
        })
        .unwrap();
}

/// Any other spelling of the document (whitespace, shuffled members, escapes and surrogate
/// pairs, respelt numbers) canonicalises to the same bytes, and the checkers refuse it.
#[test]
fn every_spelling_of_a_document_canonicalises_to_the_same_bytes() {
    let mut runner = TestRunner::new(config(4000, 0x8785_0002));
    runner
        .run(&(document(), any::<u64>()), |(v, seed)| {
            let canonical = to_canonical_vec(&v).unwrap();
            let spelling = noisy_bytes(&v, seed);
            let parsed = parse_json(&spelling)
                .unwrap_or_else(|e| panic!("{e} in {:?}", String::from_utf8_lossy(&spelling)));
            let recanonical = to_canonical_vec(&parsed).unwrap();
            prop_assert_eq!(
                String::from_utf8_lossy(&recanonical),
                String::from_utf8_lossy(&canonical),
                "spelling {:?}",
                String::from_utf8_lossy(&spelling)
            );
            if spelling != canonical {
                prop_assert!(!scan_canonical(&spelling));
                prop_assert!(!is_canonical(&spelling));
            }
            Ok(())
        })
        .unwrap();
}

/// Object members come out in the order of the UTF-16 code units of their keys, strictly
/// increasing, as the one-pass checker reports them; the generator does reach keys whose
/// UTF-8 byte order is different.
#[test]
fn members_are_ordered_by_utf16_code_units() {
    let mut runner = TestRunner::new(config(2000, 0x8785_0003));
    let differs = std::cell::Cell::new(0usize);
    let members = prop::collection::vec((key(), leaf()), 1..12)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()));
    runner
        .run(&members, |v| {
            let canonical = to_canonical_vec(&v).unwrap();
            let mut keys: Vec<String> = Vec::new();
            let ok = scan_canonical_members(&canonical, &mut |key: &[u8], _value: &[u8]| {
                let mut quoted = b"\"".to_vec();
                quoted.extend_from_slice(key);
                quoted.push(b'"');
                keys.push(serde_json::from_slice(&quoted).unwrap());
            });
            prop_assert!(ok);
            prop_assert_eq!(keys.len(), v.as_object().unwrap().len());
            for pair in keys.windows(2) {
                prop_assert!(utf16(&pair[0]) < utf16(&pair[1]), "{:?}", pair);
            }
            let mut by_bytes = keys.clone();
            by_bytes.sort();
            if by_bytes != keys {
                differs.set(differs.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    assert!(
        differs.get() >= 10,
        "only {} documents had a UTF-8 order that differs from the UTF-16 order",
        differs.get()
    );
}

/// ryu-js, which the canonical form uses, spells every finite double as ECMA-262's
/// Number::toString does (the reference above, built on Rust's shortest round-trip digits),
/// and the spelling reads back as the same double.
#[test]
fn number_spelling_is_ecmascript_number_to_string() {
    let mut runner = TestRunner::new(config(50_000, 0x8785_0004));
    runner
        .run(&double(), |f| {
            let mut buffer = ryu_js::Buffer::new();
            let spelt = buffer.format_finite(f);
            prop_assert_eq!(spelt, es_number(f));
            prop_assert_eq!(
                spelt.parse::<f64>().unwrap(),
                if f == 0.0 { 0.0 } else { f }
            );
            let canonical = to_canonical_vec(&Value::Number(Number::from_f64(f).unwrap())).unwrap();
            prop_assert_eq!(canonical, spelt.as_bytes());
            Ok(())
        })
        .unwrap();
}

/// The number samples of RFC 8785 Appendix B (IEEE 754 bits → ECMAScript spelling), through the
/// canonicaliser and through the reference.
#[test]
fn rfc8785_appendix_b_number_samples() {
    let samples: [(u64, &str); 24] = [
        (0x0000_0000_0000_0000, "0"),
        (0x8000_0000_0000_0000, "0"),
        (0x0000_0000_0000_0001, "5e-324"),
        (0x8000_0000_0000_0001, "-5e-324"),
        (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
        (0xffef_ffff_ffff_ffff, "-1.7976931348623157e+308"),
        (0x4340_0000_0000_0000, "9007199254740992"),
        (0xc340_0000_0000_0000, "-9007199254740992"),
        (0x4430_0000_0000_0000, "295147905179352830000"),
        (0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22"),
        (0x44b5_2d02_c7e1_4af6, "1e+23"),
        (0x44b5_2d02_c7e1_4af7, "1.0000000000000001e+23"),
        (0x444b_1ae4_d6e2_ef4e, "999999999999999700000"),
        (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
        (0x444b_1ae4_d6e2_ef50, "1e+21"),
        (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
        (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
        (0x41b3_de43_5555_5553, "333333333.3333332"),
        (0x41b3_de43_5555_5554, "333333333.33333325"),
        (0x41b3_de43_5555_5555, "333333333.3333333"),
        (0x41b3_de43_5555_5556, "333333333.3333334"),
        (0x41b3_de43_5555_5557, "333333333.33333343"),
        (0xbecb_f647_612f_3696, "-0.0000033333333333333333"),
        (0x4314_3ff3_c1cb_0959, "1424953923781206.2"),
    ];
    for (bits, expected) in samples {
        let f = f64::from_bits(bits);
        assert_eq!(es_number(f), expected, "reference for {bits:#018x}");
        let canonical = to_canonical_vec(&Value::Number(Number::from_f64(f).unwrap())).unwrap();
        assert_eq!(
            String::from_utf8(canonical).unwrap(),
            expected,
            "canonical form of {bits:#018x}"
        );
        // Read back from its canonical spelling, the sample keeps its bytes.
        let reparsed = parse_json(expected.as_bytes()).unwrap();
        assert_eq!(to_canonical_vec(&reparsed).unwrap(), expected.as_bytes());
    }
}

/// The RFC 8785 reference vectors, respelt many ways, still canonicalise to their outputs.
#[test]
fn respelt_rfc8785_vectors_canonicalise_to_the_reference_outputs() {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/rfc8785"]
        .iter()
        .collect();
    let mut names: Vec<_> = std::fs::read_dir(dir.join("input"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6);
    for name in names {
        let input = std::fs::read(dir.join("input").join(&name)).unwrap();
        let output = std::fs::read(dir.join("output").join(&name)).unwrap();
        let value = parse_json(&input).unwrap();
        assert_eq!(reference_bytes(&value), output, "reference on {name:?}");
        for seed in 0..50 {
            let spelling = noisy_bytes(&value, seed);
            let canonical = to_canonical_vec(&parse_json(&spelling).unwrap()).unwrap();
            assert_eq!(canonical, output, "{name:?} respelt with seed {seed}");
        }
    }
}
