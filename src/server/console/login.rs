//! Signing in and out of the console.
//!
//! `GET /console/login` shows the form and sets a short-lived login cookie whose value the form
//! repeats (so a form posted from another site, which cannot read the cookie, is refused).
//! `POST /console/login` takes an `auditor` token, opens a session ([`super::session`]) and
//! sends the browser on to the page it asked for; a wrong token (401) or a token of another
//! role (403) gets the form again, saying why, and no session. `POST /console/logout` ends the
//! session (its form carries the session's CSRF token) and clears the cookie.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::session::{cookie, fresh_secret, set_cookie, LOGIN_COOKIE, SESSION_COOKIE};
use super::{bare_page, current_session, read_form, redirect, PageError, Viewer, CONSOLE_ROLE};
use crate::digest::sha256;
use crate::server::auth::digests_equal;
use crate::server::state::AppState;

/// How long a login form stays usable, seconds.
const LOGIN_FORM_SECONDS: i64 = 600;

/// The sign-in URL that returns to `next` afterwards.
pub fn login_url(next: &str) -> String {
    match serde_urlencoded::to_string([("next", next)]) {
        Ok(query) => format!("/console/login?{query}"),
        Err(_) => "/console/login".to_owned(),
    }
}

/// Where to go after signing in: a console path of this server, else the overview. Anything
/// that could leave the console (another host, a scheme, `//`, backslashes, control
/// characters) is refused.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if (n == "/console" || n.starts_with("/console/") || n.starts_with("/console?"))
                && !n.contains("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control)
                && !has_dot_segment(n) =>
        {
            n
        }
        _ => "/console",
    }
}

/// Whether the path part of `next` has a `.` or `..` segment (also percent-encoded), which a
/// browser would resolve to somewhere outside the console.
fn has_dot_segment(next: &str) -> bool {
    let path = next.split(['?', '#']).next().unwrap_or("");
    path.split('/').any(|segment| {
        let decoded = segment.replace("%2e", ".").replace("%2E", ".");
        decoded == "." || decoded == ".."
    })
}

/// Query of `GET /console/login`.
#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// `GET /console/login`: the form (or straight on, for a browser already signed in).
pub async fn form(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let q: LoginQuery = query
        .and_then(|q| serde_urlencoded::from_str(&q).ok())
        .unwrap_or_default();
    let next = safe_next(q.next.as_deref()).to_owned();
    if current_session(&headers, &state).is_some() {
        return redirect(&next);
    }
    let notice = q
        .signed_out
        .is_some()
        .then_some(("status", "You are signed out."));
    login_page(StatusCode::OK, &next, notice)
}

/// The sign-in form, with a fresh login cookie and an optional notice (`status` or `alert`).
fn login_page(status: StatusCode, next: &str, notice: Option<(&str, &str)>) -> Response {
    let pairing = fresh_secret();
    let body: Markup = bare_page(
        "Sign in",
        html! {
            @if let Some((role, text)) = notice {
                p.(if role == "alert" { "error" } else { "notice" }) role=(role) { (text) }
            }
            p { "The console is for auditors and compliance reviewers. Sign in with an "
                code { "auditor" } " token (" code { "modelgate token create --role auditor" } ")." }
            form.login method="post" action="/console/login" {
                input type="hidden" name="login_csrf" value=(pairing);
                input type="hidden" name="next" value=(next);
                label for="token" { "Token" }
                input #token type="password" name="token" autocomplete="off" required
                    spellcheck="false" autofocus;
                button type="submit" { "Sign in" }
            }
            p.small { "The session ends after a while, and at once if the token is withdrawn." }
        },
    );
    let mut response = (status, body).into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(LOGIN_COOKIE, &pairing, LOGIN_FORM_SECONDS)) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    response
}

/// The sign-in form as posted.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    login_csrf: String,
    next: Option<String>,
}

/// `POST /console/login`.
pub async fn submit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form: LoginForm = match read_form(body).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let next = safe_next(form.next.as_deref()).to_owned();
    let paired = cookie(&headers, LOGIN_COOKIE)
        .is_some_and(|c| digests_equal(&sha256(c.as_bytes()), &sha256(form.login_csrf.as_bytes())));
    if !paired {
        return login_page(
            StatusCode::FORBIDDEN,
            &next,
            Some((
                "alert",
                "This sign-in form expired or did not come from this console. Try again.",
            )),
        );
    }
    let digest = sha256(form.token.trim().as_bytes());
    match state.lookup_token(&digest) {
        None => {
            tracing::warn!("console sign-in refused: unknown token");
            login_page(
                StatusCode::UNAUTHORIZED,
                &next,
                Some((
                    "alert",
                    "Unknown token. Check that it was copied whole and has not been withdrawn.",
                )),
            )
        }
        Some((name, role)) if role != CONSOLE_ROLE => {
            tracing::warn!(role = role.as_str(), "console sign-in refused: wrong role");
            let message = format!(
                "This console needs a token of role `{}`; the token given has role `{}`.",
                CONSOLE_ROLE.as_str(),
                role.as_str()
            );
            drop(name);
            login_page(StatusCode::FORBIDDEN, &next, Some(("alert", &message)))
        }
        Some((name, role)) => {
            let lifetime = time::Duration::seconds(
                i64::try_from(state.settings.console_session_seconds).unwrap_or(i64::MAX / 2),
            );
            let id = state
                .console
                .sessions
                .open(digest, &name, role, state.clock.now(), lifetime);
            tracing::info!(token = %name, "console session opened");
            let mut response = redirect(&next);
            let cookies = [
                set_cookie(SESSION_COOKIE, &id, lifetime.whole_seconds()),
                set_cookie(LOGIN_COOKIE, "", 0),
            ];
            for c in cookies {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    response.headers_mut().append(SET_COOKIE, v);
                }
            }
            response
        }
    }
}

/// The sign-out form as posted.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// `POST /console/logout`.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    let form: LogoutForm = read_form(body).await?;
    viewer.check_csrf(&form.csrf)?;
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        state.console.sessions.close(id);
    }
    let mut response = redirect("/console/login?signed_out=1");
    if let Ok(v) = HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", 0)) {
        response.headers_mut().append(SET_COOKIE, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        for good in [
            "/console",
            "/console/decisions?outcome=deny",
            "/console/models/a%20b",
        ] {
            assert_eq!(safe_next(Some(good)), good);
        }
        for bad in [
            "https://evil.example/console",
            "//evil.example/console",
            "/console//evil",
            "/consolex",
            "/console\\..\\x",
            "/console/\n",
            "/console/../v1/decisions",
            "/console/%2e%2E/v1/decisions",
            "/console/./x",
            "/v1/decisions",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/console");
        assert_eq!(
            login_url("/console/models?q=a&b"),
            "/console/login?next=%2Fconsole%2Fmodels%3Fq%3Da%26b"
        );
    }
}
