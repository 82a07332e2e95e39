//! The report endpoints through `server::router` (no socket): listing kept reports, serving
//! their bytes with the right media type and the digest as `ETag`, 404/400/403 answers, the
//! on-demand inventory report in every format; and `serve_until` running a schedule that fires
//! within a second (a clock injected so that the next minute is imminent) and keeping a report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod http_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use http_support::Api;
use modelgate::clock::{rfc3339, Clock};
use modelgate::digest::sha256_prefixed;
use modelgate::inventory::scheduled::{self, StoredFormat, StoredReport};
use modelgate::inventory::{render, Report, ReportOptions};
use modelgate::ledger::Store;
use modelgate::server::state::AppState;
use modelgate::server::{serve_until, ServeOptions};
use modelgate::workspace::Workspace;
use time::OffsetDateTime;

/// One tier-1 model allowed to production, decided through the fixture's own connection.
fn deploy_one(api: &mut Api) {
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
}

fn report_as_of(ws: &Workspace, as_of: OffsetDateTime) -> Report {
    let options = ReportOptions::new(as_of, ws.production_environments());
    ws.inventory_report(&options, &mut |_, _| {}).unwrap()
}

/// An API with one deployed model and one kept report.
fn api_with_kept_report() -> (Api, Report, StoredReport) {
    let mut api = Api::new();
    deploy_one(&mut api);
    let report = report_as_of(&api.fx.ws, now());
    let kept = scheduled::generate(&mut api.fx.store, "weekly-governance", &report, now()).unwrap();
    (api, report, kept)
}

fn content_type(a: &http_support::Answer) -> &str {
    a.headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `GET /v1/reports` lists kept reports with digests and links; empty before any is kept.
#[tokio::test]
async fn the_list_names_each_kept_report_with_digests_and_links() {
    let api = Api::new();
    let empty = api
        .get("/v1/reports", &api.auditor)
        .await
        .expect(200)
        .json();
    assert_eq!(empty, serde_json::json!({"reports": []}));

    let (api, _, kept) = api_with_kept_report();
    let list = api
        .get("/v1/reports", &api.auditor)
        .await
        .expect(200)
        .json();
    let reports = list["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r["id"], kept.id);
    assert_eq!(r["name"], "weekly-governance");
    assert_eq!(r["as_of"], NOW);
    assert_eq!(r["generated_at"], NOW);
    assert_eq!(r["population"], 1);
    assert_eq!(r["json_digest"], kept.json_digest.as_str());
    assert_eq!(r["html_digest"], kept.html_digest.as_str());
    let id = kept.id;
    assert_eq!(r["links"]["json"], format!("/v1/reports/{id}?format=json"));
    assert_eq!(r["links"]["html"], format!("/v1/reports/{id}?format=html"));
    assert_eq!(r["links"]["record"], format!("/v1/ledger/records/{id}"));
    assert_eq!(
        r["links"]["proof"],
        format!("/v1/ledger/records/{id}/proof")
    );

    // The linked record is the `report` record naming both digests.
    let record = api
        .get(r["links"]["record"].as_str().unwrap(), &api.auditor)
        .await
        .expect(200)
        .json();
    assert_eq!(record["kind"], "report");
    assert_eq!(record["body"]["json"], kept.json_digest.as_str());
}

/// `GET /v1/reports/{id}` serves the kept bytes: JSON (the default) and HTML, each with its
/// media type, an `ETag` that is the quoted digest, and a body that hashes to it.
#[tokio::test]
async fn a_kept_report_is_served_byte_for_byte_with_its_digest_as_etag() {
    let (api, report, kept) = api_with_kept_report();
    let id = kept.id;
    for (query, media, digest, bytes) in [
        (
            "",
            "application/json",
            &kept.json_digest,
            serde_json::to_vec_pretty(&report).unwrap(),
        ),
        (
            "?format=json",
            "application/json",
            &kept.json_digest,
            serde_json::to_vec_pretty(&report).unwrap(),
        ),
        (
            "?format=html",
            "text/html; charset=utf-8",
            &kept.html_digest,
            render::html(&report).into_bytes(),
        ),
    ] {
        let a = api
            .get(&format!("/v1/reports/{id}{query}"), &api.auditor)
            .await
            .expect(200);
        assert_eq!(content_type(&a), media, "{query}");
        assert_eq!(
            a.headers["etag"],
            format!("\"{digest}\"").as_str(),
            "{query}"
        );
        assert_eq!(sha256_prefixed(&a.body), *digest, "{query}");
        assert_eq!(a.body.to_vec(), bytes, "{query}");
    }
}

/// No report at that index (nothing there, or a record of another kind) is a 404; a bad id or
/// format is a 400; and none of it is routed to the on-demand report.
#[tokio::test]
async fn unknown_reports_are_404_and_bad_parameters_400() {
    let (api, _, kept) = api_with_kept_report();
    for path in ["/v1/reports/0", "/v1/reports/424242"] {
        let a = api.get(path, &api.auditor).await.expect(404);
        assert_eq!(a.code(), "not_found");
    }
    for path in [
        "/v1/reports/abc".to_owned(),
        "/v1/reports/-1".to_owned(),
        format!("/v1/reports/{}?format=pdf", kept.id),
        format!("/v1/reports/{}?format=md", kept.id),
        format!("/v1/reports/{}?colour=red", kept.id),
    ] {
        let a = api.get(&path, &api.auditor).await.expect(400);
        assert_eq!(a.code(), "invalid_request", "{path}");
    }
}

/// The report endpoints belong to the auditor: pipeline and admin tokens get 403, no token 401,
/// and the answer carries none of the report.
#[tokio::test]
async fn only_the_auditor_reads_reports() {
    let (api, _, kept) = api_with_kept_report();
    for path in [
        "/v1/reports".to_owned(),
        format!("/v1/reports/{}", kept.id),
        "/v1/reports/inventory".to_owned(),
    ] {
        for token in [&api.pipeline, &api.admin] {
            let a = api.get(&path, token).await.expect(403);
            assert_eq!(a.code(), "forbidden");
            assert!(!a.text().contains("sha256:"), "{path}: {}", a.text());
        }
        api.send("GET", &path, None, None).await.expect(401);
    }
}

/// `GET /v1/reports/inventory` computes the report now in each format, with its media type;
/// the JSON is byte for byte what the library computes for the same instant, and nothing is
/// kept.
#[tokio::test]
async fn the_on_demand_inventory_report_comes_in_every_format() {
    let mut api = Api::new();
    deploy_one(&mut api);
    let size = api.fx.size();
    let expected = report_as_of(&api.fx.ws, now());
    let cases = [
        ("", "application/json"),
        ("?format=json", "application/json"),
        ("?format=md", "text/markdown; charset=utf-8"),
        ("?format=html", "text/html; charset=utf-8"),
        ("?format=csv", "text/csv; charset=utf-8"),
    ];
    for (query, media) in cases {
        let a = api
            .get(&format!("/v1/reports/inventory{query}"), &api.auditor)
            .await
            .expect(200);
        assert_eq!(content_type(&a), media, "{query}");
        let body = a.body.to_vec();
        let want = match media {
            "application/json" => serde_json::to_vec_pretty(&expected).unwrap(),
            "text/markdown; charset=utf-8" => render::markdown(&expected).into_bytes(),
            "text/html; charset=utf-8" => render::html(&expected).into_bytes(),
            _ => render::csv(&expected).into_bytes(),
        };
        assert_eq!(body, want, "{query}");
    }
    let json = api.get("/v1/reports/inventory", &api.auditor).await.json();
    assert_eq!(json["version"], 1);
    assert_eq!(json["population"], 1);
    assert!(json["kpis"]["inventory_completeness"]["denominator"].is_u64());
    assert_eq!(api.fx.size(), size, "an on-demand report is not kept");

    // Options reach the report.
    let earlier = "2026-11-01T00:00:00Z";
    let past = api
        .get(
            &format!("/v1/reports/inventory?as_of={earlier}&window_days=7&expiring_days=3"),
            &api.auditor,
        )
        .await
        .expect(200)
        .json();
    assert_eq!(past["as_of"], earlier);
    assert_eq!(past["population"], 0, "nothing was deployed yet");
    assert_eq!(past["kpis"]["deployment_frequency"]["window_days"], 7);
}

/// Bad options of the on-demand report are a 400 naming the parameter.
#[tokio::test]
async fn the_on_demand_report_refuses_bad_options() {
    let api = Api::new();
    // Malformed (not what the OpenAPI document allows): 400. Well-formed numbers and times the
    // report cannot be computed with: 422.
    for (query, status, want) in [
        ("format=xml", 400, "`format` `xml`"),
        ("as_of=yesterday", 400, "`as_of` is not RFC 3339"),
        ("window_days=many", 400, "window_days"),
        ("colour=red", 400, "colour"),
        ("window_days=0", 422, "`window_days` must be at least 1"),
        (
            "window_days=9223372036854775807",
            422,
            "`window_days` must be at most 36500",
        ),
        (
            "expiring_days=36501",
            422,
            "`expiring_days` must be at most 36500",
        ),
        (
            "failure_days=99999",
            422,
            "`failure_days` must be at most 36500",
        ),
        (
            "as_of=9999-12-31T00:00:00Z",
            422,
            "reaches outside years 0001-9999",
        ),
        (
            "as_of=0001-01-02T00:00:00Z",
            422,
            "reaches outside years 0001-9999",
        ),
    ] {
        let a = api
            .get(&format!("/v1/reports/inventory?{query}"), &api.auditor)
            .await
            .expect(status);
        let message = a.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(want), "{query}: {message}");
    }
}

/// A clock that starts at `start` and runs with the machine's monotonic time.
struct RunningClock {
    start: OffsetDateTime,
    began: Instant,
}

impl Clock for RunningClock {
    fn now(&self) -> OffsetDateTime {
        self.start + self.began.elapsed()
    }
}

/// `serve_until` runs `[[reports]]`: with a schedule firing every minute and a clock 0.4 s
/// before the minute, a report as of that minute is kept within two seconds, covered by a
/// signed checkpoint, and shutdown stops the scheduler and returns.
#[tokio::test]
async fn a_scheduled_report_is_generated_and_kept_when_its_time_comes() {
    let fx = Fixture::new();
    let path = fx.dir.path().join("modelgate.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str("\n[[reports]]\nname = \"every-minute\"\nschedule = \"* * * * *\"\n");
    std::fs::write(&path, config).unwrap();
    let ws = Workspace::open(fx.dir.path()).unwrap();
    let start = now() + time::Duration::seconds(59) + time::Duration::milliseconds(600);
    let clock = Arc::new(RunningClock {
        start,
        began: Instant::now(),
    });
    let state = AppState::open(ws, clock).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: None,
    };
    let server = tokio::spawn(serve_until(state, options, |_| {}, async move {
        let _ = stopped.await;
    }));

    let reader = modelgate::ledger::SqliteStore::open_read_only(&fx.ws.ledger_path()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let kept = loop {
        let kept = scheduled::list(&reader).unwrap();
        if !kept.is_empty() || Instant::now() > deadline {
            break kept;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(kept.len(), 1, "one report within 2 s of the fire time");
    let r = &kept[0];
    assert_eq!(r.name, "every-minute");
    assert_eq!(r.as_of, rfc3339(now() + time::Duration::minutes(1)));
    let json = scheduled::get(&reader, r.id, StoredFormat::Json)
        .unwrap()
        .unwrap();
    assert_eq!(sha256_prefixed(&json), r.json_digest);

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("shutdown finishes")
        .unwrap()
        .unwrap();
    let covered = reader.latest_checkpoint().unwrap().map(|(size, _)| size);
    assert!(
        covered.is_some_and(|size| size > r.id),
        "a checkpoint covers report {}: {covered:?}",
        r.id
    );
    assert_eq!(scheduled::list(&reader).unwrap().len(), 1);
    assert!(modelgate::ledger::verify_store(&reader)
        .unwrap()
        .is_intact());
}
