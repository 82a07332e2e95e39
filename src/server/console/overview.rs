//! Overview: KPI gauges per tier, decisions over time, open findings, what expires soon, the
//! ledger's size and latest checkpoint.

use std::sync::Arc;

use axum::extract::State;
use maud::{html, Markup};

use super::{page as layout, PageError, Section, Viewer};
use crate::server::state::AppState;

/// The parsed latest kept report.
#[derive(Debug, Default)]
pub struct Cache {}

/// `GET /console`.
pub async fn page(
    State(_state): State<Arc<AppState>>,
    viewer: Viewer,
) -> Result<Markup, PageError> {
    Ok(layout(&viewer, Section::Overview, "Overview", html! {}))
}
