//! [`parse_json`]: strict JSON parsing with exactly rounded numbers.
//!
//! Canonical checks parse bytes and serialise them again, so the parse must not change any
//! number. serde_json's default float parser is fast but not always exactly rounded for
//! 17-digit decimals (`333333333.33333329` from the RFC 8785 vectors reads back one unit in the
//! last place off) unless its `float_roundtrip` feature is enabled somewhere in the build; this
//! parser does not depend on how the features of a shared dependency happen to be unified.
//! Doubles come from Rust's `str::parse::<f64>`, which rounds correctly.
//!
//! It accepts exactly RFC 8259 JSON and additionally refuses what RFC 8785 (via I-JSON) forbids:
//! duplicate object keys and lone surrogate escapes. Integer literals that fit `i64`/`u64` stay
//! integers; other numbers become doubles, as a JCS reader would read them.

use serde_json::{Map, Number, Value};

use super::{CanonicalError, MAX_DEPTH};

/// Parses one JSON document (surrounding whitespace allowed) into a [`Value`] without losing
/// precision in any number.
///
/// Refuses invalid UTF-8, trailing content, duplicate keys, lone surrogates, numbers outside the
/// range of a double and nesting deeper than [`MAX_DEPTH`].
pub fn parse_json(bytes: &[u8]) -> Result<Value, CanonicalError> {
    let text = std::str::from_utf8(bytes).map_err(|e| CanonicalError::Parse {
        offset: e.valid_up_to(),
        problem: "invalid UTF-8".to_owned(),
    })?;
    let mut parser = Parser { text, pos: 0 };
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != text.len() {
        return Err(parser.error("trailing characters after the document"));
    }
    Ok(value)
}

/// Longest piece of the input quoted whole in an error message.
const QUOTE_LIMIT: usize = 64;

/// `text` in backticks for an error message: whole up to [`QUOTE_LIMIT`] bytes, otherwise its
/// start and its length, so that a hostile document cannot make its error (printed, logged and
/// sent back) as large as itself.
fn quote(text: &str) -> String {
    if text.len() <= QUOTE_LIMIT {
        return format!("`{text}`");
    }
    let mut end = QUOTE_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("`{}…` ({} bytes)", &text[..end], text.len())
}

struct Parser<'a> {
    text: &'a str,
    /// Byte offset of the next unread byte; always on a character boundary between tokens.
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, problem: &str) -> CanonicalError {
        CanonicalError::Parse {
            offset: self.pos,
            problem: problem.to_owned(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn slice(&self, start: usize, end: usize) -> Result<&str, CanonicalError> {
        self.text
            .get(start..end)
            .ok_or_else(|| self.error("unexpected end of input"))
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn skip_digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn expect(&mut self, byte: u8, problem: &str) -> Result<(), CanonicalError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(problem))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, CanonicalError> {
        if self
            .text
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word))
        {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("invalid literal"))
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        if depth >= MAX_DEPTH {
            return Err(CanonicalError::TooDeep);
        }
        self.pos += 1; // [
        self.skip_whitespace();
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, CanonicalError> {
        if depth >= MAX_DEPTH {
            return Err(CanonicalError::TooDeep);
        }
        self.pos += 1; // {
        self.skip_whitespace();
        let mut map = Map::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key_at = self.pos;
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':', "expected `:` after an object key")?;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            if map.contains_key(&key) {
                return Err(CanonicalError::Parse {
                    offset: key_at,
                    problem: format!("duplicate key {}", quote(&key)),
                });
            }
            map.insert(key, value);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_whitespace();
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn string(&mut self) -> Result<String, CanonicalError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        let mut run = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    out.push_str(self.slice(run, self.pos)?);
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(self.slice(run, self.pos)?);
                    self.pos += 1;
                    out.push(self.escape()?);
                    run = self.pos;
                }
                Some(0x00..=0x1f) => {
                    return Err(self.error("unescaped control character in string"))
                }
                // Bytes of multi-byte characters are all >= 0x80, so `run` and `pos` only
                // ever stop on ASCII bytes, which are character boundaries.
                Some(_) => self.pos += 1,
            }
        }
    }

    fn escape(&mut self) -> Result<char, CanonicalError> {
        let Some(c) = self.peek() else {
            return Err(self.error("unterminated escape"));
        };
        self.pos += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(self.error("invalid escape")),
        })
    }

    fn unicode_escape(&mut self) -> Result<char, CanonicalError> {
        let high = self.hex4()?;
        let code = match high {
            0xd800..=0xdbff => {
                if self.text.get(self.pos..self.pos + 2) != Some("\\u") {
                    return Err(self.error("lone leading surrogate"));
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(self.error("lone leading surrogate"));
                }
                0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.error("lone trailing surrogate")),
            _ => high,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid unicode escape"))
    }

    fn hex4(&mut self) -> Result<u32, CanonicalError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("expected four hex digits"))?;
        let value =
            u32::from_str_radix(digits, 16).map_err(|_| self.error("expected four hex digits"))?;
        self.pos += 4;
        Ok(value)
    }

    fn number(&mut self) -> Result<Number, CanonicalError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.skip_digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if self.skip_digits() == 0 {
                return Err(self.error("expected a digit after the decimal point"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.skip_digits() == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        let text = self.slice(start, self.pos)?;
        if integer {
            if let Ok(u) = text.parse::<u64>() {
                return Ok(u.into());
            }
            if let Ok(i) = text.parse::<i64>() {
                return Ok(i.into());
            }
        }
        let f: f64 = text.parse().map_err(|_| self.error("invalid number"))?;
        // `from_f64` refuses infinities, i.e. literals beyond the range of a double.
        Number::from_f64(f).ok_or_else(|| CanonicalError::Parse {
            offset: start,
            problem: format!("number {} is outside the range of a double", quote(text)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_kind_of_value() {
        let value = parse_json(
            br#" {"a":[null,true,false,-0,12,-7,1.5e3,"x\u00e9\ud83d\ude02\n"],"b":{}} "#,
        )
        .unwrap();
        assert_eq!(
            value,
            json!({"a": [null, true, false, 0, 12, -7, 1500.0, "xé😂\n"], "b": {}})
        );
    }

    #[test]
    fn seventeen_digit_decimals_are_rounded_exactly() {
        let value = parse_json(b"333333333.33333329").unwrap();
        assert_eq!(value.as_f64(), Some(333_333_333.333_333_3));
    }

    #[test]
    fn refuses_what_rfc8785_forbids() {
        for bad in [
            &br#"{"a":1,"a":2}"#[..],
            br#""\ud83d""#,
            br#""\ude02x""#,
            b"1e400",
            b"01",
            b"1.",
            b"-",
            b"+1",
            b".5",
            b"[1,]",
            b"{\"a\" 1}",
            b"\"tab\there\"",
            br#""\x""#,
            br#""\u12G4""#,
            br#""\u+123""#,
            b"nul",
            b"[1] 2",
            b"\"unterminated",
            b"",
        ] {
            assert!(
                matches!(parse_json(bad), Err(CanonicalError::Parse { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(matches!(
            parse_json(deep.as_bytes()),
            Err(CanonicalError::TooDeep)
        ));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse_json(ok.as_bytes()).is_ok());
    }

    #[test]
    fn errors_quote_long_input_abbreviated() {
        let number = "9".repeat(100_000);
        let err = parse_json(number.as_bytes()).unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
        assert!(
            err.contains("(100000 bytes) is outside the range of a double"),
            "{err}"
        );
        let key = "ü".repeat(50_000);
        let doc = format!(r#"{{"{key}":1,"{key}":2}}"#);
        let err = parse_json(doc.as_bytes()).unwrap_err().to_string();
        assert!(
            err.len() < 200 && err.contains("duplicate key `üü"),
            "{err}"
        );
        let err = parse_json(br#"{"a":1,"a":2}"#).unwrap_err().to_string();
        assert!(err.ends_with("duplicate key `a`"), "{err}");
    }

    #[test]
    fn huge_integers_become_doubles() {
        assert_eq!(
            parse_json(b"18446744073709551616").unwrap().as_f64(),
            Some(18_446_744_073_709_551_616.0)
        );
        assert_eq!(parse_json(b"-5").unwrap(), json!(-5));
    }
}
