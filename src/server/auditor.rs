//! Auditor endpoints (read-only): decisions by filter, and the ledger as an auditor checks it —
//! the latest signed checkpoint, the verifier key, exact record bytes, inclusion and
//! consistency proofs.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::state::AppState;
use super::{blocking, ApiPath, ApiQuery};
use crate::clock::parse_rfc3339;
use crate::engine::audit;
use crate::ledger::{format_consistency_proof, parse_record, RecordKind, StoredRecord};

/// Most decisions one page returns.
pub const MAX_PAGE: usize = 500;
/// Most records one page request scans when no model narrows the search.
pub const SCAN_BUDGET: u64 = 20_000;

/// Query of `GET /v1/decisions`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionQuery {
    model: Option<String>,
    version: Option<String>,
    environment: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
    cursor: Option<u64>,
}

/// `GET /v1/decisions`: decisions matching every given filter, oldest first, from `cursor` (a
/// ledger index; default 0). The answer's `next_cursor` continues the listing (`null` at the
/// end of the ledger).
pub async fn list_decisions(
    State(state): State<Arc<AppState>>,
    ApiQuery(query): ApiQuery<DecisionQuery>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || list(&state, &query)).await.map(Json)
}

fn list(state: &AppState, q: &DecisionQuery) -> Result<Value, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid(format!(
            "`limit` must be 1 to {MAX_PAGE}"
        )));
    }
    if let Some(o) = &q.outcome {
        if o != "allow" && o != "deny" {
            return Err(ApiError::invalid("`outcome` must be `allow` or `deny`"));
        }
    }
    let time = |name: &str, t: &Option<String>| {
        t.as_deref()
            .map(|t| {
                parse_rfc3339(t)
                    .map_err(|e| ApiError::invalid(format!("`{name}` is not RFC 3339: {e}")))
            })
            .transpose()
    };
    let (since, until) = (time("since", &q.since)?, time("until", &q.until)?);
    let reader = state.readers.checkout()?;
    let store = reader.store()?;
    let size = store.size()?;
    let cursor = q.cursor.unwrap_or(0);
    let matches = |r: &StoredRecord| -> Option<Value> {
        let record = parse_record(&r.bytes).ok()?;
        if record.kind != RecordKind::Decision {
            return None;
        }
        let b = &record.body;
        let text = |p: &str| b.pointer(p).and_then(Value::as_str);
        let fits =
            |want: &Option<String>, p: &str| want.as_deref().is_none_or(|w| text(p) == Some(w));
        let at = parse_rfc3339(&record.time).ok()?;
        let in_time = since.is_none_or(|s| at >= s) && until.is_none_or(|u| at < u);
        (fits(&q.model, "/request/model")
            && fits(&q.version, "/request/version")
            && fits(&q.environment, "/request/environment")
            && fits(&q.outcome, "/decision")
            && in_time)
            .then(|| {
                let mut v = record.body.clone();
                // A body that is not an object (only a tampered ledger has one) is skipped here;
                // `audit verify` reports it.
                v.as_object_mut()?.insert(
                    "ledger".to_owned(),
                    json!({"index": r.index, "leaf_hash": hex::encode(r.leaf_hash)}),
                );
                Some(v)
            })
            .flatten()
    };
    let mut found = Vec::new();
    let next_cursor;
    if let Some(model) = &q.model {
        let candidates: Vec<StoredRecord> = store
            .decisions_for_model(model)?
            .into_iter()
            .filter(|r| r.index >= cursor)
            .collect();
        let mut next = None;
        for r in candidates {
            if found.len() == limit {
                next = Some(r.index);
                break;
            }
            found.extend(matches(&r));
        }
        next_cursor = next;
    } else {
        let mut at = cursor;
        let end = size.min(cursor.saturating_add(SCAN_BUDGET));
        'scan: while at < end {
            let rows = store.records(at, (end - at).min(1024))?;
            if rows.is_empty() {
                break;
            }
            for r in rows {
                if found.len() == limit {
                    break 'scan;
                }
                at = r.index + 1;
                found.extend(matches(&r));
            }
        }
        next_cursor = (at < size).then_some(at);
    }
    Ok(json!({ "decisions": found, "next_cursor": next_cursor }))
}

fn text(body: String) -> Response {
    ([(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// `GET /v1/ledger/checkpoint`: the latest signed checkpoint (C2SP note, text/plain).
pub async fn checkpoint(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    blocking(move || {
        let reader = state.readers.checkout()?;
        let (_, note) = reader
            .store()?
            .latest_checkpoint()?
            .ok_or_else(|| ApiError::not_found("no checkpoint has been signed yet"))?;
        Ok(text(note))
    })
    .await
}

/// `GET /v1/ledger/vkey`: the engine's C2SP verifier key (text/plain).
pub async fn vkey(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let verifier = state
        .ws
        .note_verifier()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(text(format!("{}\n", verifier.to_vkey())))
}

/// `GET /v1/ledger/records/{index}`: the record's exact stored bytes.
pub async fn record(
    State(state): State<Arc<AppState>>,
    ApiPath(index): ApiPath<u64>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let reader = state.readers.checkout()?;
        let r = reader
            .store()?
            .record(index)?
            .ok_or_else(|| ApiError::not_found(format!("there is no record {index}")))?;
        Ok(([(CONTENT_TYPE, "application/json")], r.bytes).into_response())
    })
    .await
}

/// Query of the proof endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofQuery {
    size: Option<u64>,
}

/// `GET /v1/ledger/records/{index}/proof?size=S`: a `c2sp.org/tlog-proof@v1` for the record
/// against the stored checkpoint of size S (default the latest).
pub async fn proof(
    State(state): State<Arc<AppState>>,
    ApiPath(index): ApiPath<u64>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let reader = state.readers.checkout()?;
        let proof = audit::prove(reader.store()?, index, q.size)?;
        Ok(text(proof.to_text()))
    })
    .await
}

/// Query of the consistency endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    old: u64,
    new: u64,
}

/// `GET /v1/ledger/consistency?old=A&new=B`: the RFC 6962 consistency proof, one base64 hash
/// per line.
pub async fn consistency(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let reader = state.readers.checkout()?;
        let hashes = audit::consistency(reader.store()?, q.old, q.new)?;
        Ok(text(format_consistency_proof(&hashes)))
    })
    .await
}
