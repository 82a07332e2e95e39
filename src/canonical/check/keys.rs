//! Object keys as the canonical form orders them: [`unescape`] gives a scanned key's text and
//! [`utf16_cmp`] orders two texts by UTF-16 code units, as RFC 8785 sorts object members.

use std::cmp::Ordering;

use super::lower_hex;

/// The UTF-8 text of a string whose escapes are all canonical ones (checked by the scan), so
/// every escape stands for an ASCII character: `\"`, `\\`, a short form or `\u00xx`.
pub(super) fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().copied();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let decoded = match bytes.next() {
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'u') => {
                // `00xx`: the value is the last two digits.
                let digits: Vec<u8> = bytes.by_ref().take(4).collect();
                let nibble = |i: usize| digits.get(i).copied().and_then(lower_hex).unwrap_or(0);
                nibble(2) << 4 | nibble(3)
            }
            Some(other) => other,
            None => break,
        };
        out.push(decoded);
    }
    out
}

/// Orders two UTF-8 strings by their UTF-16 code units.
///
/// UTF-8 byte order is code point order, and UTF-16 order differs from it only when a character
/// in U+E000..=U+FFFF (UTF-8 lead byte 0xEE or 0xEF) meets one above U+FFFF (lead byte 0xF0 or
/// more, a surrogate pair in UTF-16, which sorts first). So the bytes decide, unless the first
/// differing characters fall in those two groups.
pub(super) fn utf16_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let Some(at) = a.iter().zip(b).position(|(x, y)| x != y) else {
        return a.len().cmp(&b.len());
    };
    // The first differing characters start at the same offset: walk back to it.
    let mut start = at;
    while start > 0 && (a[start] & 0xc0) == 0x80 {
        start -= 1;
    }
    let (lead_a, lead_b) = (a[start], b[start]);
    let supplementary = |lead: u8| lead >= 0xf0;
    let upper_bmp = |lead: u8| lead == 0xee || lead == 0xef;
    if supplementary(lead_a) && upper_bmp(lead_b) {
        Ordering::Less
    } else if upper_bmp(lead_a) && supplementary(lead_b) {
        Ordering::Greater
    } else {
        a[at].cmp(&b[at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_order_matches_encode_utf16() {
        let samples = [
            "",
            "a",
            "ab",
            "b",
            "\u{7f}",
            "é",
            "\u{d7ff}",
            "\u{e000}",
            "\u{ffff}",
            "\u{10000}",
            "\u{10ffff}",
            "a\u{e000}",
            "a\u{10000}",
            "\u{e000}x",
            "\u{10000}x",
            "€",
            "😂",
            "\u{fb33}",
            "\u{1d11e}",
        ];
        for a in samples {
            for b in samples {
                assert_eq!(
                    utf16_cmp(a.as_bytes(), b.as_bytes()),
                    a.encode_utf16().cmp(b.encode_utf16()),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn canonical_escapes_unescape_to_their_characters() {
        let raw = r#"a\"b\\c\b\f\n\r\t\u0000\u001f\u000bé"#;
        let text = "a\"b\\c\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{b}é";
        assert_eq!(unescape(raw.as_bytes()), text.as_bytes());
    }
}
