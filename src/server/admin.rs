//! Admin endpoints: freeze and unfreeze, bundle reload, token management.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{ApiRole, TokenError, TokenFile};
use super::error::ApiError;
use super::state::AppState;
use super::{blocking, read_body, ApiPath};
use crate::clock::parse_rfc3339;
use crate::engine::freeze;

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = crate::canonical::parse_json(bytes)
        .map_err(|e| ApiError::invalid(format!("the body is not valid JSON: {e}")))?;
    serde_json::from_value(value).map_err(|e| ApiError::invalid(e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FreezeBody {
    environment: String,
    reason: String,
    until: Option<String>,
}

/// `POST /v1/admin/freeze` `{"environment", "reason", "until"?}`.
pub async fn post_freeze(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    blocking(move || {
        let b: FreezeBody = parse(&bytes)?;
        let until = b
            .until
            .as_deref()
            .map(|t| parse_rfc3339(t).map_err(|e| ApiError::invalid(format!("`until`: {e}"))))
            .transpose()?;
        let config = state.ws.engine_config();
        let mut writer = state.writer()?;
        let sealed = freeze::freeze(
            &mut **writer,
            state.clock.as_ref(),
            &config,
            &b.environment,
            &b.reason,
            until,
        )?;
        Ok(Json(
            json!({"environment": b.environment, "frozen": true, "record": sealed.index}),
        ))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnfreezeBody {
    environment: String,
}

/// `POST /v1/admin/unfreeze` `{"environment"}`.
pub async fn post_unfreeze(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    blocking(move || {
        let b: UnfreezeBody = parse(&bytes)?;
        let config = state.ws.engine_config();
        let mut writer = state.writer()?;
        let sealed =
            freeze::unfreeze(&mut **writer, state.clock.as_ref(), &config, &b.environment)?;
        Ok(Json(
            json!({"environment": b.environment, "frozen": false, "record": sealed.index}),
        ))
    })
    .await
}

/// `POST /v1/admin/bundle/reload`: loads the policy directory again. A refused bundle is a 422
/// with the exact error, and the bundle deciding now stays; a valid one is activated (a
/// `bundle_activation` record) and decides from the next request on.
pub async fn post_reload(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let mut writer = state.writer()?;
        let (engine, refused) = state
            .ws
            .engine_for(&**writer, state.clock.clone())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        if let Some(refused) = refused {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bundle_refused",
                format!(
                    "the policy bundle is refused, the active bundle {} keeps deciding: {refused}",
                    state.engine().bundle().digest()
                ),
            ));
        }
        let activated = engine.activate_bundle(&mut **writer)?;
        let digest = engine.bundle().digest().to_owned();
        let policies = engine.bundle().policies().len();
        state.set_engine(engine);
        Ok(Json(json!({
            "bundle_digest": digest,
            "policies": policies,
            "activation_record": activated.map(|r| r.index),
        })))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: ApiRole,
}

/// `POST /v1/admin/tokens` `{"name", "role"}` → the new token, shown once.
pub async fn post_token(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    blocking(move || {
        let b: NewToken = parse(&bytes)?;
        let secret = state.change_tokens(|file| {
            file.create(&b.name, b.role).map_err(|e| match e {
                TokenError::Exists(_) => {
                    ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
                }
                TokenError::BadName(_) => ApiError::invalid(e.to_string()),
                other => ApiError::internal(other.to_string()),
            })
        })?;
        Ok((
            StatusCode::CREATED,
            Json(json!({"name": b.name, "role": b.role, "token": secret})),
        ))
    })
    .await
}

/// `GET /v1/admin/tokens`: names and roles (never secrets or hashes).
pub async fn list_tokens(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let file = TokenFile::load(&state.ws.tokens_path())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(Json(json!({
            "tokens": file
                .tokens
                .iter()
                .map(|t| json!({"name": t.name, "role": t.role}))
                .collect::<Vec<_>>()
        })))
    })
    .await
}

/// `DELETE /v1/admin/tokens/{name}`: withdraws a token at once.
pub async fn delete_token(
    State(state): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let gone = state.change_tokens(|file| {
            file.revoke(&name)
                .map_err(|e| ApiError::not_found(e.to_string()))
        })?;
        Ok(Json(
            json!({"name": gone.name, "role": gone.role, "revoked": true}),
        ))
    })
    .await
}
