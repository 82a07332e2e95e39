//! The decision: the answer to a promotion request, and the body of its ledger record.
//!
//! [`DecisionBody`] is what the ledger stores (kind `decision`); [`Decision`] adds where it was
//! stored. Both are versioned contracts: `schemas/decision.v1.schema.json` describes
//! [`Decision`], which `modelgate check --format json` prints and the HTTP API returns.

use serde::{Deserialize, Serialize};

use super::attestations::{AttestationRef, CountedApproval, Finding};
use super::freeze::FreezeRef;
use super::request::RequestSummary;
use super::waivers::AppliedWaiver;
use crate::policy::{Outcome, Reason};

/// The `schema` value of every v1 decision.
pub const DECISION_SCHEMA: &str = "https://modelgate.dev/decision/v1";

/// Everything decided about one request, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Always [`DECISION_SCHEMA`].
    pub schema: String,
    /// `allow` or `deny`.
    pub decision: Outcome,
    /// Decision time, RFC 3339 UTC.
    pub time: String,
    /// The request, without its attestations.
    pub request: RequestSummary,
    /// The verified risk tier; `None` when no metadata verified.
    pub tier: Option<i64>,
    /// Sorted by policy id: for a deny each determining forbid, evaluation error or the missing
    /// permit; for an allow the permit(s) that applied.
    pub reasons: Vec<Reason>,
    /// Warn-mode findings (they do not decide).
    pub warnings: Vec<Reason>,
    /// What the shadow-mode policies would have said (recorded only; they do not decide).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shadow: Vec<Reason>,
    /// Waivers the engine applied: their policies were left out of this evaluation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waivers: Vec<AppliedWaiver>,
    /// The freeze in force on the environment when this was decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<FreezeRef>,
    /// Attestations or signatures that did not count, and why.
    pub findings: Vec<Finding>,
    /// Every attestation of the request, by digest (the envelopes are in the attestation store).
    pub attestations: Vec<AttestationRef>,
    /// The approvals that counted.
    pub approvals: Vec<CountedApproval>,
    /// Digest of the policy bundle that decided.
    pub bundle_digest: String,
    /// `sha256:` of the canonical JSON of the policy input (for replay).
    pub input_digest: String,
}

/// Where a record sits in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerRef {
    /// Record index.
    pub index: u64,
    /// Lowercase hex leaf hash, SHA-256(0x00 ‖ record bytes).
    pub leaf_hash: String,
}

/// A durable decision: its body and where the ledger holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// What was decided.
    #[serde(flatten)]
    pub body: DecisionBody,
    /// The ledger record that holds it.
    pub ledger: LedgerRef,
}

impl Decision {
    /// Whether the decision is an allow.
    pub fn is_allow(&self) -> bool {
        self.body.decision == Outcome::Allow
    }

    /// Whether the request was a dry run (judged and recorded; nothing deployed).
    pub fn is_dry_run(&self) -> bool {
        self.body.request.dry_run
    }
}
