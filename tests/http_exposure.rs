//! The auth and exposure matrix: every row of `server::routes()` (so a new endpoint is covered
//! the day it is added) × every kind of caller — no `Authorization` header, malformed headers,
//! unknown, revoked and hash-as-token credentials, duplicate headers, and a token of each role
//! of `ApiRole` — against a workspace holding a decision, a checkpoint, a kept report and
//! tokens, with path parameters filled from that data. Open endpoints answer anyone; a
//! protected one answers 401 (with `WWW-Authenticate`) or 403 whose body is exactly the shared
//! error shape with a fixed message (no record, decision, token name or hash), does nothing
//! (the ledger and `tokens.toml` are unchanged), and lets its own role through.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod http_support;

#[path = "http_exposure/world.rs"]
mod world;

use axum::http::HeaderValue;
use http_support::{Answer, UNKNOWN_TOKEN};
use modelgate::digest::sha256_hex;
use modelgate::ledger::Store as _;
use modelgate::server::auth::ApiRole;
use modelgate::server::routes;
use serde_json::json;
use world::{all_roles, bearer, raw, World};

/// Endpoints open to anyone, by path. A route without a role that is not here (or in
/// [`SIGNED`]) fails the matrix until it is reviewed and listed.
const OPEN: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/openapi.json"];

/// Endpoints without a bearer role that authenticate the request itself (an HMAC signature).
const SIGNED: [&str; 1] = ["/v1/integrations/mlflow/webhook"];

/// What a caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// Refused with 401 and exactly this message.
    Unauthorized(&'static str),
    /// Holds a token of this role.
    Role(ApiRole),
}

const NO_TOKEN: &str = "a bearer token is required";
const MALFORMED: &str = "the Authorization header is not `Bearer <token>`";
const UNKNOWN: &str = "unknown token";
const DUPLICATE: &str = "more than one Authorization header";

/// Every kind of caller: a label, the `Authorization` header values sent, and who that is.
fn callers(w: &World) -> Vec<(String, Vec<HeaderValue>, Who)> {
    use Who::Unauthorized as U;
    let admin = w.token(ApiRole::Admin).to_owned();
    let pipeline = w.token(ApiRole::Pipeline).to_owned();
    let mut out: Vec<(String, Vec<HeaderValue>, Who)> = vec![
        ("no header".into(), vec![], U(NO_TOKEN)),
        (
            "Basic credentials".into(),
            vec![raw("Basic dXNlcjpwYXNz")],
            U(MALFORMED),
        ),
        ("scheme only".into(), vec![raw("Bearer")], U(MALFORMED)),
        (
            "scheme and blanks".into(),
            vec![raw("Bearer    ")],
            U(MALFORMED),
        ),
        (
            "admin token without scheme".into(),
            vec![raw(&admin)],
            U(MALFORMED),
        ),
        (
            "admin token as Basic".into(),
            vec![raw(&format!("Basic {admin}"))],
            U(MALFORMED),
        ),
        (
            "admin token as Token".into(),
            vec![raw(&format!("Token {admin}"))],
            U(MALFORMED),
        ),
        (
            "opaque bytes".into(),
            vec![HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap()],
            U(MALFORMED),
        ),
        (
            "never issued".into(),
            vec![bearer(UNKNOWN_TOKEN)],
            U(UNKNOWN),
        ),
        ("revoked".into(), vec![bearer(&w.revoked)], U(UNKNOWN)),
        (
            "the admin token's stored hash".into(),
            vec![bearer(&sha256_hex(admin.as_bytes()))],
            U(UNKNOWN),
        ),
        (
            "admin token plus a byte".into(),
            vec![bearer(&format!("{admin}x"))],
            U(UNKNOWN),
        ),
        (
            "admin token cut short".into(),
            vec![bearer(&admin[..admin.len() - 1])],
            U(UNKNOWN),
        ),
        (
            "admin token and more".into(),
            vec![bearer(&format!("{admin} {admin}"))],
            U(UNKNOWN),
        ),
        (
            "pipeline then admin header".into(),
            vec![bearer(&pipeline), bearer(&admin)],
            U(DUPLICATE),
        ),
        (
            "admin header twice".into(),
            vec![bearer(&admin), bearer(&admin)],
            U(DUPLICATE),
        ),
    ];
    for role in all_roles() {
        out.push((
            format!("{} token", role.as_str()),
            vec![bearer(w.token(role))],
            Who::Role(role),
        ));
    }
    out
}

/// Asserts that a refusal says nothing but the shared error shape with the expected code and
/// message, carries no header beyond the content type, length and (401) `WWW-Authenticate`,
/// and contains none of the workspace's data.
fn assert_bare_refusal(
    a: &Answer,
    status: u16,
    code: &str,
    message: &str,
    data: &[String],
    what: &str,
) {
    let text = String::from_utf8_lossy(&a.body);
    assert_eq!(a.status.as_u16(), status, "{what}: {text}");
    assert_eq!(
        a.json(),
        json!({"error": {"code": code, "message": message}}),
        "{what}: the body is exactly the error"
    );
    for name in a.headers.keys() {
        assert!(
            ["content-type", "content-length", "www-authenticate"].contains(&name.as_str()),
            "{what}: unexpected header `{name}` on a refusal"
        );
    }
    if status == 401 {
        assert_eq!(
            a.headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer realm=\"modelgate\""),
            "{what}"
        );
    }
    for d in data {
        assert!(
            !text.contains(d.as_str()),
            "{what}: the refusal contains `{d}`: {text}"
        );
    }
}

/// Whether `a` is the router's own 404/405 (no such route), not the endpoint's answer.
fn is_unrouted(a: &Answer) -> bool {
    a.status == 405
        || (a.status == 404
            && a.json()["error"]["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("no such endpoint"))
}

/// Guards the whole matrix: every route × every caller answers as the route's role says, a
/// refusal carries no data and changes nothing, and the owning role is let through.
#[tokio::test]
async fn every_route_answers_every_caller_as_its_role_says_and_refusals_say_nothing() {
    let w = World::new().await;
    let data = w.data();
    let callers = callers(&w);
    let table = routes();
    for role in all_roles() {
        assert!(
            table.iter().any(|r| r.role == Some(role)),
            "role {role:?} owns no route"
        );
    }
    let ledger_before = w.fx.store.size().unwrap();
    let tokens_before = std::fs::read(w.fx.ws.tokens_path()).unwrap();
    let mut cells = 0;
    let mut allowed_later = Vec::new();

    for route in &table {
        let path = w.path(route);
        for (label, headers, who) in &callers {
            let what = format!("{route:?} ({path}) as {label}");
            match (route.role, who) {
                (None, _) if OPEN.contains(&route.path) => {
                    let a = w.send(route.method, &path, headers, w.body(route)).await;
                    assert!(a.status.is_success(), "{what}: open, but {}", a.status);
                    let text = String::from_utf8_lossy(&a.body);
                    // `/readyz` names the active bundle's digest by design; nothing else shows.
                    let bundle = w.state.engine().bundle().digest().to_owned();
                    for d in data.iter().filter(|d| **d != bundle) {
                        assert!(
                            !text.contains(d.as_str()),
                            "{what}: open endpoint shows `{d}`"
                        );
                    }
                }
                (None, _) if SIGNED.contains(&route.path) => {
                    // A bearer token is no signature: refused whoever sends it.
                    let a = w.send(route.method, &path, headers, w.body(route)).await;
                    assert_eq!(
                        a.status,
                        401,
                        "{what}: {}",
                        String::from_utf8_lossy(&a.body)
                    );
                    assert_eq!(a.code(), "invalid_signature", "{what}");
                    let text = String::from_utf8_lossy(&a.body);
                    for d in &data {
                        assert!(!text.contains(d.as_str()), "{what}: shows `{d}`");
                    }
                }
                (None, _) => panic!(
                    "{route:?} has no role and is not a reviewed open or signed endpoint: give \
                     it a role in routes(), or review it and list it in OPEN or SIGNED"
                ),
                (Some(_), Who::Unauthorized(message)) => {
                    let a = w.send(route.method, &path, headers, w.body(route)).await;
                    assert_bare_refusal(&a, 401, "unauthorized", message, &data, &what);
                }
                (Some(owner), Who::Role(role)) if owner != *role => {
                    let a = w.send(route.method, &path, headers, w.body(route)).await;
                    let message = format!(
                        "this endpoint needs a token of role `{}`; the token presented has role `{}`",
                        owner.as_str(),
                        role.as_str()
                    );
                    assert_bare_refusal(&a, 403, "forbidden", &message, &data, &what);
                }
                (Some(_), Who::Role(_)) => {
                    // Asked after every refusal, so that what it changes cannot hide a change
                    // made by a refused request.
                    allowed_later.push((route, path.clone(), headers.clone(), what));
                }
            }
            cells += 1;
        }
    }

    assert_eq!(
        w.fx.store.size().unwrap(),
        ledger_before,
        "refused requests recorded nothing"
    );
    assert_eq!(
        std::fs::read(w.fx.ws.tokens_path()).unwrap(),
        tokens_before,
        "refused requests changed no token"
    );

    for (route, path, headers, what) in allowed_later {
        let a = w.send(route.method, &path, &headers, w.body(route)).await;
        assert!(
            !is_unrouted(&a),
            "{what}: not routed: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert!(
            a.status != 401 && a.status != 403,
            "{what}: its own role was refused: {}",
            String::from_utf8_lossy(&a.body)
        );
    }
    eprintln!(
        "exposure matrix: {} endpoints × {} callers = {cells} cells",
        table.len(),
        callers.len()
    );
    assert_eq!(cells, table.len() * callers.len());
}

/// The boundaries that matter, spelled out: a pipeline token reads no ledger record, decision
/// list or evidence; an auditor cannot decide, file, freeze, reload the bundle or make tokens;
/// an admin reads no record and decides nothing. Each refusal is a 403 and changes nothing.
#[tokio::test]
async fn role_boundaries_hold_for_the_requests_that_matter() {
    let w = World::new().await;
    let data = w.data();
    let by_path = |method: &str, path: &str| {
        routes()
            .into_iter()
            .find(|r| r.method == method && r.path == path)
            .unwrap_or_else(|| panic!("{method} {path} is not in routes()"))
    };
    let cases: [(ApiRole, &str, &str); 13] = [
        (ApiRole::Pipeline, "GET", "/v1/ledger/records/{index}"),
        (ApiRole::Pipeline, "GET", "/v1/ledger/records/{index}/proof"),
        (ApiRole::Pipeline, "GET", "/v1/decisions"),
        (ApiRole::Pipeline, "GET", "/v1/models/{name}/evidence"),
        (ApiRole::Pipeline, "POST", "/v1/admin/tokens"),
        (ApiRole::Auditor, "POST", "/v1/decisions"),
        (ApiRole::Auditor, "POST", "/v1/attestations"),
        (ApiRole::Auditor, "POST", "/v1/admin/freeze"),
        (ApiRole::Auditor, "POST", "/v1/admin/bundle/reload"),
        (ApiRole::Auditor, "POST", "/v1/admin/tokens"),
        (ApiRole::Auditor, "DELETE", "/v1/admin/tokens/{name}"),
        (ApiRole::Admin, "GET", "/v1/ledger/records/{index}"),
        (ApiRole::Admin, "POST", "/v1/decisions"),
    ];
    let ledger_before = w.fx.store.size().unwrap();
    let tokens_before = std::fs::read(w.fx.ws.tokens_path()).unwrap();
    for (role, method, template) in cases {
        let route = by_path(method, template);
        let owner = route.role.expect("a protected route");
        assert_ne!(owner, role, "{route:?}");
        let path = w.path(&route);
        let a = w
            .send(method, &path, &[bearer(w.token(role))], w.body(&route))
            .await;
        let message = format!(
            "this endpoint needs a token of role `{}`; the token presented has role `{}`",
            owner.as_str(),
            role.as_str()
        );
        let what = format!("{role:?} {method} {path}");
        assert_bare_refusal(&a, 403, "forbidden", &message, &data, &what);
    }
    assert_eq!(
        w.fx.store.size().unwrap(),
        ledger_before,
        "nothing recorded"
    );
    assert_eq!(
        std::fs::read(w.fx.ws.tokens_path()).unwrap(),
        tokens_before,
        "no token made or withdrawn"
    );
    assert!(
        !w.state.engine().bundle().digest().is_empty(),
        "the bundle still decides"
    );
    // The same requests from the owning roles do work: the refusals were about the role.
    let record = w
        .send(
            "GET",
            &format!("/v1/ledger/records/{}", w.record),
            &[bearer(w.token(ApiRole::Auditor))],
            None,
        )
        .await;
    assert_eq!(record.status, 200);
    let decided = w
        .send(
            "POST",
            "/v1/decisions",
            &[bearer(w.token(ApiRole::Pipeline))],
            w.body(&by_path("POST", "/v1/decisions")),
        )
        .await;
    assert_eq!(
        decided.status,
        200,
        "{}",
        String::from_utf8_lossy(&decided.body)
    );
    assert_eq!(decided.json()["decision"], "allow");
}
