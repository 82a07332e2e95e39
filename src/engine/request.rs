//! The promotion request: parsing and validation of what a pipeline asks.
//!
//! [`parse_request`] turns raw bytes into a [`PromotionRequest`] or an [`Invalid`] error that
//! lists every problem with its JSON pointer (schema
//! `schemas/promotion-request.v1.schema.json`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{EngineError, Problem};
use crate::digest::sha256_prefixed;
use crate::metadata::{SchemaKind, Schemas};

/// A parsed, schema-valid promotion request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionRequest {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// Target environment (must be configured in the workspace).
    pub environment: String,
    /// `sha256:<hex>` of the artifact to deploy.
    pub artifact_digest: String,
    /// DSSE envelopes: the model-metadata statement plus approvals (and waivers).
    pub attestations: Vec<Value>,
    /// Who asks (pipeline or person).
    pub requested_by: String,
    /// Change ticket, if any.
    #[serde(default)]
    pub change_ticket: Option<String>,
    /// The request restores a previous version.
    #[serde(default)]
    pub rollback: bool,
    /// Judge and record, but deploy nothing: the decision is marked as a dry run (Kubernetes
    /// `dryRun` admission reviews; pipelines may send it too).
    #[serde(default)]
    pub dry_run: bool,
}

/// The request as recorded in the decision (everything but the attestations, which are
/// recorded by digest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSummary {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// Target environment.
    pub environment: String,
    /// `sha256:<hex>` of the artifact.
    pub artifact_digest: String,
    /// Who asked.
    pub requested_by: String,
    /// Change ticket, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_ticket: Option<String>,
    /// Rollback flag.
    pub rollback: bool,
    /// Dry-run flag; absent (not `false`) when unset, so records of ordinary requests keep
    /// their bytes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

impl PromotionRequest {
    /// The recorded summary of this request.
    pub fn summary(&self) -> RequestSummary {
        RequestSummary {
            model: self.model.clone(),
            version: self.version.clone(),
            environment: self.environment.clone(),
            artifact_digest: self.artifact_digest.clone(),
            requested_by: self.requested_by.clone(),
            change_ticket: self.change_ticket.clone(),
            rollback: self.rollback,
            dry_run: self.dry_run,
        }
    }
}

/// The largest promotion request accepted, in bytes (64 attestations of a few KiB each fit
/// comfortably).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// Parses and schema-validates a promotion request.
///
/// The JSON parser is strict: duplicate object keys are refused, so that no two readers of
/// the same request can see different envelopes.
pub fn parse_request(schemas: &Schemas, bytes: &[u8]) -> Result<PromotionRequest, EngineError> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(EngineError::invalid(
            "",
            format!(
                "the promotion request is {} bytes, over the {MAX_REQUEST_BYTES}-byte limit",
                bytes.len()
            ),
        ));
    }
    let value: Value = crate::canonical::parse_json(bytes).map_err(|e| {
        EngineError::invalid("", format!("the promotion request is not valid JSON: {e}"))
    })?;
    if let Err(violations) = schemas.validate(SchemaKind::PromotionRequest, &value) {
        return Err(EngineError::Invalid(
            violations
                .into_iter()
                .map(|v| Problem {
                    pointer: v.pointer,
                    message: v.message,
                })
                .collect(),
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        EngineError::invalid("", format!("the promotion request does not fit v1: {e}"))
    })
}

/// Adds the envelopes in `stored` (received earlier for this model and version, see
/// `POST /v1/attestations`) to the request's own `attestations`, skipping any envelope the
/// request already carries (same canonical bytes) or whose statement it already carries (same
/// payload), so that a pipeline may send all, some or none of them inline. `stored` is called
/// with the request's model and version only if the request names both; the result is then
/// judged like any request. Bytes that are not a JSON object are returned unchanged, for
/// [`parse_request`] to refuse with its usual message.
pub fn with_stored_attestations(
    bytes: &[u8],
    stored: impl FnOnce(&str, &str) -> Result<Vec<Vec<u8>>, EngineError>,
) -> Result<Vec<u8>, EngineError> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return Ok(bytes.to_vec());
    }
    let Ok(Value::Object(mut request)) = crate::canonical::parse_json(bytes) else {
        return Ok(bytes.to_vec());
    };
    let (Some(model), Some(version)) = (
        request.get("model").and_then(Value::as_str),
        request.get("version").and_then(Value::as_str),
    ) else {
        return Ok(bytes.to_vec());
    };
    let extra = stored(model, version)?;
    if extra.is_empty() {
        return Ok(bytes.to_vec());
    }
    let inline = match request.remove("attestations") {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            // Not a list: leave the request as sent for the schema to refuse.
            request.insert("attestations".to_owned(), other);
            return Ok(bytes.to_vec());
        }
    };
    let key = |v: &Value| {
        (
            crate::canonical::to_canonical_vec(v)
                .map(|b| sha256_prefixed(&b))
                .unwrap_or_default(),
            v.get("payload").and_then(Value::as_str).map(str::to_owned),
        )
    };
    let mut seen_digests = std::collections::BTreeSet::new();
    let mut seen_payloads = std::collections::BTreeSet::new();
    for v in &inline {
        let (digest, payload) = key(v);
        seen_digests.insert(digest);
        seen_payloads.extend(payload);
    }
    let mut all = inline;
    for bytes in extra {
        let value = crate::canonical::parse_json(&bytes).map_err(|e| {
            EngineError::Internal(format!("a stored attestation does not parse: {e}"))
        })?;
        let (digest, payload) = key(&value);
        if seen_digests.contains(&digest)
            || payload.as_ref().is_some_and(|p| seen_payloads.contains(p))
        {
            continue;
        }
        seen_digests.insert(digest);
        seen_payloads.extend(payload);
        all.push(value);
    }
    request.insert("attestations".to_owned(), Value::Array(all));
    serde_json::to_vec(&Value::Object(request)).map_err(|e| EngineError::Internal(e.to_string()))
}
