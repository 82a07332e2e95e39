//! Envelope verification against the trust store: [`verify_envelope`] and its outcomes
//! ([`VerifiedEnvelope`], [`Signer`], [`SignatureProblem`], [`SigFailure`], [`VerifyError`]).
//!
//! Order of checks, following the DSSE protocol (authenticate first, parse afterwards):
//!
//! 1. the payload type must be [`IN_TOTO_PAYLOAD_TYPE`] (it is signed too, but an envelope of
//!    another type is never worth verifying);
//! 2. every signature is checked over `PAE(payloadType, payload)` of the raw payload bytes. Its
//!    `keyid` is only a hint: the key with that id is tried first, then every other trusted key,
//!    so envelopes from tools with another keyid convention (securesystemslib) still verify.
//!    A signature *counts* when it verifies (`verify_strict`) under a key that is not revoked,
//!    whose validity window contains `now`, and that holds one of the accepted roles;
//! 3. with at least one counting signature, the payload is parsed as an in-toto Statement.
//!
//! Signatures that do not count are reported, each with the precise reason, so that logs and
//! findings say which check failed. A revoked key counts for nothing, whenever the signature was
//! made: the store replayed for a past decision simply does not hold the later revocation yet.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;

use super::{pae, Envelope, Role, Statement, TrustStore, TrustedKey, IN_TOTO_PAYLOAD_TYPE};
use crate::clock::rfc3339;

/// An envelope with at least one counting signature, and its parsed statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifiedEnvelope {
    /// The statement, parsed from the signed payload bytes.
    pub statement: Statement,
    /// `sha256:<hex>` of the raw payload bytes (what approvals bind to).
    pub payload_sha256: String,
    /// The keys whose signatures counted, one entry per key, in envelope order.
    pub signers: Vec<Signer>,
    /// The signatures that did not count, and why.
    pub problems: Vec<SignatureProblem>,
}

/// A trusted key whose signature counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// The key id.
    pub key_id: String,
    /// The principal holding the key.
    pub principal: String,
    /// All roles of the key (not only the accepted ones).
    pub roles: BTreeSet<Role>,
}

/// A signature that did not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureProblem {
    /// Position of the signature in the envelope's `signatures`.
    pub index: usize,
    /// The keyid the envelope gave for it (a hint, possibly empty).
    pub keyid_hint: String,
    /// Why it did not count.
    pub problem: SigFailure,
}

/// Why a signature did not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SigFailure {
    /// No trusted key verifies the signature (unknown signer, or tampered content).
    UnknownKey,
    /// The signature verifies under a key that has been revoked.
    Revoked {
        /// The key id.
        key_id: String,
        /// The key's principal.
        principal: String,
        /// When it was revoked.
        #[serde(serialize_with = "ser_time")]
        at: OffsetDateTime,
        /// Why it was revoked.
        reason: String,
    },
    /// The signature verifies under a key whose validity window has not started.
    NotYetValid {
        /// The key id.
        key_id: String,
        /// The key's principal.
        principal: String,
        /// Start of the key's validity window.
        #[serde(serialize_with = "ser_time")]
        not_before: OffsetDateTime,
    },
    /// The signature verifies under a key whose validity window has ended.
    Expired {
        /// The key id.
        key_id: String,
        /// The key's principal.
        principal: String,
        /// End of the key's validity window.
        #[serde(serialize_with = "ser_time")]
        not_after: OffsetDateTime,
    },
    /// The signature verifies under a key that holds none of the accepted roles.
    MissingRole {
        /// The key id.
        key_id: String,
        /// The key's principal.
        principal: String,
        /// The accepted roles (one of them is needed).
        needed: Vec<Role>,
        /// The roles the key holds.
        has: Vec<Role>,
    },
    /// The signature is not 64 bytes long, so it cannot be an Ed25519 signature.
    Malformed,
}

/// Why an envelope was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VerifyError {
    /// The envelope's payload type is not [`IN_TOTO_PAYLOAD_TYPE`].
    #[error("envelope payload type is `{found}`, expected `{IN_TOTO_PAYLOAD_TYPE}`")]
    WrongPayloadType {
        /// The payload type found.
        found: String,
    },
    /// The signed payload is not a valid in-toto Statement v1.
    #[error("signed payload is not a valid in-toto statement: {reason}")]
    MalformedStatement {
        /// The parse error.
        reason: String,
    },
    /// No signature counted (also when the envelope has no signature at all).
    #[error("no valid signature: {}", ProblemList(problems))]
    NoValidSignature {
        /// Why each signature did not count (empty when there was none).
        problems: Vec<SignatureProblem>,
    },
}

/// Verifies `env` against `trust` at `now`, accepting signatures by keys holding one of
/// `accepted_roles` (an empty slice accepts any role). See the module docs for the rules.
pub fn verify_envelope(
    env: &Envelope,
    trust: &TrustStore,
    now: OffsetDateTime,
    accepted_roles: &[Role],
) -> Result<VerifiedEnvelope, VerifyError> {
    let Signatures { signers, problems } = verify_signatures(env, trust, now, accepted_roles)?;
    let statement =
        Statement::from_payload(&env.payload).map_err(|e| VerifyError::MalformedStatement {
            reason: e.to_string(),
        })?;
    Ok(VerifiedEnvelope {
        statement,
        payload_sha256: crate::digest::sha256_prefixed(&env.payload),
        signers,
        problems,
    })
}

/// The signatures of an envelope that counted and those that did not.
#[derive(Debug, Clone, PartialEq)]
pub struct Signatures {
    /// The keys whose signatures counted, one entry per key, in envelope order (never empty).
    pub signers: Vec<Signer>,
    /// The signatures that did not count, and why.
    pub problems: Vec<SignatureProblem>,
}

/// The signature checks of [`verify_envelope`] alone, for a caller that has already parsed
/// (and validated) the statement of `env` and hashed its payload: the same rules, the same
/// errors, without parsing the payload a second time.
pub fn verify_signatures(
    env: &Envelope,
    trust: &TrustStore,
    now: OffsetDateTime,
    accepted_roles: &[Role],
) -> Result<Signatures, VerifyError> {
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(VerifyError::WrongPayloadType {
            found: env.payload_type.clone(),
        });
    }
    let msg = pae(&env.payload_type, &env.payload);
    let mut signers: Vec<Signer> = Vec::new();
    let mut problems = Vec::new();
    for (index, s) in env.signatures.iter().enumerate() {
        let outcome = if s.sig.len() != 64 {
            Err(SigFailure::Malformed)
        } else {
            match find_signing_key(trust, &s.keyid, &msg, &s.sig) {
                None => Err(SigFailure::UnknownKey),
                Some(key) => check_key(key, now, accepted_roles),
            }
        };
        match outcome {
            // A second signature by a key that already counted adds nothing.
            Ok(signer) if signers.iter().any(|x| x.key_id == signer.key_id) => {}
            Ok(signer) => signers.push(signer),
            Err(problem) => problems.push(SignatureProblem {
                index,
                keyid_hint: s.keyid.clone(),
                problem,
            }),
        }
    }
    if signers.is_empty() {
        return Err(VerifyError::NoValidSignature { problems });
    }
    Ok(Signatures { signers, problems })
}

/// The trusted key (revoked or not) under which `sig` verifies: the hinted key first, then
/// every other key in key id order.
fn find_signing_key<'a>(
    trust: &'a TrustStore,
    hint: &str,
    msg: &[u8],
    sig: &[u8],
) -> Option<&'a TrustedKey> {
    let hinted = trust.get(hint);
    hinted
        .into_iter()
        .chain(trust.keys().filter(|k| k.key_id != hint))
        .find(|k| k.public_key.verify_strict(msg, sig).is_ok())
}

fn check_key(
    key: &TrustedKey,
    now: OffsetDateTime,
    accepted_roles: &[Role],
) -> Result<Signer, SigFailure> {
    let key_id = key.key_id.clone();
    let principal = key.principal.clone();
    if let Some(r) = &key.revoked {
        return Err(SigFailure::Revoked {
            key_id,
            principal,
            at: r.at,
            reason: r.reason.clone(),
        });
    }
    if let Some(not_before) = key.not_before.filter(|nb| now < *nb) {
        return Err(SigFailure::NotYetValid {
            key_id,
            principal,
            not_before,
        });
    }
    if let Some(not_after) = key.not_after.filter(|na| now > *na) {
        return Err(SigFailure::Expired {
            key_id,
            principal,
            not_after,
        });
    }
    if !accepted_roles.is_empty() && !accepted_roles.iter().any(|r| key.roles.contains(r)) {
        let needed: BTreeSet<Role> = accepted_roles.iter().copied().collect();
        return Err(SigFailure::MissingRole {
            key_id,
            principal,
            needed: needed.into_iter().collect(),
            has: key.roles.iter().copied().collect(),
        });
    }
    Ok(Signer {
        key_id,
        principal,
        roles: key.roles.clone(),
    })
}

impl fmt::Display for SigFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigFailure::UnknownKey => {
                f.write_str("signature does not verify under any trusted key")
            }
            SigFailure::Revoked {
                key_id,
                principal,
                at,
                reason,
            } => write!(
                f,
                "signature by key `{key_id}` ({principal}) was made with a revoked key: \
                 revoked at {}: {reason}",
                rfc3339(*at)
            ),
            SigFailure::NotYetValid {
                key_id,
                principal,
                not_before,
            } => write!(
                f,
                "signature by key `{key_id}` ({principal}) is not valid yet: \
                 the key is valid from {}",
                rfc3339(*not_before)
            ),
            SigFailure::Expired {
                key_id,
                principal,
                not_after,
            } => write!(
                f,
                "signature by key `{key_id}` ({principal}) has expired: \
                 the key was valid until {}",
                rfc3339(*not_after)
            ),
            SigFailure::MissingRole {
                key_id,
                principal,
                needed,
                has,
            } => write!(
                f,
                "signature by key `{key_id}` ({principal}) lacks a required role: \
                 needs one of [{}], the key has [{}]",
                RoleList(needed),
                RoleList(has)
            ),
            SigFailure::Malformed => {
                f.write_str("signature is malformed: an Ed25519 signature is 64 bytes")
            }
        }
    }
}

impl fmt::Display for SignatureProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signatures[{}]", self.index)?;
        if matches!(self.problem, SigFailure::UnknownKey | SigFailure::Malformed)
            && !self.keyid_hint.is_empty()
        {
            write!(f, " (keyid hint `{}`)", self.keyid_hint)?;
        }
        write!(f, ": {}", self.problem)
    }
}

struct RoleList<'a>(&'a [Role]);

impl fmt::Display for RoleList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(r.as_str())?;
        }
        Ok(())
    }
}

struct ProblemList<'a>(&'a [SignatureProblem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("the envelope has no signatures");
        }
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

fn ser_time<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}
