//! Examining the attestations of one request: parse, verify, bind, count.
//!
//! [`examine`] takes the raw envelopes of a request and returns [`Examined`]: the one verified
//! model-metadata statement (if any), the approvals that count, a finding for everything that
//! does not count, and the canonical bytes of every envelope for the attestation store.
//!
//! Structure problems (not an envelope, wrong payload type, a predicate that breaks its schema,
//! duplicate or conflicting statements) make the whole request invalid. Trust problems (unknown,
//! revoked, expired or wrong-role keys, tampered payloads, approvals bound elsewhere or expired)
//! only make that attestation not count, and say why: the policies then deny for what is missing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::request::PromotionRequest;
use super::waivers::{check_waiver, AppliedWaiver, WaiverRules};
use super::{EngineError, Problem};
use crate::attest::{
    verify_signatures, Envelope, Role, SigFailure, SignatureProblem, Statement, TrustStore,
    VerifyError, IN_TOTO_PAYLOAD_TYPE, PREDICATE_APPROVAL, PREDICATE_MODEL_METADATA,
    PREDICATE_WAIVER,
};
use crate::canonical;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::digest::sha256_prefixed;
use crate::metadata::{SchemaKind, Schemas};
use crate::policy::input::ContextFacts;
use crate::policy::PolicyBundle;

/// Most signatures one request may carry. A signature whose key id hint names no trusted key is
/// tried against every trusted key, so this bounds the verification work an unauthenticated
/// request can cause to this many times the size of the trust store.
pub const MAX_SIGNATURES_PER_REQUEST: usize = 32;

/// Roles whose keys may sign model metadata.
pub const METADATA_SIGNER_ROLES: [Role; 3] = [Role::ModelAuthor, Role::Owner, Role::Developer];

/// An attestation that was not counted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Index in the request's `attestations`.
    pub attestation: usize,
    /// What is wrong, in one line.
    pub problem: String,
}

/// One attestation of the request, by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationRef {
    /// `sha256:<hex>` of the envelope's canonical JSON bytes (the attestation store key).
    pub digest: String,
    /// The statement's predicate type.
    pub predicate_type: String,
    /// Whether it counted towards the decision.
    pub counted: bool,
}

/// An approval that counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountedApproval {
    /// The approving role.
    pub role: String,
    /// The approving principal (the signing key's principal).
    pub approver: String,
    /// Expiry, RFC 3339.
    pub expires: String,
    /// Digest of the approval envelope.
    pub attestation: String,
    #[serde(skip)]
    ttl_days: i64,
}

/// The verified model-metadata statement of the request.
#[derive(Debug, Clone)]
pub struct VerifiedMetadata {
    /// Index in the request's `attestations`.
    pub index: usize,
    /// `sha256:<hex>` of the payload bytes (what approvals bind to).
    pub payload_digest: String,
    /// The metadata predicate (schema-valid).
    pub predicate: Value,
    /// Some subject and the predicate's `artifact.digest` both equal the request's digest.
    pub artifact_digest_matches: bool,
    /// Principals whose trusted keys signed the metadata (its authors): those whose signature
    /// counted and those whose signature verified under a revoked, expired or wrong-role key,
    /// which still proves they took part.
    pub signers: Vec<String>,
}

/// What [`examine`] found.
#[derive(Debug, Clone, Default)]
pub struct Examined {
    /// The verified metadata, if one verified.
    pub metadata: Option<VerifiedMetadata>,
    /// Approvals that counted.
    pub approvals: Vec<CountedApproval>,
    /// Everything that did not count.
    pub findings: Vec<Finding>,
    /// Every attestation by digest, in request order.
    pub attestations: Vec<AttestationRef>,
    /// Canonical envelope bytes by digest, for the attestation store.
    pub envelopes: BTreeMap<String, Vec<u8>>,
    /// Waivers that apply to this request.
    pub waivers: Vec<AppliedWaiver>,
}

/// What waivers are checked against: the active bundle (the policies they may name) and the
/// horizon rules.
#[derive(Debug, Clone, Copy)]
pub struct WaiverContext<'a> {
    /// The bundle that will evaluate the request.
    pub bundle: &'a PolicyBundle,
    /// Maximum horizons.
    pub rules: WaiverRules,
}

struct Parsed {
    index: usize,
    envelope: Envelope,
    statement: Statement,
    /// `sha256:<hex>` of the raw payload bytes (what approvals bind to).
    payload_digest: String,
}

/// Parses, verifies and binds every attestation of `request`.
pub fn examine(
    request: &PromotionRequest,
    schemas: &Schemas,
    trust: &TrustStore,
    waivers: &WaiverContext<'_>,
    now: OffsetDateTime,
) -> Result<Examined, EngineError> {
    let mut out = Examined::default();
    let mut parsed = Vec::with_capacity(request.attestations.len());
    let mut first_seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut first_payload: BTreeMap<String, usize> = BTreeMap::new();
    let signatures: usize = request
        .attestations
        .iter()
        .filter_map(|a| a.get("signatures").and_then(Value::as_array))
        .map(Vec::len)
        .sum();
    if signatures > MAX_SIGNATURES_PER_REQUEST {
        return Err(EngineError::invalid(
            "/attestations",
            format!(
                "{signatures} signatures in one request, over the limit of {MAX_SIGNATURES_PER_REQUEST}"
            ),
        ));
    }
    for (index, value) in request.attestations.iter().enumerate() {
        let at = format!("/attestations/{index}");
        let envelope = Envelope::from_value(value)
            .map_err(|e| EngineError::invalid(&at, format!("not a DSSE envelope: {e}")))?;
        let bytes = canonical::to_canonical_vec(value)
            .map_err(|e| EngineError::invalid(&at, format!("cannot be canonicalised: {e}")))?;
        let digest = sha256_prefixed(&bytes);
        if let Some(first) = first_seen.insert(digest.clone(), index) {
            return Err(EngineError::invalid(
                &at,
                format!("duplicate attestation: identical to /attestations/{first}"),
            ));
        }
        if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(EngineError::invalid(
                format!("{at}/payloadType"),
                format!(
                    "payloadType `{}` is not `{IN_TOTO_PAYLOAD_TYPE}`",
                    envelope.payload_type
                ),
            ));
        }
        let payload_digest = sha256_prefixed(&envelope.payload);
        if let Some(first) = first_payload.insert(payload_digest.clone(), index) {
            return Err(EngineError::invalid(
                &at,
                format!(
                    "duplicate attestation: it carries the same statement as /attestations/{first}; send each statement once"
                ),
            ));
        }
        let statement = Statement::from_payload(&envelope.payload).map_err(|e| {
            EngineError::invalid(
                format!("{at}/payload"),
                format!("not an in-toto Statement v1: {e}"),
            )
        })?;
        let kind = match statement.predicate_type.as_str() {
            PREDICATE_MODEL_METADATA => SchemaKind::ModelMetadata,
            PREDICATE_APPROVAL => SchemaKind::Approval,
            PREDICATE_WAIVER => SchemaKind::Waiver,
            other => {
                return Err(EngineError::invalid(
                    format!("{at}/payload"),
                    format!(
                        "unsupported predicateType `{other}` (expected `{PREDICATE_MODEL_METADATA}`, `{PREDICATE_APPROVAL}` or `{PREDICATE_WAIVER}`)"
                    ),
                ))
            }
        };
        if let Err(violations) = schemas.validate(kind, &statement.predicate) {
            return Err(EngineError::Invalid(
                violations
                    .into_iter()
                    .map(|v| Problem {
                        pointer: format!("{at}/payload/predicate{}", v.pointer),
                        message: v.message,
                    })
                    .collect(),
            ));
        }
        out.attestations.push(AttestationRef {
            digest: digest.clone(),
            predicate_type: statement.predicate_type.clone(),
            counted: false,
        });
        out.envelopes.insert(digest, bytes);
        parsed.push(Parsed {
            index,
            envelope,
            statement,
            payload_digest,
        });
    }

    out.metadata = verify_metadata(request, &parsed, trust, now, &mut out)?;
    for p in &parsed {
        match p.statement.predicate_type.as_str() {
            PREDICATE_APPROVAL => {
                let digest = out
                    .attestations
                    .get(p.index)
                    .map(|a| a.digest.clone())
                    .unwrap_or_default();
                match count_approval(request, p, &digest, &out.metadata, trust, now) {
                    Ok((approval, extra)) => {
                        mark_counted(&mut out, p.index);
                        out.approvals.push(approval);
                        for problem in extra {
                            out.findings.push(finding(
                                p.index,
                                format!("extra signature not counted: {problem}"),
                            ));
                        }
                    }
                    Err(problem) => out.findings.push(finding(p.index, problem)),
                }
            }
            PREDICATE_WAIVER => {
                let digest = out
                    .attestations
                    .get(p.index)
                    .map(|a| a.digest.clone())
                    .unwrap_or_default();
                let tier = out
                    .metadata
                    .as_ref()
                    .and_then(|m| m.predicate.pointer("/risk/tier"))
                    .and_then(Value::as_i64);
                match check_waiver(
                    request,
                    &p.envelope,
                    &p.statement.predicate,
                    &digest,
                    tier,
                    trust,
                    waivers.bundle,
                    &waivers.rules,
                    now,
                ) {
                    Ok(waiver) => {
                        mark_counted(&mut out, p.index);
                        out.waivers.push(waiver);
                    }
                    Err(problem) => out.findings.push(finding(p.index, problem)),
                }
            }
            _ => {}
        }
    }
    let mut seen: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for a in &out.approvals {
        if let Some(first) = seen.insert((&a.role, &a.approver), &a.attestation) {
            return Err(EngineError::invalid(
                "/attestations",
                format!(
                    "conflicting approvals: `{}` approves as {} in both {first} and {}; send one",
                    a.approver, a.role, a.attestation
                ),
            ));
        }
    }
    cap_findings(&mut out.findings);
    out.approvals.sort_by(|a, b| {
        (&a.role, &a.approver, &a.attestation).cmp(&(&b.role, &b.approver, &b.attestation))
    });
    Ok(out)
}

/// The principal behind a signature that verified under a trusted key but did not count.
fn involved_principal(problem: &SignatureProblem) -> Option<String> {
    match &problem.problem {
        SigFailure::Revoked { principal, .. }
        | SigFailure::NotYetValid { principal, .. }
        | SigFailure::Expired { principal, .. }
        | SigFailure::MissingRole { principal, .. } => Some(principal.clone()),
        _ => None,
    }
}

/// Principals are compared case-insensitively (e-mail addresses are, in practice), so that a
/// change of case can never split one person into two for separation of duties.
pub fn same_principal(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Longest finding text kept; attacker-chosen strings (key id hints) cannot bloat a record.
const MAX_FINDING_CHARS: usize = 400;

fn finding(attestation: usize, problem: String) -> Finding {
    let problem = if problem.chars().count() > MAX_FINDING_CHARS {
        let mut cut: String = problem.chars().take(MAX_FINDING_CHARS).collect();
        cut.push('…');
        cut
    } else {
        problem
    };
    Finding {
        attestation,
        problem,
    }
}

/// At most this many findings are kept per request; the rest are summarised in one line, so a
/// hostile request cannot inflate its decision record past the ledger's record size limit.
pub const MAX_FINDINGS: usize = 32;

fn cap_findings(findings: &mut Vec<Finding>) {
    if findings.len() > MAX_FINDINGS {
        let dropped = findings.len() - (MAX_FINDINGS - 1);
        findings.truncate(MAX_FINDINGS - 1);
        findings.push(finding(
            findings.last().map(|f| f.attestation).unwrap_or_default(),
            format!("{dropped} more findings not shown"),
        ));
    }
}

fn mark_counted(out: &mut Examined, index: usize) {
    if let Some(a) = out.attestations.get_mut(index) {
        a.counted = true;
    }
}

fn push_verify_failure(out: &mut Examined, index: usize, what: &str, err: &VerifyError) {
    match err {
        VerifyError::NoValidSignature { problems } if !problems.is_empty() => {
            for p in problems {
                out.findings
                    .push(finding(index, format!("{what} not counted: {p}")));
            }
        }
        other => out
            .findings
            .push(finding(index, format!("{what} not counted: {other}"))),
    }
}

fn verify_metadata(
    request: &PromotionRequest,
    parsed: &[Parsed],
    trust: &TrustStore,
    now: OffsetDateTime,
    out: &mut Examined,
) -> Result<Option<VerifiedMetadata>, EngineError> {
    let mut verified: Option<VerifiedMetadata> = None;
    for p in parsed
        .iter()
        .filter(|p| p.statement.predicate_type == PREDICATE_MODEL_METADATA)
    {
        // The statement was parsed and validated when the request was read: only the
        // signatures are checked here.
        match verify_signatures(&p.envelope, trust, now, &METADATA_SIGNER_ROLES) {
            Err(e) => push_verify_failure(out, p.index, "model metadata", &e),
            Ok(v) => {
                if let Some(first) = &verified {
                    if first.payload_digest != p.payload_digest {
                        return Err(EngineError::invalid(
                            format!("/attestations/{}", p.index),
                            format!(
                                "conflicting model-metadata attestations: /attestations/{} and /attestations/{} carry different metadata; send exactly one",
                                first.index, p.index
                            ),
                        ));
                    }
                    mark_counted(out, p.index);
                    continue;
                }
                let want = request
                    .artifact_digest
                    .strip_prefix("sha256:")
                    .unwrap_or_default();
                let subject_matches = p.statement.subject.iter().any(|s| s.sha256() == Some(want));
                let predicate_matches = p
                    .statement
                    .predicate
                    .pointer("/artifact/digest")
                    .and_then(Value::as_str)
                    == Some(request.artifact_digest.as_str());
                if !subject_matches || !predicate_matches {
                    out.findings.push(Finding {
                        attestation: p.index,
                        problem: format!(
                            "model metadata describes another artifact: its subject/artifact digest is not the requested `{}`",
                            request.artifact_digest
                        ),
                    });
                }
                for problem in &v.problems {
                    out.findings.push(finding(
                        p.index,
                        format!("extra signature not counted: {problem}"),
                    ));
                }
                mark_counted(out, p.index);
                verified = Some(VerifiedMetadata {
                    index: p.index,
                    payload_digest: p.payload_digest.clone(),
                    predicate: p.statement.predicate.clone(),
                    artifact_digest_matches: subject_matches && predicate_matches,
                    signers: v
                        .signers
                        .iter()
                        .map(|s| s.principal.clone())
                        .chain(v.problems.iter().filter_map(involved_principal))
                        .collect(),
                });
            }
        }
    }
    Ok(verified)
}

/// Checks one approval: it counts, or the error is the finding that says why not.
fn count_approval(
    request: &PromotionRequest,
    p: &Parsed,
    digest: &str,
    metadata: &Option<VerifiedMetadata>,
    trust: &TrustStore,
    now: OffsetDateTime,
) -> Result<(CountedApproval, Vec<String>), String> {
    let pred = &p.statement.predicate;
    let text = |k: &str| pred.get(k).and_then(Value::as_str).unwrap_or_default();
    let role_text = text("role");
    let role: Role = role_text
        .parse()
        .map_err(|e| format!("approval not counted: {e}"))?;
    let verified = verify_signatures(&p.envelope, trust, now, &[role]).map_err(|e| match e {
        VerifyError::NoValidSignature { problems } if !problems.is_empty() => format!(
            "approval not counted: {}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => format!("approval not counted: {other}"),
    })?;
    let approver = text("approver");
    let Some(signer) = verified
        .signers
        .iter()
        .find(|s| same_principal(&s.principal, approver))
    else {
        let signers: BTreeSet<&str> = verified
            .signers
            .iter()
            .map(|s| s.principal.as_str())
            .collect();
        return Err(format!(
            "approval not counted: it names approver `{approver}` but is signed by `{}`",
            signers.into_iter().collect::<Vec<_>>().join("`, `")
        ));
    };
    let Some(metadata) = metadata else {
        return Err("approval not counted: no model metadata verified to bind it to".to_string());
    };
    let named = |pointer: &str| {
        metadata
            .predicate
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let named_person = match role {
        Role::Owner => Some(("owner", named("/ownership/owner"))),
        Role::Validator => Some(("validator", named("/ownership/validator"))),
        Role::BusinessOwner => Some(("business owner", named("/ownership/business_owner"))),
        Role::RiskOfficer => None,
        other => {
            return Err(format!(
                "approval not counted: `{approver}` approves as {other}, which is not an approving role (owner, validator, risk-officer, business-owner)"
            ))
        }
    };
    if let Some((what, person)) = named_person {
        if !same_principal(person, approver) {
            return Err(format!(
                "approval not counted: `{approver}` approves as {role}, but the metadata names `{person}` as {what}"
            ));
        }
    }
    let bound = text("metadata_digest");
    if bound != metadata.payload_digest {
        return Err(format!(
            "approval not counted: it is bound to metadata payload `{bound}`, not to this request's `{}`",
            metadata.payload_digest
        ));
    }
    let envs: Vec<&str> = pred
        .get("environments")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !envs.contains(&request.environment.as_str()) {
        return Err(format!(
            "approval not counted: it is for {} and not for `{}`",
            envs.join(", "),
            request.environment
        ));
    }
    let issued = parse_rfc3339(text("issued_at"))
        .map_err(|e| format!("approval not counted: `issued_at` is not RFC 3339: {e}"))?;
    let expires = parse_rfc3339(text("expires"))
        .map_err(|e| format!("approval not counted: `expires` is not RFC 3339: {e}"))?;
    if issued > now {
        return Err(format!(
            "approval not counted: issued in the future ({})",
            rfc3339(issued)
        ));
    }
    if expires <= now {
        return Err(format!(
            "approval by `{approver}` ({role}) expired at {}",
            rfc3339(expires)
        ));
    }
    if expires <= issued {
        return Err("approval not counted: it expires before it was issued".to_string());
    }
    let ttl_seconds = (expires - issued).whole_seconds();
    let extra = verified.problems.iter().map(ToString::to_string).collect();
    Ok((
        CountedApproval {
            role: role.to_string(),
            approver: signer.principal.clone(),
            expires: rfc3339(expires),
            attestation: digest.to_string(),
            ttl_days: (ttl_seconds + 86_399) / 86_400,
        },
        extra,
    ))
}

/// The request-level policy facts from the counted approvals.
///
/// `authors` are the principals who signed the metadata. Neither they nor the `developer` count
/// as independent approvers (`approvers`, `approver_count`), and their approving at all is
/// reported as `developer_approved` (an author cannot approve their own work).
pub fn context_facts(
    request: &PromotionRequest,
    approvals: &[CountedApproval],
    developer: &str,
    authors: &[String],
    now: OffsetDateTime,
) -> ContextFacts {
    let roles: BTreeSet<String> = approvals.iter().map(|a| a.role.clone()).collect();
    let mut roles_by_approver: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for a in approvals {
        roles_by_approver
            .entry(a.approver.trim().to_ascii_lowercase())
            .or_default()
            .insert(a.role.as_str());
    }
    let is_author = |p: &str| {
        (!developer.is_empty() && same_principal(p, developer))
            || authors.iter().any(|a| same_principal(a, p))
    };
    let approvers: Vec<String> = roles_by_approver
        .keys()
        .filter(|p| !is_author(p))
        .map(|s| s.to_string())
        .collect();
    ContextFacts {
        now: now.unix_timestamp(),
        rollback: request.rollback,
        previously_allowed: false,
        approved_roles: roles.into_iter().collect(),
        approver_count: i64::try_from(approvers.len()).unwrap_or(i64::MAX),
        max_approval_ttl_days: approvals.iter().map(|a| a.ttl_days).max().unwrap_or(0),
        approver_holds_two_roles: roles_by_approver.values().any(|r| r.len() > 1),
        developer_approved: roles_by_approver.keys().any(|p| is_author(p)),
        approvers,
    }
}
