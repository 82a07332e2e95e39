//! Auditor endpoints: decision listing with filters and cursors, record bytes, inclusion and
//! consistency proofs checked with the library against the published verifier key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{complete, mg, request, with};
use crate::http_support::Api;
use modelgate::attest::NoteVerifier;
use modelgate::ledger::{
    open_checkpoint, parse_consistency_proof, verify_consistency, verify_inclusion,
    verify_tlog_proof,
};
use serde_json::Value;

/// Makes allow and deny decisions for two models; returns their ledger indexes in order.
async fn some_decisions(api: &Api) -> Vec<u64> {
    let mut indexes = Vec::new();
    for (model, version, approved) in [
        ("alpha", "1.0.0", true),
        ("alpha", "2.0.0", false),
        ("beta", "1.0.0", true),
        ("alpha", "3.0.0", true),
    ] {
        let (md, approvals) = complete(model, version, 2);
        let envelopes = if approved {
            with(&md, &approvals)
        } else {
            vec![md]
        };
        let a = api
            .decide(&request(model, version, "production", &envelopes))
            .await
            .expect(200)
            .json();
        assert_eq!(a["decision"], if approved { "allow" } else { "deny" });
        indexes.push(a["ledger"]["index"].as_u64().unwrap());
    }
    indexes
}

/// Lists `query` page by page (`limit` per page), following `next_cursor`; returns the ledger
/// indexes seen.
async fn list_all(api: &Api, query: &str, limit: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    let mut cursor: Option<u64> = None;
    for _ in 0..100 {
        let mut url = format!("/v1/decisions?limit={limit}{query}");
        if let Some(c) = cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = api.get(&url, &api.auditor).await.expect(200).json();
        let decisions = page["decisions"].as_array().unwrap();
        assert!(decisions.len() <= limit);
        seen.extend(
            decisions
                .iter()
                .map(|d| d["ledger"]["index"].as_u64().unwrap()),
        );
        match page["next_cursor"].as_u64() {
            Some(next) => cursor = Some(next),
            None => return seen,
        }
    }
    panic!("paging did not end");
}

/// `GET /v1/decisions`: each filter narrows the list, paging by cursor returns every match
/// once and in ledger order, and bad filters are 400s.
#[tokio::test]
async fn decision_list_filters_and_pages_by_cursor() {
    let api = Api::new();
    let idx = some_decisions(&api).await;
    let all = api
        .get("/v1/decisions", &api.auditor)
        .await
        .expect(200)
        .json();
    let listed: Vec<u64> = all["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ledger"]["index"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, idx);
    assert_eq!(all["next_cursor"], Value::Null);

    assert_eq!(list_all(&api, "", 1).await, idx);
    assert_eq!(list_all(&api, "", 3).await, idx);
    assert_eq!(
        list_all(&api, "&model=alpha", 1).await,
        vec![idx[0], idx[1], idx[3]]
    );
    assert_eq!(list_all(&api, "&outcome=deny", 2).await, vec![idx[1]]);
    assert_eq!(
        list_all(&api, "&model=alpha&version=3.0.0", 5).await,
        vec![idx[3]]
    );
    assert_eq!(
        list_all(&api, "&environment=staging", 5).await,
        Vec::<u64>::new()
    );
    let now = crate::common::NOW;
    assert_eq!(list_all(&api, &format!("&since={now}"), 5).await, idx);
    assert_eq!(
        list_all(&api, &format!("&until={now}"), 5).await,
        Vec::<u64>::new()
    );

    for bad in [
        "limit=0",
        "limit=501",
        "outcome=maybe",
        "since=yesterday",
        "cursor=-1",
        "colour=red",
    ] {
        let a = api
            .get(&format!("/v1/decisions?{bad}"), &api.auditor)
            .await
            .expect(400);
        assert_eq!(a.code(), "invalid_request", "{bad}");
    }
}

/// `GET /v1/ledger/records/{i}` returns exactly what `modelgate audit show i` prints, and the
/// record's proof verifies with the library against the key from `GET /v1/ledger/vkey`.
#[tokio::test]
async fn record_bytes_equal_audit_show_and_the_proof_verifies_with_the_published_vkey() {
    let mut api = Api::new();
    let idx = some_decisions(&api).await;
    let i = idx[2];
    let record = api
        .get(&format!("/v1/ledger/records/{i}"), &api.auditor)
        .await
        .expect(200);
    assert_eq!(record.headers["content-type"], "application/json");
    let shown = mg(api.fx.dir.path(), &["audit", "show", &i.to_string()]);
    assert!(shown.status.success());
    assert_eq!(
        record.body.as_ref(),
        shown.stdout.strip_suffix(b"\n").unwrap(),
        "record bytes differ from `audit show`"
    );
    api.get("/v1/ledger/records/9999", &api.auditor)
        .await
        .expect(404);
    api.get("/v1/ledger/records/x", &api.auditor)
        .await
        .expect(400);

    let a = api
        .get(&format!("/v1/ledger/records/{i}/proof"), &api.auditor)
        .await
        .expect(422);
    assert!(a.text().contains("no checkpoint"), "{}", a.text());
    api.get("/v1/ledger/checkpoint", &api.auditor)
        .await
        .expect(404);
    sign_checkpoint(&mut api);

    let vkey = api
        .get("/v1/ledger/vkey", &api.auditor)
        .await
        .expect(200)
        .text();
    let verifier = NoteVerifier::from_vkey(vkey.trim()).unwrap();
    let proof = api
        .get(&format!("/v1/ledger/records/{i}/proof"), &api.auditor)
        .await
        .expect(200);
    let origin = &api.fx.ws.config().origin;
    let verified = verify_tlog_proof(
        &proof.text(),
        &record.body,
        std::slice::from_ref(&verifier),
        origin,
        |l, i, s, h, r| verify_inclusion(l, i, s, h, r).is_ok(),
    )
    .expect("the proof verifies");
    assert_eq!(verified.index, i);
    let other = api
        .get(&format!("/v1/ledger/records/{}", idx[0]), &api.auditor)
        .await
        .expect(200);
    assert!(
        verify_tlog_proof(
            &proof.text(),
            &other.body,
            &[verifier],
            origin,
            |l, i, s, h, r| { verify_inclusion(l, i, s, h, r).is_ok() }
        )
        .is_err(),
        "the proof of one record does not prove another"
    );
    let size = verified.checkpoint.size;
    api.get(&format!("/v1/ledger/records/{size}/proof"), &api.auditor)
        .await
        .expect(422);
}

/// Signs and stores a checkpoint of the whole ledger, as `modelgate audit checkpoint` does.
fn sign_checkpoint(api: &mut Api) -> u64 {
    let signer = api.fx.ws.note_signer().unwrap();
    let origin = api.fx.ws.config().origin.clone();
    modelgate::engine::audit::checkpoint(&mut api.fx.store, &signer, &origin)
        .unwrap()
        .size
}

/// `GET /v1/ledger/consistency` proves the later checkpoint extends the earlier one; both
/// checkpoints come from `GET /v1/ledger/checkpoint` and verify with the published key.
#[tokio::test]
async fn consistency_between_two_published_checkpoints_verifies() {
    let mut api = Api::new();
    some_decisions(&api).await;
    sign_checkpoint(&mut api);
    let vkey = api
        .get("/v1/ledger/vkey", &api.auditor)
        .await
        .expect(200)
        .text();
    let verifiers = [NoteVerifier::from_vkey(vkey.trim()).unwrap()];
    let origin = api.fx.ws.config().origin.clone();
    let note = api
        .get("/v1/ledger/checkpoint", &api.auditor)
        .await
        .expect(200)
        .text();
    let old = open_checkpoint(&note, &verifiers, Some(&origin)).unwrap();
    some_decisions(&api).await;
    sign_checkpoint(&mut api);
    let note = api
        .get("/v1/ledger/checkpoint", &api.auditor)
        .await
        .expect(200)
        .text();
    let new = open_checkpoint(&note, &verifiers, Some(&origin)).unwrap();
    assert!(new.size > old.size);
    let text = api
        .get(
            &format!("/v1/ledger/consistency?old={}&new={}", old.size, new.size),
            &api.auditor,
        )
        .await
        .expect(200)
        .text();
    let hashes = parse_consistency_proof(&text).unwrap();
    verify_consistency(old.size, new.size, &old.root, &new.root, &hashes)
        .expect("the newer checkpoint extends the older");
    assert!(verify_consistency(old.size, new.size, &new.root, &old.root, &hashes).is_err());
    for bad in ["old=0&new=1", "old=5&new=2", "old=1&new=99999"] {
        api.get(&format!("/v1/ledger/consistency?{bad}"), &api.auditor)
            .await
            .expect(422);
    }
    api.get("/v1/ledger/consistency?old=1", &api.auditor)
        .await
        .expect(400);
}
