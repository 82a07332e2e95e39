//! The trust store: which keys speak for whom, in which [`Role`]s, and when.
//!
//! The [`TrustStore`] is never edited in place by an operator: it is rebuilt by replaying the
//! ledger's `key_change` records in order, each record's body being a [`KeyChange`] and its
//! record time the `at` passed to [`TrustStore::apply`]. A [`TrustedKey`] holds the key
//! material, the principal it belongs to, its roles, an optional validity window and, once
//! revoked, its [`Revocation`]. Keys are never removed, so the store always explains why an old
//! signature no longer counts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use super::{AttestError, PublicKey};
use crate::clock::{parse_rfc3339, rfc3339};

/// A governance role a key holder can act in.
///
/// Written as kebab-case strings (`model-author`, `risk-officer`, ...) everywhere: JSON, Cedar
/// inputs, CLI flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Produces the model and its metadata.
    ModelAuthor,
    /// Accountable owner of the model.
    Owner,
    /// Developer of the model.
    Developer,
    /// Independent validator.
    Validator,
    /// Risk officer (approvals for high-risk tiers, waivers).
    RiskOfficer,
    /// Business owner of the use case.
    BusinessOwner,
    /// An automated pipeline identity.
    Pipeline,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 7] = [
        Role::ModelAuthor,
        Role::Owner,
        Role::Developer,
        Role::Validator,
        Role::RiskOfficer,
        Role::BusinessOwner,
        Role::Pipeline,
    ];

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ModelAuthor => "model-author",
            Role::Owner => "owner",
            Role::Developer => "developer",
            Role::Validator => "validator",
            Role::RiskOfficer => "risk-officer",
            Role::BusinessOwner => "business-owner",
            Role::Pipeline => "pipeline",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AttestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| AttestError::UnknownRole {
                found: s.to_owned(),
                valid: Role::ALL.map(Role::as_str).join(", "),
            })
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A key in the trust store and what it may speak for.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key id (lowercase hex SHA-256 of the SPKI DER).
    pub key_id: String,
    /// Who holds the key (e-mail or service identity).
    pub principal: String,
    /// The roles signatures by this key may claim.
    pub roles: BTreeSet<Role>,
    /// Signatures count only from this instant on (inclusive), if set.
    pub not_before: Option<OffsetDateTime>,
    /// Signatures count only up to this instant (inclusive), if set.
    pub not_after: Option<OffsetDateTime>,
    /// The key material.
    pub public_key: PublicKey,
    /// Set once the key is revoked.
    pub revoked: Option<Revocation>,
}

/// When and why a key was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The time of the ledger record that revoked the key.
    pub at: OffsetDateTime,
    /// The reason given.
    pub reason: String,
}

/// The body of a `key_change` ledger record.
///
/// JSON: `{"op":"add","key_id":..,"principal":..,"roles":[..],"not_before":..,"not_after":..,
/// "public_key_pem":..}` or `{"op":"revoke","key_id":..,"reason":..}`; times are RFC 3339,
/// unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyChange {
    /// Trust a new key.
    Add {
        /// Must equal the key id of `public_key_pem`.
        key_id: String,
        /// Who holds the key; not empty.
        principal: String,
        /// At least one role.
        roles: BTreeSet<Role>,
        /// Start of the validity window (RFC 3339), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_before: Option<String>,
        /// End of the validity window (RFC 3339), if any; after `not_before`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_after: Option<String>,
        /// The public key as SPKI PEM.
        public_key_pem: String,
    },
    /// Revoke a trusted key from the record's time on.
    Revoke {
        /// The key to revoke.
        key_id: String,
        /// Why (kept for the audit trail); not empty.
        reason: String,
    },
}

impl KeyChange {
    /// An `add` change for `public_key`, with its key id and PEM filled in.
    pub fn add(
        public_key: &PublicKey,
        principal: impl Into<String>,
        roles: impl IntoIterator<Item = Role>,
        not_before: Option<OffsetDateTime>,
        not_after: Option<OffsetDateTime>,
    ) -> KeyChange {
        KeyChange::Add {
            key_id: public_key.key_id(),
            principal: principal.into(),
            roles: roles.into_iter().collect(),
            not_before: not_before.map(rfc3339),
            not_after: not_after.map(rfc3339),
            public_key_pem: public_key.to_spki_pem(),
        }
    }

    /// A `revoke` change.
    pub fn revoke(key_id: impl Into<String>, reason: impl Into<String>) -> KeyChange {
        KeyChange::Revoke {
            key_id: key_id.into(),
            reason: reason.into(),
        }
    }

    /// The key id the change is about.
    pub fn key_id(&self) -> &str {
        match self {
            KeyChange::Add { key_id, .. } | KeyChange::Revoke { key_id, .. } => key_id,
        }
    }
}

/// The set of trusted keys, rebuilt by replaying [`KeyChange`]s.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    keys: BTreeMap<String, TrustedKey>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one change recorded at `at` (the ledger record's time).
    ///
    /// A rejected change leaves the store unchanged.
    pub fn apply(&mut self, change: &KeyChange, at: OffsetDateTime) -> Result<(), AttestError> {
        match change {
            KeyChange::Add {
                key_id,
                principal,
                roles,
                not_before,
                not_after,
                public_key_pem,
            } => {
                let reject = |reason: String| AttestError::KeyChange {
                    key_id: key_id.clone(),
                    reason,
                };
                let public_key = PublicKey::from_spki_pem(public_key_pem)
                    .map_err(|e| reject(format!("`public_key_pem`: {e}")))?;
                let actual = public_key.key_id();
                if *key_id != actual {
                    return Err(reject(format!(
                        "`key_id` does not match the public key, whose id is `{actual}`"
                    )));
                }
                if principal.trim().is_empty() {
                    return Err(reject("`principal` must not be empty".into()));
                }
                if roles.is_empty() {
                    return Err(reject("`roles` must name at least one role".into()));
                }
                let parse = |field: &str, v: &Option<String>| {
                    v.as_deref()
                        .map(|s| {
                            parse_rfc3339(s).map_err(|e| {
                                reject(format!("`{field}` is not an RFC 3339 time `{s}`: {e}"))
                            })
                        })
                        .transpose()
                };
                let nb = parse("not_before", not_before)?;
                let na = parse("not_after", not_after)?;
                if let (Some(b), Some(a)) = (nb, na) {
                    if b >= a {
                        return Err(reject(format!(
                            "`not_before` ({}) must be earlier than `not_after` ({})",
                            rfc3339(b),
                            rfc3339(a)
                        )));
                    }
                }
                if self.keys.contains_key(key_id) {
                    return Err(reject("key is already in the trust store".into()));
                }
                self.keys.insert(
                    key_id.clone(),
                    TrustedKey {
                        key_id: key_id.clone(),
                        principal: principal.clone(),
                        roles: roles.clone(),
                        not_before: nb,
                        not_after: na,
                        public_key,
                        revoked: None,
                    },
                );
                Ok(())
            }
            KeyChange::Revoke { key_id, reason } => {
                let reject = |reason: String| AttestError::KeyChange {
                    key_id: key_id.clone(),
                    reason,
                };
                if reason.trim().is_empty() {
                    return Err(reject("`reason` must not be empty".into()));
                }
                let key = self
                    .keys
                    .get_mut(key_id)
                    .ok_or_else(|| reject("key is not in the trust store".into()))?;
                if let Some(r) = &key.revoked {
                    return Err(reject(format!(
                        "key was already revoked at {}",
                        rfc3339(r.at)
                    )));
                }
                key.revoked = Some(Revocation {
                    at,
                    reason: reason.clone(),
                });
                Ok(())
            }
        }
    }

    /// The key with this id, revoked or not.
    pub fn get(&self, key_id: &str) -> Option<&TrustedKey> {
        self.keys.get(key_id)
    }

    /// All keys, revoked ones included, sorted by key id.
    pub fn keys(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.values()
    }

    /// The number of keys, revoked ones included.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
