//! The HTTP API through `server::router` (no socket): every route × every role, the pipeline,
//! auditor and admin flows, limits, the shared error shape of every 4xx/5xx (checked on every
//! answer by the harness), and `GET /openapi.json` against the route table and the official
//! OpenAPI 3.1 schema (checks in `http_support::openapi`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod http_support;

use common::{complete, mg, request, with};
use http_support::{concrete_path, openapi, Answer, Api, ROLES, UNKNOWN_TOKEN};
use modelgate::attest::{pae, Envelope, NoteVerifier, PublicKey};
use modelgate::engine::receipt::{ReceiptBody, RECEIPT_PAYLOAD_TYPE};
use modelgate::ledger::{
    open_checkpoint, parse_consistency_proof, verify_consistency, verify_inclusion,
    verify_tlog_proof, Store as _,
};
use modelgate::server::routes;
use serde_json::{json, Value};

/// Whether `a` is the router's own 404/405 (no route), not a handler's answer.
fn is_unrouted(a: &Answer) -> bool {
    a.status == 405
        || (a.status == 404
            && a.json()["error"]["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("no such endpoint"))
}

/// A body each POST route parses (and refuses as incomplete, past authentication).
fn probe_body(method: &str) -> Option<Vec<u8>> {
    (method == "POST").then(|| b"{}".to_vec())
}

/// Guards the role model: for every row of `routes()`, open routes answer anyone; every other
/// route answers 401 without a token or with an unknown one, 403 to each other role (with no
/// data, only the error shape), and lets its own role past authentication.
#[tokio::test]
async fn every_route_answers_each_role_as_the_table_says() {
    let owned = Api::new();
    let api = &owned;
    for route in routes() {
        let path = concrete_path(&route);
        let method = route.method;
        let ask = |token: Option<&str>| {
            let (path, token) = (path.clone(), token.map(str::to_owned));
            async move {
                api.send(method, &path, token.as_deref(), probe_body(method))
                    .await
            }
        };
        let anonymous = ask(None).await;
        let unknown = ask(Some(UNKNOWN_TOKEN)).await;
        match route.role {
            None => {
                for a in [&anonymous, &unknown] {
                    assert!(
                        a.status.is_success(),
                        "{route:?} is open but answered {}",
                        a.status
                    );
                }
                for role in ROLES {
                    let a = ask(Some(api.token(role))).await;
                    assert!(a.status.is_success(), "{route:?} as {role:?}: {}", a.status);
                }
            }
            Some(owner) => {
                for a in [&anonymous, &unknown] {
                    assert_eq!(a.status, 401, "{route:?} without a valid token");
                    assert_eq!(a.code(), "unauthorized");
                    assert!(
                        a.headers.get("www-authenticate").is_some(),
                        "{route:?}: a 401 names the Bearer scheme"
                    );
                }
                for role in ROLES {
                    let a = ask(Some(api.token(role))).await;
                    assert!(!is_unrouted(&a), "{route:?} is not routed: {}", a.text());
                    if role == owner {
                        assert!(
                            a.status != 401 && a.status != 403,
                            "{route:?}: its own role {role:?} was refused: {}",
                            a.text()
                        );
                    } else {
                        assert_eq!(a.status, 403, "{route:?} as {role:?}: {}", a.text());
                        assert_eq!(a.code(), "forbidden");
                    }
                }
            }
        }
    }
}

/// A token is accepted whatever the case of the `Bearer` scheme (RFC 9110), and a header that
/// is not `Bearer <token>` is a 401.
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_refused() {
    let api = Api::new();
    for header in [
        format!("bearer {}", api.auditor),
        format!("BEARER {}", api.auditor),
    ] {
        let req = axum::http::Request::get("/v1/ledger/vkey")
            .header("authorization", header)
            .body(axum::body::Body::empty())
            .unwrap();
        let res = tower::ServiceExt::oneshot(modelgate::server::router(api.state.clone()), req)
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    for bad in [
        "Basic dXNlcjpwYXNz".to_owned(),
        "Bearer".to_owned(),
        api.auditor.clone(),
    ] {
        let req = axum::http::Request::get("/v1/ledger/vkey")
            .header("authorization", bad)
            .body(axum::body::Body::empty())
            .unwrap();
        let res = tower::ServiceExt::oneshot(modelgate::server::router(api.state.clone()), req)
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
    }
}

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

/// Unknown paths and methods answer in the shared shape (404 / 405), not axum's plain text.
#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_in_the_shared_shape() {
    let api = Api::new();
    let a = api.get("/v1/nothing-here", &api.auditor).await.expect(404);
    assert_eq!(a.code(), "not_found");
    api.send("GET", "/", None, None).await.expect(404);
    let a = api
        .send("PUT", "/v1/decisions", Some(&api.pipeline), None)
        .await
        .expect(405);
    assert_eq!(a.code(), "method_not_allowed");
    api.send("DELETE", "/healthz", None, None).await.expect(405);
}

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
    let now = common::NOW;
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

/// Every 4xx the API can give, gathered in one place: each is the shared error shape (the
/// harness checks the shape on every answer; this walks each status at least once).
#[tokio::test]
async fn every_4xx_path_returns_the_shared_error_shape() {
    let api = Api::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut note = |a: Answer| {
        http_support::assert_error_shape(&a);
        seen.insert(a.status.as_u16());
    };
    note(
        api.get("/v1/decisions?limit=zero", &api.auditor)
            .await
            .expect(400),
    );
    note(
        api.send(
            "POST",
            "/v1/attestations",
            Some(&api.pipeline),
            Some(b"[]".to_vec()),
        )
        .await
        .expect(400),
    );
    note(
        api.send("GET", "/v1/decisions", None, None)
            .await
            .expect(401),
    );
    note(api.get("/v1/decisions", &api.pipeline).await.expect(403));
    note(
        api.get("/v1/ledger/records/424242", &api.auditor)
            .await
            .expect(404),
    );
    note(
        api.send("GET", "/v2/decisions", None, None)
            .await
            .expect(404),
    );
    note(
        api.send("PATCH", "/v1/admin/tokens", Some(&api.admin), None)
            .await
            .expect(405),
    );
    note(
        api.post(
            "/v1/admin/tokens",
            &api.admin,
            &json!({"name": "ci", "role": "pipeline"}),
        )
        .await
        .expect(409),
    );
    let mut big = vec![b' '; api.state.settings.max_body_bytes + 1];
    big[0] = b'{';
    note(
        api.send("POST", "/v1/decisions", Some(&api.pipeline), Some(big))
            .await
            .expect(413),
    );
    note(
        api.post("/v1/decisions", &api.pipeline, &json!({"model": 1}))
            .await
            .expect(422),
    );
    let garbage = json!({"model": "m", "version": "1", "attestations": [{"payload": "x"}]});
    note(
        api.post("/v1/attestations", &api.pipeline, &garbage)
            .await
            .expect(422),
    );
    let want: std::collections::BTreeSet<u16> = [400, 401, 403, 404, 405, 409, 413, 422].into();
    assert_eq!(seen, want);
}

/// `GET /openapi.json` documents every row of `routes()` — method, path parameters, query,
/// security and role, statuses — and nothing that is not routed.
#[tokio::test]
async fn openapi_matches_the_route_table() {
    let api = Api::new();
    let doc = api
        .send("GET", "/openapi.json", None, None)
        .await
        .expect(200)
        .json();
    let problems = openapi::route_problems(&doc, &routes());
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(doc, modelgate::server::openapi::document(&routes()));

    // The check is not vacuous: an extra path, a lost route and a dropped security are caught.
    let mut broken = doc.clone();
    broken["paths"]["/v1/ghost"] = json!({"get": {"responses": {}}});
    broken["paths"]
        .as_object_mut()
        .unwrap()
        .remove("/v1/ledger/vkey");
    broken["paths"]["/v1/decisions"]["get"]["security"] = json!([]);
    let found = openapi::route_problems(&broken, &routes()).join("\n");
    for expected in [
        "/v1/ghost is documented but not routed",
        "GET /v1/ledger/vkey is not in the document",
        "GET /v1/decisions: needs a token",
    ] {
        assert!(found.contains(expected), "missed `{expected}` in:\n{found}");
    }
}

/// The document is valid OpenAPI 3.1: it passes the official OpenAPI 3.1 JSON Schema, and each
/// component schema is valid JSON Schema 2020-12; a structurally broken document fails.
#[tokio::test]
async fn openapi_is_valid_openapi_3_1() {
    let api = Api::new();
    let doc = api
        .send("GET", "/openapi.json", None, None)
        .await
        .expect(200)
        .json();
    assert_eq!(doc["openapi"], "3.1.0");
    let problems = openapi::schema_problems(&doc);
    assert!(problems.is_empty(), "{problems:#?}");

    let mut broken = doc.clone();
    broken.as_object_mut().unwrap().remove("info");
    broken["paths"]["/healthz"]["get"]["responses"]["200"] = json!({"content": {}});
    assert!(
        openapi::schema_problems(&broken).len() >= 2,
        "the validator catches a missing `info` and a response without `description`"
    );
}
