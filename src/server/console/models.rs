//! Models: the inventory list with completeness per model, one model's page, its evidence pack.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};

use super::{page as layout, PageError, Section, Viewer};
use crate::server::state::AppState;
use crate::server::ApiPath;

/// The inventory the models pages read, folded forward as the ledger grows.
#[derive(Debug, Default)]
pub struct Cache {}

/// `GET /console/models`.
pub async fn list(
    State(_state): State<Arc<AppState>>,
    viewer: Viewer,
) -> Result<Markup, PageError> {
    Ok(layout(&viewer, Section::Models, "Models", html! {}))
}

/// `GET /console/models/{name}`.
pub async fn page(
    State(_state): State<Arc<AppState>>,
    viewer: Viewer,
    ApiPath(name): ApiPath<String>,
) -> Result<Markup, PageError> {
    Ok(layout(&viewer, Section::Models, &name, html! {}))
}

/// `GET /console/models/{name}/evidence`.
pub async fn evidence(
    State(_state): State<Arc<AppState>>,
    _viewer: Viewer,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, PageError> {
    Err(PageError::not_found(format!("no evidence for `{name}`")))
}
