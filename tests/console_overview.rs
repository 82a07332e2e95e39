//! The console's overview through the router: ledger size and the latest checkpoint's status,
//! KPI gauges per tier, findings, expiries and weekly decisions, from the latest kept report or
//! from one computed now when none is kept.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod console_support;
mod http_support;

use common::{complete, now, request, with};
use console_support::Session;
use http_support::Api;
use modelgate::engine::audit;
use modelgate::inventory::{scheduled, ReportOptions};
use modelgate::ledger::Store as _;

fn deploy(api: &mut Api, name: &str, version: &str, tier: i64) {
    let (md, approvals) = complete(name, version, tier);
    let d = api
        .fx
        .decide(&request(
            name,
            version,
            "production",
            &with(&md, &approvals),
        ))
        .unwrap();
    assert!(d.is_allow());
}

fn deny(api: &mut Api, name: &str) {
    let (md, _) = complete(name, "0.1.0", 0);
    let d = api
        .fx
        .decide(&request(name, "0.1.0", "production", &with(&md, &[])))
        .unwrap();
    assert!(!d.is_allow());
}

fn sign_checkpoint(api: &mut Api) -> u64 {
    audit::checkpoint(
        &mut api.fx.store,
        &api.fx.ws.note_signer().unwrap(),
        &api.fx.ws.config().origin,
    )
    .unwrap();
    api.fx.store.latest_checkpoint().unwrap().unwrap().0
}

#[tokio::test]
async fn without_a_kept_report_the_overview_computes_one_and_says_so() {
    let mut api = Api::new();
    deploy(&mut api, "fraud-scorer", "1.0.0", 0);
    deny(&mut api, "churn-model");
    let size = sign_checkpoint(&mut api);
    let session = Session::sign_in(&api).await;
    let page = session.get("/console").await.expect(200);
    page.contains("<h1>Overview</h1>")
        .contains("<h2 id=\"ledger-h\">Ledger</h2>")
        .contains(&format!("size {size}"))
        .contains("verified under the engine's key")
        .contains("matches the ledger's own tree")
        .contains("KPIs per tier")
        .contains("Tier 0")
        .contains("Inventory completeness")
        .contains("<meter")
        .contains("Decisions per week")
        .contains("<svg")
        .contains("Open findings")
        .contains("Expiring in the next 30 days")
        .contains("a report computed now: no report is kept yet");
    // The approvals of the deployed version expire within the report's horizon only if they
    // are that short; the card names the horizon either way.
    assert!(
        page.text()
            .contains("The report lists nothing that expires between now and")
            || page.text().contains("approval")
    );
}

#[tokio::test]
async fn the_latest_kept_report_is_what_the_overview_shows() {
    let mut api = Api::new();
    deploy(&mut api, "fraud-scorer", "1.0.0", 1);
    let ws = api.fx.ws.clone();
    let report = ws
        .inventory_report(
            &ReportOptions::new(now(), ws.production_environments()),
            &mut |_, _| {},
        )
        .unwrap();
    let kept = scheduled::generate(&mut api.fx.store, "weekly-governance", &report, now()).unwrap();
    let session = Session::sign_in(&api).await;
    let page = session.get("/console").await.expect(200);
    page.contains(&format!(
        "the kept report “weekly-governance” (record {},",
        kept.id
    ))
    .contains(&format!("population {} model versions", report.population));
    // A newer kept report replaces it.
    deploy(&mut api, "fraud-scorer", "1.1.0", 1);
    let newer = ws
        .inventory_report(
            &ReportOptions::new(now(), ws.production_environments()),
            &mut |_, _| {},
        )
        .unwrap();
    let second =
        scheduled::generate(&mut api.fx.store, "weekly-governance", &newer, now()).unwrap();
    session
        .get("/console")
        .await
        .expect(200)
        .contains(&format!("(record {}", second.id));
}

#[tokio::test]
async fn a_checkpoint_that_does_not_verify_or_match_is_flagged() {
    let mut api = Api::new();
    deploy(&mut api, "fraud-scorer", "1.0.0", 2);
    let session = Session::sign_in(&api).await;
    session
        .get("/console")
        .await
        .expect(200)
        .contains("No checkpoint is signed yet.");
    // A checkpoint signed by another key, under this ledger's origin, for the current size.
    let size = api.fx.size();
    let root = api.fx.store.tree_root(size).unwrap();
    let origin = api.fx.ws.config().origin.clone();
    let stranger = modelgate::attest::NoteSigner::new(&origin, common::key(99)).unwrap();
    let cp = modelgate::ledger::Checkpoint {
        origin,
        size,
        root,
        extensions: vec![],
    };
    let note = modelgate::ledger::sign_checkpoint(&cp, &stranger).unwrap();
    api.fx.store.put_checkpoint(size, &note).unwrap();
    session
        .get("/console")
        .await
        .expect(200)
        .contains("does NOT verify")
        .contains("its signature does not verify, so its root proves nothing");
}
