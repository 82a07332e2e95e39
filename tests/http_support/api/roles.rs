//! Authentication and the shape of errors: every route × every role, the Bearer scheme,
//! unknown paths and methods, and every 4xx the API gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::http_support::{assert_error_shape, concrete_path, Answer, Api, ROLES, UNKNOWN_TOKEN};
use modelgate::server::routes;
use serde_json::json;

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
            None if route.path == "/v1/integrations/mlflow/webhook" => {
                // Authenticated by its HMAC signature, not a token: without a secret it is off.
                for a in [&anonymous, &unknown] {
                    assert_eq!(a.status, 404, "{route:?}");
                }
            }
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

/// Every 4xx the API can give, gathered in one place: each is the shared error shape (the
/// harness checks the shape on every answer; this walks each status at least once).
#[tokio::test]
async fn every_4xx_path_returns_the_shared_error_shape() {
    let api = Api::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut note = |a: Answer| {
        assert_error_shape(&a);
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
