//! Decisions: the filterable list and one decision's page.

use std::sync::Arc;

use axum::extract::State;
use maud::{html, Markup};

use super::{page as layout, PageError, Section, Viewer};
use crate::server::state::AppState;
use crate::server::ApiPath;

/// `GET /console/decisions`.
pub async fn list(
    State(_state): State<Arc<AppState>>,
    viewer: Viewer,
) -> Result<Markup, PageError> {
    Ok(layout(&viewer, Section::Decisions, "Decisions", html! {}))
}

/// `GET /console/decisions/{index}`.
pub async fn page(
    State(_state): State<Arc<AppState>>,
    viewer: Viewer,
    ApiPath(index): ApiPath<u64>,
) -> Result<Markup, PageError> {
    Ok(layout(
        &viewer,
        Section::Decisions,
        &format!("Decision {index}"),
        html! {},
    ))
}
