//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! Ledger records, receipts and anything else that is hashed or signed as JSON is serialised once,
//! in the one byte form RFC 8785 defines, and stored as those bytes. The entry points are
//! [`to_canonical_vec`] (for a [`serde_json::Value`]), [`canonical_bytes`] (for any
//! [`serde::Serialize`] type) and [`is_canonical`] (does a byte string already have that form?);
//! [`parse_json`] reads JSON without rounding any number, which a canonical check needs. Every
//! failure is a [`CanonicalError`].
//!
//! The rules, as implemented here:
//!
//! - no whitespace between tokens;
//! - object members sorted by the UTF-16 code units of their keys (not by UTF-8 bytes, not by
//!   locale); duplicate keys cannot occur in a [`serde_json::Value`];
//! - strings: `"` and `\` are escaped, control characters below U+0020 use the short forms
//!   `\b \f \n \r \t` where they exist and `\u00xx` (lowercase hex) otherwise; every other
//!   character, U+007F and non-ASCII included, is written as literal UTF-8;
//! - numbers: the ECMAScript `Number.prototype.toString` form of the IEEE 754 double (`1e+30`,
//!   `0.002`, `4.5`, `-0` written as `0`), produced by `ryu-js`.
//!
//! Two choices go beyond the RFC and are deliberate:
//!
//! - **Integers that a JCS reader would read back as a different value are refused.** JCS
//!   readers parse every number as an IEEE 754 double. Integers within ±(2^53 − 1)
//!   (`Number.MAX_SAFE_INTEGER`, RFC 7493 §2.2) are always exact. Beyond that, an `i64`/`u64`
//!   is accepted only if its decimal spelling already is the ECMAScript spelling of the double
//!   it denotes (`9007199254740992`, `1152921504606847000`), so the bytes say exactly what was
//!   given; anything else (`9007199254740993`, `u64::MAX`) would be silently rounded by another
//!   JCS implementation, and in an audit record a silently changed value is worse than an
//!   error: [`CanonicalError::UnsafeInteger`]. Encode such values as strings. (Refusing every
//!   integer beyond 2^53 − 1 instead would make canonical doubles such as `1e20`, which
//!   serde_json reads back as integers, fail [`is_canonical`].)
//! - **Non-finite floats are refused**, also when they come from a Rust value through
//!   [`canonical_bytes`] (plain `serde_json::to_value` would turn them into `null`).
//!
//! Nesting deeper than [`MAX_DEPTH`] containers is refused rather than risking the stack.

use serde::Serialize;
use serde_json::{Map, Number, Value};

mod check;
mod finite;
mod parse;

pub use check::{scan_canonical, scan_canonical_members};
pub use parse::parse_json;

/// Largest integer magnitude that survives a round trip through an IEEE 754 double
/// (`Number.MAX_SAFE_INTEGER` = 2^53 − 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Deepest nesting of arrays and objects that is canonicalised (serde_json's own parser stops
/// below this, so every document it parses fits).
pub const MAX_DEPTH: usize = 128;

/// Why a value has no RFC 8785 canonical form.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    /// An integer beyond ±(2^53 − 1) that a JCS reader would read back as another value.
    #[error("integer `{value}` would be read back as `{double}` by a JCS reader (beyond ±(2^53 - 1)); encode it as a string")]
    UnsafeInteger {
        /// The integer as given.
        value: String,
        /// The ECMAScript spelling of the double a reader would see.
        double: String,
    },
    /// NaN or an infinity, which JSON cannot represent.
    #[error("number `{0}` is not finite; JSON has no representation for it")]
    NonFinite(f64),
    /// A number that serde_json could not express as an integer or a double.
    #[error("number `{0}` cannot be represented as an IEEE 754 double")]
    UnrepresentableNumber(String),
    /// Bytes that are not one strict JSON document (see [`parse_json`]).
    #[error("invalid JSON at byte {offset}: {problem}")]
    Parse {
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong there.
        problem: String,
    },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("value nests deeper than {MAX_DEPTH} arrays or objects")]
    TooDeep,
    /// The Rust value could not be turned into JSON at all (e.g. a map with non-string keys).
    #[error("value cannot be serialised as JSON: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// Serialises `value` in RFC 8785 canonical form.
pub fn to_canonical_vec(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(128);
    write_value(&mut out, value, 0)?;
    Ok(out)
}

/// Serialises any serde value in RFC 8785 canonical form.
///
/// Non-finite floats are refused here (see the module docs) before the value is converted.
pub fn canonical_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    value.serialize(finite::FiniteCheck)?;
    let value = serde_json::to_value(value)?;
    to_canonical_vec(&value)
}

/// Whether `bytes` are exactly the canonical form of the JSON document they contain.
///
/// False for anything that is not a single valid JSON document ([`parse_json`]: duplicate keys
/// included), for surrounding or inner whitespace, unsorted keys, non-canonical escapes or
/// number spellings, and for documents without a canonical form (e.g. unsafe integers).
pub fn is_canonical(bytes: &[u8]) -> bool {
    match parse_json(bytes) {
        Ok(value) => to_canonical_vec(&value).is_ok_and(|canonical| canonical == bytes),
        Err(_) => false,
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value, depth: usize) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(CanonicalError::TooDeep);
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item, depth + 1)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            if depth >= MAX_DEPTH {
                return Err(CanonicalError::TooDeep);
            }
            write_object(out, map, depth)?;
        }
    }
    Ok(())
}

fn write_object(
    out: &mut Vec<u8>,
    map: &Map<String, Value>,
    depth: usize,
) -> Result<(), CanonicalError> {
    // Sort explicitly: the map's own order depends on serde_json features (`preserve_order`
    // keeps insertion order) and Rust's `str` order is UTF-8 byte order, which differs from
    // UTF-16 code unit order for characters above U+FFFF versus U+E000..U+FFFF.
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|(a, _), (b, _)| a.encode_utf16().cmp(b.encode_utf16()));
    out.push(b'{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, key);
        out.push(b':');
        write_value(out, value, depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_number(out: &mut Vec<u8>, n: &Number) -> Result<(), CanonicalError> {
    if let Some(u) = n.as_u64() {
        write_integer(out, u.to_string(), u <= MAX_SAFE_INTEGER, u as f64)
    } else if let Some(i) = n.as_i64() {
        write_integer(
            out,
            i.to_string(),
            i.unsigned_abs() <= MAX_SAFE_INTEGER,
            i as f64,
        )
    } else if let Some(f) = n.as_f64() {
        write_f64(out, f)
    } else {
        Err(CanonicalError::UnrepresentableNumber(n.to_string()))
    }
}

/// Writes an integer whose decimal form is `text`. Outside the safe range it must already be
/// the ECMAScript spelling of `as_double` (see the module docs).
fn write_integer(
    out: &mut Vec<u8>,
    text: String,
    safe: bool,
    as_double: f64,
) -> Result<(), CanonicalError> {
    if !safe {
        let mut buffer = ryu_js::Buffer::new();
        let double = buffer.format_finite(as_double);
        if double != text {
            return Err(CanonicalError::UnsafeInteger {
                value: text,
                double: double.to_owned(),
            });
        }
    }
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn write_f64(out: &mut Vec<u8>, f: f64) -> Result<(), CanonicalError> {
    if !f.is_finite() {
        return Err(CanonicalError::NonFinite(f));
    }
    let mut buffer = ryu_js::Buffer::new();
    out.extend_from_slice(buffer.format_finite(f).as_bytes());
    Ok(())
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0x0f)],
            ],
            // Multi-byte UTF-8 sequences never contain bytes below 0x80, so copying the
            // untouched runs byte-wise keeps every non-ASCII character literal.
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}
