//! Console models pages through the router: the list (tiers, versions, completeness, current
//! version per environment, gaps, shadow flag), its filter and paging; one model's timeline,
//! owners, approvals with expiry and gaps; the evidence download, byte for byte the API's pack;
//! the cache folding forward as decisions are made, and `inventory::advance` equal to a load.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod console_support;
mod http_support;

use std::sync::Arc;

use common::{approval, complete, complete_edited, request, with, NOW, OLIVIA};
use console_support::Session;
use http_support::Api;
use modelgate::attest::Role;
use modelgate::clock::{parse_rfc3339, FixedClock};
use modelgate::evidence::verify_pack;
use modelgate::inventory::list::listing;
use modelgate::inventory::record::{observe, ReportedDeployment};
use modelgate::inventory::{advance, load};
use modelgate::server::state::AppState;
use modelgate::workspace::Workspace;
use time::Duration;

/// Decides `model` `version` complete at `tier` to `env`; returns the ledger index.
async fn allow(api: &Api, model: &str, version: &str, tier: i64, env: &str) -> u64 {
    let (md, _) = complete(model, version, tier);
    let approvals: Vec<_> = common::approvers_for(tier)
        .into_iter()
        .map(|(who, role)| approval(&md, who, role, env, 1, ttl(tier)))
        .collect();
    decide(
        api,
        &request(model, version, env, &with(&md, &approvals)),
        "allow",
    )
    .await
}

/// The longest approval validity the reference bundle accepts for `tier`.
fn ttl(tier: i64) -> i64 {
    match tier {
        2 => 365,
        1 => 180,
        _ => 90,
    }
}

async fn decide(api: &Api, req: &serde_json::Value, outcome: &str) -> u64 {
    let a = api.decide(req).await.expect(200).json();
    assert_eq!(a["decision"], outcome, "{a}");
    a["ledger"]["index"].as_u64().unwrap()
}

/// A denied decision (metadata without approvals, to production).
async fn deny(api: &Api, model: &str, version: &str) -> u64 {
    let (md, _) = complete(model, version, 2);
    decide(api, &request(model, version, "production", &[md]), "deny").await
}

/// The table row of `model` on a list page.
fn row_of(text: &str, model: &str) -> String {
    let at = text
        .find(&format!("<a href=\"/console/models/{model}\">"))
        .unwrap_or_else(|| panic!("no row for {model}:\n{text}"));
    let start = text[..at].rfind("<tr>").unwrap();
    let end = at + text[at..].find("</tr>").unwrap();
    text[start..end].to_owned()
}

/// Guards the list's contract: every model with a link, its tiers, number of versions, the
/// completeness of its latest version as a meter with a text, the version current per
/// environment, its findings, and the shadow flag.
#[tokio::test]
async fn the_list_shows_each_model_with_versions_completeness_and_current() {
    let mut api = Api::new();
    allow(&api, "alpha", "1.0.0", 2, "production").await;
    allow(&api, "alpha", "2.0.0", 2, "staging").await;
    allow(&api, "beta", "1.0.0", 1, "production").await;
    observe(
        api.fx.store.as_mut(),
        &ReportedDeployment {
            source: "nightly-job".into(),
            model: "ghost".into(),
            version: "0.1.0".into(),
            environment: "production".into(),
        },
        common::now(),
    )
    .unwrap();
    let session = Session::sign_in(&api).await;
    let page = session.get("/console/models").await.expect(200);
    page.contains("<caption>Models</caption>")
        .contains("<label for=\"models-q\">Model name contains</label>")
        .contains("name=\"q\"");
    for col in [
        "Model",
        "Tier",
        "Versions",
        "Completeness",
        "Current",
        "Gaps",
    ] {
        page.contains(&format!("scope=\"col\">{col}</th>"));
    }
    let text = page.text();
    let alpha = row_of(&text, "alpha");
    assert!(alpha.contains("<td class=\"num\">2</td>"), "{alpha}");
    assert!(alpha.contains("<meter"), "{alpha}");
    assert!(
        alpha.contains("3/3"),
        "tier 2 counts three criteria: {alpha}"
    );
    assert!(alpha.contains("(2.0.0)"), "latest version: {alpha}");
    assert!(
        alpha.contains("production: <span class=\"mono\">1.0.0</span>"),
        "{alpha}"
    );
    assert!(
        alpha.contains("staging: <span class=\"mono\">2.0.0</span>"),
        "{alpha}"
    );
    let beta = row_of(&text, "beta");
    assert!(beta.contains("4/4"), "tier 1 counts drift too: {beta}");
    assert!(beta.contains("<td>1</td>"), "tier: {beta}");
    let ghost = row_of(&text, "ghost");
    assert!(ghost.contains("shadow"), "{ghost}");
    assert!(ghost.contains("unknown (no decision)"), "{ghost}");
    // The shadow deployment in production is a finding of the report.
    assert!(
        !ghost.ends_with("<td class=\"num\">0</td>"),
        "ghost has gaps: {ghost}"
    );
}

/// Guards the filter (case-insensitive substring, escaped when echoed) and paging by 100
/// with links that keep the filter.
#[tokio::test]
async fn the_filter_narrows_and_pages_hold_a_hundred() {
    let api = Api::new();
    for i in 0..103 {
        deny(&api, &format!("model-{i:03}"), "1.0.0").await;
    }
    deny(&api, "Other", "1.0.0").await;
    let session = Session::sign_in(&api).await;

    let page = session.get("/console/models?q=OTH").await.expect(200);
    page.contains("href=\"/console/models/Other\"");
    assert!(!page.text().contains("/console/models/model-000"));

    let first = session.get("/console/models?q=model").await.expect(200);
    let text = first.text();
    assert_eq!(
        text.matches("<a href=\"/console/models/model-").count(),
        100
    );
    assert!(text.contains("model-099") && !text.contains("model-100"));
    first
        .contains("href=\"/console/models?q=model&amp;page=2\"")
        .contains("Next page");
    assert!(!text.contains("Previous page"));

    let second = session
        .get("/console/models?q=model&page=2")
        .await
        .expect(200);
    let text = second.text();
    assert_eq!(text.matches("<a href=\"/console/models/model-").count(), 3);
    assert!(text.contains("model-102"));
    second
        .contains("href=\"/console/models?q=model&amp;page=1\"")
        .contains("Previous page");
    assert!(!text.contains("Next page"));

    let escaped = session.get("/console/models?q=%3Cb%3E").await.expect(200);
    escaped.contains("&lt;b&gt;").contains("No models match.");
    assert!(!escaped.text().contains("<b>"));

    session
        .get("/console/models?page=0")
        .await
        .expect(400)
        .contains("`page`");
    session.get("/console/models?page=x").await.expect(400);
    session.get("/console/models?colour=red").await.expect(400);
}

/// Guards the model page: the versions × environments timeline with decisions linked, owners,
/// approvals with their expiry marked, gaps in words for an incomplete model, the evidence
/// link; an unknown model is a 404 naming it.
#[tokio::test]
async fn the_model_page_shows_timeline_owners_approvals_and_gaps() {
    let api = Api::new();
    let first = allow(&api, "alpha", "1.0.0", 2, "production").await;
    let staged = allow(&api, "alpha", "2.0.0", 2, "staging").await;
    // A staging approval that expires in 9 days.
    let (md, _) = complete("alpha", "3.0.0", 2);
    let short = approval(&md, OLIVIA, Role::Owner, "staging", 1, 10);
    let third = decide(
        &api,
        &request("alpha", "3.0.0", "staging", &with(&md, &[short])),
        "allow",
    )
    .await;
    let session = Session::sign_in(&api).await;
    let page = session.get("/console/models/alpha").await.expect(200);
    page.contains("<h1>alpha</h1>");
    for h in [
        "Versions across environments",
        "Owners",
        "Approvals",
        "Gaps",
        "Evidence",
    ] {
        page.contains(&format!("<h2>{h}</h2>"));
    }
    page.contains("<th scope=\"col\">production</th>")
        .contains("<th scope=\"col\">staging</th>");
    for index in [first, staged, third] {
        page.contains(&format!(
            "<a href=\"/console/decisions/{index}\">decision {index}</a>"
        ));
    }
    page.contains("<span class=\"outcome allow\">allow</span>")
        .contains("olivia@example.com")
        .contains("victor@example.com")
        .contains("<dt>Business owner</dt>")
        .contains("expires in 9 days")
        .contains("current")
        .contains("Every completeness criterion holds for version")
        .contains("<a class=\"button\" href=\"/console/models/alpha/evidence\" download>Download evidence pack</a>")
        .contains("modelgate evidence build --model alpha")
        .contains("modelgate evidence verify FILE --vkey &quot;$(modelgate audit vkey)&quot;");
    // Rows newest first.
    let text = page.text();
    let at = |v: &str| {
        text.find(&format!("<span class=\"mono\">{v}</span>"))
            .unwrap()
    };
    assert!(at("3.0.0") < at("2.0.0") && at("2.0.0") < at("1.0.0"));

    // An incomplete model: tier 1 without drift monitoring; the gaps come from the facts of
    // its latest decision (denied or not).
    let (md, approvals) = complete_edited("gamma", "1.0.0", 1, |m| {
        m.as_object_mut().unwrap().remove("monitoring");
    });
    api.decide(&request(
        "gamma",
        "1.0.0",
        "production",
        &with(&md, &approvals),
    ))
    .await
    .expect(200);
    let page = session.get("/console/models/gamma").await.expect(200);
    page.contains("Criteria not met by version");
    let text = page.text();
    assert!(
        text.contains(
            "Drift monitoring</strong>: missing drift monitoring (/model/has_drift_monitoring)"
        ),
        "{text}"
    );

    let missing = session.get("/console/models/nobody").await.expect(404);
    missing.contains("nobody");
}

/// Guards expiry marks against the server's clock: the same ledger seen 400 days later shows
/// the approvals expired.
#[tokio::test]
async fn approvals_past_their_expiry_are_marked_expired() {
    let api = Api::new();
    allow(&api, "alpha", "1.0.0", 2, "production").await;
    let later = parse_rfc3339(NOW).unwrap() + Duration::days(400);
    let ws = Workspace::open(api.fx.dir.path()).unwrap();
    let state = AppState::open(ws, Arc::new(FixedClock(later))).unwrap();
    let api = Api {
        state: Arc::new(state),
        ..api
    };
    let session = Session::sign_in(&api).await;
    session
        .get("/console/models/alpha")
        .await
        .expect(200)
        .contains("<strong class=\"bad expired\">expired</strong>");
}

/// Guards the download: gzip, an attachment named after the model, byte for byte the API's
/// pack, verifying offline; a model without decisions is a 404.
#[tokio::test]
async fn the_evidence_download_is_the_api_pack_and_verifies() {
    let api = Api::new();
    allow(&api, "alpha", "1.0.0", 2, "production").await;
    allow(&api, "alpha", "2.0.0", 2, "production").await;
    let session = Session::sign_in(&api).await;
    let page = session
        .get("/console/models/alpha/evidence")
        .await
        .expect(200);
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("application/gzip")
    );
    assert_eq!(
        page.header("content-disposition").as_deref(),
        Some("attachment; filename=\"alpha-evidence.tar.gz\"")
    );
    let via_api = api
        .get("/v1/models/alpha/evidence", &api.auditor)
        .await
        .expect(200);
    assert_eq!(page.body, via_api.body, "the same pack as the API's");
    assert_eq!(
        page.header("etag").as_deref(),
        via_api.headers.get("etag").and_then(|v| v.to_str().ok())
    );
    let outcome = verify_pack(&page.body, None);
    let failed: Vec<String> = outcome
        .failures()
        .map(|c| format!("{}: {}", c.check, c.detail))
        .collect();
    assert!(outcome.ok && failed.is_empty(), "{failed:?}");
    session
        .get("/console/models/nobody/evidence")
        .await
        .expect(404)
        .contains("nobody");
}

/// Guards the cache: decisions made after a page was shown appear on the next one (folded
/// forward), and `advance` from an earlier load equals a fresh load.
#[tokio::test]
async fn the_cache_folds_forward_and_advance_equals_a_fresh_load() {
    let api = Api::new();
    allow(&api, "alpha", "1.0.0", 2, "production").await;
    let session = Session::sign_in(&api).await;
    let before = session.get("/console/models").await.expect(200).text();
    assert!(row_of(&before, "alpha").contains("<td class=\"num\">1</td>"));
    assert!(!before.contains("/console/models/beta"));

    let early = load(api.fx.store.as_ref(), None, &mut |_, _| {}).unwrap();
    let covered = early.records;

    let newer = allow(&api, "alpha", "2.0.0", 2, "production").await;
    allow(&api, "beta", "1.0.0", 1, "production").await;
    deny(&api, "alpha", "3.0.0").await;

    let after = session.get("/console/models").await.expect(200).text();
    let alpha = row_of(&after, "alpha");
    assert!(alpha.contains("<td class=\"num\">3</td>"), "{alpha}");
    assert!(
        alpha.contains("production: <span class=\"mono\">2.0.0</span>"),
        "{alpha}"
    );
    row_of(&after, "beta");
    session
        .get("/console/models/alpha")
        .await
        .expect(200)
        .contains(&format!("/console/decisions/{newer}"));

    let mut advanced = early;
    let reached = advance(api.fx.store.as_ref(), &mut advanced, covered).unwrap();
    let fresh = load(api.fx.store.as_ref(), None, &mut |_, _| {}).unwrap();
    assert_eq!(reached, api.fx.store.size().unwrap());
    assert_eq!(listing(&advanced), listing(&fresh));
    assert_eq!(advanced, fresh);
    // Nothing new: nothing changes.
    let again = advance(api.fx.store.as_ref(), &mut advanced, reached).unwrap();
    assert_eq!(again, reached);
    assert_eq!(advanced, fresh);
}

#[tokio::test]
async fn a_model_name_with_a_slash_links_to_its_own_page_and_pack() {
    let api = Api::new();
    allow(&api, "team", "1.0.0", 2, "staging").await;
    allow(&api, "team/evidence", "2.0.0", 2, "staging").await;
    let session = Session::sign_in(&api).await;
    let list = session.get("/console/models").await.expect(200);
    list.contains("href=\"/console/models/team%2Fevidence\"");
    let page = session
        .get("/console/models/team%2Fevidence")
        .await
        .expect(200);
    page.contains("<h1>team/evidence</h1>")
        .contains("href=\"/console/models/team%2Fevidence/evidence\"")
        .contains("2.0.0");
    assert!(
        !page.text().contains("1.0.0"),
        "the page of `team` leaked in"
    );
    let pack = session
        .get("/console/models/team%2Fevidence/evidence")
        .await
        .expect(200);
    let api_pack = api
        .get("/v1/models/team%2Fevidence/evidence", &api.auditor)
        .await
        .expect(200);
    assert_eq!(pack.body, api_pack.body);
}
