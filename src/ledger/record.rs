//! The ledger record format (version 1) and its hashing.
//!
//! A caller describes an event as a [`RecordDraft`] (kind, time, body). [`seal`] turns it into a
//! [`Record`] at a given index with the predecessor's leaf hash in `prev`, serialises it once in
//! RFC 8785 canonical form and computes its [`leaf_hash`]; the result is a [`SealedRecord`], whose
//! bytes are what the store keeps and what every hash is computed over. [`parse_record`] reads
//! such bytes back into a [`Record`].
//!
//! Byte layout of one record (keys in canonical order, no whitespace):
//!
//! ```text
//! {"body":<json>,"index":<n>,"kind":"<kind>","prev":"<64 hex>","time":"<rfc3339 utc>","v":1}
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::LedgerError;
use crate::canonical;
use crate::clock::{parse_rfc3339, rfc3339};

/// Version of the record format written by this build (the `v` field).
pub const RECORD_VERSION: u32 = 1;

/// Largest canonical record, in bytes: C2SP tlog-tiles entry bundles prefix each entry with a
/// big-endian `uint16` length, so no entry can exceed 65 535 bytes.
pub const MAX_RECORD_BYTES: usize = 65_535;

/// `prev` of the record at index 0: 32 zero bytes.
pub const GENESIS_PREV: [u8; 32] = [0; 32];

/// What a record is about. Serialised in `snake_case` (`bundle_activation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A promotion decision (allow or deny) with its reasons and input digests.
    Decision,
    /// A policy bundle became the active one.
    BundleActivation,
    /// An environment was frozen.
    Freeze,
    /// A freeze was lifted.
    Unfreeze,
    /// A trusted key was added, rotated or revoked.
    KeyChange,
    /// The model inventory was synchronised with a registry.
    InventorySync,
    /// A model or model version was retired.
    Retire,
    /// A fact reported to the engine (e.g. a deployment seen by admission control).
    Observation,
    /// A report was generated and its bytes kept by digest (`docs/reports.md`).
    Report,
}

impl RecordKind {
    /// Every kind, in declaration order.
    pub const ALL: [RecordKind; 9] = [
        RecordKind::Decision,
        RecordKind::BundleActivation,
        RecordKind::Freeze,
        RecordKind::Unfreeze,
        RecordKind::KeyChange,
        RecordKind::InventorySync,
        RecordKind::Retire,
        RecordKind::Observation,
        RecordKind::Report,
    ];

    /// The wire name, as it appears in the `kind` field.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Decision => "decision",
            RecordKind::BundleActivation => "bundle_activation",
            RecordKind::Freeze => "freeze",
            RecordKind::Unfreeze => "unfreeze",
            RecordKind::KeyChange => "key_change",
            RecordKind::InventorySync => "inventory_sync",
            RecordKind::Retire => "retire",
            RecordKind::Observation => "observation",
            RecordKind::Report => "report",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordKind {
    type Err = LedgerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| LedgerError::UnknownKind(s.to_owned()))
    }
}

/// An event to be logged, before it has an index and a predecessor.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordDraft {
    /// What the record is about.
    pub kind: RecordKind,
    /// When the event happened (written with second precision, UTC).
    pub time: OffsetDateTime,
    /// Kind-specific content. Keep it small: reference large material by digest.
    pub body: serde_json::Value,
}

/// One ledger record as it appears in its canonical bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Format version, [`RECORD_VERSION`].
    pub v: u32,
    /// Position in the ledger, from 0, without gaps.
    pub index: u64,
    /// RFC 3339 UTC timestamp with second precision (`2026-11-27T10:49:24Z`).
    pub time: String,
    /// What the record is about.
    pub kind: RecordKind,
    /// Lowercase hex leaf hash of the record at `index - 1`; 64 zeros at index 0.
    pub prev: String,
    /// Kind-specific content.
    pub body: serde_json::Value,
}

/// A record in its final form: canonical bytes and the leaf hash over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// Position in the ledger.
    pub index: u64,
    /// The RFC 8785 canonical serialisation of the [`Record`].
    pub bytes: Vec<u8>,
    /// `SHA-256(0x00 ‖ bytes)`.
    pub leaf_hash: [u8; 32],
}

/// RFC 6962 leaf hash: `SHA-256(0x00 ‖ bytes)`. The `0x00` prefix separates leaves from interior
/// Merkle nodes (`0x01`), so a leaf can never be passed off as a node.
pub fn leaf_hash(bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(bytes);
    hasher.finalize().into()
}

/// The canonical bytes of the record, written directly: the members of a record sorted by their
/// keys are `body`, `index`, `kind`, `prev`, `time`, `v`, and every value but the body is ASCII
/// that needs no escaping (a kind name, a safe integer, lowercase hex, an RFC 3339 time), so the
/// canonical form is the canonical body between fixed text. Equal to
/// `canonical_bytes(&Record { .. })` (tested), without cloning the body.
fn assemble(
    draft: &RecordDraft,
    index: u64,
    prev: &[u8; 32],
    time: &str,
) -> Result<Vec<u8>, LedgerError> {
    use std::io::Write as _;
    let body = canonical::to_canonical_vec(&draft.body)?;
    let mut bytes = Vec::with_capacity(body.len() + 192);
    bytes.extend_from_slice(b"{\"body\":");
    bytes.extend_from_slice(&body);
    write!(
        bytes,
        ",\"index\":{index},\"kind\":\"{}\",\"prev\":\"{}\",\"time\":\"{time}\",\"v\":{RECORD_VERSION}}}",
        draft.kind.as_str(),
        hex::encode(prev),
    )?;
    Ok(bytes)
}

/// Builds the record for `draft` at `index` after a record whose leaf hash is `prev`
/// ([`GENESIS_PREV`] at index 0), serialises it canonically and hashes it.
///
/// Fails if the body has no canonical form, the time is not expressible in RFC 3339, or the
/// record exceeds [`MAX_RECORD_BYTES`].
pub fn seal(draft: &RecordDraft, index: u64, prev: &[u8; 32]) -> Result<SealedRecord, LedgerError> {
    let time = rfc3339(draft.time);
    // Years outside 0000..=9999 have no RFC 3339 spelling; refuse them rather than write a
    // record that verification would later reject.
    if parse_rfc3339(&time).is_err() {
        return Err(LedgerError::MalformedRecord(format!(
            "time `{time}` is not a valid RFC 3339 timestamp"
        )));
    }
    let bytes = if index <= canonical::MAX_SAFE_INTEGER {
        assemble(draft, index, prev, &time)?
    } else {
        // Beyond 2^53 - 1 the index itself has no exact canonical form; let the general
        // serialiser say so.
        canonical::canonical_bytes(&Record {
            v: RECORD_VERSION,
            index,
            time,
            kind: draft.kind,
            prev: hex::encode(prev),
            body: draft.body.clone(),
        })?
    };
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(LedgerError::RecordTooLarge {
            index,
            size: bytes.len(),
            limit: MAX_RECORD_BYTES,
        });
    }
    let leaf_hash = leaf_hash(&bytes);
    Ok(SealedRecord {
        index,
        bytes,
        leaf_hash,
    })
}

/// Parses stored record bytes. Checks the JSON shape only (fields, types, known kind); whether
/// the bytes are canonical and the chain holds is for [`super::verify`].
///
/// Numbers in the body are read exactly ([`canonical::parse_json`]), so re-serialising the
/// record gives back the same bytes; duplicate keys are refused.
pub fn parse_record(bytes: &[u8]) -> Result<Record, LedgerError> {
    let value =
        canonical::parse_json(bytes).map_err(|e| LedgerError::MalformedRecord(e.to_string()))?;
    serde_json::from_value(value).map_err(|e| LedgerError::MalformedRecord(e.to_string()))
}

#[cfg(test)]
mod tests {
    /// The directly assembled bytes are exactly what the general canonical serialiser makes of
    /// the same record, for every kind, awkward bodies and the largest safe index.
    #[test]
    fn assembled_records_equal_the_general_canonical_form() {
        let bodies = [
            json!({}),
            json!({"b": 1, "a": [1.5, -0.0, 1e21, "é\u{1F600}\u{7f}\n\"q\""], "\u{e000}": null, "\u{10000}": true}),
            json!({"nested": {"z": {"y": [[], {}]}, "a": 9007199254740991_u64}}),
        ];
        let prev = [0xab; 32];
        let time = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
        for kind in RecordKind::ALL {
            for body in &bodies {
                for index in [0, 1, 255, (1 << 53) - 1] {
                    let draft = RecordDraft {
                        kind,
                        time,
                        body: body.clone(),
                    };
                    let general = canonical::canonical_bytes(&Record {
                        v: RECORD_VERSION,
                        index,
                        time: rfc3339(time),
                        kind,
                        prev: hex::encode(prev),
                        body: body.clone(),
                    })
                    .unwrap();
                    let sealed = seal(&draft, index, &prev).unwrap();
                    assert_eq!(sealed.bytes, general, "{kind} {index} {body}");
                }
            }
        }
        let beyond = RecordDraft {
            kind: RecordKind::Decision,
            time,
            body: json!({}),
        };
        assert!(matches!(
            seal(&beyond, 1 << 60, &prev),
            Err(LedgerError::Canonical(_))
        ));
    }

    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn draft() -> RecordDraft {
        RecordDraft {
            kind: RecordKind::Freeze,
            time: datetime!(2026-11-27 11:49:24.75 +01:00),
            body: json!({"environment": "prod", "reason": "incident"}),
        }
    }

    #[test]
    fn sealed_bytes_have_the_documented_layout() {
        let sealed = seal(&draft(), 0, &GENESIS_PREV).unwrap();
        let expected = format!(
            r#"{{"body":{{"environment":"prod","reason":"incident"}},"index":0,"kind":"freeze","prev":"{}","time":"2026-11-27T10:49:24Z","v":1}}"#,
            "0".repeat(64)
        );
        assert_eq!(String::from_utf8(sealed.bytes).unwrap(), expected);
    }

    #[test]
    fn kind_names_round_trip_through_from_str_and_serde() {
        for kind in RecordKind::ALL {
            assert_eq!(kind.as_str().parse::<RecordKind>().unwrap(), kind);
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().to_owned())
            );
        }
        assert!(matches!(
            "decisions".parse::<RecordKind>(),
            Err(LedgerError::UnknownKind(k)) if k == "decisions"
        ));
    }

    #[test]
    fn parse_record_rejects_unknown_fields() {
        let sealed = seal(&draft(), 0, &GENESIS_PREV).unwrap();
        let mut value: serde_json::Value = serde_json::from_slice(&sealed.bytes).unwrap();
        value["extra"] = json!(1);
        let bytes = serde_json::to_vec(&value).unwrap();
        assert!(matches!(
            parse_record(&bytes),
            Err(LedgerError::MalformedRecord(_))
        ));
    }

    #[test]
    fn seal_refuses_a_year_without_rfc3339_spelling() {
        let mut d = draft();
        d.time = datetime!(-0001-01-01 0:00 UTC);
        assert!(matches!(
            seal(&d, 0, &GENESIS_PREV),
            Err(LedgerError::MalformedRecord(_))
        ));
    }

    #[test]
    fn seal_refuses_a_body_without_canonical_form() {
        let mut d = draft();
        d.body = json!({"n": u64::MAX});
        assert!(matches!(
            seal(&d, 0, &GENESIS_PREV),
            Err(LedgerError::Canonical(_))
        ));
    }
}
