//! [`scan_canonical`]: the canonical-form check in one pass over the bytes, building no value.
//!
//! [`super::is_canonical`] parses a document into a [`serde_json::Value`], serialises it again
//! and compares; that costs an allocation per string and per object member. Verification checks
//! every record of the ledger, so it uses this scanner instead, which reaches the same verdict
//! on every input (the tests in `tests/canonical_scan.rs` run both side by side) by checking
//! each rule where the bytes are read:
//!
//! - the bytes are valid UTF-8 and hold exactly one JSON value, with no whitespace anywhere
//!   outside strings;
//! - strings contain no raw control character and only the escapes the canonical form writes:
//!   `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, and `\u00xx` with lowercase hex for the other
//!   control characters below U+0020; everything else appears as itself;
//! - object keys are strictly increasing by UTF-16 code units of their unescaped text, which
//!   also refuses duplicates;
//! - a number is exactly what [`super::to_canonical_vec`] writes for the value [`super::parse_json`]
//!   reads from it (the same number formatting, ryu-js, is used; short integers are decided
//!   without it);
//! - arrays and objects nest at most [`MAX_DEPTH`] deep.
//!
//! [`scan_canonical_members`] also hands out the members of a top-level object as byte slices,
//! so a reader of a canonical document can pick out fields without a second parse. Key order
//! and key text live in the `keys` submodule.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Number;

mod keys;

use super::{write_number, MAX_DEPTH};
use keys::{unescape, utf16_cmp};

/// Integer literals with at most this many digits are below 2^53 (about 9.007e15), so they are
/// canonical exactly when they are not `-0` (the grammar already excludes leading zeros).
const SHORT_INTEGER_DIGITS: usize = 15;

/// Whether `bytes` are exactly the RFC 8785 canonical form of the JSON document they contain.
///
/// The same verdict as [`super::is_canonical`], reached in one pass without building a value.
pub fn scan_canonical(bytes: &[u8]) -> bool {
    scan(bytes, &mut |_, _| {}).is_ok()
}

/// [`scan_canonical`], and for a document that is an object, calls `member(key, value)` for each
/// of its members in order: `key` is the key's bytes between the quotes (escapes left as
/// written), `value` the bytes of the member's value. Members are handed out while the scan
/// runs, so they mean something only if this returns `true`.
pub fn scan_canonical_members<'a>(
    bytes: &'a [u8],
    mut member: impl FnMut(&'a [u8], &'a [u8]),
) -> bool {
    scan(bytes, &mut member).is_ok()
}

/// Why and where a document is not canonical (for tests and debugging; callers see a `bool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Violation {
    /// Byte offset at which the scan stopped.
    offset: usize,
    /// The rule that does not hold there.
    rule: &'static str,
}

type Scan = Result<(), Violation>;

/// A member callback: raw key bytes, raw value bytes.
type Members<'m, 'a> = &'m mut dyn FnMut(&'a [u8], &'a [u8]);

fn scan<'a>(bytes: &'a [u8], member: Members<'_, 'a>) -> Scan {
    let mut scanner = Scanner {
        bytes,
        pos: 0,
        number: Vec::new(),
    };
    scanner.value(0, Some(member))?;
    if scanner.pos != bytes.len() {
        return Err(scanner.violation("content after the document"));
    }
    Ok(())
}

/// The scan's position in a document. Outside strings every byte must be ASCII (anything else
/// is an unexpected character), so checking that each string's content is UTF-8 checks the
/// whole document.
struct Scanner<'a> {
    bytes: &'a [u8],
    /// Offset of the next unread byte.
    pos: usize,
    /// Scratch space for writing a number in canonical form.
    number: Vec<u8>,
}

/// A key as scanned: where it lies (between the quotes) and whether it holds escapes.
#[derive(Clone, Copy)]
struct Key {
    start: usize,
    end: usize,
    escaped: bool,
}

impl<'a> Scanner<'a> {
    fn violation(&self, rule: &'static str) -> Violation {
        Violation {
            offset: self.pos,
            rule,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8, rule: &'static str) -> Scan {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.violation(rule))
        }
    }

    fn value(&mut self, depth: usize, member: Option<Members<'_, 'a>>) -> Scan {
        match self.peek() {
            Some(b'n') => self.literal(b"null"),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'"') => self.string().map(|_| ()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth, member),
            Some(_) => Err(self.violation("unexpected character")),
            None => Err(self.violation("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Scan {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.violation("invalid literal"))
        }
    }

    fn array(&mut self, depth: usize) -> Scan {
        if depth >= MAX_DEPTH {
            return Err(self.violation("nested too deeply"));
        }
        self.pos += 1; // [
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value(depth + 1, None)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.violation("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize, mut member: Option<Members<'_, 'a>>) -> Scan {
        if depth >= MAX_DEPTH {
            return Err(self.violation("nested too deeply"));
        }
        self.pos += 1; // {
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut previous: Option<Key> = None;
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.violation("expected a string key"));
            }
            let key = self.string()?;
            if let Some(before) = previous {
                if self.key_order(before, key) != Ordering::Less {
                    return Err(Violation {
                        offset: key.start - 1,
                        rule: "keys not strictly increasing by UTF-16 code units",
                    });
                }
            }
            previous = Some(key);
            self.expect(b':', "expected `:` after an object key")?;
            let value_start = self.pos;
            self.value(depth + 1, None)?;
            if let Some(member) = member.as_deref_mut() {
                member(
                    &self.bytes[key.start..key.end],
                    &self.bytes[value_start..self.pos],
                );
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.violation("expected `,` or `}`")),
            }
        }
    }

    /// Scans a string whose opening quote is at `pos`, checking that its content is UTF-8 and
    /// that every character is written the one canonical way; returns where the content lies.
    fn string(&mut self) -> Result<Key, Violation> {
        self.pos += 1; // opening quote
        let start = self.pos;
        let mut escaped = false;
        let mut non_ascii = false;
        loop {
            // Skip the bytes that stand for themselves eight at a time, up to the first one
            // that does not.
            while let Some(chunk) = self.bytes.get(self.pos..self.pos + 8) {
                let word = word_of(chunk);
                // Bytes past the stop may be flagged as non-ASCII too; that only costs a
                // UTF-8 check of this string that was not needed.
                non_ascii |= word & HIGH_BITS != 0;
                let flags = attention(word);
                if flags != 0 {
                    self.pos += (flags.trailing_zeros() / 8) as usize;
                    break;
                }
                self.pos += 8;
            }
            match self.peek() {
                Some(b'"') => {
                    let end = self.pos;
                    if non_ascii {
                        std::str::from_utf8(&self.bytes[start..end]).map_err(|e| Violation {
                            offset: start + e.valid_up_to(),
                            rule: "invalid UTF-8",
                        })?;
                    }
                    self.pos += 1;
                    return Ok(Key {
                        start,
                        end,
                        escaped,
                    });
                }
                Some(b'\\') => {
                    self.escape()?;
                    escaped = true;
                }
                Some(0x00..=0x1f) => return Err(self.violation("raw control character")),
                Some(byte) => {
                    non_ascii |= byte >= 0x80;
                    self.pos += 1;
                }
                None => return Err(self.violation("unterminated string")),
            }
        }
    }

    /// Checks the escape at `pos` (a backslash) is one the canonical form writes.
    fn escape(&mut self) -> Scan {
        let canonical = match self.bytes.get(self.pos + 1) {
            Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
            Some(b'u') => match self.bytes.get(self.pos + 2..self.pos + 6) {
                Some(&[b'0', b'0', high @ (b'0' | b'1'), low]) => match lower_hex(low) {
                    // Control characters with a short form must use it.
                    Some(low) if !matches!((high, low), (b'0', 0x8 | 0x9 | 0xa | 0xc | 0xd)) => 6,
                    _ => 0,
                },
                _ => 0,
            },
            _ => 0,
        };
        if canonical == 0 {
            return Err(self.violation("escape the canonical form does not write"));
        }
        self.pos += canonical;
        Ok(())
    }

    /// Scans a number and checks it is written as the canonical form writes its value.
    fn number(&mut self) -> Scan {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits_start = self.pos;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.violation("invalid number")),
        }
        let digits = self.pos - digits_start;
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.violation("expected a digit after the decimal point"));
            }
            self.skip_digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                return Err(self.violation("expected a digit in the exponent"));
            }
            self.skip_digits();
        }
        let literal = &self.bytes[start..self.pos];
        if integer && digits <= SHORT_INTEGER_DIGITS {
            return if literal == b"-0" {
                Err(self.violation("`-0` is written `0`"))
            } else {
                Ok(())
            };
        }
        // Read the value as `parse_json` does and write it as `to_canonical_vec` does.
        let text = std::str::from_utf8(literal).map_err(|_| self.violation("invalid number"))?;
        let value = if integer {
            text.parse::<u64>()
                .map(Number::from)
                .or_else(|_| text.parse::<i64>().map(Number::from))
                .ok()
        } else {
            None
        };
        let value = match value {
            Some(value) => value,
            None => text
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .ok_or_else(|| self.violation("number outside the range of a double"))?,
        };
        self.number.clear();
        if write_number(&mut self.number, &value).is_err() || self.number != literal {
            return Err(Violation {
                offset: start,
                rule: "number not in its canonical spelling",
            });
        }
        Ok(())
    }

    fn skip_digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    /// Compares two scanned keys by the UTF-16 code units of their unescaped text.
    fn key_order(&self, a: Key, b: Key) -> Ordering {
        utf16_cmp(&self.key_text(a), &self.key_text(b))
    }

    fn key_text(&self, key: Key) -> Cow<'a, [u8]> {
        let raw = &self.bytes[key.start..key.end];
        if key.escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Eight bytes as one word (`chunk` is 8 bytes long).
fn word_of(chunk: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    u64::from_le_bytes(word)
}

/// Flags the bytes of `w` (little-endian: byte `i` at bits `8i..8i+8`) that the string scan
/// must look at: a quote, a backslash or a control character (`b < 0x20`). This is the
/// classic "has a zero byte" arithmetic: zero exactly when no byte counts, and otherwise its
/// lowest set bit is the high bit of the first byte that counts (a borrow only spreads upwards
/// from a byte that counts itself). Bytes of 0x80 and above never count.
fn attention(w: u64) -> u64 {
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH_BITS;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH_BITS;
    below_space | zero_byte(w ^ (ONES * u64::from(b'"'))) | zero_byte(w ^ (ONES * u64::from(b'\\')))
}

fn lower_hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(bytes: &[u8]) -> Option<&'static str> {
        scan(bytes, &mut |_, _| {}).err().map(|v| v.rule)
    }

    #[test]
    fn canonical_documents_pass() {
        for ok in [
            &br#"{"a":[1,"x",null,true,false,{}],"b":-2.5e-7,"c":"\u001f\n\"\\"}"#[..],
            b"0",
            b"-1",
            b"1e+21",
            b"100000000000000000000",
            b"9007199254740992",
            br#""""#,
            b"[]",
        ] {
            assert_eq!(rule(ok), None, "{}", String::from_utf8_lossy(ok));
            assert!(super::super::is_canonical(ok));
        }
    }

    #[test]
    fn each_rule_names_what_is_wrong() {
        let cases: [(&[u8], &str); 10] = [
            (b"{\"a\":\"\xff\"}", "invalid UTF-8"),
            (b"[1] ", "content after the document"),
            (b"[1, 2]", "unexpected character"),
            (br#""\u0041""#, "escape the canonical form does not write"),
            (br#""\u001F""#, "escape the canonical form does not write"),
            (br#""\u0009""#, "escape the canonical form does not write"),
            (
                br#"{"b":1,"a":2}"#,
                "keys not strictly increasing by UTF-16 code units",
            ),
            (
                br#"{"a":1,"a":2}"#,
                "keys not strictly increasing by UTF-16 code units",
            ),
            (b"-0", "`-0` is written `0`"),
            (b"1.0", "number not in its canonical spelling"),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                rule(bytes),
                Some(want),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    /// The word-at-a-time test finds exactly the first byte the string scan must stop at.
    #[test]
    fn attention_finds_the_first_quote_backslash_or_control() {
        let counts = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        let first = |chunk: [u8; 8]| {
            let flags = attention(word_of(&chunk));
            (flags != 0).then(|| (flags.trailing_zeros() / 8) as usize)
        };
        let fillers = [b'a', b' ', 0x7f, 0x80, 0xc3, 0xff, b'!', b']'];
        for special in 0..=255u8 {
            for slot in 0..8 {
                for filler in fillers {
                    let mut chunk = [filler; 8];
                    chunk[slot] = special;
                    let want = chunk.iter().position(|&b| counts(b));
                    assert_eq!(
                        first(chunk),
                        want,
                        "byte {special:#x} at {slot} among {filler:#x}"
                    );
                    // Whatever follows the first stop does not move it.
                    for later in slot + 1..8 {
                        let mut two = chunk;
                        two[later] = b'"';
                        assert_eq!(first(two), two.iter().position(|&b| counts(b)));
                    }
                }
            }
        }
    }

    #[test]
    fn members_of_a_top_level_object_are_handed_out_in_order() {
        let mut seen = Vec::new();
        let ok = scan_canonical_members(br#"{"a":{"x":1},"b\n":[2,3]}"#, |k, v| {
            seen.push((k.to_vec(), v.to_vec()));
        });
        assert!(ok);
        assert_eq!(
            seen,
            [
                (b"a".to_vec(), br#"{"x":1}"#.to_vec()),
                (br"b\n".to_vec(), b"[2,3]".to_vec())
            ]
        );
    }
}
