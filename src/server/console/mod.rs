//! The web console: server-rendered HTML pages for auditors and compliance reviewers, under
//! `/console` (`docs/console.md`).
//!
//! - **Sign-in** ([`login`]): a form exchanges an `auditor` token for a session cookie
//!   ([`session`]); every page asks for a [`Viewer`], which answers a browser without a session
//!   with a redirect to the form. Forms that change something carry the session's CSRF token.
//! - **Pages**: [`overview`], [`decisions`], [`models`], [`ledger`], [`reports`]. Each reads
//!   through the library (ledger store, inventory, engine replay, evidence packs) on the
//!   blocking pool and renders with `maud`, which escapes every value it interpolates.
//! - **Headers** ([`security_headers`]): a Content-Security-Policy that allows scripts, styles
//!   and images from this origin only (no inline script or style anywhere), framing denied,
//!   no referrer, no caching of pages, `nosniff`.
//!
//! The console is an adapter: it holds no business rules. What it shows is computed by the
//! modules a CLI user would call for the same answer.

pub mod decisions;
pub mod ledger;
pub mod login;
pub mod models;
pub mod overview;
pub mod reports;
pub mod session;

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use serde::de::DeserializeOwned;

use self::session::{Session, Sessions, SESSION_COOKIE};
use super::auth::ApiRole;
use super::error::{ApiError, INTERNAL_MESSAGE};
use super::state::AppState;
use crate::digest::sha256;

/// The role a console session needs.
pub const CONSOLE_ROLE: ApiRole = ApiRole::Auditor;

/// The Content-Security-Policy of every console answer.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Largest form body the console reads.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// What the console keeps between requests: sessions and the caches of its pages.
#[derive(Debug, Default)]
pub struct ConsoleState {
    /// Open sessions.
    pub sessions: Sessions,
    /// The overview's parsed latest report.
    pub overview: overview::Cache,
    /// The models pages' inventory, folded forward as the ledger grows.
    pub models: models::Cache,
    /// The ledger page's "verify now" runs.
    pub verify: ledger::VerifyJobs,
}

/// Every console route, to be merged into the server's router.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(overview::page))
        .route("/console/login", get(login::form).post(login::submit))
        .route("/console/logout", post(login::logout))
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/assets/console.js", get(script))
        .route("/console/assets/favicon.svg", get(icon))
        .route("/console/decisions", get(decisions::list))
        .route("/console/decisions/{index}", get(decisions::page))
        .route("/console/models", get(models::list))
        .route("/console/models/{name}", get(models::page))
        .route("/console/models/{name}/evidence", get(models::evidence))
        .route("/console/ledger", get(ledger::page))
        .route("/console/ledger/verify", post(ledger::start_verify))
        .route("/console/ledger/verify/{id}", get(ledger::verify_status))
        .route("/console/reports", get(reports::list))
        .route("/console/reports/{id}/{format}", get(reports::download))
        .route_layer(middleware::from_fn(security_headers))
}

/// Sets the console's security headers on every answer (pages, redirects, errors, assets).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    )
}

async fn icon() -> Response {
    asset("image/svg+xml", include_str!("assets/favicon.svg"))
}

fn asset(media: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(media)),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The signed-in reader of a page: who, and the CSRF token their forms carry.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The token's name.
    pub name: String,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Viewer {
    /// Checks a form's CSRF field against the session's, in constant time.
    pub fn check_csrf(&self, given: &str) -> Result<(), PageError> {
        if super::auth::digests_equal(&sha256(given.as_bytes()), &sha256(self.csrf.as_bytes())) {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This form is out of date or did not come from this console. Open the page again and resubmit.",
            ))
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Viewer, Response> {
        match current_session(&parts.headers, state) {
            Some(s) => Ok(Viewer {
                name: s.name,
                csrf: s.csrf,
            }),
            None if parts.method == Method::GET => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/console", |p| p.as_str());
                Err(redirect(&login::login_url(next)))
            }
            None => Err(PageError::new(
                StatusCode::UNAUTHORIZED,
                "Your session has ended or was never opened. Sign in again.",
            )
            .into_response()),
        }
    }
}

/// The session the request's cookie names, if it is open and its token is still valid with
/// the console's role.
pub fn current_session(headers: &axum::http::HeaderMap, state: &AppState) -> Option<Session> {
    let id = session::cookie(headers, SESSION_COOKIE)?;
    let s = state.console.sessions.get(id, state.clock.now())?;
    match state.lookup_token(&s.token_digest) {
        Some((_, role)) if role == CONSOLE_ROLE && s.role == CONSOLE_ROLE => Some(s),
        _ => {
            // The token was withdrawn or changed role: its sessions end with it.
            state.console.sessions.close(id);
            None
        }
    }
}

/// A `303 See Other` to `to` (a console path).
pub fn redirect(to: &str) -> Response {
    let location = HeaderValue::from_str(to).unwrap_or(HeaderValue::from_static("/console"));
    (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response()
}

/// Reads an `application/x-www-form-urlencoded` body.
pub async fn read_form<T: DeserializeOwned>(body: axum::body::Body) -> Result<T, PageError> {
    let bytes = super::read_body(body, MAX_FORM_BYTES).await?;
    serde_urlencoded::from_bytes(&bytes).map_err(|e| {
        PageError::new(
            StatusCode::BAD_REQUEST,
            format!("The form does not read: {e}"),
        )
    })
}

/// Which part of the console a page belongs to (the navigation marks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `/console`.
    Overview,
    /// `/console/decisions`.
    Decisions,
    /// `/console/models`.
    Models,
    /// `/console/ledger`.
    Ledger,
    /// `/console/reports`.
    Reports,
}

const NAV: [(Section, &str, &str); 5] = [
    (Section::Overview, "/console", "Overview"),
    (Section::Decisions, "/console/decisions", "Decisions"),
    (Section::Models, "/console/models", "Models"),
    (Section::Ledger, "/console/ledger", "Ledger"),
    (Section::Reports, "/console/reports", "Reports"),
];

/// A whole console page: head, skip link, navigation with the sign-out form, the page's
/// heading and `body`.
pub fn page(viewer: &Viewer, section: Section, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · modelgate" }
                link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "modelgate" }
                    nav aria-label="Console" {
                        ul {
                            @for (s, href, label) in NAV {
                                li {
                                    @if s == section {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    form.signout method="post" action="/console/logout" {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        span.who { "Signed in as " strong { (viewer.name) } }
                        button type="submit" { "Sign out" }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page without navigation (sign-in, errors before sign-in).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · modelgate" }
                link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/console/assets/console.css";
            }
            body {
                main id="main" .narrow {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page that could not be shown: its status and what to tell the reader. A 500's cause is
/// logged and the reader is told only that the gate stays closed.
#[derive(Debug)]
pub struct PageError {
    /// HTTP status.
    pub status: StatusCode,
    /// What the reader is told.
    pub message: String,
}

impl PageError {
    /// An error page with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }

    /// A 404 naming what is missing.
    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, message)
    }

    /// A 400 naming the problem.
    pub fn invalid(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 500: the cause is logged, the reader told only that the gate stays closed.
    pub fn internal(cause: impl Into<String>) -> PageError {
        PageError::new(StatusCode::INTERNAL_SERVER_ERROR, cause)
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError::new(e.status, e.message)
    }
}

impl From<crate::engine::EngineError> for PageError {
    fn from(e: crate::engine::EngineError) -> PageError {
        PageError::from(ApiError::from(e))
    }
}

impl From<crate::ledger::LedgerError> for PageError {
    fn from(e: crate::ledger::LedgerError) -> PageError {
        PageError::from(ApiError::from(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let message = if self.status.is_server_error() {
            tracing::error!(error = %self.message, "console page failed");
            INTERNAL_MESSAGE.to_owned()
        } else {
            self.message
        };
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = bare_page(
            title,
            html! {
                p.error role="alert" { (message) }
                p { a href="/console" { "Back to the console" } }
            },
        );
        (self.status, body).into_response()
    }
}

/// Runs `f` on the blocking pool, with page errors.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| {
            PageError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the worker failed: {e}"),
            )
        })?
}

/// A table's caption and column headings (`scope="col"`); a heading written `#Name` is a
/// number column, right-aligned, shown as `Name`.
pub fn table_head(caption: &str, columns: &[&str]) -> Markup {
    html! {
        caption { (caption) }
        thead {
            tr {
                @for c in columns {
                    @if let Some(number) = c.strip_prefix('#') {
                        th.num scope="col" { (number) }
                    } @else {
                        th scope="col" { (c) }
                    }
                }
            }
        }
    }
}

/// The console path of model `name`'s page, plus `rest` (e.g. `/evidence`): the name
/// percent-encoded as one path segment, so that a name with `/`, `?`, `#` or `%` leads to its
/// own page. A name of dots only, which a browser would resolve as `.`/`..`, leads to the list
/// filtered by it instead.
pub fn model_path(name: &str, rest: &str) -> String {
    if name.chars().all(|c| c == '.') {
        return match serde_urlencoded::to_string([("q", name)]) {
            Ok(q) => format!("/console/models?{q}"),
            Err(_) => "/console/models".to_owned(),
        };
    }
    let mut out = String::from("/console/models/");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str(rest);
    out
}

/// Shortens a digest or hash for display (`sha256:0e9bf697…`); the full value goes in `title`.
pub fn short(digest: &str) -> String {
    let cut = digest.find(':').map_or(0, |i| i + 1) + 12;
    match digest.get(..cut) {
        Some(head) if cut < digest.len() => format!("{head}…"),
        _ => digest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_paths_keep_the_name_in_one_segment() {
        assert_eq!(
            model_path("fraud-scorer", ""),
            "/console/models/fraud-scorer"
        );
        assert_eq!(
            model_path("team/x?y#z%", "/evidence"),
            "/console/models/team%2Fx%3Fy%23z%25/evidence"
        );
        assert_eq!(model_path("a b.c_~", ""), "/console/models/a%20b.c_~");
        assert_eq!(model_path("..", "/evidence"), "/console/models?q=..");
        assert_eq!(short("sha256:0123456789abcdef"), "sha256:0123456789ab…");
        assert_eq!(short("abc"), "abc");
    }
}
