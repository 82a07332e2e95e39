//! Pipeline endpoints: filed attestations, allow and deny answers with receipts, invalid
//! requests, the body limit and the deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{complete, request, with};
use crate::http_support::Api;
use modelgate::attest::{pae, Envelope, PublicKey};
use modelgate::engine::receipt::{ReceiptBody, RECEIPT_PAYLOAD_TYPE};
use modelgate::ledger::Store as _;
use serde_json::{json, Value};

/// A pipeline files its envelopes once, then asks with none inline: the filed ones decide
/// (allow), and the receipt is a DSSE envelope by the engine key over this decision's ledger
/// index and leaf hash.
#[tokio::test]
async fn filed_attestations_alone_decide_an_allow_with_a_receipt_that_verifies() {
    let api = Api::new();
    let (md, approvals) = complete("fraud-scorer", "1.4.0", 2);
    let envelopes: Vec<Value> = with(&md, &approvals)
        .iter()
        .map(Envelope::to_json_value)
        .collect();
    let filed = api
        .post(
            "/v1/attestations",
            &api.pipeline,
            &json!({"model": "fraud-scorer", "version": "1.4.0", "attestations": envelopes}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(
        filed["filed"].as_array().unwrap().len(),
        1 + approvals.len()
    );

    let answer = api
        .decide(&request("fraud-scorer", "1.4.0", "production", &[]))
        .await
        .expect(200)
        .json();
    assert_eq!(answer["decision"], "allow", "{answer:#}");
    let index = answer["ledger"]["index"].as_u64().unwrap();
    let leaf = answer["ledger"]["leaf_hash"].as_str().unwrap();

    let receipt = Envelope::from_value(&answer["receipt"]).unwrap();
    assert_eq!(receipt.payload_type, RECEIPT_PAYLOAD_TYPE);
    let engine = PublicKey::from_spki_pem(
        &std::fs::read_to_string(api.fx.dir.path().join("engine.pub")).unwrap(),
    )
    .unwrap();
    assert_eq!(receipt.signatures.len(), 1);
    engine
        .verify_strict(
            &pae(&receipt.payload_type, &receipt.payload),
            &receipt.signatures[0].sig,
        )
        .expect("the receipt is signed by the engine key");
    let body: ReceiptBody = serde_json::from_slice(&receipt.payload).unwrap();
    assert_eq!(body.ledger.index, index);
    assert_eq!(body.ledger.leaf_hash, leaf);
    assert_eq!(body.decision.as_str(), "allow");
    let stored = api.fx.store.record(index).unwrap().unwrap();
    assert_eq!(
        hex::encode(stored.leaf_hash),
        leaf,
        "the receipt names the stored record"
    );
}

/// A deny is an answer, not an error: 200 with `"decision": "deny"` and its reasons.
#[tokio::test]
async fn a_deny_is_a_200_with_decision_deny() {
    let api = Api::new();
    let (md, _) = complete("fraud-scorer", "1.4.0", 2);
    let answer = api
        .decide(&request("fraud-scorer", "1.4.0", "production", &[md]))
        .await
        .expect(200)
        .json();
    assert_eq!(answer["decision"], "deny");
    assert!(!answer["reasons"].as_array().unwrap().is_empty());
    assert!(answer["receipt"].is_object(), "a deny has a receipt too");
}

/// A request the schema refuses is a 422 whose problems point into the request; nothing is
/// recorded.
#[tokio::test]
async fn an_invalid_request_is_422_with_problems_and_records_nothing() {
    let api = Api::new();
    let before = api.fx.size();
    let mut bad = request("fraud-scorer", "1.4.0", "production", &[]);
    bad["surprise"] = json!(true);
    let a = api.decide(&bad).await.expect(422);
    let problems = a.json()["error"]["problems"].as_array().unwrap().clone();
    assert!(!problems.is_empty());
    assert!(
        problems
            .iter()
            .any(|p| p["pointer"] == "" && p["message"].as_str().unwrap().contains("surprise")),
        "{problems:#?}"
    );
    let mut unknown_env = request("fraud-scorer", "1.4.0", "moon", &[]);
    unknown_env["attestations"] = json!([{"payloadType": "x", "payload": "", "signatures": []}]);
    let a = api.decide(&unknown_env).await.expect(422).json();
    assert!(a["error"]["problems"][0]["message"].is_string());
    api.send(
        "POST",
        "/v1/decisions",
        Some(&api.pipeline),
        Some(b"{not json".to_vec()),
    )
    .await
    .expect(422);
    assert_eq!(api.fx.size(), before, "an invalid request is not recorded");
}

/// The body limit (`[server] max_body_bytes`) answers 413 before anything is parsed.
#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let api = Api::new();
    let limit = api.state.settings.max_body_bytes;
    let mut big = b"{\"model\": \"".to_vec();
    big.resize(limit + 1, b'a');
    for path in ["/v1/decisions", "/v1/attestations"] {
        let a = api
            .send("POST", path, Some(&api.pipeline), Some(big.clone()))
            .await
            .expect(413);
        assert_eq!(a.code(), "payload_too_large");
    }
    let a = api
        .send("POST", "/v1/admin/freeze", Some(&api.admin), Some(big))
        .await
        .expect(413);
    assert_eq!(a.code(), "payload_too_large");
}

/// Past the per-request deadline the answer is 503 `deadline_exceeded` in the shared shape —
/// never an allow — even for a request that would be allowed.
#[tokio::test]
async fn past_the_deadline_the_answer_is_503_never_an_allow() {
    let api = Api::with_settings(|s| s.deadline_ms = 1);
    let (md, approvals) = complete("fraud-scorer", "1.4.0", 2);
    let a = api
        .decide(&request(
            "fraud-scorer",
            "1.4.0",
            "production",
            &with(&md, &approvals),
        ))
        .await
        .expect(503);
    assert_eq!(a.code(), "deadline_exceeded");
    assert!(!a.text().contains("allow\""), "{}", a.text());
    assert!(a.json().get("decision").is_none());
    api.settle().await;
}
