//! Reports: the kept inventory reports, each downloadable as HTML, JSON or CSV.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use maud::{html, Markup};

use super::{page as layout, PageError, Section, Viewer};
use crate::server::state::AppState;
use crate::server::ApiPath;

/// `GET /console/reports`.
pub async fn list(
    State(_state): State<Arc<AppState>>,
    viewer: Viewer,
) -> Result<Markup, PageError> {
    Ok(layout(&viewer, Section::Reports, "Reports", html! {}))
}

/// `GET /console/reports/{id}/{format}`.
pub async fn download(
    State(_state): State<Arc<AppState>>,
    _viewer: Viewer,
    ApiPath((id, format)): ApiPath<(u64, String)>,
) -> Result<Response, PageError> {
    Err(PageError::not_found(format!("no report {id} as {format}")))
}
