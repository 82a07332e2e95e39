//! Pipeline endpoints: `POST /v1/decisions` and `POST /v1/attestations`.
//!
//! Both hand the work to the engine on a blocking thread; nothing here decides anything.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::state::AppState;
use super::{blocking, read_body};
use crate::clock::Stopwatch;
use crate::engine::intake::{accept_attestation, MAX_FILED_PER_VERSION};
use crate::engine::receipt::sign_receipt;
use crate::engine::request::with_stored_attestations;
use crate::engine::{load_trust, Decision, EngineError};

/// `POST /v1/decisions`: a promotion request (inline attestations and/or the ones filed for its
/// model and version) → the recorded decision and its signed receipt. A deny is a 200.
pub async fn post_decision(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    let worker = Arc::clone(&state);
    let (decision, receipt) = blocking(move || decide(&worker, &bytes)).await?;
    let mut answer =
        serde_json::to_value(&decision).map_err(|e| ApiError::internal(e.to_string()))?;
    answer["receipt"] = receipt;
    Ok(Json(answer))
}

/// Decides `bytes` (merged with the filed attestations) and signs the receipt; counts it.
pub fn decide(state: &AppState, bytes: &[u8]) -> Result<(Decision, Value), ApiError> {
    let watch = Stopwatch::start();
    let reader = state.readers.checkout()?;
    let store = reader.store()?;
    let bytes = with_stored_attestations(bytes, |model, version| {
        store
            .filed_attestations(model, version)
            .map_err(EngineError::from)
    })?;
    let engine = state.engine();
    let decision = engine.decide_grouped(store, &state.appender, &bytes)?;
    let receipt = sign_receipt(&decision, &state.engine_key)?.to_json_value();
    state
        .metrics
        .decision(&decision, watch.elapsed().as_secs_f64());
    let span = tracing::Span::current();
    span.record("decision_id", decision.ledger.leaf_hash.as_str());
    span.record("ledger_index", decision.ledger.index);
    Ok((decision, receipt))
}

/// The body of `POST /v1/attestations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filing {
    model: String,
    version: String,
    attestations: Vec<Value>,
}

/// Longest model name and version accepted (as in the request schema).
const MAX_NAME: usize = 128;

/// `POST /v1/attestations`: `{"model", "version", "attestations": [envelope, …]}` → each
/// envelope checked ([`accept_attestation`]) and filed under the model and version for later
/// decisions. All or nothing: one bad envelope refuses the filing. Filing again is a no-op.
pub async fn post_attestations(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    let worker = Arc::clone(&state);
    let filed = blocking(move || file(&worker, &bytes)).await?;
    Ok(Json(filed))
}

fn file(state: &AppState, bytes: &[u8]) -> Result<Value, ApiError> {
    let value = crate::canonical::parse_json(bytes)
        .map_err(|e| ApiError::invalid(format!("the body is not valid JSON: {e}")))?;
    let filing: Filing = serde_json::from_value(value).map_err(|e| {
        ApiError::invalid(format!(
            "the body is not {{\"model\", \"version\", \"attestations\": [...]}}: {e}"
        ))
    })?;
    for (field, text, max) in [
        ("model", &filing.model, MAX_NAME),
        ("version", &filing.version, 64),
    ] {
        if text.is_empty() || text.chars().count() > max {
            return Err(ApiError::invalid(format!(
                "`{field}` must be 1 to {max} characters"
            )));
        }
    }
    if filing.attestations.is_empty() || filing.attestations.len() > 64 {
        return Err(ApiError::invalid(
            "`attestations` must hold 1 to 64 envelopes",
        ));
    }
    let signatures: usize = filing
        .attestations
        .iter()
        .filter_map(|a| a.get("signatures").and_then(Value::as_array))
        .map(Vec::len)
        .sum();
    if signatures > crate::engine::attestations::MAX_SIGNATURES_PER_REQUEST {
        return Err(ApiError::unprocessable(format!(
            "{signatures} signatures in one filing, over the limit of {}",
            crate::engine::attestations::MAX_SIGNATURES_PER_REQUEST
        )));
    }
    let reader = state.readers.checkout()?;
    let trust = load_trust(reader.store()?)?;
    let now = state.clock.now();
    let engine = state.engine();
    let mut accepted = Vec::with_capacity(filing.attestations.len());
    for (i, envelope) in filing.attestations.iter().enumerate() {
        accepted.push(accept_attestation(
            engine.schemas(),
            &trust,
            &filing.model,
            &filing.version,
            envelope,
            &format!("/attestations/{i}"),
            now,
        )?);
    }
    let filed = reader
        .store()?
        .filed_attestations(&filing.model, &filing.version)?;
    let already: std::collections::BTreeSet<String> = filed
        .iter()
        .map(|b| crate::digest::sha256_prefixed(b))
        .collect();
    let new = accepted
        .iter()
        .filter(|a| !already.contains(&a.digest))
        .count();
    if filed.len() + new > MAX_FILED_PER_VERSION {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "conflict",
            format!(
                "`{}` `{}` has {} attestations filed; {new} more would pass the limit of {MAX_FILED_PER_VERSION}",
                filing.model,
                filing.version,
                filed.len()
            ),
        ));
    }
    let mut writer = state.writer()?;
    for a in &accepted {
        writer.file_attestation(&filing.model, &filing.version, &a.digest, &a.bytes)?;
    }
    Ok(json!({
        "model": filing.model,
        "version": filing.version,
        "filed": accepted
            .iter()
            .map(|a| json!({"digest": a.digest, "predicate_type": a.predicate_type}))
            .collect::<Vec<_>>(),
    }))
}
