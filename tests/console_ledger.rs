//! The console's ledger page through the router: the latest checkpoint and the stored ones with
//! their signatures and the consistency between each and the one before; a note signed by
//! another key is flagged; "verify now" (CSRF, redirect to the run, progress, passed on an
//! intact ledger, failed naming the record on a tampered one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod console_support;
mod http_support;

use std::time::Duration;

use common::*;
use console_support::{Page, Session};
use http_support::Api;
use modelgate::attest::NoteSigner;
use modelgate::engine::audit;
use modelgate::ledger::verify::verify_store_against_with_progress;
use modelgate::ledger::{sign_checkpoint, Checkpoint, Store};

/// `n` more allowed decisions, made through the fixture's own connection.
fn decide(api: &mut Api, n: usize) {
    for _ in 0..n {
        let version = format!("1.0.{}", api.fx.size());
        let (md, approvals) = complete("fraud-scorer", &version, 1);
        let d = api
            .fx
            .decide(&request(
                "fraud-scorer",
                &version,
                "production",
                &with(&md, &approvals),
            ))
            .unwrap();
        assert!(d.is_allow(), "{}", findings(&d));
    }
}

/// Signs a checkpoint of the current size with the engine key, as `audit checkpoint` does.
fn checkpoint(api: &mut Api) -> u64 {
    let signer = api.fx.ws.note_signer().unwrap();
    let origin = api.fx.ws.config().origin.clone();
    audit::checkpoint(&mut *api.fx.store, &signer, &origin)
        .unwrap()
        .size
}

/// A ledger with three checkpoints, of three records more each.
fn api_with_checkpoints() -> (Api, Vec<u64>) {
    let mut api = Api::new();
    let mut sizes = Vec::new();
    for _ in 0..3 {
        decide(&mut api, 3);
        sizes.push(checkpoint(&mut api));
    }
    (api, sizes)
}

fn count(page: &Page, needle: &str) -> usize {
    page.text().matches(needle).count()
}

#[tokio::test]
async fn the_page_shows_signed_checkpoints_consistent_with_each_other() {
    let (api, sizes) = api_with_checkpoints();
    let session = Session::sign_in(&api).await;
    let page = session.get("/console/ledger").await.expect(200);
    page.contains("<h2>Latest checkpoint</h2>")
        .contains("<h2>Checkpoints</h2>")
        .contains("<caption>Checkpoints</caption>")
        .contains("<th scope=\"col\">Consistent with the previous</th>")
        .contains("<h2>Verify the whole ledger</h2>")
        .contains("Verify now")
        .contains("Matches the ledger's own root")
        .contains(&format!("{} records (all covered)", api.fx.size()));
    let latest = api.fx.store.latest_checkpoint().unwrap().unwrap();
    assert_eq!(latest.0, *sizes.last().unwrap());
    // The note as stored, in a <pre>.
    page.contains(&format!("<pre>{}</pre>", latest.1));
    // One row per checkpoint, newest first; each signature verifies; the two newer ones are
    // consistent with their predecessor and the oldest is the first shown.
    let text = page.text();
    let at: Vec<usize> = sizes
        .iter()
        .map(|s| text.find(&format!("<td class=\"num\">{s}</td>")).unwrap())
        .collect();
    assert!(at[2] < at[1] && at[1] < at[0], "newest first");
    assert_eq!(count(&page, "<span class=\"ok\">verified</span>"), 4);
    assert_eq!(count(&page, "<span class=\"ok\">yes</span>"), 2);
    assert_eq!(count(&page, "first shown"), 1);
    assert!(
        !text.contains("NO:") && !text.contains("NOT verify"),
        "{text}"
    );
    // The root cell: short hex, the full one in its title.
    let root = hex::encode(api.fx.store.tree_root(sizes[0]).unwrap());
    page.contains(&format!("title=\"{root}\">{}…</code>", &root[..12]));
}

#[tokio::test]
async fn a_checkpoint_signed_by_another_key_is_flagged() {
    let (mut api, _) = api_with_checkpoints();
    decide(&mut api, 2);
    let size = api.fx.size();
    let origin = api.fx.ws.config().origin.clone();
    let stranger = NoteSigner::new(&origin, key(42)).unwrap();
    let cp = Checkpoint {
        origin,
        size,
        root: api.fx.store.tree_root(size).unwrap(),
        extensions: Vec::new(),
    };
    let note = sign_checkpoint(&cp, &stranger).unwrap();
    api.fx.store.put_checkpoint(size, &note).unwrap();

    let session = Session::sign_in(&api).await;
    let page = session.get("/console/ledger").await.expect(200);
    page.contains("<span class=\"bad\"")
        .contains("does NOT verify")
        .contains("NO: this checkpoint's signature does not verify")
        .contains("Does not match the ledger: its signature does not verify");
    // The three good ones still verify and stay consistent with each other.
    assert_eq!(count(&page, "<span class=\"ok\">verified</span>"), 3);
    assert_eq!(count(&page, "<span class=\"ok\">yes</span>"), 2);
}

#[tokio::test]
async fn a_ledger_without_checkpoints_says_how_to_sign_one() {
    let mut api = Api::new();
    decide(&mut api, 1);
    let session = Session::sign_in(&api).await;
    session
        .get("/console/ledger")
        .await
        .expect(200)
        .contains("No checkpoint has been signed yet")
        .contains("modelgate audit checkpoint")
        .contains("No checkpoints are stored.");
}

/// Polls the run's page until it has ended (at most 20 s); checks every progress page seen.
async fn wait_for_outcome(session: &Session, location: &str) -> Page {
    for _ in 0..400 {
        let page = session.get(location).await.expect(200);
        page.contains("<h1>Ledger verification</h1>");
        let text = page.text();
        if text.contains("<progress") {
            page.contains("<meta http-equiv=\"refresh\" content=\"1\">");
            if let Some(at) = text.find("Verifying: ") {
                let rest = &text[at + "Verifying: ".len()..];
                if !rest.starts_with("starting") {
                    let words: Vec<&str> = rest.split_whitespace().take(3).collect();
                    let done: u64 = words[0].parse().unwrap();
                    let total: u64 = words[2].parse().unwrap();
                    assert!(done <= total, "{done} of {total}");
                }
            }
        } else {
            assert!(!text.contains("http-equiv=\"refresh\""), "{text}");
            return page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the verification did not end within 20 s");
}

#[tokio::test]
async fn verify_now_needs_the_form_token_and_reports_a_pass() {
    let (api, sizes) = api_with_checkpoints();
    let session = Session::sign_in(&api).await;
    session
        .post("/console/ledger/verify", &[])
        .await
        .expect(403);
    session
        .post("/console/ledger/verify", &[("csrf", "forged")])
        .await
        .expect(403);
    let csrf = session.csrf().await;
    let started = session
        .post("/console/ledger/verify", &[("csrf", &csrf)])
        .await
        .expect(303);
    let location = started.header("location").unwrap();
    assert_eq!(location, "/console/ledger/verify/1");
    let done = wait_for_outcome(&session, &location).await;
    done.contains("<p class=\"notice\" role=\"status\">Verification passed: ")
        .contains(&format!(
            "{} records verified, {} stored checkpoints checked, in ",
            api.fx.size(),
            sizes.len()
        ));
    // The ledger page links the run; another run gets the next id.
    session
        .get("/console/ledger")
        .await
        .expect(200)
        .contains("href=\"/console/ledger/verify/1\"")
        .contains(": passed");
    // Runs are spaced: asked again at once, the console shows the run that just ended.
    let again = session
        .post("/console/ledger/verify", &[("csrf", &csrf)])
        .await
        .expect(303);
    assert_eq!(
        again.header("location").unwrap(),
        "/console/ledger/verify/1"
    );
    api.state
        .console
        .verify
        .space_runs(std::time::Duration::ZERO);
    let again = session
        .post("/console/ledger/verify", &[("csrf", &csrf)])
        .await
        .expect(303);
    let second = again.header("location").unwrap();
    assert_eq!(second, "/console/ledger/verify/2");
    wait_for_outcome(&session, &second)
        .await
        .contains("Verification passed");
    session
        .get("/console/ledger/verify/99")
        .await
        .expect(404)
        .contains("There is no verification run 99");
}

#[tokio::test]
async fn verify_now_names_the_first_tampered_record() {
    if on_postgres() {
        return; // the tampering below edits the SQLite file
    }
    let (api, sizes) = api_with_checkpoints();
    // The first record after the first checkpoint, its model renamed (still valid JSON).
    let bad = i64::try_from(sizes[0]).unwrap();
    let conn = rusqlite::Connection::open(api.fx.ws.ledger_path()).unwrap();
    let bytes: Vec<u8> = conn
        .query_row("SELECT bytes FROM records WHERE idx = ?1", [bad], |r| {
            r.get(0)
        })
        .unwrap();
    let n = conn
        .execute(
            "UPDATE records SET bytes = ?1 WHERE idx = ?2",
            rusqlite::params![
                String::from_utf8(bytes)
                    .unwrap()
                    .replace("fraud-scorer", "fraud-scorex")
                    .into_bytes(),
                bad
            ],
        )
        .unwrap();
    assert_eq!(n, 1);

    let session = Session::sign_in(&api).await;
    let csrf = session.csrf().await;
    let started = session
        .post("/console/ledger/verify", &[("csrf", &csrf)])
        .await
        .expect(303);
    let location = started.header("location").unwrap();
    let done = wait_for_outcome(&session, &location).await;
    done.contains(&format!(
        "<p class=\"error\" role=\"alert\">Verification failed: record {bad}: "
    ))
    .contains(&format!(
        "{bad} records verified before it, 1 stored checkpoints checked"
    ));
}

/// The progress hook starts at 0 of the head's size, never goes back and ends at the size;
/// the report is that of `verify_store_against`.
#[test]
fn progress_runs_from_zero_to_the_ledger_size() {
    let (mut api, _) = api_with_checkpoints();
    decide(&mut api, 1);
    let verifier = api.fx.ws.note_verifier().unwrap();
    let mut seen = Vec::new();
    let report =
        verify_store_against_with_progress(&*api.fx.store, &verifier, &[], &mut |done, total| {
            seen.push((done, total))
        })
        .unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    let size = api.fx.size();
    assert_eq!(seen.first(), Some(&(0, size)));
    assert_eq!(seen.last(), Some(&(size, size)));
    assert!(seen
        .windows(2)
        .all(|w| w[0].0 <= w[1].0 && w[0].1 == w[1].1));
    assert_eq!(
        report,
        modelgate::ledger::verify_store_against(&*api.fx.store, &verifier, &[]).unwrap()
    );
}
