//! Console sign-in, sessions and CSRF through the router: a token is exchanged for an
//! `HttpOnly`, `Secure`, `SameSite=Strict` session cookie; wrong tokens and roles, forged forms,
//! ended sessions and withdrawn tokens are refused; every answer carries the security headers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod console_support;
mod http_support;

use console_support::{send, submit_login, Session, LOGIN, SESSION};
use http_support::Api;
use std::sync::{Arc, Mutex};

use modelgate::clock::Clock;
use modelgate::server::auth::{ApiRole, TokenFile};
use modelgate::server::state::AppState;
use modelgate::workspace::Workspace;
use time::OffsetDateTime;

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in_and_back() {
    let api = Api::new();
    for path in [
        "/console",
        "/console/decisions?outcome=deny",
        "/console/ledger",
    ] {
        let page = send(&api, "GET", path, &[], None).await.expect(303);
        let to = page.header("location").unwrap();
        assert!(to.starts_with("/console/login?next="), "{to}");
        let next: Vec<(String, String)> =
            serde_urlencoded::from_str(to.split_once('?').unwrap().1).unwrap();
        assert_eq!(next, vec![("next".to_owned(), path.to_owned())]);
    }
    let answer = submit_login(&api, &api.auditor, "/console/decisions?outcome=deny")
        .await
        .expect(303);
    assert_eq!(
        answer.header("location").as_deref(),
        Some("/console/decisions?outcome=deny")
    );
    let cookies = answer.set_cookies();
    let session = cookies.iter().find(|c| c.starts_with(SESSION)).unwrap();
    for attribute in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=900",
    ] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(
        cookies.iter().any(|c| c.starts_with(&format!("{LOGIN}=;"))),
        "the pairing cookie is cleared"
    );
}

#[tokio::test]
async fn only_an_auditor_token_opens_a_session() {
    let api = Api::new();
    for (token, status, says) in [
        (
            api.pipeline.as_str(),
            403,
            "needs a token of role `auditor`; the token given has role `pipeline`",
        ),
        (api.admin.as_str(), 403, "the token given has role `admin`"),
        (http_support::UNKNOWN_TOKEN, 401, "Unknown token"),
        ("", 401, "Unknown token"),
    ] {
        let page = submit_login(&api, token, "/console").await.expect(status);
        page.contains(says);
        assert!(page.cookie(SESSION).is_none(), "no session for {status}");
    }
    assert!(api.state.console.sessions.is_empty());
}

#[tokio::test]
async fn a_login_form_posted_without_its_pairing_cookie_is_refused() {
    let api = Api::new();
    let form = send(&api, "GET", "/console/login", &[], None)
        .await
        .expect(200);
    let login_csrf = form.hidden("login_csrf");
    let fields = [
        ("token", api.auditor.as_str()),
        ("login_csrf", login_csrf.as_str()),
    ];
    for cookies in [vec![], vec![(LOGIN, "someone-elses")]] {
        let page = send(&api, "POST", "/console/login", &cookies, Some(&fields))
            .await
            .expect(403);
        page.contains("did not come from this console");
        assert!(page.cookie(SESSION).is_none());
    }
}

#[tokio::test]
async fn sign_in_never_sends_the_browser_off_the_console() {
    let api = Api::new();
    for next in [
        "https://evil.example/",
        "//evil.example/console",
        "/v1/decisions",
    ] {
        let answer = submit_login(&api, &api.auditor, next).await.expect(303);
        assert_eq!(
            answer.header("location").as_deref(),
            Some("/console"),
            "{next}"
        );
    }
}

/// A clock a test moves forward.
struct MovingClock(Mutex<OffsetDateTime>);

impl Clock for MovingClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

#[tokio::test]
async fn a_session_ends_at_its_lifetime() {
    let mut api = Api::new();
    let clock = Arc::new(MovingClock(Mutex::new(common::now())));
    let ws = Workspace::open(api.fx.dir.path()).unwrap();
    let mut state = AppState::open(ws, clock.clone()).unwrap();
    state.settings.console_session_seconds = 60;
    api.state = Arc::new(state);
    let session = Session::sign_in(&api).await;
    *clock.0.lock().unwrap() += time::Duration::seconds(59);
    session.get("/console").await.expect(200);
    *clock.0.lock().unwrap() += time::Duration::seconds(1);
    let page = session.get("/console").await.expect(303);
    assert!(page
        .header("location")
        .unwrap()
        .starts_with("/console/login"));
    assert!(
        api.state.console.sessions.is_empty(),
        "the ended session is dropped"
    );
}

#[test]
fn a_session_lifetime_outside_one_second_to_a_day_is_refused() {
    let api = Api::new();
    let config = api.fx.dir.path().join("modelgate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    for bad in ["0", "86401"] {
        std::fs::write(
            &config,
            format!("{text}\n[server]\nconsole_session_seconds = {bad}\n"),
        )
        .unwrap();
        let err = Workspace::open(api.fx.dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("console_session_seconds = ") && err.contains("must be from 1 to 86400"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn withdrawing_the_token_ends_its_sessions() {
    let api = Api::new();
    let session = Session::sign_in(&api).await;
    session.get("/console/reports").await.expect(200);
    let mut file = TokenFile::load(&api.state.ws.tokens_path()).unwrap();
    file.revoke("audit-team").unwrap();
    file.create("audit-team", ApiRole::Pipeline).unwrap();
    file.save(&api.state.ws.tokens_path()).unwrap();
    api.state.reload_tokens().unwrap();
    session.get("/console/reports").await.expect(303);
    assert!(api.state.console.sessions.is_empty());
}

#[tokio::test]
async fn sign_out_needs_the_session_csrf_token_and_ends_the_session() {
    let api = Api::new();
    let session = Session::sign_in(&api).await;
    let csrf = session.csrf().await;
    session
        .post("/console/logout", &[("csrf", "forged")])
        .await
        .expect(403)
        .contains("did not come from this console");
    session.get("/console").await.expect(200);
    // Without a session a form is a 401, not a redirect.
    send(
        &api,
        "POST",
        "/console/logout",
        &[],
        Some(&[("csrf", &csrf)]),
    )
    .await
    .expect(401);
    let out = session
        .post("/console/logout", &[("csrf", &csrf)])
        .await
        .expect(303);
    assert_eq!(
        out.header("location").as_deref(),
        Some("/console/login?signed_out=1")
    );
    assert!(out
        .set_cookies()
        .iter()
        .any(|c| c.starts_with(&format!("{SESSION}=;")) && c.contains("Max-Age=0")));
    session.get("/console").await.expect(303);
    send(&api, "GET", "/console/login?signed_out=1", &[], None)
        .await
        .expect(200)
        .contains("You are signed out.");
}

#[tokio::test]
async fn a_bearer_token_alone_opens_no_console_page() {
    let api = Api::new();
    let answer = api.send("GET", "/console", Some(&api.auditor), None).await;
    assert_eq!(answer.status.as_u16(), 303);
}

#[tokio::test]
async fn assets_are_served_with_the_same_headers() {
    let api = Api::new();
    let css = send(&api, "GET", "/console/assets/console.css", &[], None)
        .await
        .expect(200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    let js = send(&api, "GET", "/console/assets/console.js", &[], None)
        .await
        .expect(200);
    assert!(js
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
}
