//! `POST /v1/integrations/mlflow/webhook`: MLflow model registry webhook deliveries.
//!
//! The route takes no bearer token (MLflow cannot send one); the delivery's HMAC signature is
//! its authentication, checked by [`crate::inventory::mlflow::webhook::verify`] against the
//! secret of `[inventory.mlflow] webhook_secret_path` (or `MODELGATE_MLFLOW_WEBHOOK_SECRET`),
//! with the time of `AppState.clock`. Without a secret the route answers 404: the integration is
//! off. A delivery that sets a production alias is recorded as an observation through the
//! state's writer; every other verified delivery is acknowledged with 200 and ignored.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::state::AppState;
use super::{blocking, read_body};
use crate::inventory::mlflow::webhook::{
    self, SignedHeaders, WebhookAction, WebhookError, HEADER_DELIVERY_ID, HEADER_SIGNATURE,
    HEADER_TIMESTAMP, SECRET_ENV,
};
use crate::inventory::mlflow::{resolve_environment, MlflowError};

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> ApiError {
        let message = e.to_string();
        match e {
            WebhookError::NotConfigured => ApiError::not_found(message),
            WebhookError::Secret(_) => {
                tracing::error!(error = %message, "the MLflow webhook secret cannot be used");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_configured", message)
            }
            WebhookError::MissingHeader(_)
            | WebhookError::BadHeader { .. }
            | WebhookError::BadSignature
            | WebhookError::Stale { .. } => {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", message)
            }
            WebhookError::Payload(_) => ApiError::invalid(message),
        }
    }
}

impl From<MlflowError> for ApiError {
    fn from(e: MlflowError) -> ApiError {
        match e {
            MlflowError::Ledger(e) => ApiError::from(e),
            MlflowError::Config(message) => {
                tracing::error!(error = %message, "the MLflow webhook is misconfigured");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_configured", message)
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// `POST /v1/integrations/mlflow/webhook`: a signed MLflow registry event.
pub async fn post_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    blocking(move || {
        let settings = &state.ws.config().inventory.mlflow;
        let path: Option<PathBuf> = settings.webhook_secret_path.as_ref().map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                state.ws.home().join(p)
            }
        });
        let env = std::env::var(SECRET_ENV).ok();
        let secret = webhook::load_secret(path.as_deref(), env.as_deref())?
            .ok_or(WebhookError::NotConfigured)?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let signed = SignedHeaders {
            delivery_id: header(HEADER_DELIVERY_ID),
            timestamp: header(HEADER_TIMESTAMP),
            signature: header(HEADER_SIGNATURE),
        };
        let now = state.clock.now();
        let delivery = webhook::verify(&secret, &signed, &bytes, now)?;
        let deployed = match webhook::classify(&delivery, &settings.production_aliases)? {
            WebhookAction::Ignore(reason) => {
                return Ok(Json(
                    json!({"status": "ignored", "delivery": delivery.id, "reason": reason}),
                ))
            }
            WebhookAction::Deploy(deployed) => deployed,
        };
        let environments = state.ws.config().environments.keys().cloned().collect();
        let environment = resolve_environment(
            settings.environment.as_deref(),
            &environments,
            &state.ws.production_environments(),
        )?;
        let mut writer = state.writer()?;
        let recorded = webhook::record(
            &mut **writer,
            &deployed,
            &environment,
            now,
            delivery.signed_at,
        )?;
        let mut answer = json!({
            "status": if recorded.is_some() { "recorded" } else { "already_recorded" },
            "delivery": delivery.id,
            "model": deployed.model,
            "version": deployed.version,
            "environment": environment,
        });
        if let Some(r) = recorded {
            answer["record"] = json!(r.index);
            tracing::Span::current().record("ledger_index", r.index);
        }
        Ok(Json(answer))
    })
    .await
}

/// The OpenAPI component `MlflowWebhookEvent`: the body MLflow sends (the signature covers its
/// exact bytes).
pub fn event_schema() -> Value {
    json!({
        "type": "object",
        "description": "an MLflow registry webhook event; signed with X-MLflow-Signature: v1,base64(HMAC-SHA256(secret, \"{X-MLflow-Delivery-Id}.{X-MLflow-Timestamp}.{body}\")), X-MLflow-Timestamp in epoch seconds within 5 minutes of the server's time",
        "properties": {
            "entity": {"type": "string", "examples": ["registered_model", "model_version", "model_version_tag", "model_version_alias"]},
            "action": {"type": "string", "examples": ["created", "set", "deleted"]},
            "timestamp": {"type": "string"},
            "data": {"type": "object"}
        },
        "required": ["entity", "action", "data"]
    })
}
