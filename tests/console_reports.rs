//! The console's reports page through the router: the kept reports listed newest first with
//! their downloads; HTML and JSON are the kept bytes the API serves, CSV is rendered from the
//! kept JSON; unknown reports are 404 and unknown formats 400.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod console_support;
mod http_support;

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::*;
use console_support::Session;
use http_support::Api;
use modelgate::inventory::scheduled::{self, StoredReport};
use modelgate::inventory::{render, Report, ReportOptions};
use time::Duration;

/// A download in `session`: status, headers, bytes (the security headers are checked; a kept
/// HTML report, an attachment with its own inline style, is not checked as a console page).
async fn download(session: &Session, path: &str) -> (u16, HeaderMap, Bytes) {
    let page = session.get(path).await;
    (page.status.as_u16(), page.headers, page.body)
}

/// One allowed production deployment, then a report kept under `name` as of `as_of`.
fn keep(api: &mut Api, name: &str, as_of: time::OffsetDateTime) -> (Report, StoredReport) {
    let options = ReportOptions::new(as_of, api.fx.ws.production_environments());
    let report = api
        .fx
        .ws
        .inventory_report(&options, &mut |_, _| {})
        .unwrap();
    let kept = scheduled::generate(&mut *api.fx.store, name, &report, now()).unwrap();
    (report, kept)
}

fn api_with_reports() -> (Api, Report, StoredReport, StoredReport) {
    let mut api = Api::new();
    let (md, approvals) = complete("fraud-scorer", "1.0.0", 1);
    let d = api
        .fx
        .decide(&request(
            "fraud-scorer",
            "1.0.0",
            "production",
            &with(&md, &approvals),
        ))
        .unwrap();
    assert!(d.is_allow(), "{}", findings(&d));
    let (_, older) = keep(&mut api, "daily", now() - Duration::days(1));
    let (report, newer) = keep(&mut api, "weekly-governance", now());
    (api, report, older, newer)
}

#[tokio::test]
async fn without_kept_reports_the_page_says_how_to_keep_one() {
    let api = Api::new();
    let session = Session::sign_in(&api).await;
    session
        .get("/console/reports")
        .await
        .expect(200)
        .contains("<p role=\"status\">No report is kept yet.")
        .contains("[[reports]]")
        .contains("docs/reports.md");
}

#[tokio::test]
async fn kept_reports_are_listed_newest_first_with_their_downloads() {
    let (api, report, older, newer) = api_with_reports();
    let session = Session::sign_in(&api).await;
    let page = session.get("/console/reports").await.expect(200);
    page.contains("<caption>Kept reports</caption>");
    for column in ["Name", "As of", "Generated", "Download"] {
        page.contains(&format!("<th scope=\"col\">{column}</th>"));
    }
    page.contains("<th class=\"num\" scope=\"col\">Population</th>");
    let text = page.text();
    for kept in [&older, &newer] {
        for (format, label) in [("html", "HTML"), ("json", "JSON"), ("csv", "CSV")] {
            page.contains(&format!(
                "<a href=\"/console/reports/{}/{format}\">{label}</a>",
                kept.id
            ));
        }
        page.contains(&format!("<td>{}</td>", kept.as_of))
            .contains(&format!("<td>{}</td>", kept.generated_at));
    }
    page.contains(&format!("<td class=\"num\">{}</td>", report.population));
    assert!(
        text.find("weekly-governance").unwrap() < text.find("daily").unwrap(),
        "newest first"
    );
}

#[tokio::test]
async fn downloads_are_the_kept_bytes_and_csv_is_rendered_from_them() {
    let (api, report, _, kept) = api_with_reports();
    let session = Session::sign_in(&api).await;
    for (format, media) in [
        ("html", "text/html; charset=utf-8"),
        ("json", "application/json"),
    ] {
        let (status, headers, body) =
            download(&session, &format!("/console/reports/{}/{format}", kept.id)).await;
        assert_eq!(status, 200);
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        let from_api = api
            .get(
                &format!("/v1/reports/{}?format={format}", kept.id),
                &api.auditor,
            )
            .await
            .expect(200);
        assert_eq!(body, from_api.body, "{format}");
        assert_eq!(header("content-type").as_deref(), Some(media));
        assert_eq!(
            header("content-disposition").unwrap(),
            format!(
                "attachment; filename=\"weekly-governance-{}.{format}\"",
                kept.id
            )
        );
    }

    let csv = session
        .get(&format!("/console/reports/{}/csv", kept.id))
        .await
        .expect(200);
    assert_eq!(
        csv.header("content-type").as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        csv.header("content-disposition").unwrap(),
        format!("attachment; filename=\"weekly-governance-{}.csv\"", kept.id)
    );
    let text = csv.text();
    assert_eq!(text, render::csv(&report));
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(lines.next(), Some("scope,kpi,numerator,denominator,value"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.len() == 5), "{rows:?}");
    assert!(rows.iter().any(|r| r[0] == "all"), "{rows:?}");
}

#[tokio::test]
async fn unknown_reports_are_404_and_unknown_formats_400() {
    let (api, _, _, kept) = api_with_reports();
    let session = Session::sign_in(&api).await;
    session
        .get(&format!("/console/reports/{}/pdf", kept.id))
        .await
        .expect(400)
        .contains("`pdf` is not a report format: use `html`, `json` or `csv`.");
    // A record that is not a report, and an index beyond the ledger.
    for id in [0, 1_000_000] {
        session
            .get(&format!("/console/reports/{id}/json"))
            .await
            .expect(404)
            .contains(&format!("There is no kept report {id}."));
    }
}
