//! Ledger: the latest checkpoints, the consistency between them, and "verify now".

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};

use super::{page as layout, redirect, PageError, Section, Viewer};
use crate::server::state::AppState;
use crate::server::ApiPath;

/// The "verify now" runs of this server.
#[derive(Debug, Default)]
pub struct VerifyJobs {}

/// `GET /console/ledger`.
pub async fn page(
    State(_state): State<Arc<AppState>>,
    viewer: Viewer,
) -> Result<Markup, PageError> {
    Ok(layout(&viewer, Section::Ledger, "Ledger", html! {}))
}

/// `POST /console/ledger/verify`.
pub async fn start_verify(
    State(_state): State<Arc<AppState>>,
    _viewer: Viewer,
) -> Result<Response, PageError> {
    Ok(redirect("/console/ledger"))
}

/// `GET /console/ledger/verify/{id}`.
pub async fn verify_status(
    State(_state): State<Arc<AppState>>,
    viewer: Viewer,
    ApiPath(id): ApiPath<u64>,
) -> Result<Markup, PageError> {
    Ok(layout(
        &viewer,
        Section::Ledger,
        &format!("Verification {id}"),
        html! {},
    ))
}
