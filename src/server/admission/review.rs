//! The AdmissionReview v1 request as modelgate reads it: [`parse_review`] → [`Review`], the
//! places `modelgate.dev/*` annotations are read from ([`annotation_places`]) and their lookup
//! (`Annotations`), and the OpenAPI schemas of the exchange ([`review_request_schema`], [`review_answer_schema`]).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::WARNING_MAX_CHARS;
use crate::server::error::ApiError;

/// The only AdmissionReview version accepted (`admissionReviewVersions: ["v1"]`).
pub const REVIEW_API_VERSION: &str = "admission.k8s.io/v1";
/// The annotation naming the model.
pub const ANNOTATION_MODEL: &str = "modelgate.dev/model";
/// The annotation naming the model version.
pub const ANNOTATION_VERSION: &str = "modelgate.dev/version";
/// The annotation naming the target environment.
pub const ANNOTATION_ENVIRONMENT: &str = "modelgate.dev/environment";
/// The annotation naming the artifact digest (`sha256:<hex>`).
pub const ANNOTATION_ARTIFACT_DIGEST: &str = "modelgate.dev/artifact-digest";

/// The parts of an AdmissionReview v1 request that modelgate reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// `request.uid`, echoed in the answer.
    pub uid: String,
    /// `request.kind.group` (`""` for the core group).
    pub group: String,
    /// `request.kind.kind`.
    pub kind: String,
    /// `request.namespace`; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The object's name (`request.name`, else `metadata.name`, else `metadata.generateName`).
    pub name: String,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    /// `request.subResource`, if any.
    pub sub_resource: Option<String>,
    /// `request.userInfo.username`.
    pub username: String,
    /// `request.dryRun`.
    pub dry_run: bool,
    /// `request.object` (`null` for a deletion).
    pub object: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReview {
    api_version: Option<String>,
    kind: Option<String>,
    request: Option<RawRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    uid: Option<String>,
    kind: Option<RawKind>,
    namespace: Option<String>,
    name: Option<String>,
    operation: Option<String>,
    sub_resource: Option<String>,
    user_info: Option<RawUser>,
    dry_run: Option<bool>,
    #[serde(default)]
    object: Value,
}

#[derive(Debug, Deserialize)]
struct RawKind {
    #[serde(default)]
    group: String,
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawUser {
    username: Option<String>,
}

/// Parses an AdmissionReview v1 request; anything else is a 400 naming the problem.
pub fn parse_review(bytes: &[u8]) -> Result<Review, ApiError> {
    let malformed = |m: String| ApiError::invalid(format!("not an AdmissionReview v1: {m}"));
    let value = crate::canonical::parse_json(bytes)
        .map_err(|e| malformed(format!("the body is not valid JSON: {e}")))?;
    let raw: RawReview = serde_json::from_value(value).map_err(|e| malformed(e.to_string()))?;
    let api_version = raw.api_version.unwrap_or_default();
    if api_version != REVIEW_API_VERSION {
        return Err(malformed(format!(
            "`apiVersion` is `{api_version}`, not `{REVIEW_API_VERSION}` (register the webhook with admissionReviewVersions: [\"v1\"])"
        )));
    }
    let kind = raw.kind.unwrap_or_default();
    if kind != "AdmissionReview" {
        return Err(malformed(format!(
            "`kind` is `{kind}`, not `AdmissionReview`"
        )));
    }
    let request = raw
        .request
        .ok_or_else(|| malformed("`request` is missing".to_owned()))?;
    let required = |field: &str, v: Option<String>| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| malformed(format!("`request.{field}` is required")))
    };
    let uid = required("uid", request.uid)?;
    // An object that is not an object has no annotations to read: refusing it keeps a
    // malformed review from passing as "not a model deployment".
    if !matches!(request.object, Value::Null | Value::Object(_)) {
        return Err(malformed(
            "`request.object` must be a JSON object".to_owned(),
        ));
    }
    let (group, kind) = match request.kind {
        Some(k) => (k.group, required("kind.kind", k.kind)?),
        None => return Err(malformed("`request.kind` is required".to_owned())),
    };
    let operation = required("operation", request.operation)?;
    if !matches!(
        operation.as_str(),
        "CREATE" | "UPDATE" | "DELETE" | "CONNECT"
    ) {
        return Err(malformed(format!(
            "`request.operation` `{operation}` is not CREATE, UPDATE, DELETE or CONNECT"
        )));
    }
    // The object of a CREATE or UPDATE is what is judged: without it nothing could be read,
    // and "no annotation" must not be how a malformed review gets through.
    if matches!(operation.as_str(), "CREATE" | "UPDATE") && request.object.is_null() {
        return Err(malformed(format!(
            "`request.object` is required for {operation}"
        )));
    }
    let username = required(
        "userInfo.username",
        request.user_info.and_then(|u| u.username),
    )?;
    let meta = |field: &str| {
        request
            .object
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let name = request
        .name
        .filter(|s| !s.is_empty())
        .or_else(|| meta("name"))
        .or_else(|| meta("generateName"))
        .unwrap_or_default();
    Ok(Review {
        uid,
        group,
        kind,
        namespace: request.namespace.filter(|s| !s.is_empty()),
        name,
        operation,
        sub_resource: request.sub_resource.filter(|s| !s.is_empty()),
        username,
        dry_run: request.dry_run.unwrap_or(false),
        object: request.object,
    })
}

/// Where the `modelgate.dev/*` annotations of an object of `group`/`kind` are read, in order,
/// as `(name, JSON pointer)`: always the object's own `metadata.annotations`, then the pod
/// template of workload kinds (`apps` Deployment, StatefulSet, DaemonSet, ReplicaSet; `batch`
/// Job; `batch` CronJob's job template) or a KServe InferenceService's predictor.
pub fn annotation_places(group: &str, kind: &str) -> Vec<(&'static str, &'static str)> {
    let mut places = vec![("metadata.annotations", "/metadata/annotations")];
    match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch", "Job") => {
            places.push((
                "spec.template.metadata.annotations",
                "/spec/template/metadata/annotations",
            ))
        }
        ("batch", "CronJob") => places.push((
            "spec.jobTemplate.spec.template.metadata.annotations",
            "/spec/jobTemplate/spec/template/metadata/annotations",
        )),
        ("serving.kserve.io", "InferenceService") => {
            places.push(("spec.predictor.annotations", "/spec/predictor/annotations"))
        }
        _ => {}
    }
    places
}

/// An annotation value and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    /// The value.
    pub(super) value: String,
    /// Where it was set (`metadata.annotations`, …).
    pub(super) place: &'static str,
}

/// The annotation maps of one object, in the order of [`annotation_places`].
pub(super) struct Annotations<'a>(Vec<(&'static str, &'a Map<String, Value>)>);

impl<'a> Annotations<'a> {
    /// The annotation maps of `review`'s object; a place that is not a map is a deny message.
    pub(super) fn of(review: &'a Review) -> Result<Annotations<'a>, String> {
        let mut maps = Vec::new();
        for (place, pointer) in annotation_places(&review.group, &review.kind) {
            match review.object.pointer(pointer) {
                None | Some(Value::Null) => {}
                Some(Value::Object(map)) => maps.push((place, map)),
                Some(_) => return Err(format!("`{place}` is not a map of strings")),
            }
        }
        Ok(Annotations(maps))
    }

    /// The value of `key`; set in several places with different values, or not a string, it is
    /// a deny message.
    pub(super) fn get(&self, key: &str) -> Result<Option<Found>, String> {
        let mut found: Option<Found> = None;
        for (place, map) in &self.0 {
            let value = match map.get(key) {
                None => continue,
                Some(Value::String(s)) => s,
                Some(_) => return Err(format!("`{key}` in `{place}` is not a string")),
            };
            match &found {
                Some(first) if first.value != *value => {
                    return Err(format!(
                        "`{key}` is `{}` in `{}` but `{value}` in `{place}`: set it once, or to the same value",
                        first.value, first.place
                    ))
                }
                Some(_) => {}
                None => {
                    found = Some(Found {
                        value: value.clone(),
                        place,
                    })
                }
            }
        }
        Ok(found)
    }
}

/// The OpenAPI component `AdmissionReview`: the review as the API server sends it (the fields
/// modelgate reads; [`parse_review`] answers 400 when one it needs is missing or empty).
pub fn review_request_schema() -> Value {
    let text = json!({"type": ["string", "null"]});
    let needed = json!({"type": "string", "minLength": 1});
    envelope_schema(
        "request",
        json!({
            "type": "object",
            "required": ["uid", "kind", "operation", "userInfo"],
            "if": {"properties": {"operation": {"enum": ["CREATE", "UPDATE"]}}, "required": ["operation"]},
            "then": {"required": ["object"], "properties": {"object": {"type": "object"}}},
            "properties": {
                "uid": needed,
                "kind": {"type": "object", "properties": {"group": {"type": "string"}, "kind": needed}, "required": ["kind"]},
                "namespace": text,
                "name": text,
                "operation": {"enum": ["CREATE", "UPDATE", "DELETE", "CONNECT"]},
                "subResource": text,
                "userInfo": {"type": "object", "properties": {"username": needed}, "required": ["username"]},
                "dryRun": {"type": ["boolean", "null"]},
                "object": {"type": ["object", "null"], "description": "annotations `modelgate.dev/model`, `modelgate.dev/version`, `modelgate.dev/environment`, `modelgate.dev/artifact-digest` on the object, its pod template or KServe predictor"}
            }
        }),
    )
}

/// The OpenAPI component `AdmissionReviewAnswer`: the review modelgate sends back.
pub fn review_answer_schema() -> Value {
    let text = json!({"type": "string"});
    envelope_schema(
        "response",
        json!({
            "type": "object",
            "required": ["uid", "allowed"],
            "properties": {
                "uid": text,
                "allowed": {"type": "boolean"},
                "status": {"type": "object", "properties": {"code": {"enum": [200, 403]}, "message": text}, "required": ["code", "message"]},
                "warnings": {"type": "array", "items": {"type": "string", "maxLength": WARNING_MAX_CHARS}},
                "auditAnnotations": {"type": "object", "properties": {"ledger-index": text, "decision-id": text}, "required": ["ledger-index", "decision-id"]}
            }
        }),
    )
}

/// An AdmissionReview v1 object whose one payload field is `field`.
fn envelope_schema(field: &str, body: Value) -> Value {
    json!({
        "type": "object",
        "description": format!("Kubernetes AdmissionReview admission.k8s.io/v1 carrying `{field}`"),
        "required": ["apiVersion", "kind", field],
        "properties": {
            "apiVersion": {"const": REVIEW_API_VERSION},
            "kind": {"const": "AdmissionReview"},
            field: body
        }
    })
}
