//! The ledger records the inventory writes: a deployment reported by hand or by a pipeline
//! without the webhook (`observation`, source `cli` or as given) and a retirement (`retire`).
//!
//! Both are refused for names the ledger has never seen (a typo would otherwise add a phantom
//! model to the population, or retire nothing).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::fold::RetireBody;
use super::InventoryError;
use crate::ledger::{
    append_one, parse_record, AppendRequest, RecordDraft, RecordKind, SealedRecord, Store,
};

/// The body of an `observation` record reported outside admission control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportedDeployment {
    /// Who reported it (`cli` by default, or e.g. the pipeline's name).
    pub source: String,
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// Environment it runs in.
    pub environment: String,
}

fn nonempty(what: &str, value: &str) -> Result<(), InventoryError> {
    if !super::usable_name(value) {
        return Err(InventoryError::Invalid(format!(
            "`{what}` must be a non-empty name without control characters"
        )));
    }
    Ok(())
}

/// Records that `deployment` was seen, at `time`. A deployment without registered metadata is
/// exactly what the inventory must show (a shadow deployment), so the model need not be known.
pub fn observe(
    store: &mut dyn Store,
    deployment: &ReportedDeployment,
    time: OffsetDateTime,
) -> Result<SealedRecord, InventoryError> {
    nonempty("model", &deployment.model)?;
    nonempty("version", &deployment.version)?;
    nonempty("environment", &deployment.environment)?;
    nonempty("source", &deployment.source)?;
    let body =
        serde_json::to_value(deployment).map_err(|e| InventoryError::Invalid(e.to_string()))?;
    append(
        store,
        RecordDraft {
            kind: RecordKind::Observation,
            time,
            body,
        },
    )
}

/// Whether the ledger has seen `model` (and `version`): in a decision or an observation.
fn known(store: &dyn Store, model: &str, version: Option<&str>) -> Result<bool, InventoryError> {
    let matches = |body: &serde_json::Value, m: &str, v: &str| {
        m == model && version.is_none_or(|want| want == v) && !body.is_null()
    };
    for r in store.decisions_for_model(model)? {
        let rec = parse_record(&r.bytes)?;
        let req = &rec.body["request"];
        if matches(
            req,
            req["model"].as_str().unwrap_or_default(),
            req["version"].as_str().unwrap_or_default(),
        ) {
            return Ok(true);
        }
    }
    for r in store.records_of_kind(RecordKind::Observation)? {
        let rec = parse_record(&r.bytes)?;
        let b = &rec.body;
        if matches(
            b,
            b["model"].as_str().unwrap_or_default(),
            b["version"].as_str().unwrap_or_default(),
        ) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Retires `model` (or one `version` of it) at `time` for `reason`: it leaves the population of
/// later reports and stays in history.
pub fn retire(
    store: &mut dyn Store,
    model: &str,
    version: Option<&str>,
    reason: &str,
    time: OffsetDateTime,
) -> Result<SealedRecord, InventoryError> {
    nonempty("model", model)?;
    if let Some(v) = version {
        nonempty("version", v)?;
    }
    nonempty("reason", reason)?;
    if !known(store, model, version)? {
        return Err(InventoryError::Invalid(format!(
            "the ledger has no decision or deployment of `{model}`{}: nothing to retire",
            version
                .map(|v| format!(" version `{v}`"))
                .unwrap_or_default()
        )));
    }
    let body = RetireBody {
        model: model.to_owned(),
        version: version.map(str::to_owned),
        reason: reason.trim().to_owned(),
    };
    let body = serde_json::to_value(&body).map_err(|e| InventoryError::Invalid(e.to_string()))?;
    append(
        store,
        RecordDraft {
            kind: RecordKind::Retire,
            time,
            body,
        },
    )
}

/// Appends one record durably.
fn append(store: &mut dyn Store, draft: RecordDraft) -> Result<SealedRecord, InventoryError> {
    append_one(store, AppendRequest::records(vec![draft]))?
        .into_iter()
        .next()
        .ok_or_else(|| InventoryError::Invalid("the ledger did not return the record".into()))
}
