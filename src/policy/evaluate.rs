//! Evaluation: [`PolicyBundle::evaluate`] turns a [`PolicyInput`] into an [`Evaluation`]
//! (an [`Outcome`] with sorted [`Reason`]s, warnings and shadow outcomes).
//!
//! Fail closed: Cedar skips a policy whose evaluation errors, as if it did not exist, which would
//! silently drop a `forbid`. Here any evaluation error in the enforce set makes the decision a
//! deny naming the erroring policy. Cedar also returns the determining policies in unstable
//! order; reasons are sorted by policy id.

use std::collections::BTreeMap;

use cedar_policy::{AuthorizationError, Decision, PolicyId, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::annotations::{Mode, PolicyEffect};
use super::bundle::PolicyBundle;
use super::explain::InputJson;
use super::input::PolicyInput;
use super::PolicyError;

/// The Cedar namespace of the schema the input is mapped into.
pub const NAMESPACE: &str = "ModelGate";
/// The action every promotion request asks for.
pub const ACTION: &str = "promote";

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The promotion may go ahead.
    Allow,
    /// The promotion is refused.
    Deny,
}

impl Outcome {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
        }
    }
}

/// Why a policy contributed to an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The policy's `@id`.
    pub policy_id: String,
    /// `forbid` or `permit` (the policy applied), `error` (it could not be evaluated) or
    /// `not-permitted` (this expected permit did not apply: a default deny).
    pub effect: String,
    /// Human text: the policy's `@reason`, or what went wrong.
    pub reason: String,
    /// The policy's `@control` references.
    pub controls: Vec<String>,
    /// The values of the policy's `@reads` paths in this input.
    pub values: BTreeMap<String, Value>,
}

/// The result of evaluating one request against a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Allow or deny, decided by the enforce-mode policies only.
    pub decision: Outcome,
    /// For a deny: every forbid that applied, every policy that errored, or the expected
    /// permits (default deny). For an allow: the permits that applied. Sorted by policy id.
    pub reasons: Vec<Reason>,
    /// Warn-mode forbids that applied (and warn-mode policies that errored), sorted.
    pub warnings: Vec<Reason>,
    /// What the shadow-mode policies, evaluated as a set of their own, would have said, sorted.
    pub shadow: Vec<Reason>,
}

impl PolicyBundle {
    /// Evaluates `input` against the bundle.
    ///
    /// `Err` only when the input cannot be mapped into Cedar (it does not fit the schema); every
    /// policy outcome, including an evaluation error, is an [`Evaluation`].
    pub fn evaluate(&self, input: &PolicyInput) -> Result<Evaluation, PolicyError> {
        self.evaluate_with_waivers(input, &[])
    }

    /// Evaluates `input` with the policies named in `waived` left out of this one evaluation
    /// (the engine passes the ids of valid waivers). An unknown id is an error.
    pub fn evaluate_with_waivers(
        &self,
        input: &PolicyInput,
        waived: &[String],
    ) -> Result<Evaluation, PolicyError> {
        // The one serialisation of the input: it feeds both the Cedar mapping and the
        // `@reads` values of the reasons.
        let json = InputJson::new(input)?;
        let (request, entities) = self.mapping.build(input, &json)?;

        let mut enforce = std::borrow::Cow::Borrowed(&self.enforce);
        let mut warn = std::borrow::Cow::Borrowed(&self.warn);
        let mut shadow = std::borrow::Cow::Borrowed(&self.shadow);
        for id in waived {
            let info = self
                .policy(id)
                .ok_or_else(|| PolicyError::UnknownPolicy { id: id.clone() })?;
            let set = match info.mode {
                Mode::Enforce => enforce.to_mut(),
                Mode::Warn => warn.to_mut(),
                Mode::Shadow => shadow.to_mut(),
            };
            // Already removed when an id is waived twice; nothing more to do then.
            let _ = set.remove_static(PolicyId::new(id));
        }

        let enforce_response = self.authorizer.is_authorized(&request, &enforce, &entities);
        let (decision, reasons) = self.decide(&enforce_response, &json);

        let warnings = if warn.is_empty() {
            Vec::new()
        } else {
            let response = self.authorizer.is_authorized(&request, &warn, &entities);
            let mut out = self.error_reasons(&response, &json);
            if response.decision() == Decision::Deny {
                out.extend(self.applied_reasons(&response, PolicyEffect::Forbid, &json));
            }
            sorted(out)
        };

        let shadow = if shadow.is_empty() {
            Vec::new()
        } else {
            let response = self.authorizer.is_authorized(&request, &shadow, &entities);
            let mut out = self.error_reasons(&response, &json);
            let effect = match response.decision() {
                Decision::Allow => PolicyEffect::Permit,
                Decision::Deny => PolicyEffect::Forbid,
            };
            out.extend(self.applied_reasons(&response, effect, &json));
            sorted(out)
        };

        Ok(Evaluation {
            decision,
            reasons,
            warnings,
            shadow,
        })
    }

    /// The decision of the enforce set, failing closed on any evaluation error.
    fn decide(&self, response: &Response, json: &InputJson) -> (Outcome, Vec<Reason>) {
        let errors = self.error_reasons(response, json);
        let cedar_deny = response.decision() == Decision::Deny;
        let forbids = if cedar_deny {
            self.applied_reasons(response, PolicyEffect::Forbid, json)
        } else {
            Vec::new()
        };
        if !errors.is_empty() || !forbids.is_empty() {
            let mut reasons = errors;
            reasons.extend(forbids);
            return (Outcome::Deny, sorted(reasons));
        }
        if cedar_deny {
            // Default deny: no permit applied. Name the permits that could have.
            // Taken from the bundle, not the evaluated set, so a waived permit is still named.
            let expected = self
                .policies
                .iter()
                .filter(|info| info.mode == Mode::Enforce && info.effect == PolicyEffect::Permit)
                .map(|info| {
                    let text = format!(
                        "not permitted: no permit applied to this request (expected `{}`: {})",
                        info.id, info.reason
                    );
                    json.reason(info, "not-permitted", text)
                })
                .collect();
            return (Outcome::Deny, sorted(expected));
        }
        let permits = self.applied_reasons(response, PolicyEffect::Permit, json);
        (Outcome::Allow, sorted(permits))
    }

    /// Reasons for the determining policies of `response` that have `effect`.
    fn applied_reasons(
        &self,
        response: &Response,
        effect: PolicyEffect,
        json: &InputJson,
    ) -> Vec<Reason> {
        response
            .diagnostics()
            .reason()
            .filter_map(|id| self.policy(id.as_ref()))
            .filter(|info| info.effect == effect)
            .map(|info| json.reason(info, effect.as_str(), info.reason.clone()))
            .collect()
    }

    /// One `error` reason per policy that failed to evaluate.
    fn error_reasons(&self, response: &Response, json: &InputJson) -> Vec<Reason> {
        response
            .diagnostics()
            .errors()
            .map(|error| {
                let AuthorizationError::PolicyEvaluationError(e) = error;
                let id = e.policy_id().to_string();
                let text = format!(
                    "policy could not be evaluated, failing closed: {}",
                    e.inner()
                );
                match self.policy(&id) {
                    Some(info) => json.reason(info, "error", text),
                    None => Reason {
                        policy_id: id,
                        effect: "error".to_owned(),
                        reason: text,
                        controls: Vec::new(),
                        values: BTreeMap::new(),
                    },
                }
            })
            .collect()
    }
}

fn sorted(mut reasons: Vec<Reason>) -> Vec<Reason> {
    reasons.sort_by(|a, b| {
        a.policy_id
            .cmp(&b.policy_id)
            .then_with(|| a.effect.cmp(&b.effect))
    });
    reasons
}
