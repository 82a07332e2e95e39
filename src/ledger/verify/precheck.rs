//! The checks of one record that need no other record: [`precheck`] turns a record's bytes
//! (and the store's leaf hash and kind columns) into a [`Checked`], which [`super::chain::Chain`]
//! then folds into the chain in order. Being independent of every other record, these checks
//! can run on any thread.
//!
//! The record header (`v`, `index`, `kind`, `prev`, `time`) is read in the same pass that checks
//! the canonical form ([`scan_canonical_members`]); the body is never built as a value. Only
//! when that fast reading does not succeed are the bytes parsed the thorough way
//! ([`parse_record`], then [`is_canonical`]), so a bad record is described exactly as before and
//! the order of the checks is kept: size, shape, canonical form, version.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::canonical::{is_canonical, scan_canonical_members};
use crate::clock::{parse_rfc3339, rfc3339};
use crate::ledger::merkle::Hash;
use crate::ledger::record::{parse_record, RecordKind, MAX_RECORD_BYTES, RECORD_VERSION};

/// What one record's own checks found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Checked {
    /// The record fails before the chain is consulted (size, shape, canonical form, version).
    Bad(String),
    /// The record passed those checks; what the chain needs to go on.
    Good(Facts),
}

/// The facts about a record that the chain checks in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Facts {
    /// The `index` the record names.
    pub(super) index: u64,
    /// `prev` as bytes, when spelt as 64 lowercase hex digits (the only spelling that can match
    /// a leaf hash).
    pub(super) prev: Option<Hash>,
    /// The first problem among the checks that follow `index` and `prev`: the time, then the
    /// store's leaf hash and kind columns.
    pub(super) late: Option<String>,
    /// The recomputed leaf hash, `SHA-256(0x00 ‖ bytes)`.
    pub(super) leaf: Hash,
}

/// The header of a record: every field but the body.
struct Header<'a> {
    v: u32,
    index: u64,
    kind: RecordKind,
    prev: Cow<'a, str>,
    time: Cow<'a, str>,
}

/// The record's own checks. `stored` is the store's leaf hash and kind columns, if any.
pub(super) fn precheck(bytes: &[u8], stored: Option<(&Hash, RecordKind)>) -> Checked {
    if bytes.len() > MAX_RECORD_BYTES {
        return Checked::Bad(format!(
            "record is {} bytes, over the {MAX_RECORD_BYTES}-byte limit",
            bytes.len()
        ));
    }
    let header = match header(bytes) {
        Ok(header) => header,
        Err(problem) => return Checked::Bad(problem),
    };
    if header.v != RECORD_VERSION {
        return Checked::Bad(format!("unsupported record version {}", header.v));
    }
    let leaf = leaf_hash(bytes);
    let late = time_problem(&header.time).or_else(|| {
        let (stored_leaf, stored_kind) = stored?;
        if *stored_leaf != leaf {
            Some("stored leaf hash does not match the record bytes".to_owned())
        } else if stored_kind != header.kind {
            Some(format!(
                "filed as `{stored_kind}` but the record is `{}`",
                header.kind
            ))
        } else {
            None
        }
    });
    Checked::Good(Facts {
        index: header.index,
        prev: lower_hex_hash(&header.prev),
        late,
        leaf,
    })
}

/// The header of canonical record bytes, or the problem that comes first: not a record, or
/// not canonical.
fn header(bytes: &[u8]) -> Result<Header<'_>, String> {
    if let Some(header) = scanned_header(bytes) {
        return Ok(header);
    }
    let record = parse_record(bytes).map_err(|e| format!("stored bytes are not a record ({e})"))?;
    if !is_canonical(bytes) {
        return Err("record bytes are not in RFC 8785 canonical form".to_owned());
    }
    Ok(Header {
        v: record.v,
        index: record.index,
        kind: record.kind,
        prev: Cow::Owned(record.prev),
        time: Cow::Owned(record.time),
    })
}

/// The record's fields in canonical (sorted) order.
const FIELDS: [&[u8]; 6] = [b"body", b"index", b"kind", b"prev", b"time", b"v"];

/// The header read in the canonical-form scan, when the bytes are canonical and hold exactly the
/// record's fields with plainly spelt values; `None` leaves the verdict to the thorough path.
/// Whatever this accepts, [`parse_record`] reads as the same values.
fn scanned_header(bytes: &[u8]) -> Option<Header<'_>> {
    let mut fields: [Option<&[u8]>; 6] = [None; 6];
    let mut unknown = false;
    let canonical = scan_canonical_members(bytes, |key, value| {
        match FIELDS.iter().position(|field| *field == key) {
            Some(at) => fields[at] = Some(value),
            None => unknown = true,
        }
    });
    if !canonical || unknown {
        return None;
    }
    let [Some(_body), Some(index), Some(kind), Some(prev), Some(time), Some(v)] = fields else {
        return None;
    };
    Some(Header {
        v: std::str::from_utf8(v).ok()?.parse().ok()?,
        index: std::str::from_utf8(index).ok()?.parse().ok()?,
        kind: plain_string(kind)?.parse().ok()?,
        prev: Cow::Borrowed(plain_string(prev)?),
        time: Cow::Borrowed(plain_string(time)?),
    })
}

/// The text of a JSON string value written without escapes.
fn plain_string(raw: &[u8]) -> Option<&str> {
    let inner = raw.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.contains(&b'\\') {
        return None;
    }
    std::str::from_utf8(inner).ok()
}

/// Why `time` is not an RFC 3339 UTC timestamp with second precision, if it is not: it must
/// parse, and [`rfc3339`] must spell the instant exactly so.
fn time_problem(time: &str) -> Option<String> {
    let ok = plainly_valid_time(time) || parse_rfc3339(time).is_ok_and(|t| rfc3339(t) == time);
    (!ok).then(|| format!("time `{time}` is not an RFC 3339 UTC timestamp with second precision"))
}

/// A quick yes for the usual case: `YYYY-MM-DDTHH:MM:SSZ` with a month 01–12, a day 01–28
/// (valid in every month), an hour below 24 and minutes and seconds below 60. Every such text
/// is an instant that [`rfc3339`] spells exactly so; any other text is decided by parsing.
fn plainly_valid_time(time: &str) -> bool {
    let Ok(t) = <&[u8; 20]>::try_from(time.as_bytes()) else {
        return false;
    };
    let digit = |i: usize| t[i].is_ascii_digit().then(|| u32::from(t[i] - b'0'));
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let fields = || -> Option<bool> {
        let year_digits = (0..4).all(|i| digit(i).is_some());
        let separators = [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'Z'),
        ]
        .iter()
        .all(|&(i, c)| t[i] == c);
        Some(
            year_digits
                && separators
                && (1..=12).contains(&two(5)?)
                && (1..=28).contains(&two(8)?)
                && two(11)? < 24
                && two(14)? < 60
                && two(17)? < 60,
        )
    };
    fields() == Some(true)
}

/// `SHA-256(0x00 ‖ bytes)`, as [`crate::ledger::leaf_hash`], without copying the bytes.
fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(bytes);
    hasher.finalize().into()
}

/// The 32 bytes `text` spells as exactly 64 lowercase hex digits, the spelling `hex::encode`
/// gives; `None` for any other text.
fn lower_hex_hash(text: &str) -> Option<Hash> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let nibble = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::canonical_bytes;
    use crate::ledger::record::{Record, GENESIS_PREV};

    fn record() -> Record {
        Record {
            v: RECORD_VERSION,
            index: 7,
            time: "2026-11-27T10:49:24Z".to_owned(),
            kind: RecordKind::Freeze,
            prev: hex::encode([0xa5; 32]),
            body: serde_json::json!({"environment": "prod", "n": [1.5, -2, "\u{1}"]}),
        }
    }

    #[test]
    fn the_streamed_leaf_hash_is_the_ledger_leaf_hash() {
        for bytes in [&b""[..], b"{}", &canonical_bytes(&record()).unwrap()] {
            assert_eq!(leaf_hash(bytes), crate::ledger::leaf_hash(bytes));
        }
    }

    /// The fast header agrees with `parse_record` on a canonical record.
    #[test]
    fn the_scanned_header_is_what_parse_record_reads() {
        let bytes = canonical_bytes(&record()).unwrap();
        let header = scanned_header(&bytes).unwrap();
        let parsed = parse_record(&bytes).unwrap();
        assert_eq!(header.v, parsed.v);
        assert_eq!(header.index, parsed.index);
        assert_eq!(header.kind, parsed.kind);
        assert_eq!(header.prev, parsed.prev);
        assert_eq!(header.time, parsed.time);
        assert!(matches!(header.prev, Cow::Borrowed(_)));
    }

    /// Records the scan cannot read plainly still get the thorough path's exact verdict.
    #[test]
    fn records_the_scan_does_not_read_fall_back_to_the_thorough_path() {
        let mut escaped_time = record();
        escaped_time.time = "2026-11-27T10:49:24Z\n".to_owned();
        let bytes = canonical_bytes(&escaped_time).unwrap();
        assert!(scanned_header(&bytes).is_none());
        let Checked::Good(facts) = precheck(&bytes, None) else {
            panic!("an escaped time is a time problem, not a shape problem");
        };
        assert!(facts.late.unwrap().contains("is not an RFC 3339"));

        let unknown_field =
            br#"{"body":{},"extra":1,"index":0,"kind":"freeze","prev":"","time":"","v":1}"#;
        assert!(scanned_header(unknown_field).is_none());
        let Checked::Bad(problem) = precheck(unknown_field, None) else {
            panic!("an unknown field is not a record");
        };
        assert!(
            problem.starts_with("stored bytes are not a record"),
            "{problem}"
        );

        let as_array = br#"[1,0,"2026-11-27T10:49:24Z","freeze","",{}]"#;
        assert_eq!(
            precheck(as_array, None),
            precheck_reference(as_array),
            "serde reads a struct from an array too"
        );
    }

    /// The reference: the checks as `parse_record` and `is_canonical` state them.
    fn precheck_reference(bytes: &[u8]) -> Checked {
        let record = match parse_record(bytes) {
            Ok(record) => record,
            Err(e) => return Checked::Bad(format!("stored bytes are not a record ({e})")),
        };
        if !is_canonical(bytes) {
            return Checked::Bad("record bytes are not in RFC 8785 canonical form".to_owned());
        }
        if record.v != RECORD_VERSION {
            return Checked::Bad(format!("unsupported record version {}", record.v));
        }
        Checked::Good(Facts {
            index: record.index,
            prev: <[u8; 32]>::try_from(hex::decode(&record.prev).unwrap_or_default())
                .ok()
                .filter(|hash| hex::encode(hash) == record.prev),
            late: time_problem(&record.time),
            leaf: crate::ledger::leaf_hash(bytes),
        })
    }

    /// Whatever the quick path accepts, parsing accepts and spells the same way.
    #[test]
    fn plainly_valid_times_are_valid_times() {
        let mut accepted = 0;
        for year in [0, 1, 99, 1969, 1970, 2000, 2024, 2026, 9999] {
            for month in 0..=13 {
                for day in [0, 1, 9, 10, 28, 29, 30, 31, 32] {
                    for (h, m, sec) in
                        [(0, 0, 0), (23, 59, 59), (24, 0, 0), (12, 60, 0), (1, 2, 60)]
                    {
                        let time = format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}Z");
                        if plainly_valid_time(&time) {
                            accepted += 1;
                            assert!(
                                parse_rfc3339(&time).is_ok_and(|t| rfc3339(t) == time),
                                "{time}"
                            );
                        }
                    }
                }
            }
        }
        assert_eq!(accepted, 9 * 12 * 4 * 2);
        for not_plain in [
            "2026-11-27T10:49:24z",
            "2026-11-27 10:49:24Z",
            "2026-11-27T10:49:24+00:00",
            "2026-11-27T10:49:24.0Z",
            "2026-1-027T10:49:24Z",
            "+026-11-27T10:49:24Z",
            "2026-11-27T10:49:2Z",
        ] {
            assert!(!plainly_valid_time(not_plain), "{not_plain}");
        }
    }

    #[test]
    fn prev_is_read_only_in_its_lowercase_spelling() {
        let hash = [0x3c; 32];
        assert_eq!(lower_hex_hash(&hex::encode(hash)), Some(hash));
        assert_eq!(
            lower_hex_hash(&hex::encode(GENESIS_PREV)),
            Some(GENESIS_PREV)
        );
        assert_eq!(lower_hex_hash(&hex::encode_upper(hash)), None);
        assert_eq!(lower_hex_hash(&hex::encode([0x3c; 31])), None);
        assert_eq!(lower_hex_hash(&format!("{}0", hex::encode(hash))), None);
        assert_eq!(lower_hex_hash(&"g".repeat(64)), None);
    }
}
