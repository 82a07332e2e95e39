//! Observations: deployments the engine is told about, recorded for the inventory.
//!
//! Admission control (`POST /v1/admission`) reports each object it admits that names a model.
//! [`observation_draft`] decides whether a judged deployment is observed — only an allow that is
//! not a dry run — and builds the ledger record (kind `observation`, body [`ObservationBody`],
//! `docs/ledger.md` §4); [`record_observation`] appends it. The inventory counts these records
//! as deployments, so a model that runs without registered metadata still shows up.
//!
//! [`filed_artifact_digest`] reads the artifact digest that filed model metadata names, for an
//! admission review that does not carry one itself.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::{Decision, EngineError};
use crate::attest::{Envelope, Statement, PREDICATE_MODEL_METADATA};
use crate::ledger::{append_one, AppendRequest, RecordDraft, RecordKind, SealedRecord, Store};

/// The `source` of observations made by Kubernetes admission control.
pub const SOURCE_ADMISSION: &str = "admission";

/// The Kubernetes object a deployment was seen as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedObject {
    /// Its namespace; `None` for a cluster-scoped object.
    pub namespace: Option<String>,
    /// Its kind (`Deployment`, `Pod`, `InferenceService`, …).
    pub kind: String,
    /// Its name (for a name the API server generates, the `generateName` prefix).
    pub name: String,
    /// `CREATE` or `UPDATE`.
    pub operation: String,
}

/// The body of an `observation` record written for an admitted deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationBody {
    /// Who saw it: [`SOURCE_ADMISSION`].
    pub source: String,
    /// Model name, as decided.
    pub model: String,
    /// Model version, as decided.
    pub version: String,
    /// Environment, as decided.
    pub environment: String,
    /// The object's namespace (`null` for a cluster-scoped object).
    pub namespace: Option<String>,
    /// The object's kind.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// The admission operation.
    pub operation: String,
    /// Ledger index of the decision that admitted it.
    pub decision_index: u64,
}

/// The observation to record for `object`, admitted by `decision` at `time`: `Some` only when
/// the decision is an allow and not a dry run (a denied or dry-run object is not deployed).
/// Model, version and environment are taken from the decision, so the two records cannot
/// disagree.
pub fn observation_draft(
    object: &DeployedObject,
    decision: &Decision,
    time: OffsetDateTime,
) -> Result<Option<RecordDraft>, EngineError> {
    if !decision.is_allow() || decision.is_dry_run() {
        return Ok(None);
    }
    let request = &decision.body.request;
    let body = ObservationBody {
        source: SOURCE_ADMISSION.to_owned(),
        model: request.model.clone(),
        version: request.version.clone(),
        environment: request.environment.clone(),
        namespace: object.namespace.clone(),
        kind: object.kind.clone(),
        name: object.name.clone(),
        operation: object.operation.clone(),
        decision_index: decision.ledger.index,
    };
    let body = serde_json::to_value(&body).map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok(Some(RecordDraft {
        kind: RecordKind::Observation,
        time,
        body,
    }))
}

/// Appends `draft` durably and returns the sealed record.
pub fn record_observation(
    store: &mut dyn Store,
    draft: RecordDraft,
) -> Result<SealedRecord, EngineError> {
    append_one(store, AppendRequest::records(vec![draft]))?
        .into_iter()
        .next()
        .ok_or_else(|| EngineError::Internal("the ledger did not return the observation".into()))
}

/// The artifact digest (`sha256:<hex>`) that the model-metadata statements among `filed`
/// (canonical envelope bytes, as filed with `POST /v1/attestations`) name in
/// `artifact.digest`; `None` when no metadata is filed. Envelopes of other predicate types are
/// skipped. Metadata naming different digests is ambiguous: [`EngineError::Invalid`]. Nothing
/// is verified here; the decision verifies the metadata it is judged with.
pub fn filed_artifact_digest(filed: &[Vec<u8>]) -> Result<Option<String>, EngineError> {
    let mut found: Option<String> = None;
    for bytes in filed {
        let Ok(value) = crate::canonical::parse_json(bytes) else {
            continue;
        };
        let Ok(envelope) = Envelope::from_value(&value) else {
            continue;
        };
        let Ok(statement) = Statement::from_payload(&envelope.payload) else {
            continue;
        };
        if statement.predicate_type != PREDICATE_MODEL_METADATA {
            continue;
        }
        let Some(digest) = statement
            .predicate
            .pointer("/artifact/digest")
            .and_then(Value::as_str)
        else {
            continue;
        };
        match &found {
            Some(seen) if seen != digest => {
                return Err(EngineError::invalid(
                    "/artifact_digest",
                    format!(
                        "the filed model metadata names several artifacts (`{seen}` and `{digest}`)"
                    ),
                ))
            }
            Some(_) => {}
            None => found = Some(digest.to_owned()),
        }
    }
    Ok(found)
}
