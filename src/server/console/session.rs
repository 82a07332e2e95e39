//! Console sessions: a token is exchanged once, at the login form, for a random session id
//! carried in an `HttpOnly`, `Secure`, `SameSite=Strict` cookie.
//!
//! The server keeps, per session, the SHA-256 of the token it was opened with, the token's name
//! and role, when it ends (an absolute lifetime, `[server] console_session_seconds`; never
//! extended) and the session's CSRF token, which every console form carries. Only the SHA-256
//! of a session id is kept, so the table alone cannot be replayed as cookies. Every request
//! looks the token up again in the live token table: a token withdrawn (or whose role changed)
//! ends its sessions at once. Sessions live in the memory of the replica that opened them; a
//! restart ends them all.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use time::OffsetDateTime;

use crate::attest::random_bytes;
use crate::digest::sha256;
use crate::server::auth::ApiRole;

/// Most sessions held at once; past it the one ending soonest is dropped.
pub const MAX_SESSIONS: usize = 10_000;

/// Most sessions one token holds at once; past it that token's session ending soonest is
/// dropped, so one token holder cannot push everyone else's sessions out.
pub const MAX_SESSIONS_PER_TOKEN: usize = 32;

/// Name of the session cookie (`__Host-`: only from a secure origin, path `/`, no domain).
pub const SESSION_COOKIE: &str = "__Host-modelgate-session";

/// Name of the cookie that pairs a login form with its submission (login CSRF).
pub const LOGIN_COOKIE: &str = "__Host-modelgate-login";

/// A fresh unguessable value: 32 random bytes, base64url without padding.
pub fn fresh_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// One open session, as a request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the token the session was opened with.
    pub token_digest: [u8; 32],
    /// The token's name.
    pub name: String,
    /// The token's role when the session was opened.
    pub role: ApiRole,
    /// When it ends.
    pub expires: OffsetDateTime,
    /// The value every form of this session must carry.
    pub csrf: String,
}

/// The open sessions of this server.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// Opens a session; returns its id (the cookie value). Ended sessions are dropped first,
    /// and past [`MAX_SESSIONS`] the one ending soonest.
    pub fn open(
        &self,
        token_digest: [u8; 32],
        name: &str,
        role: ApiRole,
        now: OffsetDateTime,
        lifetime: time::Duration,
    ) -> String {
        let id = fresh_secret();
        let session = Session {
            token_digest,
            name: name.to_owned(),
            role,
            expires: now.checked_add(lifetime).unwrap_or(now),
            csrf: fresh_secret(),
        };
        let mut open = self.lock();
        open.retain(|_, s| s.expires > now);
        let soonest = |open: &HashMap<[u8; 32], Session>, same_token: bool| {
            open.iter()
                .filter(|(_, s)| !same_token || s.token_digest == token_digest)
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| *k)
        };
        let held = open
            .values()
            .filter(|s| s.token_digest == token_digest)
            .count();
        if held >= MAX_SESSIONS_PER_TOKEN {
            if let Some(key) = soonest(&open, true) {
                open.remove(&key);
            }
        }
        if open.len() >= MAX_SESSIONS {
            if let Some(key) = soonest(&open, false) {
                open.remove(&key);
            }
        }
        open.insert(sha256(id.as_bytes()), session);
        id
    }

    /// The session with this id, if it is open at `now` (an ended one is dropped).
    pub fn get(&self, id: &str, now: OffsetDateTime) -> Option<Session> {
        let key = sha256(id.as_bytes());
        let mut open = self.lock();
        match open.get(&key) {
            Some(s) if s.expires > now => Some(s.clone()),
            Some(_) => {
                open.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session with this id.
    pub fn close(&self, id: &str) {
        self.lock().remove(&sha256(id.as_bytes()));
    }

    /// Sessions open now (ended ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        // The map holds no invariant a panicking holder could break half-way.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The value of cookie `name` in the request's `Cookie` headers, if exactly one is given.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for header in headers.get_all(axum::http::header::COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                if k == name {
                    if found.is_some() {
                        // Two cookies of one name: which one is ours is unknowable.
                        return None;
                    }
                    found = Some(v.trim_matches('"'));
                }
            }
        }
    }
    found
}

/// A `Set-Cookie` value for a console cookie: host-only, whole site, `Secure`, `HttpOnly`,
/// `SameSite=Strict`, ending after `max_age_seconds` (0 deletes it).
pub fn set_cookie(name: &str, value: &str, max_age_seconds: i64) -> String {
    format!("{name}={value}; Path=/; Max-Age={max_age_seconds}; Secure; HttpOnly; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(seconds)
    }

    #[test]
    fn a_session_ends_at_its_lifetime_and_on_close() {
        let sessions = Sessions::default();
        let id = sessions.open(
            [7; 32],
            "audit",
            ApiRole::Auditor,
            at(0),
            time::Duration::seconds(60),
        );
        let s = sessions.get(&id, at(59)).unwrap();
        assert_eq!((s.name.as_str(), s.role), ("audit", ApiRole::Auditor));
        assert_ne!(s.csrf, id);
        assert!(sessions.get(&id, at(60)).is_none());
        assert!(sessions.is_empty(), "an ended session is dropped");
        let id = sessions.open(
            [7; 32],
            "audit",
            ApiRole::Auditor,
            at(0),
            time::Duration::seconds(60),
        );
        assert!(sessions.get("not-a-session", at(1)).is_none());
        sessions.close(&id);
        assert!(sessions.get(&id, at(1)).is_none());
    }

    #[test]
    fn one_token_cannot_push_out_the_sessions_of_others() {
        let sessions = Sessions::default();
        let long = time::Duration::seconds(600);
        let other = sessions.open(
            [2; 32],
            "b",
            ApiRole::Auditor,
            at(0),
            time::Duration::seconds(60),
        );
        let first = sessions.open([1; 32], "a", ApiRole::Auditor, at(1), long);
        for i in 0..(MAX_SESSIONS_PER_TOKEN as i64 + 10) {
            sessions.open([1; 32], "a", ApiRole::Auditor, at(2 + i), long);
        }
        assert_eq!(sessions.len(), MAX_SESSIONS_PER_TOKEN + 1);
        assert!(
            sessions.get(&other, at(50)).is_some(),
            "another token's session stays"
        );
        assert!(
            sessions.get(&first, at(50)).is_none(),
            "the token's oldest session went"
        );
        // A lifetime beyond the calendar ends at once instead of overflowing.
        let odd = sessions.open([3; 32], "c", ApiRole::Auditor, at(0), time::Duration::MAX);
        assert!(sessions.get(&odd, at(0)).is_none());
    }

    #[test]
    fn ids_are_fresh_and_only_their_digests_are_kept() {
        let sessions = Sessions::default();
        let a = sessions.open(
            [1; 32],
            "a",
            ApiRole::Auditor,
            at(0),
            time::Duration::seconds(9),
        );
        let b = sessions.open(
            [1; 32],
            "a",
            ApiRole::Auditor,
            at(0),
            time::Duration::seconds(9),
        );
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        let open = sessions.lock();
        assert!(open.contains_key(&sha256(a.as_bytes())));
        assert!(!open.keys().any(|k| k.as_slice() == a.as_bytes()));
    }

    #[test]
    fn cookies_are_read_only_when_given_once() {
        let mut h = HeaderMap::new();
        h.append(
            "cookie",
            HeaderValue::from_static("x=1; __Host-modelgate-session=abc"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "y"), None);
        h.append(
            "cookie",
            HeaderValue::from_static("__Host-modelgate-session=def"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), None);
        assert!(set_cookie(SESSION_COOKIE, "v", 900).contains("HttpOnly; SameSite=Strict"));
    }
}
