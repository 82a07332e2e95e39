//! Waivers: signed, time-boxed exceptions to named forbid policies, applied by the engine.
//!
//! A `waiver/v1` statement names policy ids, a model (and optionally a version), an environment,
//! a reason, a ticket and a mandatory expiry. [`check_waiver`] decides whether one waiver
//! applies to a request; every rule it breaks is a reason the waiver is reported and ignored,
//! never silently honoured:
//!
//! - it is signed, under a trusted key valid now, by a principal with the `risk-officer` role;
//! - it names this request's model, environment and (if it names one) version;
//! - it has not expired, was not issued in the future, and runs no longer than the maximum
//!   horizon for the model's tier ([`WaiverRules::max_days`]; tier 0 when no metadata verified),
//!   counted from `issued_at`, which must be present;
//! - every policy it names exists in the active bundle and is an enforce- or warn-mode forbid:
//!   a permit cannot be waived into applying, and an unknown id is a mistake to report.
//!
//! A waiver that applies becomes an [`AppliedWaiver`] in the decision; the engine evaluates the
//! bundle with its policies left out ([`crate::policy::PolicyBundle::evaluate_with_waivers`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::request::PromotionRequest;
use crate::attest::{verify_envelope, Envelope, Role, TrustStore, VerifyError};
use crate::clock::{parse_rfc3339, rfc3339};
use crate::policy::{PolicyBundle, PolicyEffect};

/// Default maximum waiver horizon in days for tiers 0, 1 and 2.
pub const DEFAULT_MAX_DAYS: [u32; 3] = [30, 90, 180];

/// What a waiver may grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverRules {
    /// Longest allowed waiver, in days, for tiers 0, 1 and 2.
    pub max_days: [u32; 3],
}

impl Default for WaiverRules {
    fn default() -> Self {
        WaiverRules {
            max_days: DEFAULT_MAX_DAYS,
        }
    }
}

/// A waiver the engine applied, as recorded in the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppliedWaiver {
    /// `sha256:` digest of the waiver envelope (in the attestation store).
    pub attestation: String,
    /// The policies left out of this evaluation, sorted.
    pub policies: Vec<String>,
    /// The risk officer who signed it.
    pub granted_by: String,
    /// The ticket it cites.
    pub ticket: String,
    /// Why it was granted.
    pub reason: String,
    /// When it lapses, RFC 3339 UTC.
    pub expires: String,
}

/// Checks one waiver against the request; `Err` is the finding that says why it is ignored.
#[allow(clippy::too_many_arguments)]
pub fn check_waiver(
    request: &PromotionRequest,
    envelope: &Envelope,
    predicate: &Value,
    digest: &str,
    tier: Option<i64>,
    trust: &TrustStore,
    bundle: &PolicyBundle,
    rules: &WaiverRules,
    now: OffsetDateTime,
) -> Result<AppliedWaiver, String> {
    let ignored = |why: String| format!("waiver not applied: {why}");
    let text = |k: &str| predicate.get(k).and_then(Value::as_str).unwrap_or_default();
    let verified =
        verify_envelope(envelope, trust, now, &[Role::RiskOfficer]).map_err(|e| match e {
            VerifyError::NoValidSignature { problems } if !problems.is_empty() => ignored(
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => ignored(other.to_string()),
        })?;
    let granted_by = verified
        .signers
        .first()
        .map(|s| s.principal.clone())
        .unwrap_or_default();

    if text("model") != request.model {
        return Err(ignored(format!(
            "it is for model `{}`, not `{}`",
            text("model"),
            request.model
        )));
    }
    if let Some(version) = predicate.get("version").and_then(Value::as_str) {
        if version != request.version {
            return Err(ignored(format!(
                "it is for version `{version}`, not `{}`",
                request.version
            )));
        }
    }
    if text("environment") != request.environment {
        return Err(ignored(format!(
            "it is for environment `{}`, not `{}`",
            text("environment"),
            request.environment
        )));
    }

    let time = |k: &str| {
        parse_rfc3339(text(k)).map_err(|e| ignored(format!("`{k}` is not a valid time: {e}")))
    };
    let expires = time("expires")?;
    if expires <= now {
        return Err(ignored(format!("it expired at {}", rfc3339(expires))));
    }
    // Without `issued_at` the horizon could only be counted from "now", which would let a
    // long waiver start applying once its remaining time fell under the horizon.
    if predicate.get("issued_at").is_none() {
        return Err(ignored(
            "it has no `issued_at`, so its horizon cannot be checked".to_owned(),
        ));
    }
    let start = time("issued_at")?;
    if start > now {
        return Err(ignored(format!(
            "it is issued for {}, in the future",
            rfc3339(start)
        )));
    }
    let tier_index = usize::try_from(tier.unwrap_or(0)).unwrap_or(0).min(2);
    let max_days = rules.max_days[tier_index];
    if expires - start > Duration::days(i64::from(max_days)) {
        return Err(ignored(format!(
            "it runs {} days, over the {max_days}-day maximum for tier {tier_index}",
            ceil_days(expires - start)
        )));
    }

    let mut policies = Vec::new();
    for id in predicate
        .get("policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let Some(info) = bundle.policy(id) else {
            return Err(ignored(format!(
                "it names policy `{id}`, which is not in the active bundle"
            )));
        };
        if info.effect != PolicyEffect::Forbid {
            return Err(ignored(format!(
                "it names `{id}`, a permit: only forbid policies can be waived"
            )));
        }
        policies.push(id.to_owned());
    }
    policies.sort();
    Ok(AppliedWaiver {
        attestation: digest.to_owned(),
        policies,
        granted_by,
        ticket: text("ticket").to_owned(),
        reason: text("reason").to_owned(),
        expires: rfc3339(expires),
    })
}

/// Whole days, rounded up (a waiver of 30 days and one second runs 31 days).
fn ceil_days(span: Duration) -> i64 {
    let days = span.whole_days();
    if span > Duration::days(days) {
        days + 1
    } else {
        days
    }
}
