//! The route table: every endpoint of the API as one row ([`Route`]) — method, path, the role
//! whose token it accepts, what it reads and answers ([`Payload`], [`Param`]) and its handler.
//! [`super::router`] and [`super::openapi::document`] are both built from [`routes()`].

use axum::routing::{delete, get, post, MethodRouter};
use std::sync::Arc;

use super::auth::ApiRole;
use super::state::AppState;
use super::{admin, admission, auditor, evidence, mlflow, pipeline, reports};
use super::{health, metrics_text, openapi_json, ready};

/// What an endpoint reads or answers, for the OpenAPI document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Nothing.
    Empty,
    /// JSON described by the named component schema.
    Json(&'static str),
    /// `text/plain`.
    Text,
    /// Raw ledger record bytes (`application/json`).
    RecordBytes,
    /// Metrics in the OpenMetrics text format (`application/openmetrics-text`).
    Metrics,
    /// Opaque bytes of the named media type (an evidence pack is `application/gzip`).
    Binary(&'static str),
    /// Bytes in one of these media types, as the `format` query parameter chooses.
    Media(&'static [&'static str]),
}

/// What a query or path parameter accepts, for the OpenAPI document (the handlers check the
/// same bounds and answer 400 outside them).
#[derive(Debug, Clone, Copy)]
pub enum Param {
    /// Free text.
    Text,
    /// A model name, as the promotion request schema spells it.
    Model,
    /// A model version, as the promotion request schema spells it.
    Version,
    /// A whole number from `min` to `max`.
    Count {
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// An RFC 3339 time (years 0000 to 9999).
    Time,
    /// One of these words.
    OneOf(&'static [&'static str]),
}

/// A ledger index or tree size.
pub(super) const INDEX: Param = Param::Count {
    min: 0,
    max: u64::MAX,
};

/// A horizon in days, as the inventory report takes it.
const DAYS: Param = Param::Count {
    min: 0,
    max: crate::inventory::scheduled::MAX_DAYS,
};

/// One endpoint.
pub struct Route {
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The path, axum syntax (`/v1/ledger/records/{index}`).
    pub path: &'static str,
    /// The role whose token it accepts; `None` for the open endpoints.
    pub role: Option<ApiRole>,
    /// One line for the OpenAPI summary.
    pub summary: &'static str,
    /// Query parameters, `(name, required, what it accepts, description)`.
    pub query: &'static [(&'static str, bool, Param, &'static str)],
    /// Request body.
    pub request: Payload,
    /// Success status and body.
    pub response: (u16, Payload),
    /// Error statuses it can answer (besides 401/403 for authenticated routes and 503 for the
    /// deadline, added to every route).
    pub errors: &'static [u16],
    /// The handler.
    pub handler: fn() -> MethodRouter<Arc<AppState>>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Every endpoint of the API.
pub fn routes() -> Vec<Route> {
    use Payload::{Binary, Empty, Json as J, Media, Metrics, RecordBytes, Text};
    let p = Some(ApiRole::Pipeline);
    let a = Some(ApiRole::Auditor);
    let adm = Some(ApiRole::Admin);
    vec![
        Route {
            method: "GET",
            path: "/healthz",
            role: None,
            summary: "The process is up",
            query: &[],
            request: Empty,
            response: (200, J("Status")),
            errors: &[],
            handler: || get(health),
        },
        Route {
            method: "GET",
            path: "/readyz",
            role: None,
            summary: "Ready: bundle loaded, schemas compiled, ledger writable",
            query: &[],
            request: Empty,
            response: (200, J("Readiness")),
            errors: &[503],
            handler: || get(ready),
        },
        Route {
            method: "GET",
            path: "/metrics",
            role: None,
            summary: "Prometheus metrics (OpenMetrics text format)",
            query: &[],
            request: Empty,
            response: (200, Metrics),
            errors: &[],
            handler: || get(metrics_text),
        },
        Route {
            method: "GET",
            path: "/openapi.json",
            role: None,
            summary: "This document",
            query: &[],
            request: Empty,
            response: (200, J("OpenApi")),
            errors: &[],
            handler: || get(openapi_json),
        },
        Route {
            method: "POST",
            path: "/v1/decisions",
            role: p,
            summary: "Decide a promotion request and record it; a deny is a 200",
            query: &[],
            request: J("PromotionRequest"),
            response: (200, J("DecisionAnswer")),
            errors: &[400, 413, 422, 500],
            handler: || post(pipeline::post_decision),
        },
        Route {
            method: "POST",
            path: "/v1/attestations",
            role: p,
            summary: "File signed envelopes under a model and version for later decisions",
            query: &[],
            request: J("AttestationFiling"),
            response: (200, J("Filed")),
            errors: &[400, 413, 422, 500],
            handler: || post(pipeline::post_attestations),
        },
        Route {
            method: "POST",
            path: "/v1/admission",
            role: p,
            summary:
                "Kubernetes validating admission webhook (AdmissionReview v1); a deny is a 200",
            query: &[],
            request: J("AdmissionReview"),
            response: (200, J("AdmissionReviewAnswer")),
            errors: &[400, 413, 500],
            handler: || post(admission::post_admission),
        },
        Route {
            method: "POST",
            path: "/v1/integrations/mlflow/webhook",
            role: None,
            summary: "MLflow registry webhook: an HMAC-signed event (X-MLflow-Signature); a production alias is recorded as a deployment, other events are acknowledged",
            query: &[],
            request: J("MlflowWebhookEvent"),
            response: (200, J("Status")),
            errors: &[400, 401, 404, 413, 500],
            handler: || post(mlflow::post_webhook),
        },
        Route {
            method: "GET",
            path: "/v1/decisions",
            role: a,
            summary: "Decisions matching every filter, oldest first, paged by ledger index",
            query: &[
                ("model", false, Param::Text, "model name"),
                ("version", false, Param::Text, "model version"),
                ("environment", false, Param::Text, "target environment"),
                ("outcome", false, Param::OneOf(&["allow", "deny"]), "`allow` or `deny`"),
                ("since", false, Param::Time, "RFC 3339, inclusive"),
                ("until", false, Param::Time, "RFC 3339, exclusive"),
                ("limit", false, Param::Count { min: 1, max: 500 }, "1 to 500, default 100"),
                (
                    "cursor",
                    false,
                    INDEX,
                    "ledger index to continue from (`next_cursor`)",
                ),
            ],
            request: Empty,
            response: (200, J("DecisionList")),
            errors: &[400, 500],
            handler: || get(auditor::list_decisions),
        },
        Route {
            method: "GET",
            path: "/v1/ledger/checkpoint",
            role: a,
            summary: "The latest signed checkpoint (C2SP tlog-checkpoint)",
            query: &[],
            request: Empty,
            response: (200, Text),
            errors: &[404, 500],
            handler: || get(auditor::checkpoint),
        },
        Route {
            method: "GET",
            path: "/v1/ledger/vkey",
            role: a,
            summary: "The engine's C2SP verifier key",
            query: &[],
            request: Empty,
            response: (200, Text),
            errors: &[500],
            handler: || get(auditor::vkey),
        },
        Route {
            method: "GET",
            path: "/v1/ledger/records/{index}",
            role: a,
            summary: "A ledger record, exactly as stored",
            query: &[],
            request: Empty,
            response: (200, RecordBytes),
            errors: &[400, 404, 500],
            handler: || get(auditor::record),
        },
        Route {
            method: "GET",
            path: "/v1/ledger/records/{index}/proof",
            role: a,
            summary: "A c2sp.org/tlog-proof@v1 for the record",
            query: &[("size", false, INDEX, "checkpoint size (default: the latest)")],
            request: Empty,
            response: (200, Text),
            errors: &[400, 422, 500],
            handler: || get(auditor::proof),
        },
        Route {
            method: "GET",
            path: "/v1/ledger/consistency",
            role: a,
            summary: "RFC 6962 consistency proof, one base64 hash per line",
            query: &[
                ("old", true, INDEX, "older tree size"),
                ("new", true, INDEX, "newer tree size"),
            ],
            request: Empty,
            response: (200, Text),
            errors: &[400, 422, 500],
            handler: || get(auditor::consistency),
        },
        Route {
            method: "GET",
            path: "/v1/models/{name}/evidence",
            role: a,
            summary: "The model's evidence pack, as `modelgate evidence build` writes it",
            query: &[
                ("version", false, Param::Version, "only this model version"),
                ("since", false, Param::Time, "RFC 3339, inclusive"),
                ("until", false, Param::Time, "RFC 3339, inclusive"),
            ],
            request: Empty,
            response: (200, Binary(crate::evidence::PACK_MEDIA_TYPE)),
            errors: &[400, 404, 500],
            handler: || get(evidence::evidence_pack),
        },
        Route {
            method: "GET",
            path: "/v1/reports",
            role: a,
            summary: "Kept inventory reports, oldest first, with their digests and links",
            query: &[],
            request: Empty,
            response: (200, J("ReportList")),
            errors: &[500],
            handler: || get(reports::list_reports),
        },
        Route {
            method: "GET",
            path: "/v1/reports/inventory",
            role: a,
            summary: "The inventory report computed now (not kept)",
            query: &[
                ("format", false, Param::OneOf(&["json", "md", "html", "csv"]), "`json` (default), `md`, `html` or `csv`"),
                ("as_of", false, Param::Time, "RFC 3339 (default: now)"),
                (
                    "window_days",
                    false,
                    Param::Count {
                        min: 1,
                        max: crate::inventory::scheduled::MAX_DAYS,
                    },
                    "delivery KPI window, days (default 28)",
                ),
                ("failure_days", false, DAYS, "failure horizon, days (default 7)"),
                ("expiring_days", false, DAYS, "expiry horizon, days (default 30)"),
            ],
            request: Empty,
            response: (200, Media(reports::INVENTORY_MEDIA)),
            errors: &[400, 422, 500],
            handler: || get(reports::inventory_now),
        },
        Route {
            method: "GET",
            path: "/v1/reports/{id}",
            role: a,
            summary: "A kept report, byte for byte; ETag is the digest its ledger record names",
            query: &[("format", false, Param::OneOf(&["json", "html"]), "`json` (default) or `html`")],
            request: Empty,
            response: (200, Media(reports::STORED_MEDIA)),
            errors: &[400, 404, 500],
            handler: || get(reports::get_report),
        },
        Route {
            method: "POST",
            path: "/v1/admin/freeze",
            role: adm,
            summary: "Freeze an environment",
            query: &[],
            request: J("Freeze"),
            response: (200, J("FreezeState")),
            errors: &[400, 422, 500],
            handler: || post(admin::post_freeze),
        },
        Route {
            method: "POST",
            path: "/v1/admin/unfreeze",
            role: adm,
            summary: "Lift a freeze",
            query: &[],
            request: J("Unfreeze"),
            response: (200, J("FreezeState")),
            errors: &[400, 422, 500],
            handler: || post(admin::post_unfreeze),
        },
        Route {
            method: "POST",
            path: "/v1/admin/bundle/reload",
            role: adm,
            summary: "Load the policy directory again (a refused bundle keeps the active one)",
            query: &[],
            request: Empty,
            response: (200, J("Reloaded")),
            errors: &[422, 500],
            handler: || post(admin::post_reload),
        },
        Route {
            method: "POST",
            path: "/v1/admin/tokens",
            role: adm,
            summary: "Create a token (shown once)",
            query: &[],
            request: J("NewToken"),
            response: (201, J("CreatedToken")),
            errors: &[400, 409, 500],
            handler: || post(admin::post_token),
        },
        Route {
            method: "GET",
            path: "/v1/admin/tokens",
            role: adm,
            summary: "Token names and roles",
            query: &[],
            request: Empty,
            response: (200, J("TokenList")),
            errors: &[500],
            handler: || get(admin::list_tokens),
        },
        Route {
            method: "DELETE",
            path: "/v1/admin/tokens/{name}",
            role: adm,
            summary: "Withdraw a token",
            query: &[],
            request: Empty,
            response: (200, J("RevokedToken")),
            errors: &[404, 500],
            handler: || delete(admin::delete_token),
        },
    ]
}
