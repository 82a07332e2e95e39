//! `GET /v1/models/{name}/evidence` through `server::router` (no socket): the pack it answers
//! verifies offline, is byte for byte what `Workspace::evidence_pack` and `modelgate evidence
//! build` give for the same scope, carries its SHA-256 as the `ETag`; the scope narrows it; roles,
//! bad queries, unknown models and a damaged ledger answer in the shared error shape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod http_support;

use common::{complete, mg, request, with, NOW};
use http_support::{Answer, Api};
use modelgate::digest::sha256_hex;
use modelgate::evidence::{verify_pack, Scope, VerifyOutcome};

/// Decides `(model, version)` pairs to production, all allowed; returns their ledger indexes.
async fn decide_all(api: &Api, pairs: &[(&str, &str)]) -> Vec<u64> {
    let mut indexes = Vec::new();
    for (model, version) in pairs {
        let (md, approvals) = complete(model, version, 2);
        let a = api
            .decide(&request(
                model,
                version,
                "production",
                &with(&md, &approvals),
            ))
            .await
            .expect(200)
            .json();
        assert_eq!(a["decision"], "allow", "{model} {version}");
        indexes.push(a["ledger"]["index"].as_u64().unwrap());
    }
    indexes
}

/// alpha 1.0.0, 2.0.0 and 3.0.0 and one beta decision between them.
async fn alpha_and_beta(api: &Api) -> Vec<u64> {
    decide_all(
        api,
        &[
            ("alpha", "1.0.0"),
            ("beta", "1.0.0"),
            ("alpha", "2.0.0"),
            ("alpha", "3.0.0"),
        ],
    )
    .await
}

/// Verifies `bytes` with the key inside the pack and asserts every check passed.
fn verified(bytes: &[u8]) -> VerifyOutcome {
    let outcome = verify_pack(bytes, None);
    let failed: Vec<String> = outcome
        .failures()
        .map(|c| format!("{}: {}", c.check, c.detail))
        .collect();
    assert!(outcome.ok && failed.is_empty(), "pack fails: {failed:?}");
    outcome
}

fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` header"))
        .to_str()
        .unwrap()
}

/// Guards the endpoint's promise: the answer is `application/gzip`, an attachment named after
/// the model, its `ETag` the quoted SHA-256 of the body; it verifies offline (also against the
/// published vkey), and it is byte-identical to the pack built directly from the workspace and
/// to the one `modelgate evidence build` writes — one pack whatever the adapter.
#[tokio::test]
async fn the_pack_verifies_and_is_byte_identical_to_the_library_and_cli_builds() {
    let api = Api::new();
    alpha_and_beta(&api).await;
    let a = api
        .get("/v1/models/alpha/evidence", &api.auditor)
        .await
        .expect(200);
    assert_eq!(header(&a, "content-type"), "application/gzip");
    assert_eq!(
        header(&a, "content-disposition"),
        "attachment; filename=\"alpha-evidence.tar.gz\""
    );
    assert_eq!(
        header(&a, "etag"),
        format!("\"{}\"", sha256_hex(&a.body)),
        "the ETag is the quoted SHA-256 of the body"
    );

    let outcome = verified(&a.body);
    assert_eq!(outcome.model.as_deref(), Some("alpha"));
    assert_eq!(
        outcome.decisions, 3,
        "the beta decision is not in alpha's pack"
    );
    let vkey = api
        .get("/v1/ledger/vkey", &api.auditor)
        .await
        .expect(200)
        .text();
    assert!(verify_pack(&a.body, Some(vkey.trim())).ok);

    let scope = Scope::new("alpha", None, None, None).unwrap();
    let direct = api
        .fx
        .ws
        .evidence_pack(&scope)
        .unwrap()
        .to_tar_gz()
        .unwrap();
    assert!(
        a.body.as_ref() == direct.as_slice(),
        "the HTTP pack differs from the direct build"
    );
    let out = api.fx.dir.path().join("alpha.tar.gz");
    let cli = mg(
        api.fx.dir.path(),
        &[
            "evidence",
            "build",
            "--model",
            "alpha",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(
        a.body.as_ref() == std::fs::read(&out).unwrap().as_slice(),
        "the HTTP pack differs from `evidence build`"
    );
    let again = api
        .get("/v1/models/alpha/evidence", &api.auditor)
        .await
        .expect(200);
    assert_eq!(header(&again, "etag"), header(&a, "etag"));
}

/// `version`, `since` and `until` narrow the pack exactly as `Scope` does for the CLI: the
/// version's decisions only, the window inclusive at both ends, and a scope without decisions
/// a 404.
#[tokio::test]
async fn version_and_time_window_narrow_the_pack() {
    let api = Api::new();
    alpha_and_beta(&api).await;
    let one = api
        .get("/v1/models/alpha/evidence?version=2.0.0", &api.auditor)
        .await
        .expect(200);
    assert_eq!(verified(&one.body).decisions, 1);
    let scope = Scope::new("alpha", Some("2.0.0"), None, None).unwrap();
    let direct = api
        .fx
        .ws
        .evidence_pack(&scope)
        .unwrap()
        .to_tar_gz()
        .unwrap();
    assert!(one.body.as_ref() == direct.as_slice());

    // Every decision is recorded at NOW (fixed clock): a window of exactly NOW holds them all.
    let window = api
        .get(
            &format!("/v1/models/alpha/evidence?since={NOW}&until={NOW}"),
            &api.auditor,
        )
        .await
        .expect(200);
    assert_eq!(verified(&window.body).decisions, 3);

    for empty in [
        "version=9.9.9".to_owned(),
        "until=2026-11-27T11:59:59Z".to_owned(),
        "since=2026-11-27T12:00:01Z".to_owned(),
    ] {
        let a = api
            .get(&format!("/v1/models/alpha/evidence?{empty}"), &api.auditor)
            .await
            .expect(404);
        assert_eq!(a.code(), "not_found", "{empty}");
    }
}

/// Guards the role model and input checks of the endpoint: only an auditor token reads packs
/// (401 without one, 403 for pipeline and admin tokens); an unknown model is a 404 naming it;
/// malformed or unknown query parameters are 400s; every error is the shared shape (checked
/// by the harness on each answer).
#[tokio::test]
async fn roles_unknown_models_and_bad_queries_are_refused_in_the_shared_shape() {
    let api = Api::new();
    alpha_and_beta(&api).await;
    let path = "/v1/models/alpha/evidence";
    let a = api.send("GET", path, None, None).await.expect(401);
    assert_eq!(a.code(), "unauthorized");
    for token in [&api.pipeline, &api.admin] {
        let a = api.get(path, token).await.expect(403);
        assert_eq!(a.code(), "forbidden");
    }

    let a = api
        .get("/v1/models/gamma/evidence", &api.auditor)
        .await
        .expect(404);
    assert_eq!(a.code(), "not_found");
    assert!(a.text().contains("`gamma`"), "{}", a.text());

    for bad in [
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "version=",
        "model=beta",
        "colour=red",
    ] {
        let a = api
            .get(&format!("{path}?{bad}"), &api.auditor)
            .await
            .expect(400);
        assert_eq!(a.code(), "invalid_request", "{bad}");
    }
    // An empty window is well-formed: nothing can be in it.
    let a = api
        .get(
            &format!("{path}?since=2026-11-28T00:00:00Z&until=2026-11-27T00:00:00Z"),
            &api.auditor,
        )
        .await
        .expect(404);
    assert!(a.text().contains("is after `until`"), "{}", a.text());
}

/// A model name with a `/` (allowed by the request schema) is sent percent-encoded as one path
/// segment; the pack is that model's, and the attachment's file name has the `/` replaced.
#[tokio::test]
async fn a_model_name_with_a_slash_is_one_encoded_segment_and_a_safe_file_name() {
    let api = Api::new();
    decide_all(&api, &[("team/churn", "1.0.0"), ("team", "1.0.0")]).await;
    let a = api
        .get("/v1/models/team%2Fchurn/evidence", &api.auditor)
        .await
        .expect(200);
    assert_eq!(
        header(&a, "content-disposition"),
        "attachment; filename=\"team_churn-evidence.tar.gz\""
    );
    let outcome = verified(&a.body);
    assert_eq!(outcome.model.as_deref(), Some("team/churn"));
    assert_eq!(outcome.decisions, 1);
}

/// A ledger that cannot support a pack (a decision whose stored leaf hash no longer matches its
/// bytes) is a 500 with the code `ledger_inconsistent` and the generic message: no pack, and
/// no ledger detail reaches the client.
#[tokio::test]
async fn a_damaged_ledger_is_a_500_ledger_inconsistent_without_details() {
    let api = Api::new();
    let idx = alpha_and_beta(&api).await;
    let conn = rusqlite::Connection::open(api.fx.ws.ledger_path()).unwrap();
    let n = conn
        .execute(
            "UPDATE records SET leaf_hash = ?1 WHERE idx = ?2",
            rusqlite::params![&[0u8; 32][..], idx[2] as i64],
        )
        .unwrap();
    assert_eq!(n, 1);
    let a = api
        .get("/v1/models/alpha/evidence", &api.auditor)
        .await
        .expect(500);
    assert_eq!(a.code(), "ledger_inconsistent");
    assert_eq!(
        a.json()["error"]["message"],
        modelgate::server::error::INTERNAL_MESSAGE
    );
}
