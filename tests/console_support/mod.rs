//! Console test harness: the server's router (no socket) on a fixture workspace with one token
//! per role, a browser-like sign-in (login form, its pairing cookie, the session cookie) and
//! page requests that check the console's security headers on every answer.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use modelgate::server::router;
use modelgate::server::state::AppState;
use tower::ServiceExt as _;

use crate::http_support::Api;

/// One console answer.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Page {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status, showing the body otherwise.
    pub fn expect(self, status: u16) -> Page {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The value a `Set-Cookie` header gives cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().iter().find_map(|c| {
            let first = c.split(';').next()?;
            let (k, v) = first.split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    }

    /// The value of the hidden input `name` in the page.
    pub fn hidden(&self, name: &str) -> String {
        let text = self.text();
        let marker = format!("name=\"{name}\" value=\"");
        let at = text
            .find(&marker)
            .unwrap_or_else(|| panic!("no input `{name}` in {text}"))
            + marker.len();
        text[at..].split('"').next().unwrap().to_owned()
    }

    /// Asserts that the body contains `needle`.
    pub fn contains(&self, needle: &str) -> &Page {
        assert!(
            self.text().contains(needle),
            "`{needle}` is not on the page:\n{}",
            self.text()
        );
        self
    }
}

/// The security headers every console answer carries.
pub fn assert_security_headers(page: &Page) {
    let csp = page.header("content-security-policy").expect("a CSP");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(
        page.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        page.header("referrer-policy").as_deref(),
        Some("no-referrer")
    );
    assert!(page.header("cache-control").is_some());
    // No inline script or style a strict CSP would block, on every page the console renders
    // (a download, such as a kept HTML report, is saved, not rendered here).
    let attachment = page
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment"));
    if !attachment
        && page
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    {
        let text = page.text();
        for bad in ["<style", " style=", "onclick=", "onload=", "javascript:"] {
            assert!(!text.contains(bad), "`{bad}` on a console page:\n{text}");
        }
        for (at, _) in text.match_indices("<script") {
            let tag = &text[at..at + text[at..].find('>').unwrap()];
            assert!(
                tag.contains(" src=\"/console/assets/"),
                "inline script: {tag}"
            );
        }
    }
}

/// Sends a request through the router with the given cookies and, for a form, its fields.
pub async fn send(
    api: &Api,
    method: &str,
    path: &str,
    cookies: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> Page {
    send_to(&api.state, method, path, cookies, form).await
}

/// [`send`] to a server state.
pub async fn send_to(
    state: &Arc<AppState>,
    method: &str,
    path: &str,
    cookies: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> Page {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path);
    if !cookies.is_empty() {
        let header = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        req = req.header("cookie", header);
    }
    let req = match form {
        Some(fields) => req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(serde_urlencoded::to_string(fields).unwrap()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let response = router(Arc::clone(state)).oneshot(req).await.unwrap();
    let page = Page {
        status: response.status(),
        headers: response.headers().clone(),
        body: axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap(),
    };
    assert_security_headers(&page);
    page
}

/// The session cookie's name.
pub const SESSION: &str = "__Host-modelgate-session";
/// The login pairing cookie's name.
pub const LOGIN: &str = "__Host-modelgate-login";

/// Opens the login form and submits `token`; returns the answer to the submission.
pub async fn submit_login(api: &Api, token: &str, next: &str) -> Page {
    let form = send(api, "GET", "/console/login", &[], None)
        .await
        .expect(200);
    let pairing = form.cookie(LOGIN).expect("a login cookie");
    let login_csrf = form.hidden("login_csrf");
    send(
        api,
        "POST",
        "/console/login",
        &[(LOGIN, &pairing)],
        Some(&[
            ("token", token),
            ("login_csrf", &login_csrf),
            ("next", next),
        ]),
    )
    .await
}

/// A signed-in browser: the server it talks to and the session cookie. It holds the server
/// state, not the `Api`, so a test can go on changing the fixture's ledger.
pub struct Session {
    pub state: Arc<AppState>,
    pub cookie: String,
}

impl Session {
    /// Signs in with the auditor token.
    pub async fn sign_in(api: &Api) -> Session {
        let answer = submit_login(api, &api.auditor, "/console")
            .await
            .expect(303);
        let cookie = answer.cookie(SESSION).expect("a session cookie");
        Session {
            state: Arc::clone(&api.state),
            cookie,
        }
    }

    /// `GET path` in this session. A page that says the inventory is still loading (its first
    /// load runs in the background) is asked again until it is not (at most 60 s).
    pub async fn get(&self, path: &str) -> Page {
        let started = std::time::Instant::now();
        loop {
            let page = send_to(&self.state, "GET", path, &[(SESSION, &self.cookie)], None).await;
            let loading = page.status == StatusCode::OK
                && page
                    .text()
                    .contains("The inventory is being read from the ledger");
            if !loading {
                return page;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "`{path}` still says the inventory is loading after 60 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Posts a form in this session.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        send_to(
            &self.state,
            "POST",
            path,
            &[(SESSION, &self.cookie)],
            Some(fields),
        )
        .await
    }

    /// The session's CSRF token, as the pages' forms carry it.
    pub async fn csrf(&self) -> String {
        self.get("/console").await.expect(200).hidden("csrf")
    }
}
