//! Console decisions pages through the router: the list is newest first, every filter narrows
//! it, bad filters are refused naming the field, "Older decisions" pages through every decision
//! exactly once (also past a scan budget that ran out), a decision's page shows its reasons,
//! approvals, inclusion proof (with data a browser can re-check) and replay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod console_support;
mod http_support;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{approval, complete, request, with, OLIVIA};
use console_support::{Page, Session};
use http_support::Api;
use modelgate::attest::Role;
use modelgate::clock::FixedClock;
use modelgate::ledger::{verify_inclusion, RecordDraft, RecordKind, Store};
use serde_json::Value;

/// One decision made in a test: its index and what it was about.
#[derive(Debug, Clone)]
struct Made {
    index: u64,
    model: String,
    environment: String,
    outcome: String,
    body: Value,
}

/// Decides `model` `version` to `env`: allowed when `approved` (for production), otherwise with
/// the metadata only.
async fn decide(api: &Api, model: &str, version: &str, env: &str, approved: bool) -> Made {
    let (md, approvals) = complete(model, version, 2);
    let envelopes = if approved {
        with(&md, &approvals)
    } else {
        vec![md]
    };
    let a = api
        .decide(&request(model, version, env, &envelopes))
        .await
        .expect(200)
        .json();
    Made {
        index: a["ledger"]["index"].as_u64().unwrap(),
        model: model.to_owned(),
        environment: env.to_owned(),
        outcome: a["decision"].as_str().unwrap().to_owned(),
        body: a,
    }
}

/// Two models, two environments, allows and denies; in the order made.
async fn mixed(api: &Api) -> Vec<Made> {
    let mut made = Vec::new();
    for (model, version, env, approved) in [
        ("fraud-scorer", "1.0.0", "production", true),
        ("churn-model", "1.0.0", "production", false),
        ("fraud-scorer", "1.1.0", "staging", true),
        ("churn-model", "1.1.0", "staging", false),
        ("fraud-scorer", "1.2.0", "production", false),
        ("churn-model", "1.2.0", "production", true),
    ] {
        made.push(decide(api, model, version, env, approved).await);
    }
    let outcomes: BTreeSet<&str> = made.iter().map(|m| m.outcome.as_str()).collect();
    assert_eq!(outcomes.len(), 2, "both outcomes occur: {made:?}");
    made
}

/// The ledger indexes the list page links to, in page order.
fn listed(page: &Page) -> Vec<u64> {
    let text = page.text();
    let marker = "<a href=\"/console/decisions/";
    text.match_indices(marker)
        .map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

/// The "Older decisions" link's target, if the page has one.
fn older(page: &Page) -> Option<String> {
    let text = page.text();
    let end = text.find("\">Older decisions</a>")?;
    let start = text[..end].rfind("href=\"").unwrap() + "href=\"".len();
    Some(text[start..end].replace("&amp;", "&"))
}

/// HTML-escaped as the pages escape text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Which decisions a filter keeps.
type Keep = Box<dyn Fn(&Made) -> bool>;

fn expected(made: &[Made], keep: impl Fn(&Made) -> bool) -> Vec<u64> {
    made.iter()
        .rev()
        .filter(|m| keep(m))
        .map(|m| m.index)
        .collect()
}

#[tokio::test]
async fn the_list_is_newest_first_and_every_filter_narrows_it() {
    let api = Api::new();
    let made = mixed(&api).await;
    let session = Session::sign_in(&api).await;

    let all = session.get("/console/decisions").await.expect(200);
    all.contains("<caption>Decisions</caption>")
        .contains("<label for=\"filter-model\">Model</label>")
        .contains("<option value=\"\">Any</option>")
        .contains("<option value=\"staging\">staging</option>")
        .contains("<th scope=\"col\">Outcome</th>")
        .contains("<span class=\"outcome deny\">deny</span>")
        .contains("<span class=\"outcome allow\">allow</span>");
    assert_eq!(listed(&all), expected(&made, |_| true));
    assert!(older(&all).is_none(), "one page holds six decisions");

    let cases: Vec<(&str, Keep)> = vec![
        (
            "model=fraud-scorer",
            Box::new(|m| m.model == "fraud-scorer"),
        ),
        (
            "environment=staging",
            Box::new(|m| m.environment == "staging"),
        ),
        ("outcome=deny", Box::new(|m| m.outcome == "deny")),
        ("outcome=allow", Box::new(|m| m.outcome == "allow")),
        (
            "model=churn-model&environment=production&outcome=deny",
            Box::new(|m| {
                m.model == "churn-model" && m.environment == "production" && m.outcome == "deny"
            }),
        ),
        // The empty fields a submitted form sends mean "any".
        (
            "model=&environment=&outcome=&since=&until=",
            Box::new(|_| true),
        ),
        // Every decision was made at 2026-11-27T12:00:00Z.
        ("since=2026-11-27", Box::new(|_| true)),
        ("since=2026-11-28", Box::new(|_| false)),
        ("until=2026-11-27", Box::new(|_| true)),
        ("until=2026-11-26", Box::new(|_| false)),
        ("since=2026-11-27T12:00:00Z", Box::new(|_| true)),
        ("since=2026-11-27T12:00:01Z", Box::new(|_| false)),
        ("until=2026-11-27T12:00:00Z", Box::new(|_| false)),
        ("until=2026-11-27T12:00:01Z", Box::new(|_| true)),
        (
            "model=fraud-scorer&since=2026-11-27&until=2026-11-27",
            Box::new(|m| m.model == "fraud-scorer"),
        ),
    ];
    for (query, keep) in cases {
        let page = session
            .get(&format!("/console/decisions?{query}"))
            .await
            .expect(200);
        let want = expected(&made, keep);
        assert_eq!(listed(&page), want, "{query}");
        if want.is_empty() {
            page.contains("<p role=\"status\">No decisions match.</p>");
        }
    }
    // The form shows the filters it was given.
    session
        .get("/console/decisions?environment=staging&outcome=deny&since=2026-11-27")
        .await
        .expect(200)
        .contains("<option value=\"staging\" selected>staging</option>")
        .contains("<option value=\"deny\" selected>deny</option>")
        .contains("name=\"since\" value=\"2026-11-27\"");
}

#[tokio::test]
async fn time_filters_separate_decisions_made_on_different_days() {
    let api = Api::new();
    let first = decide(&api, "fraud-scorer", "1.0.0", "production", true).await;
    // Two days later, through an engine with its own clock (no more decisions through the
    // server after this).
    let later = common::now() + time::Duration::days(2);
    let engine = api.state.ws.engine(Arc::new(FixedClock(later))).unwrap();
    let mut store = api.state.ws.store().unwrap();
    let (md, approvals) = complete("fraud-scorer", "1.1.0", 2);
    let second = engine
        .decide(
            &mut store,
            &serde_json::to_vec(&request(
                "fraud-scorer",
                "1.1.0",
                "production",
                &with(&md, &approvals),
            ))
            .unwrap(),
        )
        .unwrap()
        .ledger
        .index;
    let session = Session::sign_in(&api).await;
    for (query, want) in [
        ("", vec![second, first.index]),
        ("since=2026-11-28", vec![second]),
        ("until=2026-11-28", vec![first.index]),
        ("since=2026-11-29&until=2026-11-29", vec![second]),
        ("since=2026-11-27T12:00:01Z", vec![second]),
        ("until=2026-11-29T12:00:00Z", vec![first.index]),
        ("until=2026-11-29T12:00:00%2B00:00", vec![first.index]),
        ("model=fraud-scorer&since=2026-11-28", vec![second]),
        ("model=fraud-scorer&until=2026-11-28", vec![first.index]),
    ] {
        let page = session
            .get(&format!("/console/decisions?{query}"))
            .await
            .expect(200);
        assert_eq!(listed(&page), want, "{query}");
    }
}

#[tokio::test]
async fn bad_filters_are_refused_naming_the_field() {
    let api = Api::new();
    let session = Session::sign_in(&api).await;
    for (query, field) in [
        ("outcome=maybe", "outcome"),
        ("environment=moon", "environment"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("since=2026-11-28&until=2026-11-27", "until"),
        ("before=ten", "before"),
        ("colour=red", "colour"),
    ] {
        let page = session
            .get(&format!("/console/decisions?{query}"))
            .await
            .expect(400);
        page.contains("role=\"alert\"").contains(field);
    }
}

#[tokio::test]
async fn a_model_name_with_markup_is_shown_escaped() {
    let api = Api::new();
    let session = Session::sign_in(&api).await;
    let page = session
        .get("/console/decisions?model=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        .await
        .expect(200);
    page.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\"")
        .contains("<p role=\"status\">No decisions match.</p>");
    assert!(!page.text().contains("<script>alert"));
}

/// Follows "Older decisions" from `first` to the end; the indexes in page order.
async fn walk(session: &Session, first: &str) -> (Vec<u64>, usize) {
    let mut seen = Vec::new();
    let mut next = Some(first.to_owned());
    let mut pages = 0;
    while let Some(path) = next {
        let page = session.get(&path).await.expect(200);
        seen.extend(listed(&page));
        next = older(&page);
        pages += 1;
        assert!(pages < 100, "paging does not end");
    }
    (seen, pages)
}

#[tokio::test]
async fn older_decisions_visits_every_decision_exactly_once() {
    let api = Api::new();
    let mut made = Vec::new();
    for i in 0..(modelgate::server::console::decisions::PAGE_SIZE + 12) {
        let model = if i % 3 == 0 {
            "churn-model"
        } else {
            "fraud-scorer"
        };
        let env = if i % 2 == 0 { "production" } else { "staging" };
        made.push(decide(&api, model, &format!("1.{i}.0"), env, false).await);
    }
    let session = Session::sign_in(&api).await;

    let (seen, pages) = walk(&session, "/console/decisions").await;
    assert_eq!(seen, expected(&made, |_| true));
    assert_eq!(pages, 2);
    let first = session.get("/console/decisions").await.expect(200);
    assert_eq!(
        listed(&first).len(),
        modelgate::server::console::decisions::PAGE_SIZE
    );

    // The link keeps the filters: the model index and the scan page alike.
    for (query, keep) in [
        (
            "model=fraud-scorer",
            Box::new(|m: &Made| m.model == "fraud-scorer") as Keep,
        ),
        (
            "environment=production",
            Box::new(|m| m.environment == "production"),
        ),
        (
            "model=fraud-scorer&environment=staging",
            Box::new(|m| m.model == "fraud-scorer" && m.environment == "staging"),
        ),
    ] {
        let (seen, _) = walk(&session, &format!("/console/decisions?{query}")).await;
        assert_eq!(seen, expected(&made, keep), "{query}");
    }
    let link = older(&first).unwrap();
    let with_filter = older(
        &session
            .get("/console/decisions?since=2026-11-27&until=2026-11-27")
            .await
            .expect(200),
    )
    .unwrap();
    assert!(link.starts_with("/console/decisions?before="), "{link}");
    assert!(
        with_filter.contains("since=2026-11-27&until=2026-11-27&before="),
        "{with_filter}"
    );
}

#[tokio::test]
async fn a_page_whose_scan_budget_runs_out_says_so_and_continues() {
    let api = Api::new();
    let old = decide(&api, "fraud-scorer", "1.0.0", "production", true).await;
    // More records than one request scans, none of them a decision.
    let budget = modelgate::server::console::decisions::SCAN_BUDGET;
    let mut store = api.state.ws.store().unwrap();
    let drafts: Vec<RecordDraft> = (0..budget + 100)
        .map(|i| RecordDraft {
            kind: RecordKind::Observation,
            time: common::now(),
            body: serde_json::json!({ "note": i }),
        })
        .collect();
    store.append(&drafts).unwrap();
    let size = store.size().unwrap();
    let session = Session::sign_in(&api).await;

    let page = session.get("/console/decisions").await.expect(200);
    assert!(listed(&page).is_empty());
    page.contains(&format!(
        "No decisions match among records {} to {}. Older records were not searched yet.",
        size - budget,
        size - 1
    ));
    let (seen, _) = walk(&session, "/console/decisions").await;
    assert_eq!(seen, vec![old.index]);
}

/// Signs a checkpoint of the whole ledger, as `modelgate audit checkpoint` does.
fn sign_checkpoint(api: &Api) -> u64 {
    let signer = api.state.ws.note_signer().unwrap();
    let origin = api.state.ws.config().origin.clone();
    let mut store = api.state.ws.store().unwrap();
    modelgate::engine::audit::checkpoint(&mut store, &signer, &origin)
        .unwrap()
        .size
}

/// The value of `data-{name}` on the page.
fn data(page: &Page, name: &str) -> String {
    let text = page.text();
    let marker = format!("data-{name}=\"");
    let at = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no data-{name}"))
        + marker.len();
    text[at..].split('"').next().unwrap().to_owned()
}

fn hash(hex_text: &str) -> [u8; 32] {
    hex::decode(hex_text).unwrap().try_into().unwrap()
}

#[tokio::test]
async fn a_denied_decision_shows_its_reasons_approvals_proof_and_replay() {
    let api = Api::new();
    mixed(&api).await;
    // Tier 1 needs an owner and a validator in production; only the owner approves.
    let (md, _) = complete("credit-limit", "2.0.0", 1);
    let owner = approval(&md, OLIVIA, Role::Owner, "production", 1, 180);
    let answer = api
        .decide(&request(
            "credit-limit",
            "2.0.0",
            "production",
            &[md, owner],
        ))
        .await
        .expect(200)
        .json();
    assert_eq!(answer["decision"], "deny", "{answer:#}");
    let index = answer["ledger"]["index"].as_u64().unwrap();
    let session = Session::sign_in(&api).await;
    let path = format!("/console/decisions/{index}");

    let page = session.get(&path).await.expect(200);
    page.contains(&format!("<h1>Decision {index}</h1>"))
        .contains("<p class=\"outcome deny\">deny</p>")
        .contains("<caption>Reasons</caption>")
        .contains("<th scope=\"col\">Compared values</th>")
        .contains("<dt>Requested by</dt>")
        .contains("ci-bot@example.com")
        .contains("credit-limit");
    for h2 in [
        "Request",
        "Reasons",
        "Approvals",
        "Waivers",
        "Findings",
        "Inclusion proof",
        "Replay",
        "Ledger record",
    ] {
        page.contains(&format!("<h2>{h2}</h2>"));
    }
    let reasons = answer["reasons"].as_array().unwrap();
    assert!(!reasons.is_empty());
    for r in reasons {
        page.contains(&esc(r["policy_id"].as_str().unwrap()));
        for c in r["controls"].as_array().unwrap() {
            page.contains(&format!("<li>{}</li>", esc(c.as_str().unwrap())));
        }
        for (name, value) in r["values"].as_object().unwrap() {
            page.contains(&format!(
                "<code>{}</code> = <code>{}</code>",
                esc(name),
                esc(&value.to_string())
            ));
        }
    }
    let approvals = answer["approvals"].as_array().unwrap();
    assert_eq!(approvals.len(), 1, "{answer:#}");
    page.contains("olivia@example.com").contains(&format!(
        "title=\"{}\"",
        approvals[0]["attestation"].as_str().unwrap()
    ));
    // The exact stored bytes.
    let stored = api
        .state
        .ws
        .store()
        .unwrap()
        .record(index)
        .unwrap()
        .unwrap();
    page.contains(&esc(std::str::from_utf8(&stored.bytes).unwrap()))
        .contains(&hex::encode(stored.leaf_hash));

    // No checkpoint yet.
    page.contains(&format!(
        "No signed checkpoint covers record {index} yet; the next checkpoint will."
    ));
    assert!(!page.text().contains("id=\"proof-browser-check\""));

    // Once one covers it, the proof verifies here and carries what a browser re-checks.
    let size = sign_checkpoint(&api);
    let page = session.get(&path).await.expect(200);
    page.contains(&format!(
        "The inclusion proof verifies against the signed checkpoint of size {size}."
    ))
    .contains("id=\"proof-browser-check\"");
    assert_eq!(data(&page, "index"), index.to_string());
    assert_eq!(data(&page, "size"), size.to_string());
    let leaf = hash(&data(&page, "leaf"));
    assert_eq!(leaf, stored.leaf_hash);
    let root = hash(&data(&page, "root"));
    let proof: Vec<[u8; 32]> = data(&page, "proof").split(' ').map(hash).collect();
    verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
    let store = api.state.ws.store().unwrap();
    assert_eq!(root, store.tree_root(size).unwrap());
    let mut tampered = proof.clone();
    tampered[0][0] ^= 1;
    assert!(verify_inclusion(&leaf, index, size, &tampered, &root).is_err());

    // Replay.
    page.contains("<a href=\"?replay=1\">Replay this decision</a>");
    assert!(!page.text().contains("Replay reproduced"));
    session
        .get(&format!("{path}?replay=1"))
        .await
        .expect(200)
        .contains("Replay reproduced this decision.");
    session.get(&format!("{path}?replay=yes")).await.expect(400);
}

#[tokio::test]
async fn an_allowed_decision_lists_every_approval() {
    let api = Api::new();
    let made = decide(&api, "fraud-scorer", "1.0.0", "production", true).await;
    assert_eq!(made.outcome, "allow");
    let session = Session::sign_in(&api).await;
    let page = session
        .get(&format!("/console/decisions/{}", made.index))
        .await
        .expect(200);
    page.contains("<p class=\"outcome allow\">allow</p>")
        .contains("No waiver was applied.");
    for a in made.body["approvals"].as_array().unwrap() {
        page.contains(&esc(a["approver"].as_str().unwrap()))
            .contains(&esc(a["role"].as_str().unwrap()));
    }
}

#[tokio::test]
async fn unknown_and_non_decision_records_are_not_found() {
    let api = Api::new();
    let made = decide(&api, "fraud-scorer", "1.0.0", "production", true).await;
    let session = Session::sign_in(&api).await;
    session
        .get(&format!("/console/decisions/{}", made.index + 1))
        .await
        .expect(404)
        .contains("There is no decision at ledger index");
    let zero = api.state.ws.store().unwrap().record(0).unwrap().unwrap();
    assert_ne!(zero.kind, RecordKind::Decision);
    session
        .get("/console/decisions/0")
        .await
        .expect(404)
        .contains("not a decision");
    session.get("/console/decisions/abc").await.expect(404);
    session
        .get("/console/decisions/99999999999999999999999")
        .await
        .expect(404);
}

#[tokio::test]
async fn an_until_bound_starts_the_search_at_that_time_past_any_budget() {
    let api = Api::new();
    let old = decide(&api, "fraud-scorer", "1.0.0", "production", true).await;
    // A day later, more records than one request scans.
    let budget = modelgate::server::console::decisions::SCAN_BUDGET;
    let mut store = api.state.ws.store().unwrap();
    let later = common::now() + time::Duration::days(1);
    let drafts: Vec<RecordDraft> = (0..budget + 100)
        .map(|i| RecordDraft {
            kind: RecordKind::Observation,
            time: later,
            body: serde_json::json!({ "note": i }),
        })
        .collect();
    store.append(&drafts).unwrap();
    let session = Session::sign_in(&api).await;
    let until = modelgate::clock::rfc3339(common::now() + time::Duration::hours(1));
    let page = session
        .get(&format!("/console/decisions?until={until}"))
        .await
        .expect(200);
    assert_eq!(listed(&page), vec![old.index]);
    assert!(!page.text().contains("not searched"), "{}", page.text());
    // The index found by bisecting record times is the first record of the later day.
    let size = store.size().unwrap();
    assert_eq!(
        modelgate::ledger::first_at_or_after(&*store, size, later).unwrap(),
        size - budget - 100
    );
    assert_eq!(
        modelgate::ledger::first_at_or_after(&*store, size, later + time::Duration::seconds(1))
            .unwrap(),
        size
    );
    assert_eq!(
        modelgate::ledger::first_at_or_after(
            &*store,
            size,
            common::now() - time::Duration::days(400)
        )
        .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_since_bound_ends_the_search_at_that_time() {
    let api = Api::new();
    // Many records before the bound, then one decision after it.
    let budget = modelgate::server::console::decisions::SCAN_BUDGET;
    let mut store = api.state.ws.store().unwrap();
    let early = common::now() - time::Duration::days(3);
    let drafts: Vec<RecordDraft> = (0..2 * budget)
        .map(|i| RecordDraft {
            kind: RecordKind::Observation,
            time: early,
            body: serde_json::json!({ "note": i }),
        })
        .collect();
    store.append(&drafts).unwrap();
    let made = decide(&api, "fraud-scorer", "1.0.0", "production", true).await;
    let session = Session::sign_in(&api).await;
    let since = modelgate::clock::rfc3339(common::now() - time::Duration::days(1));
    let page = session
        .get(&format!("/console/decisions?since={since}"))
        .await
        .expect(200);
    assert_eq!(listed(&page), vec![made.index]);
    assert!(
        older(&page).is_none(),
        "the search ended at `since`: {}",
        page.text()
    );
    // Without the bound the same list needs pages through the early records.
    let (seen, pages) = walk(&session, "/console/decisions").await;
    assert_eq!(seen, vec![made.index]);
    assert!(pages > 2, "{pages}");
}

#[tokio::test]
async fn a_damaged_tree_is_shown_on_the_decision_page_not_hidden_behind_an_error() {
    if common::on_postgres() {
        return; // The damage is done with SQLite's own client.
    }
    let api = Api::new();
    let made = decide(&api, "fraud-scorer", "1.0.0", "production", false).await;
    sign_checkpoint(&api);
    let conn = rusqlite::Connection::open(api.state.ws.ledger_path()).unwrap();
    conn.execute("DELETE FROM tree_nodes", []).unwrap();
    let session = Session::sign_in(&api).await;
    let page = session
        .get(&format!("/console/decisions/{}", made.index))
        .await
        .expect(200);
    page.contains("No inclusion proof could be built for this record")
        .contains("modelgate audit verify")
        .contains("Reasons");
}
