//! Bearer tokens: each bound to one role; only their SHA-256 is stored.
//!
//! `modelgate token create --role R` makes a token (`mg_` + 32 random bytes, base64url), prints
//! it once and appends `{name, role, sha256}` to the workspace's `tokens.toml` (mode 0600).
//! The server loads the hashes at start (and again after an admin change); a request's token is
//! hashed and its digest compared with every stored one in constant time ([`TokenTable`],
//! [`digests_equal`]). A missing or unknown token is 401, a token of another role is 403.

use std::path::Path;

use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::attest::random_bytes;
use crate::digest::{sha256, sha256_hex};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiRole {
    /// Deploy pipelines and the admission webhook: submit attestations, ask for decisions.
    Pipeline,
    /// Read-only: decisions, ledger records, proofs, checkpoints.
    Auditor,
    /// Freeze, unfreeze, bundle reload, token management.
    Admin,
}

impl ApiRole {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiRole::Pipeline => "pipeline",
            ApiRole::Auditor => "auditor",
            ApiRole::Admin => "admin",
        }
    }
}

impl std::str::FromStr for ApiRole {
    type Err = String;
    fn from_str(s: &str) -> Result<ApiRole, String> {
        match s {
            "pipeline" => Ok(ApiRole::Pipeline),
            "auditor" => Ok(ApiRole::Auditor),
            "admin" => Ok(ApiRole::Admin),
            other => Err(format!(
                "unknown role `{other}` (expected pipeline, auditor or admin)"
            )),
        }
    }
}

/// One stored token: its name, role and the hash of the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// A unique label (who or what holds it).
    pub name: String,
    /// What it may do.
    pub role: ApiRole,
    /// Lowercase hex SHA-256 of the token text.
    pub sha256: String,
}

/// The contents of `tokens.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// Every token, in creation order.
    #[serde(default, rename = "token")]
    pub tokens: Vec<TokenEntry>,
}

/// Why the token file could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or writing the file failed.
    #[error("`{path}`: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A token with this name exists.
    #[error("a token named `{0}` already exists")]
    Exists(String),
    /// No token has this name.
    #[error("no token is named `{0}`")]
    Unknown(String),
    /// The name is empty or unusable.
    #[error("token name `{0}` must be 1 to 64 letters, digits, `.`, `_`, `-` or `@`")]
    BadName(String),
}

impl TokenFile {
    /// Reads `path`; a missing file holds no tokens.
    pub fn load(path: &Path) -> Result<TokenFile, TokenError> {
        let err = |message: String| TokenError::File {
            path: path.display().to_string(),
            message,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| err(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Writes the file (mode 0600), replacing it atomically.
    pub fn save(&self, path: &Path) -> Result<(), TokenError> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let err = |message: String| TokenError::File {
            path: path.display().to_string(),
            message,
        };
        let text = toml::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension("toml.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| err(e.to_string()))?;
        file.write_all(
            format!("# modelgate API tokens: names, roles and SHA-256 of the secrets (never the secrets)\n{text}")
                .as_bytes(),
        )
        .and_then(|()| file.sync_all())
        .map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
    }

    /// Makes a new token for `role` named `name`; returns the secret (shown once).
    pub fn create(&mut self, name: &str, role: ApiRole) -> Result<String, TokenError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if !valid {
            return Err(TokenError::BadName(name.to_owned()));
        }
        if self.tokens.iter().any(|t| t.name == name) {
            return Err(TokenError::Exists(name.to_owned()));
        }
        let secret = new_secret();
        self.tokens.push(TokenEntry {
            name: name.to_owned(),
            role,
            sha256: sha256_hex(secret.as_bytes()),
        });
        Ok(secret)
    }

    /// Withdraws the token named `name`.
    pub fn revoke(&mut self, name: &str) -> Result<TokenEntry, TokenError> {
        let at = self
            .tokens
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| TokenError::Unknown(name.to_owned()))?;
        Ok(self.tokens.remove(at))
    }
}

/// A fresh token secret: `mg_` and 32 random bytes, base64url without padding.
fn new_secret() -> String {
    use base64::Engine as _;
    format!(
        "mg_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// The stored tokens, for lookups: each one's SHA-256 (decoded), name and role.
///
/// A presented token is hashed, and its digest is compared with **every** stored digest by
/// [`digests_equal`], which takes the same time wherever two digests differ; the scan does not
/// stop at a match. So how long a lookup takes says nothing about how close a guess came to a
/// stored hash, and comparing fixed-length digests says nothing about the tokens' lengths.
#[derive(Debug, Clone, Default)]
pub struct TokenTable(Vec<([u8; 32], String, ApiRole)>);

impl From<&TokenFile> for TokenTable {
    fn from(file: &TokenFile) -> TokenTable {
        TokenTable(
            file.tokens
                .iter()
                // An entry whose `sha256` is not 64 lowercase hex digits can match no token.
                .filter_map(|t| {
                    crate::digest::parse_prefixed(&format!("sha256:{}", t.sha256))
                        .map(|digest| (digest, t.name.clone(), t.role))
                })
                .collect(),
        )
    }
}

/// Whether two SHA-256 digests are equal, in time independent of where they differ: every
/// byte pair is looked at, the differences are OR-ed together, and only the total is tested.
/// `black_box` keeps the optimiser from turning the fold into an early-exit comparison.
pub fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut difference = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        difference |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(difference) == 0
}

impl TokenTable {
    /// The name and role of the token whose SHA-256 is `digest`: every entry is compared
    /// ([`digests_equal`]), match or not.
    fn find(&self, digest: &[u8; 32]) -> Option<(&str, ApiRole)> {
        let mut found = None;
        for (stored, name, role) in &self.0 {
            let equal = digests_equal(stored, digest);
            if equal && found.is_none() {
                found = Some((name.as_str(), *role));
            }
        }
        found
    }
}

impl TokenTable {
    /// The name and role of the stored token whose SHA-256 is `digest` (console sessions look
    /// their token up again on every request, so a withdrawn token ends them).
    pub fn lookup(&self, digest: &[u8; 32]) -> Option<(String, ApiRole)> {
        self.find(digest)
            .map(|(name, role)| (name.to_owned(), role))
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// The token's role.
    pub role: ApiRole,
}

impl TokenTable {
    /// The caller behind the `Authorization: Bearer …` header, required to have `role`.
    pub fn authorize(&self, headers: &HeaderMap, role: ApiRole) -> Result<Caller, ApiError> {
        let unauthorized = |message: &str| {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message.to_owned())
        };
        let mut given = headers.get_all(axum::http::header::AUTHORIZATION).iter();
        let header = given
            .next()
            .ok_or_else(|| unauthorized("a bearer token is required"))?;
        // Authorization is a singleton field: with two, which one a proxy saw is unknowable.
        if given.next().is_some() {
            return Err(unauthorized("more than one Authorization header"));
        }
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.trim_start().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header is not `Bearer <token>`"))?;
        let (name, found) = self
            .find(&sha256(token.as_bytes()))
            .ok_or_else(|| unauthorized("unknown token"))?;
        if found != role {
            // Neither the token's name nor anything of the endpoint is told.
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this endpoint needs a token of role `{}`; the token presented has role `{}`",
                    role.as_str(),
                    found.as_str()
                ),
            ));
        }
        Ok(Caller {
            name: name.to_owned(),
            role: found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_equal_only_when_every_byte_is_equal() {
        let a = sha256(b"mg_one");
        assert!(digests_equal(&a, &a));
        assert!(digests_equal(&a, &sha256(b"mg_one")));
        assert!(!digests_equal(&a, &sha256(b"mg_two")));
        // A difference in the first, a middle or the last byte alone is seen.
        for at in [0, 13, 31] {
            let mut b = a;
            b[at] ^= 0x01;
            assert!(!digests_equal(&a, &b), "difference at byte {at}");
            b[at] ^= 0x81;
            assert!(!digests_equal(&a, &b), "difference at byte {at}");
        }
        assert!(digests_equal(&[0; 32], &[0; 32]));
        assert!(!digests_equal(&[0; 32], &[0xff; 32]));
    }

    #[test]
    fn a_token_is_found_by_its_digest_and_bad_hash_entries_match_nothing() {
        let mut file = TokenFile::default();
        let ci = file.create("ci", ApiRole::Pipeline).unwrap();
        let audit = file.create("audit", ApiRole::Auditor).unwrap();
        file.tokens.push(TokenEntry {
            name: "broken".into(),
            role: ApiRole::Admin,
            sha256: "not hex".into(),
        });
        file.tokens.push(TokenEntry {
            name: "upper".into(),
            role: ApiRole::Admin,
            sha256: sha256_hex(b"mg_upper").to_uppercase(),
        });
        let table = TokenTable::from(&file);
        assert_eq!(
            table.find(&sha256(ci.as_bytes())),
            Some(("ci", ApiRole::Pipeline))
        );
        assert_eq!(
            table.find(&sha256(audit.as_bytes())),
            Some(("audit", ApiRole::Auditor))
        );
        assert_eq!(table.find(&sha256(b"mg_unknown")), None);
        assert_eq!(table.find(&sha256(b"mg_upper")), None);
        assert_eq!(table.0.len(), 2);
    }
}
