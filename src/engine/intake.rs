//! Intake: checking an attestation that arrives ahead of a decision (`POST /v1/attestations`).
//!
//! [`accept_attestation`] refuses anything that could never count, before it is stored: it must
//! be a DSSE envelope of an in-toto Statement v1 with a predicate type modelgate reads, its
//! predicate must pass its JSON Schema, every signature (at most [`MAX_SIGNATURES_PER_ENVELOPE`])
//! must verify now under a trusted key (any role: whether the role fits is decided with the
//! request), and what it names must
//! agree with the model and version it is filed under (model metadata: `model.name` and
//! `model.version`; a waiver: `model` and, if present, `version`). Approvals are bound to their
//! metadata by digest and are checked against it at decision time. Accepting stores nothing; the
//! caller files the returned canonical bytes.

use serde_json::Value;
use time::OffsetDateTime;

use super::EngineError;
use crate::attest::{
    verify_envelope, Envelope, Role, Statement, TrustStore, IN_TOTO_PAYLOAD_TYPE,
    PREDICATE_APPROVAL, PREDICATE_MODEL_METADATA, PREDICATE_WAIVER,
};
use crate::canonical;
use crate::digest::sha256_prefixed;
use crate::metadata::{SchemaKind, Schemas};

/// Most signatures one filed envelope may carry (the promotion request schema's limit).
pub const MAX_SIGNATURES_PER_ENVELOPE: usize = 8;

/// Most attestations filed under one model and version (a request carries at most 64).
pub const MAX_FILED_PER_VERSION: usize = 64;

/// An attestation fit to be filed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// `sha256:` of the canonical envelope bytes.
    pub digest: String,
    /// The canonical envelope bytes (what is stored and later merged into requests).
    pub bytes: Vec<u8>,
    /// The statement's predicate type.
    pub predicate_type: String,
}

/// Checks envelope `value` for filing under `model` and `version`; `at` names it in errors
/// (a JSON pointer into the caller's document).
pub fn accept_attestation(
    schemas: &Schemas,
    trust: &TrustStore,
    model: &str,
    version: &str,
    value: &Value,
    at: &str,
    now: OffsetDateTime,
) -> Result<Accepted, EngineError> {
    let invalid = |pointer: String, message: String| EngineError::invalid(pointer, message);
    let envelope = Envelope::from_value(value)
        .map_err(|e| invalid(at.to_owned(), format!("not a DSSE envelope: {e}")))?;
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(invalid(
            format!("{at}/payloadType"),
            format!(
                "payloadType `{}` is not `{IN_TOTO_PAYLOAD_TYPE}`",
                envelope.payload_type
            ),
        ));
    }
    let statement = Statement::from_payload(&envelope.payload).map_err(|e| {
        invalid(
            format!("{at}/payload"),
            format!("not an in-toto Statement v1: {e}"),
        )
    })?;
    let kind = match statement.predicate_type.as_str() {
        PREDICATE_MODEL_METADATA => SchemaKind::ModelMetadata,
        PREDICATE_APPROVAL => SchemaKind::Approval,
        PREDICATE_WAIVER => SchemaKind::Waiver,
        other => {
            return Err(invalid(
                format!("{at}/payload"),
                format!("unsupported predicateType `{other}`"),
            ))
        }
    };
    if let Err(violations) = schemas.validate(kind, &statement.predicate) {
        return Err(EngineError::Invalid(
            violations
                .into_iter()
                .map(|v| super::Problem {
                    pointer: format!("{at}/payload/predicate{}", v.pointer),
                    message: v.message,
                })
                .collect(),
        ));
    }
    let names = |pointer: &str| statement.predicate.pointer(pointer).and_then(Value::as_str);
    let mismatch = match kind {
        SchemaKind::ModelMetadata => (names("/model/name") != Some(model)
            || names("/model/version") != Some(version))
        .then(|| {
            format!(
                "the metadata describes `{}` `{}`, not `{model}` `{version}`",
                names("/model/name").unwrap_or_default(),
                names("/model/version").unwrap_or_default()
            )
        }),
        SchemaKind::Waiver => (names("/model") != Some(model)
            || names("/version").is_some_and(|v| v != version))
        .then(|| format!("the waiver is for another model or version than `{model}` `{version}`")),
        _ => None,
    };
    if let Some(problem) = mismatch {
        return Err(invalid(format!("{at}/payload/predicate"), problem));
    }
    if envelope.signatures.len() > MAX_SIGNATURES_PER_ENVELOPE {
        return Err(invalid(
            format!("{at}/signatures"),
            format!(
                "{} signatures, over the limit of {MAX_SIGNATURES_PER_ENVELOPE} per filed envelope",
                envelope.signatures.len()
            ),
        ));
    }
    let verified = verify_envelope(&envelope, trust, now, &Role::ALL).map_err(|e| {
        invalid(
            format!("{at}/signatures"),
            format!("no signature verifies under a trusted key: {e}"),
        )
    })?;
    // What is filed is merged into every later request for this model and version: a signature
    // that does not verify now would only ever be noise there (or crowd out good ones).
    if let Some(problem) = verified.problems.first() {
        return Err(invalid(
            format!("{at}/signatures"),
            format!(
                "every signature of a filed envelope must verify under a trusted key: {problem}"
            ),
        ));
    }
    let bytes = canonical::to_canonical_vec(value)
        .map_err(|e| invalid(at.to_owned(), format!("cannot be canonicalised: {e}")))?;
    Ok(Accepted {
        digest: sha256_prefixed(&bytes),
        bytes,
        predicate_type: statement.predicate_type,
    })
}
