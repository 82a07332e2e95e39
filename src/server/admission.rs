//! `POST /v1/admission`: the Kubernetes validating admission webhook (AdmissionReview v1).
//!
//! [`parse_review`] reads the fields modelgate needs into a [`Review`] (a review that is not
//! AdmissionReview v1 with a `request.uid` is a 400 in the shared error shape). [`judge`] turns
//! it into a [`Verdict`]:
//!
//! - only `CREATE` and `UPDATE` of an object itself are judged; other operations and
//!   sub-resources (`scale`, `status`) pass unjudged;
//! - the `modelgate.dev/*` annotations are read from every place of [`annotation_places`] —
//!   the object's own, then its pod template or KServe predictor; a key set in several places
//!   must have the same value everywhere, so no place silently overrides another;
//! - no `modelgate.dev/model`: allowed and not recorded, unless the namespace is listed in
//!   `[server] require_model_annotation` (then denied, and not recorded either);
//! - otherwise a promotion request is built (environment from the annotation or the
//!   `[server] namespaces` map, artifact digest from the annotation or the filed metadata,
//!   `requested_by` the Kubernetes user, the filed attestations, `dry_run`) and decided through
//!   [`pipeline::decide`], exactly like `POST /v1/decisions`; a request the engine cannot judge
//!   is a denied review naming the problems; an admitted object is recorded as an
//!   `observation` ([`crate::engine::observe`]).
//!
//! A well-formed review is always answered 200 with `allowed` set; failures of modelgate itself
//! (ledger, deadline) are 5xx, which the API server treats per the webhook's `failurePolicy`
//! (`Fail`: denied). Nothing here is a rule of its own: the engine decides.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

pub mod review;

pub use self::review::{
    annotation_places, parse_review, Review, ANNOTATION_ARTIFACT_DIGEST, ANNOTATION_ENVIRONMENT,
    ANNOTATION_MODEL, ANNOTATION_VERSION, REVIEW_API_VERSION,
};
use self::review::{Annotations, Found};
use super::error::ApiError;
use super::state::AppState;
use super::{blocking, pipeline, read_body};
use crate::engine::observe::{
    filed_artifact_digest, observation_draft, record_observation, DeployedObject,
};
use crate::engine::{Decision, EngineError, LedgerRef};
use crate::policy::Reason;

/// Longest warning sent (Kubernetes asks for at most 120 characters).
pub const WARNING_MAX_CHARS: usize = 120;

/// The environment of a model deployment: the `modelgate.dev/environment` annotation or the
/// namespace's entry in `[server] namespaces`. When both are given they must agree, so an
/// annotation cannot move a mapped namespace into a laxer environment.
fn environment(
    annotated: Option<Found>,
    namespace: Option<&str>,
    mapped: &BTreeMap<String, String>,
) -> Result<String, String> {
    let ns = namespace.unwrap_or_default();
    match (annotated, namespace.and_then(|n| mapped.get(n))) {
        (Some(a), Some(m)) if a.value != *m => Err(format!(
            "namespace `{ns}` deploys to `{m}` ([server] namespaces), but `{ANNOTATION_ENVIRONMENT}` in `{}` asks for `{}`",
            a.place, a.value
        )),
        (Some(a), _) => Ok(a.value),
        (None, Some(m)) => Ok(m.clone()),
        (None, None) => Err(format!(
            "no environment for namespace `{ns}`: annotate `{ANNOTATION_ENVIRONMENT}` or map the namespace in [server] namespaces"
        )),
    }
}

/// The answer to a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the object is admitted.
    pub allowed: bool,
    /// `status.message`: what was decided and why.
    pub message: String,
    /// Warn-mode findings, each at most [`WARNING_MAX_CHARS`] characters.
    pub warnings: Vec<String>,
    /// The recorded decision, if one was made.
    pub decision: Option<LedgerRef>,
}

impl Verdict {
    fn allow(message: impl Into<String>) -> Verdict {
        Verdict {
            allowed: true,
            message: format!("modelgate: {}", message.into()),
            warnings: Vec::new(),
            decision: None,
        }
    }

    fn deny(message: impl Into<String>) -> Verdict {
        Verdict {
            allowed: false,
            message: format!("modelgate: {}", message.into()),
            warnings: Vec::new(),
            decision: None,
        }
    }

    fn of(decision: &Decision) -> Verdict {
        let r = &decision.body.request;
        let what = format!(
            "`{}` `{}` in `{}`{} (ledger index {})",
            r.model,
            r.version,
            r.environment,
            if r.dry_run { ", dry run" } else { "" },
            decision.ledger.index
        );
        let message = if decision.is_allow() {
            format!("modelgate allowed {what}")
        } else {
            let reasons: Vec<String> = decision.body.reasons.iter().map(reason_text).collect();
            format!("modelgate denied {what}: {}", reasons.join("; "))
        };
        Verdict {
            allowed: decision.is_allow(),
            message,
            warnings: decision.body.warnings.iter().map(warning_text).collect(),
            decision: Some(decision.ledger.clone()),
        }
    }

    /// The AdmissionReview v1 answer to the review `uid`.
    pub fn to_review(&self, uid: &str) -> Value {
        let mut response = json!({
            "uid": uid,
            "allowed": self.allowed,
            "status": {
                "code": if self.allowed { 200 } else { 403 },
                "message": self.message,
            },
        });
        if !self.warnings.is_empty() {
            response["warnings"] = json!(self.warnings);
        }
        if let Some(d) = &self.decision {
            // The API server files these as `<webhook name>/<key>` and drops a key holding a `/`.
            response["auditAnnotations"] = json!({
                "ledger-index": d.index.to_string(),
                "decision-id": d.leaf_hash,
            });
        }
        json!({"apiVersion": REVIEW_API_VERSION, "kind": "AdmissionReview", "response": response})
    }
}

fn reason_text(r: &Reason) -> String {
    format!("[{}] {}", r.policy_id, r.reason)
}

/// `modelgate: [policy] reason` on one line, cut to [`WARNING_MAX_CHARS`] characters.
fn warning_text(r: &Reason) -> String {
    let line: String = format!("modelgate: {}", reason_text(r))
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.chars().count() <= WARNING_MAX_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(WARNING_MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Judges `review`: see the module documentation for the steps.
pub fn judge(state: &AppState, review: &Review) -> Result<Verdict, ApiError> {
    if !matches!(review.operation.as_str(), "CREATE" | "UPDATE") || review.sub_resource.is_some() {
        return Ok(Verdict::allow(match &review.sub_resource {
            Some(sub) => format!("the `{sub}` sub-resource is not judged"),
            None => format!("{} is not judged", review.operation),
        }));
    }
    let annotations = match Annotations::of(review) {
        Ok(a) => a,
        Err(problem) => return Ok(Verdict::deny(problem)),
    };
    let get = |key| annotations.get(key);
    let (model, version, env, digest) = match (
        get(ANNOTATION_MODEL),
        get(ANNOTATION_VERSION),
        get(ANNOTATION_ENVIRONMENT),
        get(ANNOTATION_ARTIFACT_DIGEST),
    ) {
        (Ok(m), Ok(v), Ok(e), Ok(d)) => (m, v, e, d),
        (Err(p), ..) | (_, Err(p), ..) | (_, _, Err(p), _) | (.., Err(p)) => {
            return Ok(Verdict::deny(p))
        }
    };
    let object = format!("{} `{}`", review.kind, review.name);
    let Some(model) = model else {
        if let Some(other) = [&version, &env, &digest].into_iter().flatten().next() {
            return Ok(Verdict::deny(format!(
                "{object} has `modelgate.dev/*` annotations (in `{}`) but no `{ANNOTATION_MODEL}`",
                other.place
            )));
        }
        let ns = review.namespace.as_deref().unwrap_or_default();
        if state
            .settings
            .require_model_annotation
            .iter()
            .any(|n| n == ns)
        {
            return Ok(Verdict::deny(format!(
                "namespace `{ns}` requires a `{ANNOTATION_MODEL}` annotation (with `{ANNOTATION_VERSION}`) on the object or its pod template; {object} has none"
            )));
        }
        return Ok(Verdict::allow(format!(
            "no `{ANNOTATION_MODEL}` annotation: not a model deployment, not judged"
        )));
    };
    let Some(version) = version else {
        return Ok(Verdict::deny(format!(
            "{object} names model `{}` but no `{ANNOTATION_VERSION}`",
            model.value
        )));
    };
    let environment =
        match environment(env, review.namespace.as_deref(), &state.settings.namespaces) {
            Ok(e) => e,
            Err(problem) => return Ok(Verdict::deny(problem)),
        };
    let (model, version) = (model.value, version.value);
    let filed = {
        let reader = state.readers.checkout()?;
        reader.store()?.filed_attestations(&model, &version)?
    };
    let artifact_digest = match digest {
        Some(d) => d.value,
        None => match filed_artifact_digest(&filed) {
            Ok(Some(d)) => d,
            Ok(None) => {
                return Ok(Verdict::deny(format!(
                    "no artifact digest for `{model}` `{version}`: annotate `{ANNOTATION_ARTIFACT_DIGEST}` or file the model's signed metadata with POST /v1/attestations"
                )))
            }
            Err(EngineError::Invalid(problems)) => {
                return Ok(Verdict::deny(format!(
                    "cannot judge `{model}` `{version}`: {}; annotate `{ANNOTATION_ARTIFACT_DIGEST}`",
                    EngineError::Invalid(problems)
                )))
            }
            Err(other) => return Err(other.into()),
        },
    };
    let mut request = json!({
        "model": model,
        "version": version,
        "environment": environment,
        "artifact_digest": artifact_digest,
        "attestations": [],
        "requested_by": review.username,
    });
    if review.dry_run {
        request["dry_run"] = json!(true);
    }
    let bytes = serde_json::to_vec(&request).map_err(|e| ApiError::internal(e.to_string()))?;
    let decision = match pipeline::decide(state, &bytes) {
        Ok((decision, _receipt)) => decision,
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let problems = if e.problems.is_empty() {
                e.message
            } else {
                let all: Vec<String> = e.problems.iter().map(ToString::to_string).collect();
                all.join("; ")
            };
            let hint = if filed.is_empty() {
                format!(" (nothing is filed for `{model}` `{version}`: file its signed metadata and approvals with POST /v1/attestations)")
            } else {
                String::new()
            };
            return Ok(Verdict::deny(format!(
                "cannot judge `{model}` `{version}` for `{environment}`, nothing recorded: {problems}{hint}"
            )));
        }
        Err(e) => return Err(e),
    };
    let deployed = DeployedObject {
        namespace: review.namespace.clone(),
        kind: review.kind.clone(),
        name: review.name.clone(),
        operation: review.operation.clone(),
    };
    let now = state.engine().clock().now();
    if let Some(draft) = observation_draft(&deployed, &decision, now)? {
        // No allow without its observation: if this append fails the answer is a 500.
        record_observation(&mut **state.writer()?, draft)?;
    }
    Ok(Verdict::of(&decision))
}

/// `POST /v1/admission`: an AdmissionReview v1 request → the AdmissionReview answer (200, with
/// `allowed` set), or a 400 in the shared error shape for a malformed review.
pub async fn post_admission(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_body(body, state.settings.max_body_bytes).await?;
    let worker = Arc::clone(&state);
    let answer = blocking(move || {
        let review = parse_review(&bytes)?;
        let verdict = judge(&worker, &review)?;
        tracing::info!(
            uid = %review.uid,
            namespace = review.namespace.as_deref().unwrap_or_default(),
            kind = %review.kind,
            name = %review.name,
            allowed = verdict.allowed,
            "admission review answered"
        );
        Ok(verdict.to_review(&review.uid))
    })
    .await?;
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> Reason {
        Reason {
            policy_id: "tier0.p".to_owned(),
            effect: "forbid".to_owned(),
            reason: text.to_owned(),
            controls: Vec::new(),
            values: BTreeMap::new(),
        }
    }

    #[test]
    fn warnings_are_one_line_of_at_most_120_characters() {
        assert_eq!(
            warning_text(&reason("due soon")),
            "modelgate: [tier0.p] due soon"
        );
        let long = warning_text(&reason(&"é\n".repeat(200)));
        assert_eq!(long.chars().count(), WARNING_MAX_CHARS);
        assert!(long.ends_with('…'), "{long}");
        assert!(!long.contains('\n'), "{long}");
    }

    #[test]
    fn a_mapped_namespace_keeps_its_environment() {
        let map = BTreeMap::from([("ml-prod".to_owned(), "production".to_owned())]);
        let found = |v: &str| {
            Some(Found {
                value: v.to_owned(),
                place: "metadata.annotations",
            })
        };
        assert_eq!(
            environment(None, Some("ml-prod"), &map),
            Ok("production".to_owned())
        );
        assert_eq!(
            environment(found("production"), Some("ml-prod"), &map),
            Ok("production".to_owned())
        );
        assert!(environment(found("dev"), Some("ml-prod"), &map).is_err());
        assert_eq!(
            environment(found("dev"), Some("sandbox"), &map),
            Ok("dev".to_owned())
        );
        assert!(environment(None, None, &map).is_err());
    }
}
