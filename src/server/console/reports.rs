//! Reports: the kept inventory reports, each downloadable as HTML, JSON or CSV.
//!
//! HTML and JSON are the kept bytes exactly ([`scheduled::get`], which re-checks them against
//! the digest their `report` record names), as `GET /v1/reports/{id}` serves them. CSV is not
//! kept: it is rendered from the kept JSON with [`render::csv`], as `modelgate inventory report
//! --format csv` renders it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::{blocking, page as layout, short, table_head, PageError, Section, Viewer};
use crate::inventory::scheduled::{self, StoredFormat, StoredReport};
use crate::inventory::{render, InventoryError, Report};
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::ApiPath;

/// The formats a kept report downloads in.
pub const FORMATS: [&str; 3] = ["html", "json", "csv"];

fn inventory_error(e: InventoryError) -> PageError {
    match e {
        InventoryError::Invalid(m) => PageError::invalid(m),
        InventoryError::Ledger(e) => PageError::from(e),
        InventoryError::Engine(e) => PageError::from(ApiError::from(e)),
        InventoryError::Fold(e) => PageError::from(ApiError::internal(e.to_string())),
    }
}

/// `GET /console/reports`: the kept reports, newest first.
pub async fn list(State(state): State<Arc<AppState>>, viewer: Viewer) -> Result<Markup, PageError> {
    let reports = blocking(move || {
        let reader = state.readers.checkout()?;
        let mut reports = scheduled::list(reader.store()?).map_err(inventory_error)?;
        reports.reverse();
        Ok(reports)
    })
    .await?;
    Ok(layout(
        &viewer,
        Section::Reports,
        "Reports",
        render_list(&reports),
    ))
}

fn render_list(reports: &[StoredReport]) -> Markup {
    html! {
        p {
            "Inventory reports the server generated on a schedule and kept in the ledger: each one's "
            "JSON and HTML are the bytes generated then, named by digest in a ledger record."
        }
        @if reports.is_empty() {
            p role="status" {
                "No report is kept yet. Reports are kept by " code { "modelgate serve" }
                " on the schedules of the " code { "[[reports]]" } " entries in "
                code { "modelgate.toml" } " (see " code { "docs/reports.md" } "). "
                code { "modelgate inventory report" } " computes one now without keeping it."
            }
        } @else {
            table {
                (table_head("Kept reports", &["Name", "As of", "Generated", "#Population", "Download"]))
                tbody {
                    @for r in reports {
                        tr {
                            td {
                                (r.name)
                                br;
                                span.small {
                                    "ledger record " (r.id) " · JSON "
                                    code.mono title=(r.json_digest) { (short(&r.json_digest)) }
                                }
                            }
                            td { (r.as_of) }
                            td { (r.generated_at) }
                            td.num { (r.population) }
                            td {
                                a href=(format!("/console/reports/{}/html", r.id)) { "HTML" }
                                " · "
                                a href=(format!("/console/reports/{}/json", r.id)) { "JSON" }
                                " · "
                                a href=(format!("/console/reports/{}/csv", r.id)) { "CSV" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/reports/{id}/{format}`: the kept report as an attachment.
pub async fn download(
    State(state): State<Arc<AppState>>,
    _viewer: Viewer,
    ApiPath((id, format)): ApiPath<(u64, String)>,
) -> Result<Response, PageError> {
    if !FORMATS.contains(&format.as_str()) {
        return Err(PageError::invalid(format!(
            "`{format}` is not a report format: use `html`, `json` or `csv`."
        )));
    }
    let (report, body, media, ext) = blocking(move || {
        let reader = state.readers.checkout()?;
        let store = reader.store()?;
        let report = scheduled::find(store, id)
            .map_err(inventory_error)?
            .ok_or_else(|| PageError::not_found(format!("There is no kept report {id}.")))?;
        let kept = |f: StoredFormat| {
            scheduled::get(store, id, f)
                .map_err(inventory_error)?
                .ok_or_else(|| PageError::not_found(format!("There is no kept report {id}.")))
        };
        let (body, media, ext) = match format.as_str() {
            "html" => (
                kept(StoredFormat::Html)?,
                StoredFormat::Html.media_type(),
                "html",
            ),
            "json" => (
                kept(StoredFormat::Json)?,
                StoredFormat::Json.media_type(),
                "json",
            ),
            _ => {
                let json = kept(StoredFormat::Json)?;
                let parsed: Report = serde_json::from_slice(&json).map_err(|e| {
                    PageError::from(ApiError::internal(format!(
                        "kept report {id} does not read as a report: {e}"
                    )))
                })?;
                (
                    render::csv(&parsed).into_bytes(),
                    "text/csv; charset=utf-8",
                    "csv",
                )
            }
        };
        Ok((report, body, media, ext))
    })
    .await?;
    let filename = format!("{}-{}.{ext}", file_stem(&report.name), report.id);
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static(media)),
            (CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// The report name as a file name ([`crate::server::evidence::file_stem`]), `report` for a
/// name of dots only.
fn file_stem(name: &str) -> String {
    let stem = crate::server::evidence::file_stem(name);
    if stem.trim_matches('.').is_empty() {
        "report".to_owned()
    } else {
        stem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(file_stem("weekly-governance"), "weekly-governance");
        assert_eq!(file_stem("q3 \"board\"/pack"), "q3__board__pack");
        assert_eq!(file_stem(".."), "report");
    }
}
