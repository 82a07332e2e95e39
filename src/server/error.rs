//! The one error shape of the HTTP API: `{"error": {"code", "message", "problems"?}}`.
//!
//! Every 4xx and 5xx the server sends — handlers, authentication, the body limit, the deadline,
//! unknown paths and methods — is an [`ApiError`], so clients parse one shape. A 500 answers
//! with a generic message; its cause goes to the log, inside the request's span, so internal
//! details (paths, database errors) never reach a client. A 401 carries
//! `WWW-Authenticate: Bearer` (RFC 6750).

use axum::http::{header::WWW_AUTHENTICATE, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::engine::{EngineError, Problem};
use crate::ledger::LedgerError;

/// An error answer: HTTP status, a stable machine code and a human message.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code (`invalid_request`, `unauthorized`, `forbidden`, `not_found`, …).
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// For invalid input: each problem with its JSON pointer.
    pub problems: Vec<Problem>,
}

impl ApiError {
    /// An error with no problem list.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            problems: Vec::new(),
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 422 `unprocessable`: well-formed input the server cannot act on (a window reaching
    /// outside the years a time can be written in, a proof between sizes the ledger does not
    /// have).
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500 `internal`: the gate stays closed.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 503 `deadline_exceeded`.
    pub fn deadline() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "deadline_exceeded",
            "the request did not finish within its deadline; nothing was allowed",
        )
    }
}

/// What a client is told about a 500; the cause is logged.
pub const INTERNAL_MESSAGE: &str =
    "internal error: the gate stays closed (the server log has the cause)";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(code = self.code, error = %self.message, "request failed: gate closed");
            INTERNAL_MESSAGE.to_owned()
        } else {
            self.message
        };
        let mut error = json!({ "code": self.code, "message": message });
        if !self.problems.is_empty() {
            error["problems"] = json!(self.problems);
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"modelgate\""),
            );
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Invalid(problems) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_request",
                message: EngineError::Invalid(problems.clone()).to_string(),
                problems,
            },
            EngineError::TrustChange(e) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> ApiError {
        ApiError::from(EngineError::Ledger(e))
    }
}
