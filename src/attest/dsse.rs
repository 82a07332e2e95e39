//! DSSE v1 envelopes: [`Envelope`], [`EnvelopeSignature`] and the pre-authentication encoding
//! [`pae`].
//!
//! The JSON form is `{"payload": b64, "payloadType": str, "signatures": [{"keyid": str, "sig":
//! b64}]}` (DSSE `envelope.md`). Parsing follows the DSSE parsing rules: `payload`,
//! `payloadType`, `signatures` and each `sig` are required (even if empty), `keyid` is optional
//! and an absent keyid is the same as an empty one, unknown fields are ignored. Beyond the spec,
//! duplicate JSON keys are rejected (two parsers must never see two different envelopes).
//!
//! Base64: DSSE allows the standard or the URL-safe alphabet; we accept either (one per value,
//! never mixed), with or without `=` padding, and reject whitespace and non-canonical trailing
//! bits. We always write the standard alphabet with padding, as securesystemslib and in-toto do.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use serde_json::Value;

use super::json::{describe, parse_no_duplicates};
use super::{AttestError, PrivateKey};

/// The DSSE payload type of in-toto statements, the only one modelgate verifies.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The DSSE v1 pre-authentication encoding: the exact bytes that are signed.
///
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where `LEN` is the byte length in ASCII
/// decimal without leading zeros and `SP` is one space (0x20).
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let head = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    );
    let mut out = Vec::with_capacity(head.len() + payload.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope: a typed payload and the signatures over its [`pae`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The payload type (for in-toto: [`IN_TOTO_PAYLOAD_TYPE`]).
    pub payload_type: String,
    /// The raw payload bytes (base64-decoded), exactly as signed.
    pub payload: Vec<u8>,
    /// The signatures, in envelope order.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// The signer's key id as written by the signer: a hint only, possibly empty.
    pub keyid: String,
    /// The raw signature bytes (base64-decoded).
    pub sig: Vec<u8>,
}

impl Envelope {
    /// Parses an envelope from JSON bytes (see the module docs for the accepted forms).
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, AttestError> {
        let value = parse_no_duplicates(bytes).map_err(|e| envelope_err("$", e.to_string()))?;
        Self::from_value(&value)
    }

    /// Parses an envelope from an already parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Envelope, AttestError> {
        let obj = value
            .as_object()
            .ok_or_else(|| envelope_err("$", expected("a JSON object", value)))?;
        let payload = decode_field(required_str(obj, "payload", "payload")?, "payload")?;
        let payload_type = required_str(obj, "payloadType", "payloadType")?.to_owned();
        let sigs = match obj.get("signatures") {
            None => return Err(envelope_err("signatures", "is missing".into())),
            Some(Value::Array(a)) => a,
            Some(other) => return Err(envelope_err("signatures", expected("an array", other))),
        };
        let mut signatures = Vec::with_capacity(sigs.len());
        for (i, item) in sigs.iter().enumerate() {
            let path = format!("signatures[{i}]");
            let sig_obj = item
                .as_object()
                .ok_or_else(|| envelope_err(&path, expected("an object", item)))?;
            let sig_path = format!("{path}.sig");
            let sig = decode_field(required_str(sig_obj, "sig", &sig_path)?, &sig_path)?;
            let keyid = match sig_obj.get("keyid") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => {
                    return Err(envelope_err(
                        &format!("{path}.keyid"),
                        expected("a string", other),
                    ))
                }
            };
            signatures.push(EnvelopeSignature { keyid, sig });
        }
        Ok(Envelope {
            payload_type,
            payload,
            signatures,
        })
    }

    /// The JSON form, standard base64 with padding.
    pub fn to_json_value(&self) -> Value {
        let signatures: Vec<Value> = self
            .signatures
            .iter()
            .map(|s| serde_json::json!({ "keyid": s.keyid, "sig": STANDARD.encode(&s.sig) }))
            .collect();
        serde_json::json!({
            "payload": STANDARD.encode(&self.payload),
            "payloadType": self.payload_type,
            "signatures": signatures,
        })
    }

    /// Creates an envelope signed once by `key` (keyid = the key's id).
    pub fn sign(payload_type: &str, payload: Vec<u8>, key: &PrivateKey) -> Envelope {
        let mut env = Envelope {
            payload_type: payload_type.to_owned(),
            payload,
            signatures: Vec::new(),
        };
        env.add_signature(key);
        env
    }

    /// Appends a signature by `key` over this envelope's payload type and payload.
    pub fn add_signature(&mut self, key: &PrivateKey) {
        let sig = key.sign(&pae(&self.payload_type, &self.payload));
        self.signatures.push(EnvelopeSignature {
            keyid: key.public_key().key_id(),
            sig: sig.to_vec(),
        });
    }
}

fn envelope_err(field: &str, reason: String) -> AttestError {
    AttestError::Envelope {
        field: field.to_owned(),
        reason,
    }
}

fn expected(what: &str, found: &Value) -> String {
    format!("expected {what}, found {}", describe(found))
}

fn required_str<'a>(
    obj: &'a serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, AttestError> {
    match obj.get(key) {
        None => Err(envelope_err(path, "is missing".into())),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(envelope_err(path, expected("a string", other))),
    }
}

const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes standard or URL-safe base64 (chosen by the characters present), padding optional.
fn decode_field(text: &str, path: &str) -> Result<Vec<u8>, AttestError> {
    let engine = if text.contains(['-', '_']) {
        &URL_SAFE_ANY_PADDING
    } else {
        &STANDARD_ANY_PADDING
    };
    engine
        .decode(text)
        .map_err(|e| envelope_err(path, format!("is not valid base64: {}", describe_b64(&e))))
}

/// `base64`'s own messages are capitalised and end with a period; say it our way.
fn describe_b64(e: &base64::DecodeError) -> String {
    use base64::DecodeError as E;
    match e {
        E::InvalidByte(offset, byte) => {
            format!(
                "unexpected character {:?} at offset {offset}",
                char::from(*byte)
            )
        }
        E::InvalidLength(len) => format!("an input of {len} symbols cannot be base64"),
        E::InvalidLastSymbol(offset, _) => {
            format!("non-canonical last symbol at offset {offset} (trailing bits set)")
        }
        E::InvalidPadding => "invalid padding".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn pae_counts_bytes_not_characters() {
        assert_eq!(pae("é", b""), "DSSEv1 2 é 0 ".as_bytes().to_vec());
    }

    #[test]
    fn base64_accepts_both_alphabets_with_or_without_padding() {
        let bytes = [0xfb, 0xff, 0xfe];
        for text in ["+//+", "-__-"] {
            assert_eq!(decode_field(text, "payload").unwrap(), bytes);
        }
        assert_eq!(decode_field("YQ==", "payload").unwrap(), b"a");
        assert_eq!(decode_field("YQ", "payload").unwrap(), b"a");
    }

    #[test]
    fn base64_rejects_mixed_alphabets_whitespace_and_loose_trailing_bits() {
        for text in ["+_8=", "YQ ==", "YR==", "Y\nQ=="] {
            assert!(decode_field(text, "payload").is_err(), "{text:?}");
        }
    }
}
