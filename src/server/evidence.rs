//! The auditor's evidence pack endpoint: `GET /v1/models/{name}/evidence`.
//!
//! It answers the same deterministic, signed `.tar.gz` that `modelgate evidence build` writes
//! (the build is [`crate::workspace::Workspace::evidence_pack`]; this file only parses the
//! query, runs the build on the blocking pool and sets the headers). [`EvidenceQuery`] is the
//! query; [`evidence_pack`] the handler. The pack's SHA-256 is its `ETag`, so an auditor can
//! compare it with the digest `evidence build` prints for the same scope.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, ETAG};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::ApiError;
use super::state::AppState;
use super::{blocking, ApiPath, ApiQuery};
use crate::digest::sha256_hex;
use crate::evidence::{EvidenceError, Scope, PACK_MEDIA_TYPE};

/// The error code of a ledger that does not hold what a decision in scope names.
pub const LEDGER_INCONSISTENT: &str = "ledger_inconsistent";

/// Query of `GET /v1/models/{name}/evidence`: the scope besides the model.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceQuery {
    version: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// `GET /v1/models/{name}/evidence?version=&since=&until=`: the evidence pack of the model's
/// decisions in scope, as `application/gzip`, with the pack's SHA-256 as a quoted `ETag`.
///
/// A malformed scope is a 400, a scope without decisions a 404, and a ledger that cannot
/// support a pack (a record or what it names is damaged or missing) a 500 with the code
/// [`LEDGER_INCONSISTENT`]; the cause goes to the log, and `modelgate audit verify` finds it.
pub async fn evidence_pack(
    State(state): State<Arc<AppState>>,
    ApiPath(model): ApiPath<String>,
    ApiQuery(q): ApiQuery<EvidenceQuery>,
) -> Result<Response, ApiError> {
    let scope = Scope::new(
        &model,
        q.version.as_deref(),
        q.since.as_deref(),
        q.until.as_deref(),
    )
    .map_err(|e| match e {
        EvidenceError::Invalid(message) => ApiError::invalid(message),
        EvidenceError::NothingInScope(message) => ApiError::not_found(message),
        other => build_error(other),
    })?;
    let bytes = blocking(move || {
        let pack = state.ws.evidence_pack(&scope).map_err(build_error)?;
        pack.to_tar_gz().map_err(build_error)
    })
    .await?;
    pack_response(&model, bytes)
}

/// A pack of `model` as an answer: `application/gzip`, an attachment named after the model, the
/// pack's SHA-256 as a quoted `ETag`. The console's download answers the same way.
pub fn pack_response(model: &str, bytes: Vec<u8>) -> Result<Response, ApiError> {
    let disposition = format!(
        "attachment; filename=\"{}-evidence.tar.gz\"",
        file_stem(model)
    );
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static(PACK_MEDIA_TYPE)),
        (CONTENT_DISPOSITION, header_value(disposition)?),
        (ETAG, header_value(format!("\"{}\"", sha256_hex(&bytes)))?),
    ];
    Ok((headers, bytes).into_response())
}

/// Maps a failed build. The scope was checked before the build, so an `Invalid` from the build
/// itself is the workspace failing (its ledger or key unreadable): a 500, not the client's fault.
fn build_error(e: EvidenceError) -> ApiError {
    match e {
        EvidenceError::NothingInScope(message) => ApiError::not_found(message),
        EvidenceError::Inconsistent(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            LEDGER_INCONSISTENT,
            format!("{e}; run `modelgate audit verify`"),
        ),
        other => ApiError::internal(other.to_string()),
    }
}

/// The model name as a file name stem: ASCII letters, digits, `.`, `_` and `-` kept, anything
/// else (a `/`, a quote, a control or non-ASCII character) replaced by `_`, so the header
/// cannot be broken out of and the name is one path segment.
pub fn file_stem(model: &str) -> String {
    model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn header_value(text: String) -> Result<HeaderValue, ApiError> {
    HeaderValue::try_from(text).map_err(|e| ApiError::internal(format!("response header: {e}")))
}

#[cfg(test)]
mod tests {
    use super::file_stem;

    /// Guards the `Content-Disposition` header: only `[A-Za-z0-9._-]` survive, so no quote,
    /// separator, control or non-ASCII character of a model name reaches the header.
    #[test]
    fn file_stem_keeps_only_safe_characters() {
        assert_eq!(file_stem("churn-predictor_v2.1"), "churn-predictor_v2.1");
        assert_eq!(file_stem("team/churn"), "team_churn");
        assert_eq!(file_stem("a\"b\r\nc d"), "a_b__c_d");
        assert_eq!(file_stem("modèle"), "mod_le");
        assert_eq!(file_stem("..\\x;y"), ".._x_y");
    }
}
