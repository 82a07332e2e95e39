//! Inventory reports over HTTP (role `auditor`) and the scheduler that keeps them
//! (`docs/reports.md`).
//!
//! - `GET /v1/reports` lists the kept reports ([`list_reports`]), `GET /v1/reports/{id}` serves
//!   one's bytes as kept, re-checked against the digest in its ledger record ([`get_report`]),
//!   and `GET /v1/reports/inventory` computes one now without keeping it ([`inventory_now`]).
//! - [`spawn_scheduler`] starts one task per server that sleeps until the next fire time of the
//!   `[[reports]]` entries ("now" from the injected clock, waiting with tokio's timer), then
//!   generates and keeps each due report on the blocking pool through [`AppState::writer`] and
//!   signs a checkpoint covering it. A failure is logged and tried again at the next fire time;
//!   it never stops the server. The task ends when shutdown begins.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, ETAG};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::ApiError;
use super::state::AppState;
use super::{blocking, ApiPath, ApiQuery};
use crate::clock::parse_rfc3339;
use crate::digest::sha256_prefixed;
use crate::inventory::scheduled::{
    self, due_reports, next_fire, ReportSchedule, StoredFormat, StoredReport,
};
use crate::inventory::{render, InventoryError, ReportOptions};

/// Longest single sleep of the scheduler: it looks at the clock again at least this often, so
/// a wall clock that is set forward or back is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The media types `GET /v1/reports/{id}` answers in.
pub const STORED_MEDIA: &[&str] = &["application/json", "text/html"];

/// The media types `GET /v1/reports/inventory` answers in.
pub const INVENTORY_MEDIA: &[&str] =
    &["application/json", "text/markdown", "text/html", "text/csv"];

fn api_error(e: InventoryError) -> ApiError {
    match e {
        InventoryError::Invalid(m) => ApiError::invalid(m),
        InventoryError::Ledger(e) => ApiError::from(e),
        InventoryError::Engine(e) => ApiError::from(e),
        InventoryError::Fold(e) => ApiError::internal(e.to_string()),
    }
}

/// A kept report as listed: its record, digests and where to fetch and prove it.
fn listed(r: &StoredReport) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "as_of": r.as_of,
        "generated_at": r.generated_at,
        "population": r.population,
        "json_digest": r.json_digest,
        "html_digest": r.html_digest,
        "links": {
            "json": format!("/v1/reports/{}?format=json", r.id),
            "html": format!("/v1/reports/{}?format=html", r.id),
            "record": format!("/v1/ledger/records/{}", r.id),
            "proof": format!("/v1/ledger/records/{}/proof", r.id),
        },
    })
}

/// The OpenAPI schema of the `GET /v1/reports` answer.
pub fn list_schema() -> Value {
    let text = json!({"type": "string"});
    let int = json!({"type": "integer", "minimum": 0});
    json!({
        "type": "object",
        "required": ["reports"],
        "properties": {"reports": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "name", "as_of", "generated_at", "population", "json_digest", "html_digest", "links"],
            "properties": {
                "id": {"type": "integer", "minimum": 0, "description": "ledger index of the `report` record"},
                "name": text, "as_of": text, "generated_at": text, "population": int,
                "json_digest": text, "html_digest": text,
                "links": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }}},
    })
}

/// `GET /v1/reports`: every kept report, oldest first.
pub async fn list_reports(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let reader = state.readers.checkout()?;
        let reports = scheduled::list(reader.store()?).map_err(api_error)?;
        Ok(json!({ "reports": reports.iter().map(listed).collect::<Vec<_>>() }))
    })
    .await
    .map(Json)
}

/// Query of `GET /v1/reports/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredQuery {
    format: Option<String>,
}

/// `GET /v1/reports/{id}?format=json|html`: the kept bytes, exactly as their record's digest
/// names them (`ETag`).
pub async fn get_report(
    State(state): State<Arc<AppState>>,
    ApiPath(id): ApiPath<u64>,
    ApiQuery(q): ApiQuery<StoredQuery>,
) -> Result<Response, ApiError> {
    let name = q.format.as_deref().unwrap_or("json");
    let format = StoredFormat::parse(name)
        .ok_or_else(|| ApiError::invalid(format!("`format` `{name}` is not `json` or `html`")))?;
    blocking(move || {
        let reader = state.readers.checkout()?;
        let bytes = scheduled::get(reader.store()?, id, format)
            .map_err(api_error)?
            .ok_or_else(|| ApiError::not_found(format!("there is no report {id}")))?;
        let etag = format!("\"{}\"", sha256_prefixed(&bytes));
        Ok((
            [(CONTENT_TYPE, format.media_type().to_owned()), (ETAG, etag)],
            bytes,
        )
            .into_response())
    })
    .await
}

/// Query of `GET /v1/reports/inventory`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryQuery {
    format: Option<String>,
    as_of: Option<String>,
    window_days: Option<u64>,
    failure_days: Option<u64>,
    expiring_days: Option<u64>,
}

/// `GET /v1/reports/inventory?format=json|md|html|csv&as_of=…`: the inventory report computed
/// now (not kept), as `modelgate inventory report` prints it.
pub async fn inventory_now(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<InventoryQuery>,
) -> Result<Response, ApiError> {
    let format = q.format.clone().unwrap_or_else(|| "json".to_owned());
    let media = match format.as_str() {
        "json" => "application/json",
        "md" => "text/markdown; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        other => {
            return Err(ApiError::invalid(format!(
                "`format` `{other}` is not `json`, `md`, `html` or `csv`"
            )))
        }
    };
    let as_of = match &q.as_of {
        Some(t) => parse_rfc3339(t)
            .map_err(|e| ApiError::invalid(format!("`as_of` is not RFC 3339: {e}")))?,
        None => state.clock.now(),
    };
    let mut options = ReportOptions::new(as_of, state.ws.production_environments());
    options.window_days = q.window_days.unwrap_or(options.window_days);
    options.failure_days = q.failure_days.unwrap_or(options.failure_days);
    options.expiring_days = q.expiring_days.unwrap_or(options.expiring_days);
    scheduled::check_options(&options).map_err(ApiError::unprocessable)?;
    blocking(move || {
        let r = state
            .ws
            .inventory_report(&options, &mut |_, _| {})
            .map_err(api_error)?;
        let body = match format.as_str() {
            "json" => {
                serde_json::to_vec_pretty(&r).map_err(|e| ApiError::internal(e.to_string()))?
            }
            "md" => render::markdown(&r).into_bytes(),
            "html" => render::html(&r).into_bytes(),
            _ => render::csv(&r).into_bytes(),
        };
        Ok(([(CONTENT_TYPE, media)], body).into_response())
    })
    .await
}

/// Starts the report scheduler when the workspace config has `[[reports]]` entries; it runs
/// until `stop` holds `true` (or its sender is gone). `None` without entries.
pub fn spawn_scheduler(
    state: Arc<AppState>,
    stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if state.ws.config().reports.is_empty() {
        return None;
    }
    Some(tokio::spawn(run_schedules(state, stop)))
}

async fn run_schedules(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let schedules = state.ws.config().reports.clone();
    tracing::info!(reports = schedules.len(), "report scheduler started");
    let mut last_run = state.clock.now();
    loop {
        if *stop.borrow() {
            break;
        }
        let Some(next) = next_fire(&schedules, last_run) else {
            tracing::warn!("no report schedule fires again before year 9999");
            break;
        };
        let wait = Duration::try_from(next - state.clock.now())
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
                continue;
            }
        }
        let now = state.clock.now();
        let due: Vec<(ReportSchedule, OffsetDateTime)> = due_reports(&schedules, last_run, now)
            .into_iter()
            .map(|d| (d.schedule.clone(), d.as_of))
            .collect();
        if due.is_empty() {
            continue;
        }
        last_run = now;
        for (schedule, as_of) in due {
            run_one(&state, schedule, as_of).await;
        }
    }
    tracing::info!("report scheduler stopped");
}

/// Generates and keeps one due report on the blocking pool; logs the outcome.
async fn run_one(state: &Arc<AppState>, schedule: ReportSchedule, as_of: OffsetDateTime) {
    let name = schedule.name.clone();
    let worker = Arc::clone(state);
    match tokio::task::spawn_blocking(move || generate_scheduled(&worker, &schedule, as_of)).await {
        Ok(Ok(kept)) => tracing::info!(
            report = %kept.name,
            ledger_index = kept.id,
            as_of = %kept.as_of,
            json_digest = %kept.json_digest,
            html_digest = %kept.html_digest,
            "scheduled report kept"
        ),
        Ok(Err(e)) => tracing::error!(
            report = %name,
            error = %e,
            "scheduled report failed; it runs again at its next fire time"
        ),
        Err(e) => tracing::error!(
            report = %name,
            error = %e,
            "scheduled report worker failed; it runs again at its next fire time"
        ),
    }
}

/// Computes the report of `schedule` as of `as_of`, keeps it through the server's writer and
/// signs a checkpoint that covers its record (so `GET /v1/ledger/records/{id}/proof` proves it
/// at once; a checkpoint that cannot be signed now is logged, and a later one covers it).
pub fn generate_scheduled(
    state: &AppState,
    schedule: &ReportSchedule,
    as_of: OffsetDateTime,
) -> Result<StoredReport, InventoryError> {
    let options = schedule.options(as_of, state.ws.production_environments());
    scheduled::check_options(&options).map_err(InventoryError::Invalid)?;
    let report = state.ws.inventory_report(&options, &mut |_, _| {})?;
    let mut writer = state
        .writer
        .lock()
        .map_err(|_| InventoryError::Invalid("the ledger writer is unavailable".to_owned()))?;
    let kept = scheduled::generate(&mut **writer, &schedule.name, &report, state.clock.now())?;
    let signed = state
        .ws
        .note_signer()
        .map_err(|e| e.to_string())
        .and_then(|signer| {
            crate::engine::audit::checkpoint(&mut **writer, &signer, &state.ws.config().origin)
                .map_err(|e| e.to_string())
        });
    if let Err(e) = signed {
        tracing::warn!(error = %e, ledger_index = kept.id, "no checkpoint after the scheduled report");
    }
    Ok(kept)
}
