//! HTTP test harness: a real workspace served by `server::router` (no socket), one bearer token
//! per role, requests through `tower::ServiceExt::oneshot`, and the check that every 4xx and 5xx
//! body is the shared error shape `{"error": {"code", "message", "problems"?}}`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod openapi;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use modelgate::server::auth::{ApiRole, TokenFile};
use modelgate::server::state::AppState;
use modelgate::server::{router, serve_until, Route, ServeOptions};
use modelgate::workspace::{ServerSettings, Workspace};
use serde_json::Value;
use tokio::sync::oneshot;
use tower::ServiceExt as _;

use crate::common::Fixture;

/// The roles, in a fixed order.
pub const ROLES: [ApiRole; 3] = [ApiRole::Pipeline, ApiRole::Auditor, ApiRole::Admin];

/// A token that was never issued (well-formed, unknown to the server).
pub const UNKNOWN_TOKEN: &str = "mg_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// A served workspace: the fixture (its own ledger connection, trusted personas, fixed clock),
/// the server state and one token per role.
pub struct Api {
    pub fx: Fixture,
    pub state: Arc<AppState>,
    pub pipeline: String,
    pub auditor: String,
    pub admin: String,
}

/// One answer: status, headers, body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }

    /// The error code of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap().to_owned()
    }

    /// Asserts the status, showing the body otherwise.
    pub fn expect(self, status: u16) -> Answer {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }
}

/// Writes one token per role into `tokens.toml` of `ws` and returns them.
pub fn issue_tokens(ws: &Workspace) -> (String, String, String) {
    let mut file = TokenFile::load(&ws.tokens_path()).unwrap();
    let pipeline = file.create("ci", ApiRole::Pipeline).unwrap();
    let auditor = file.create("audit-team", ApiRole::Auditor).unwrap();
    let admin = file.create("platform", ApiRole::Admin).unwrap();
    file.save(&ws.tokens_path()).unwrap();
    (pipeline, auditor, admin)
}

impl Api {
    /// A fresh workspace with the reference bundle, trusted personas and one token per role.
    pub fn new() -> Api {
        Api::with_settings(|_| {})
    }

    /// Like [`Api::new`], with the `[server]` settings changed by `edit` before serving.
    pub fn with_settings(edit: impl FnOnce(&mut modelgate::workspace::ServerSettings)) -> Api {
        let fx = Fixture::new();
        let (pipeline, auditor, admin) = issue_tokens(&fx.ws);
        let ws = Workspace::open(fx.dir.path()).unwrap();
        let mut state = AppState::open(ws, fx.clock.clone()).unwrap();
        edit(&mut state.settings);
        Api {
            fx,
            state: Arc::new(state),
            pipeline,
            auditor,
            admin,
        }
    }

    /// The token of `role`.
    pub fn token(&self, role: ApiRole) -> &str {
        match role {
            ApiRole::Pipeline => &self.pipeline,
            ApiRole::Auditor => &self.auditor,
            ApiRole::Admin => &self.admin,
        }
    }

    /// Sends one request through the router; every 4xx/5xx answer is checked for the shared
    /// error shape.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        answer(&self.state, req).await
    }

    /// `GET path` with `token`.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send("GET", path, Some(token), None).await
    }

    /// `POST path` with `token` and the JSON `body`.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.send(
            "POST",
            path,
            Some(token),
            Some(serde_json::to_vec(body).unwrap()),
        )
        .await
    }

    /// `POST /v1/decisions` as the pipeline.
    pub async fn decide(&self, request: &Value) -> Answer {
        self.post("/v1/decisions", &self.pipeline, request).await
    }

    /// Waits (up to 10 s) until no request holds the state any more: work a request left on
    /// the blocking pool (a decision past its deadline) has finished.
    pub async fn settle(&self) {
        for _ in 0..1000 {
            if Arc::strong_count(&self.state) == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("work still holds the server state after 10 s");
    }
}

/// A concrete path for a route: `{index}` → `0`, `{name}` → `nobody`.
pub fn concrete_path(route: &Route) -> String {
    route
        .path
        .split('/')
        .map(|segment| match segment {
            "{index}" => "0",
            "{name}" => "nobody",
            other => other,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Asserts that `answer` is the shared error shape: a JSON object with exactly an `error`
/// object holding a non-empty `code`, a non-empty `message` and, optionally, a non-empty
/// `problems` list of `{pointer, message}`; nothing else.
pub fn assert_error_shape(answer: &Answer) {
    let text = String::from_utf8_lossy(&answer.body);
    let ctype = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(
        ctype, "application/json",
        "{} is not JSON: {text}",
        answer.status
    );
    let v: Value = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("{} body is not JSON ({e}): {text}", answer.status));
    let top = v.as_object().expect("an object");
    assert_eq!(top.len(), 1, "only `error` at the top: {text}");
    let error = top["error"].as_object().expect("`error` is an object");
    for key in error.keys() {
        assert!(
            ["code", "message", "problems"].contains(&key.as_str()),
            "unexpected `{key}` in {text}"
        );
    }
    let code = error["code"].as_str().expect("`code` is a string");
    assert!(
        !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "code `{code}` is not snake_case"
    );
    assert!(
        !error["message"]
            .as_str()
            .expect("`message` is a string")
            .is_empty(),
        "empty message: {text}"
    );
    if let Some(problems) = error.get("problems") {
        let problems = problems.as_array().expect("`problems` is a list");
        assert!(
            !problems.is_empty(),
            "an empty `problems` is left out: {text}"
        );
        for p in problems {
            let p = p.as_object().expect("a problem is an object");
            assert!(
                p["pointer"].is_string() && p["message"].is_string(),
                "{text}"
            );
            assert_eq!(p.len(), 2, "a problem has pointer and message only: {text}");
        }
    }
}

/// A server running on a tokio task until `stop` is sent.
pub struct Running {
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), modelgate::server::error::ApiError>>,
}

impl Running {
    pub async fn start(fx: &Fixture, edit: impl FnOnce(&mut ServerSettings)) -> Running {
        let ws = Workspace::open(fx.dir.path()).unwrap();
        let mut state = AppState::open(ws, fx.clock.clone()).unwrap();
        edit(&mut state.settings);
        let (addr_tx, addr_rx) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let options = ServeOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: None,
        };
        let task = tokio::spawn(serve_until(
            state,
            options,
            move |addr| {
                let _ = addr_tx.send(addr);
            },
            async move {
                let _ = stop_rx.await;
            },
        ));
        let addr = tokio::time::timeout(Duration::from_secs(10), addr_rx)
            .await
            .expect("the server listens within 10 s")
            .unwrap();
        Running { addr, stop, task }
    }

    /// Triggers shutdown and waits (up to 20 s) for `serve_until` to return.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("shutdown finishes within 20 s")
            .unwrap()
            .unwrap();
    }
}

/// Runs `req` through a router over `state` and reads the whole answer; every 4xx/5xx answer is
/// checked for the shared error shape.
pub async fn answer(state: &Arc<AppState>, req: Request<Body>) -> Answer {
    let response = router(Arc::clone(state)).oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let answer = Answer {
        status,
        headers,
        body,
    };
    if status.is_client_error() || status.is_server_error() {
        assert_error_shape(&answer);
    }
    answer
}
