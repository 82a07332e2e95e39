//! Admin endpoints (freeze, bundle reload, tokens) and the open ones (probes, metrics).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::{complete, request, with};
use crate::http_support::Api;
use modelgate::ledger::Store as _;
use serde_json::{json, Value};

/// The incident playbook over HTTP: freeze production, a complete request is denied (naming
/// the freeze), unfreeze, the same request is allowed. Freezes are ledger records.
#[tokio::test]
async fn freeze_denies_promotions_until_unfreeze() {
    let api = Api::new();
    let (md, approvals) = complete("fraud-scorer", "1.4.0", 2);
    let req = request(
        "fraud-scorer",
        "1.4.0",
        "production",
        &with(&md, &approvals),
    );
    let frozen = api
        .post(
            "/v1/admin/freeze",
            &api.admin,
            &json!({"environment": "production", "reason": "INC-42 payment outage"}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(frozen["frozen"], true);
    let record = frozen["record"].as_u64().unwrap();
    assert!(
        api.fx.store.record(record).unwrap().is_some(),
        "the freeze is a ledger record"
    );
    let denied = api.decide(&req).await.expect(200).json();
    assert_eq!(denied["decision"], "deny", "{denied:#}");
    assert!(
        denied["freeze"].is_object(),
        "the deny names the freeze: {denied:#}"
    );

    api.post(
        "/v1/admin/freeze",
        &api.admin,
        &json!({"environment": "moon", "reason": "x"}),
    )
    .await
    .expect(422);
    api.post(
        "/v1/admin/freeze",
        &api.admin,
        &json!({"environment": "production"}),
    )
    .await
    .expect(400);
    let lifted = api
        .post(
            "/v1/admin/unfreeze",
            &api.admin,
            &json!({"environment": "production"}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(lifted["frozen"], false);
    let allowed = api.decide(&req).await.expect(200).json();
    assert_eq!(allowed["decision"], "allow", "{allowed:#}");
}

/// A broken policy directory is refused on reload (422, the exact error) and the active bundle
/// keeps deciding; a reload of the unchanged good bundle succeeds without a new activation.
#[tokio::test]
async fn a_refused_bundle_reload_is_422_and_decisions_keep_the_active_digest() {
    let api = Api::new();
    let (md, approvals) = complete("fraud-scorer", "1.4.0", 2);
    let req = request(
        "fraud-scorer",
        "1.4.0",
        "production",
        &with(&md, &approvals),
    );
    let first = api.decide(&req).await.expect(200).json();
    let digest = first["bundle_digest"].as_str().unwrap().to_owned();

    let broken = api.fx.ws.policy_dir().join("zz-broken.cedar");
    std::fs::write(
        &broken,
        "permit(principal, action, resource) when { nonsense };",
    )
    .unwrap();
    let a = api
        .send("POST", "/v1/admin/bundle/reload", Some(&api.admin), None)
        .await
        .expect(422);
    assert_eq!(a.code(), "bundle_refused");
    assert!(
        a.text().contains(&digest),
        "names the bundle that keeps deciding: {}",
        a.text()
    );
    let after = api.decide(&req).await.expect(200).json();
    assert_eq!(after["bundle_digest"], digest.as_str());
    assert_eq!(after["decision"], "allow");

    std::fs::remove_file(&broken).unwrap();
    let ok = api
        .send("POST", "/v1/admin/bundle/reload", Some(&api.admin), None)
        .await
        .expect(200)
        .json();
    assert_eq!(ok["bundle_digest"], digest.as_str());
    assert_eq!(
        ok["activation_record"],
        Value::Null,
        "same bundle: no new activation"
    );
}

/// A token made through the API works on its very next request; revoking it stops it at once;
/// listings never show secrets or hashes.
#[tokio::test]
async fn a_token_created_through_the_api_works_at_once_and_revoking_it_stops_it() {
    let api = Api::new();
    let created = api
        .post(
            "/v1/admin/tokens",
            &api.admin,
            &json!({"name": "deployer", "role": "auditor"}),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(created["role"], "auditor");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("mg_"));
    api.get("/v1/ledger/vkey", &token).await.expect(200);
    api.send("POST", "/v1/decisions", Some(&token), Some(b"{}".to_vec()))
        .await
        .expect(403);

    let listed = api
        .get("/v1/admin/tokens", &api.admin)
        .await
        .expect(200)
        .text();
    assert!(listed.contains("deployer"));
    let stored = std::fs::read_to_string(api.fx.ws.tokens_path()).unwrap();
    assert!(!stored.contains(&token), "only the hash is stored");
    for secret in [&token, &api.pipeline, &api.auditor, &api.admin] {
        assert!(!listed.contains(secret.as_str()));
        assert!(!listed.contains(&modelgate::digest::sha256_hex(secret.as_bytes())));
    }

    api.post(
        "/v1/admin/tokens",
        &api.admin,
        &json!({"name": "deployer", "role": "admin"}),
    )
    .await
    .expect(409);
    api.post(
        "/v1/admin/tokens",
        &api.admin,
        &json!({"name": "no spaces", "role": "admin"}),
    )
    .await
    .expect(400);
    api.post(
        "/v1/admin/tokens",
        &api.admin,
        &json!({"name": "x", "role": "root"}),
    )
    .await
    .expect(400);

    let revoked = api
        .send(
            "DELETE",
            "/v1/admin/tokens/deployer",
            Some(&api.admin),
            None,
        )
        .await
        .expect(200)
        .json();
    assert_eq!(revoked["revoked"], true);
    let a = api.get("/v1/ledger/vkey", &token).await.expect(401);
    assert_eq!(a.code(), "unauthorized");
    api.send(
        "DELETE",
        "/v1/admin/tokens/deployer",
        Some(&api.admin),
        None,
    )
    .await
    .expect(404);
    api.get("/v1/ledger/vkey", &api.auditor).await.expect(200);
}

/// Probes and metrics: `/healthz` and `/readyz` are 200 with their checks; `/metrics` is
/// OpenMetrics text that counts a decision by outcome, tier and environment.
#[tokio::test]
async fn probes_answer_and_metrics_count_a_decision() {
    let api = Api::new();
    let health = api
        .send("GET", "/healthz", None, None)
        .await
        .expect(200)
        .json();
    assert_eq!(health["status"], "ok");
    let ready = api
        .send("GET", "/readyz", None, None)
        .await
        .expect(200)
        .json();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["checks"]["ledger_writable"], true);
    assert!(ready["checks"]["bundle"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));

    let counted = |text: &str| {
        text.lines().any(|l| {
            l.starts_with("modelgate_decisions_total{")
                && l.contains("outcome=\"allow\"")
                && l.contains("tier=\"2\"")
                && l.contains("environment=\"production\"")
                && l.ends_with(" 1")
        })
    };
    let before = api.send("GET", "/metrics", None, None).await.expect(200);
    assert!(before.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(!counted(&before.text()));
    let (md, approvals) = complete("fraud-scorer", "1.4.0", 2);
    api.decide(&request(
        "fraud-scorer",
        "1.4.0",
        "production",
        &with(&md, &approvals),
    ))
    .await
    .expect(200);
    let after = api
        .send("GET", "/metrics", None, None)
        .await
        .expect(200)
        .text();
    assert!(counted(&after), "{after}");
    for name in [
        "modelgate_decision_seconds_bucket",
        "modelgate_ledger_batch_seconds_bucket",
        "modelgate_ledger_batch_records_bucket",
        "modelgate_http_responses_total{status=\"200\"}",
    ] {
        assert!(after.contains(name), "{name} missing:\n{after}");
    }
    assert!(after.trim_end().ends_with("# EOF"));
}
