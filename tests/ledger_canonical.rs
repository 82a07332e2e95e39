//! RFC 8785 canonical JSON: the reference vectors and the rules the ledger relies on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use modelgate::canonical::{
    canonical_bytes, is_canonical, parse_json, to_canonical_vec, CanonicalError, MAX_DEPTH,
};
use serde_json::{json, Value};

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

/// Each input must canonicalise to exactly the bytes of its output file, and the output must be
/// recognised as canonical while the pretty-printed input is not. Inputs are read with
/// `parse_json`: serde_json's default float parser rounds `333333333.33333329` (values.json)
/// one unit in the last place off.
fn check_vector(name: &str) {
    let input = fixture("input", name);
    let expected = fixture("output", name);
    let value = parse_json(&input).unwrap();
    let actual = to_canonical_vec(&value).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&actual),
        String::from_utf8_lossy(&expected),
        "vector {name}"
    );
    assert_eq!(actual, expected, "vector {name} (bytes)");
    assert!(is_canonical(&expected), "output of {name} is canonical");
    assert!(
        !is_canonical(&input),
        "pretty input of {name} is not canonical"
    );
}

const VECTORS: [&str; 6] = [
    "arrays.json",
    "french.json",
    "structures.json",
    "unicode.json",
    "values.json",
    "weird.json",
];

#[test]
fn rfc8785_arrays() {
    check_vector("arrays.json");
}

#[test]
fn rfc8785_french() {
    check_vector("french.json");
}

#[test]
fn rfc8785_structures() {
    check_vector("structures.json");
}

#[test]
fn rfc8785_unicode() {
    check_vector("unicode.json");
}

#[test]
fn rfc8785_values() {
    check_vector("values.json");
}

#[test]
fn rfc8785_weird() {
    check_vector("weird.json");
}

/// Guards against a vector being added to the fixtures without a test above.
#[test]
fn every_fixture_vector_has_a_test() {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/rfc8785/input"]
        .iter()
        .collect();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, VECTORS);
}

fn canon(value: &Value) -> String {
    String::from_utf8(to_canonical_vec(value).unwrap()).unwrap()
}

#[test]
fn numbers_use_the_ecmascript_spelling() {
    let cases: [(&str, &str); 12] = [
        ("1e21", "1e+21"),
        ("1e20", "100000000000000000000"),
        ("5e-324", "5e-324"),
        ("-0", "0"),
        ("-0.0", "0"),
        ("0.1", "0.1"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("123e-20", "1.23e-18"),
        ("0.000001", "0.000001"),
        ("0.0000001", "1e-7"),
        ("-1.5", "-1.5"),
        ("100.0", "100"),
    ];
    for (input, expected) in cases {
        let value = parse_json(input.as_bytes()).unwrap();
        assert_eq!(canon(&value), expected, "input {input}");
    }
    assert_eq!(canon(&json!(0.1 + 0.2)), "0.30000000000000004");
}

/// Integers a JCS reader would round are refused; those that already spell their double pass.
#[test]
fn integers_that_a_double_reader_would_round_are_refused() {
    let max = 9_007_199_254_740_991_u64; // 2^53 - 1
    assert_eq!(canon(&json!(max)), "9007199254740991");
    assert_eq!(canon(&json!(-(max as i64))), "-9007199254740991");
    for too_big in [
        json!(max + 2),
        json!(-(max as i64) - 2),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1_152_921_504_606_846_976_u64), // 2^60, spelled 1152921504606847000 as a double
    ] {
        assert!(
            matches!(
                to_canonical_vec(&too_big),
                Err(CanonicalError::UnsafeInteger { .. })
            ),
            "{too_big}"
        );
    }
    // Exact doubles already in their ECMAScript spelling pass, as integers and as doubles.
    assert_eq!(canon(&json!(max + 1)), "9007199254740992");
    assert_eq!(
        canon(&json!(1_152_921_504_606_847_000_u64)),
        "1152921504606847000"
    );
    assert_eq!(
        canon(&json!(9_007_199_254_740_992.0_f64)),
        "9007199254740992"
    );
    assert_eq!(canon(&json!(1e20_f64)), "100000000000000000000");
}

#[test]
fn keys_sort_by_utf16_code_units_not_utf8_bytes() {
    // U+10000 is the surrogate pair D800 DC00 and sorts before U+E000 in UTF-16,
    // although its UTF-8 encoding (F0 ..) sorts after U+E000's (EE ..).
    let mut map = serde_json::Map::new();
    map.insert("\u{e000}".to_owned(), json!(1));
    map.insert("\u{10000}".to_owned(), json!(2));
    map.insert("a".to_owned(), json!(3));
    assert_eq!(
        canon(&Value::Object(map)),
        "{\"a\":3,\"\u{10000}\":2,\"\u{e000}\":1}"
    );
}

#[test]
fn strings_escape_only_quote_backslash_and_controls() {
    let value = json!("\u{0}\u{8}\t\n\u{b}\u{c}\r\u{1f} \"\\/\u{7f}é€😂");
    assert_eq!(
        canon(&value),
        "\"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f \\\"\\\\/\u{7f}é€😂\""
    );
}

#[test]
fn is_canonical_rejects_every_non_canonical_spelling() {
    assert!(is_canonical(br#"{"a":[1,"x",null],"b":true}"#));
    for bad in [
        &br#"{"b":true,"a":1}"#[..], // unsorted keys
        br#"{"a":1,"a":1}"#,         // duplicate keys
        br#"{"a": 1}"#,              // whitespace
        br#"{"a":1}
"#,               // trailing newline
        br#"{"a":1.0}"#,             // number spelling
        br#"{"a":1E3}"#,             // number spelling
        br#""\u0041""#,              // needless escape
        br#""\u001F""#,              // uppercase hex
        br#"{"a":9007199254740993}"#, // unsafe integer
        b"{\"a\":\"\xff\"}",         // invalid UTF-8
        b"",                         // not JSON
    ] {
        assert!(!is_canonical(bad), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn canonical_bytes_refuses_non_finite_floats() {
    #[derive(serde::Serialize)]
    struct Metric {
        name: &'static str,
        value: f64,
    }
    let err = canonical_bytes(&Metric {
        name: "auc",
        value: f64::NAN,
    })
    .unwrap_err();
    assert!(matches!(err, CanonicalError::NonFinite(_)), "{err}");
    assert!(matches!(
        canonical_bytes(&vec![1.0_f32, f32::INFINITY]),
        Err(CanonicalError::NonFinite(_))
    ));
    assert_eq!(
        canonical_bytes(&Metric {
            name: "auc",
            value: 0.5
        })
        .unwrap(),
        br#"{"name":"auc","value":0.5}"#
    );
}

#[test]
fn nesting_beyond_the_limit_is_an_error_not_a_stack_overflow() {
    let mut value = json!(0);
    for _ in 0..MAX_DEPTH {
        value = json!([value]);
    }
    assert!(to_canonical_vec(&value).is_ok());
    let value = json!({ "deeper": value });
    assert!(matches!(
        to_canonical_vec(&value),
        Err(CanonicalError::TooDeep)
    ));
}

/// `is_canonical` re-parses numbers with serde_json; a canonical spelling must read back as the
/// same double or verification would flag honest records.
#[test]
fn canonical_number_spellings_read_back_exactly() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..20_000 {
        // xorshift64*: deterministic bit patterns over the whole double range
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let bits = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let f = f64::from_bits(bits);
        if !f.is_finite() || f == 0.0 {
            continue; // -0 is spelled 0, which reads back as +0 by design
        }
        let text = canon(&json!(f));
        let back = parse_json(text.as_bytes()).unwrap().as_f64().unwrap();
        assert_eq!(back.to_bits(), f.to_bits(), "{f:e} spelled {text}");
        assert!(is_canonical(text.as_bytes()), "{text}");
    }
}
