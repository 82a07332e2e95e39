//! The HTTP adapter: `modelgate serve` (axum on tokio, optional TLS with rustls).
//!
//! Every endpoint is a row of [`routes()`]: method, path, the one role whose bearer token it
//! accepts (none for the open endpoints), what it reads and answers, and its handler. The router
//! ([`router`]) and the OpenAPI document ([`openapi::document`]) are both built from that table,
//! so they cannot disagree. Handlers parse, call the engine or the ledger on a blocking thread
//! and render; they hold no business rules.
//!
//! Around every request: a trace span (method, path, and for decisions the decision id — the
//! record's leaf hash — and ledger index) closed by one `request` log line (status, latency;
//! never headers or bodies), a count of the response status, a deadline (`[server]
//! deadline_ms`, 2 s by default: past it the answer is a 503, never an allow), and a limit on
//! requests in flight. Errors share one JSON shape ([`error::ApiError`]). Shutdown
//! ([`serve`]: SIGINT/SIGTERM; [`serve_until`]: any future) stops accepting, lets requests in
//! flight finish, then drains the group-commit appender.

pub mod admin;
pub mod admission;
pub mod auditor;
pub mod auth;
pub mod console;
pub mod error;
pub mod evidence;
mod listen;
pub mod metrics;
pub mod mlflow;
pub mod openapi;
pub mod pipeline;
pub mod reports;
pub mod state;
mod table;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header::CONTENT_TYPE, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;

use self::auth::ApiRole;
use self::error::ApiError;
use self::state::AppState;

pub use self::listen::{serve, serve_until, ServeOptions};
pub use self::table::{routes, Param, Payload, Route};

/// The application: every route of [`routes()`] with its role check, the shared error shape for
/// unknown paths and methods, and the per-request layers.
pub fn router(state: Arc<AppState>) -> Router {
    let mut app: Router<Arc<AppState>> = Router::new();
    for route in routes() {
        let mut method_router = (route.handler)();
        if let Some(role) = route.role {
            method_router = method_router.route_layer(middleware::from_fn_with_state(
                (Arc::clone(&state), role),
                require_role,
            ));
        }
        app = app.route(route.path, method_router);
    }
    let app = app.merge(console::router());
    let deadline = Duration::from_millis(state.settings.deadline_ms.max(1));
    let in_flight = state.settings.max_concurrency.max(1);
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(in_flight))
        .layer(middleware::from_fn_with_state(deadline, enforce_deadline))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            count_status,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    // The path only: query strings and headers (the token) stay out of logs.
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        decision_id = tracing::field::Empty,
                        ledger_index = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(log_response)
                .on_failure(()),
        )
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// The one log line of a request, inside its span (method, path, decision id, ledger index).
fn log_response(response: &Response, latency: Duration, _span: &tracing::Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if response.status().is_server_error() {
        tracing::warn!(status, latency_ms, "request");
    } else {
        tracing::info!(status, latency_ms, "request");
    }
}

async fn require_role(
    State((state, role)): State<(Arc<AppState>, ApiRole)>,
    req: Request,
    next: Next,
) -> Response {
    match state.tokens().authorize(req.headers(), role) {
        Ok(_) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn enforce_deadline(State(deadline): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(deadline, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::deadline().into_response(),
    }
}

async fn count_status(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    state.metrics.response(response.status().as_u16());
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint (see /openapi.json)")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method (see /openapi.json)",
    )
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    blocking(move || {
        let engine = state.engine();
        let readable = state
            .writer()
            .ok()
            .and_then(|w| crate::ledger::Store::size(&**w).ok())
            .is_some();
        // The ledger's last write failed and none has succeeded since: decisions cannot be
        // recorded. Probe it again (a small durable write on the appender's own store), so that
        // readiness comes back once the cause is gone, without waiting for a decision.
        let appender = state.appender.is_running();
        let failure = match state.appender.last_failure() {
            Some(_) if appender => state
                .appender
                .probe()
                .err()
                .and_then(|_| state.appender.last_failure()),
            other => other,
        };
        let writable = readable && failure.is_none();
        let mut checks = json!({
            "bundle": engine.bundle().digest(),
            "schemas": "compiled",
            "ledger_writable": writable,
            "appender_running": appender,
        });
        if let Some(f) = &failure {
            checks["ledger_error"] = json!({
                "message": f.message,
                "failed_writes_in_a_row": f.consecutive,
                "seconds_ago": f.age.as_secs(),
            });
        }
        if writable && appender {
            Ok(Json(json!({"ready": true, "checks": checks})))
        } else {
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                format!("not ready: {checks}"),
            ))
        }
    })
    .await
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi_json(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let environments: Vec<String> = state.ws.config().environments.keys().cloned().collect();
    Json(openapi::document(&routes(), &environments))
}

/// Runs `f` on the blocking pool (engine and ledger calls are synchronous), inside the
/// request's span so that what it records (decision id, ledger index) lands on the request.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| ApiError::internal(format!("the worker failed: {e}")))?
}

/// Reads a request body of at most `limit` bytes (413 beyond).
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is over the {limit}-byte limit (or was cut off)"),
        )
    })
}

/// A query string, with errors in the shared shape.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::invalid(e.body_text()))
    }
}

/// A path parameter, with errors in the shared shape.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::invalid(e.body_text()))
    }
}
