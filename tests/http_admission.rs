//! `POST /v1/admission` through the router (no socket): AdmissionReview fixtures for a Pod, a
//! Deployment and a KServe InferenceService (tests/fixtures/admission/), allowed, denied, dry
//! run, missing and required annotations, malformed reviews; what the ledger holds after each
//! (decision, observation, or nothing); every 4xx in the shared error shape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use common::*;
use modelgate::attest::Envelope;
use modelgate::engine::observe::filed_artifact_digest;
use modelgate::ledger::{parse_record, Record, RecordKind, Store};
use modelgate::metadata::{SchemaKind, Schemas};
use modelgate::server::admission::review::{review_answer_schema, review_request_schema};
use modelgate::server::admission::WARNING_MAX_CHARS;
use modelgate::server::auth::{ApiRole, TokenFile};
use modelgate::server::state::AppState;
use modelgate::workspace::{Workspace, WorkspaceConfig, CONFIG_FILE};
use serde_json::{json, Value};
use tower::ServiceExt as _;

/// A served workspace: namespaces `ml-prod` → production (annotation required) and
/// `ml-staging` → staging; `fraud-scorer` 1.4.0 (tier 1, approved for production),
/// `churn-model` 2.0.0 (metadata only) and `credit-limit` 3.0.0 (tier 0, validation due in 10
/// days) filed through `POST /v1/attestations`.
struct Served {
    f: Fixture,
    app: Router,
    pipeline: String,
    auditor: String,
}

impl Served {
    async fn new() -> Served {
        let f = Fixture::new();
        let config_path = f.dir.path().join(CONFIG_FILE);
        let mut config: WorkspaceConfig =
            toml::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
        config.server.namespaces = BTreeMap::from([
            ("ml-prod".to_owned(), "production".to_owned()),
            ("ml-staging".to_owned(), "staging".to_owned()),
        ]);
        config.server.require_model_annotation = vec!["ml-prod".to_owned()];
        std::fs::write(&config_path, toml::to_string_pretty(&config).unwrap()).unwrap();
        let ws = Workspace::open(f.dir.path()).unwrap();
        let mut tokens = TokenFile::default();
        let pipeline = tokens.create("argo", ApiRole::Pipeline).unwrap();
        let auditor = tokens.create("audit", ApiRole::Auditor).unwrap();
        tokens.save(&ws.tokens_path()).unwrap();
        let state = AppState::open(ws, f.clock.clone()).unwrap();
        let served = Served {
            app: modelgate::server::router(Arc::new(state)),
            f,
            pipeline,
            auditor,
        };

        let (md, approvals) = complete("fraud-scorer", "1.4.0", 1);
        served
            .file("fraud-scorer", "1.4.0", &with(&md, &approvals))
            .await;
        let churn = sign_metadata(
            metadata("churn-model", "2.0.0", 1),
            &artifact("churn-model", "2.0.0"),
            ALICE.1,
        );
        served.file("churn-model", "2.0.0", &[churn]).await;
        let due = (now() + time::Duration::days(10)).date();
        let (md, approvals) = complete_edited("credit-limit", "3.0.0", 0, |m| {
            m["validation"]["next_due"] = json!(due.to_string());
        });
        served
            .file("credit-limit", "3.0.0", &with(&md, &approvals))
            .await;
        served
    }

    async fn call(&self, path: &str, token: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
        let mut request = Request::post(path).header("content-type", "application/json");
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    async fn file(&self, model: &str, version: &str, envelopes: &[Envelope]) {
        let body = json!({
            "model": model,
            "version": version,
            "attestations": envelopes.iter().map(Envelope::to_json_value).collect::<Vec<_>>(),
        });
        let (status, answer) = self
            .call(
                "/v1/attestations",
                Some(&self.pipeline),
                serde_json::to_vec(&body).unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "filing refused: {answer}");
    }

    /// Posts `review`; a well-formed review is answered 200 with an AdmissionReview.
    async fn review(&self, review: &Value) -> Value {
        let (status, answer) = self
            .call(
                "/v1/admission",
                Some(&self.pipeline),
                serde_json::to_vec(review).unwrap(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(
            answer["response"]["uid"], review["request"]["uid"],
            "the answer echoes request.uid"
        );
        let validator = jsonschema::validator_for(&review_answer_schema()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&answer)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "answer off its schema: {errors:?}");
        answer["response"].clone()
    }

    fn record(&self, index: u64) -> Record {
        parse_record(&self.f.store.record(index).unwrap().unwrap().bytes).unwrap()
    }

    /// The decision record the answer's audit annotations name, checked against its leaf hash.
    fn decision_of(&self, response: &Value) -> (u64, Record) {
        let audit = &response["auditAnnotations"];
        let index: u64 = audit["ledger-index"].as_str().unwrap().parse().unwrap();
        let stored = self.f.store.record(index).unwrap().unwrap();
        assert_eq!(audit["decision-id"], hex::encode(stored.leaf_hash));
        let record = parse_record(&stored.bytes).unwrap();
        assert_eq!(record.kind, RecordKind::Decision);
        (index, record)
    }
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/admission")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Sets the member at `pointer` (its parent must exist).
fn set(review: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let key = key.replace("~1", "/").replace("~0", "~");
    review.pointer_mut(parent).unwrap()[key] = value;
}

fn assert_shared_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body.as_object().unwrap().len(), 1, "only `error`: {body}");
}

#[tokio::test]
async fn annotated_pod_is_allowed_recorded_and_observed() {
    let s = Served::new().await;
    let review = fixture("pod-allowed.json");
    let size = s.f.size();
    let response = s.review(&review).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(response["status"]["code"], 200);
    assert!(response.get("warnings").is_none(), "{response}");

    let (index, decision) = s.decision_of(&response);
    assert_eq!(index, size, "the decision is the first new record");
    assert_eq!(decision.body["decision"], "allow");
    let request = &decision.body["request"];
    assert_eq!(request["model"], "fraud-scorer");
    assert_eq!(
        request["environment"], "production",
        "from [server] namespaces"
    );
    assert_eq!(
        request["requested_by"],
        "system:serviceaccount:argocd:argocd-application-controller"
    );
    assert_eq!(
        request["artifact_digest"],
        artifact("fraud-scorer", "1.4.0"),
        "taken from the filed metadata"
    );
    assert!(
        request.get("dry_run").is_none(),
        "an ordinary decision record carries no dry_run field: {request}"
    );

    let observation = s.record(index + 1);
    assert_eq!(observation.kind, RecordKind::Observation);
    assert_eq!(
        observation.body,
        json!({
            "source": "admission", "model": "fraud-scorer", "version": "1.4.0",
            "environment": "production", "namespace": "ml-prod", "kind": "Pod",
            "name": "fraud-scorer-pod", "operation": "CREATE", "decision_index": index,
        })
    );
    assert_eq!(s.f.size(), size + 2, "one decision and one observation");
    s.f.assert_ledger_intact();
}

#[tokio::test]
async fn deployment_is_judged_by_its_pod_template_annotations() {
    let s = Served::new().await;
    let response = s.review(&fixture("deployment-allowed.json")).await;
    assert_eq!(response["allowed"], true, "{response}");
    let (index, decision) = s.decision_of(&response);
    assert_eq!(decision.body["request"]["version"], "1.4.0");
    let observation = s.record(index + 1);
    assert_eq!(observation.body["kind"], "Deployment");
    assert_eq!(observation.body["name"], "fraud-scorer");
    assert_eq!(observation.body["decision_index"], index);
}

#[tokio::test]
async fn kserve_inference_service_reads_metadata_and_predictor_and_sends_warnings() {
    let s = Served::new().await;
    let response = s.review(&fixture("inferenceservice-warned.json")).await;
    assert_eq!(response["allowed"], true, "{response}");
    let warnings = response["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("tier0.validation-due-soon")),
        "{warnings:?}"
    );
    assert!(warnings
        .iter()
        .all(|w| w.as_str().unwrap().chars().count() <= WARNING_MAX_CHARS));
    let (index, decision) = s.decision_of(&response);
    let request = &decision.body["request"];
    assert_eq!(
        request["version"], "3.0.0",
        "from spec.predictor.annotations"
    );
    assert_eq!(
        request["environment"], "production",
        "from the annotation (namespace not mapped)"
    );
    let observation = s.record(index + 1);
    assert_eq!(observation.body["kind"], "InferenceService");
    assert_eq!(observation.body["namespace"], "ml-serving");
}

#[tokio::test]
async fn denied_deployment_is_recorded_with_its_reasons_and_not_observed() {
    let s = Served::new().await;
    let size = s.f.size();
    let response = s.review(&fixture("deployment-denied.json")).await;
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403);
    let (_, decision) = s.decision_of(&response);
    assert_eq!(decision.body["decision"], "deny");
    let message = response["status"]["message"].as_str().unwrap();
    for reason in decision.body["reasons"].as_array().unwrap() {
        let id = reason["policy_id"].as_str().unwrap();
        assert!(message.contains(&format!("[{id}]")), "{id} in {message}");
    }
    assert_eq!(s.f.size(), size + 1, "the decision only, no observation");
}

#[tokio::test]
async fn dry_run_is_recorded_as_a_dry_run_and_not_observed() {
    let s = Served::new().await;
    let size = s.f.size();
    let response = s.review(&fixture("deployment-dry-run.json")).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert!(response["status"]["message"]
        .as_str()
        .unwrap()
        .contains("dry run"));
    let (index, decision) = s.decision_of(&response);
    assert_eq!(decision.body["request"]["dry_run"], true);
    assert_eq!(decision.body["request"]["requested_by"], "jane@example.com");
    assert_eq!(s.f.size(), size + 1, "no observation for a dry run");

    // The recorded decision still fits the decision contract.
    let mut answer = decision.body.clone();
    answer["ledger"] =
        json!({"index": index, "leaf_hash": response["auditAnnotations"]["decision-id"]});
    Schemas::compile()
        .unwrap()
        .validate(SchemaKind::Decision, &answer)
        .unwrap();
}

#[tokio::test]
async fn object_without_model_annotation_is_allowed_and_not_recorded() {
    let s = Served::new().await;
    let size = s.f.size();
    let response = s.review(&fixture("pod-missing-annotation.json")).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert!(response.get("auditAnnotations").is_none());
    assert_eq!(s.f.size(), size, "nothing recorded");
}

#[tokio::test]
async fn namespace_that_requires_the_annotation_denies_without_recording() {
    let s = Served::new().await;
    let size = s.f.size();
    let response = s.review(&fixture("pod-required-annotation.json")).await;
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("`ml-prod`") && message.contains("modelgate.dev/model"),
        "{message}"
    );
    assert_eq!(s.f.size(), size, "nothing recorded");
}

#[tokio::test]
async fn requests_that_cannot_be_judged_are_denied_never_allowed() {
    let s = Served::new().await;
    let size = s.f.size();
    let pod = fixture("pod-allowed.json");
    let ann = "/request/object/metadata/annotations";
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "nothing filed, digest annotated: the engine's problems",
            json!({"modelgate.dev/model": "ghost", "modelgate.dev/version": "1.0.0",
                   "modelgate.dev/artifact-digest": artifact("ghost", "1.0.0")}),
            "nothing is filed for `ghost` `1.0.0`",
        ),
        (
            "nothing filed, no digest",
            json!({"modelgate.dev/model": "ghost", "modelgate.dev/version": "1.0.0"}),
            "no artifact digest",
        ),
        (
            "no version",
            json!({"modelgate.dev/model": "fraud-scorer"}),
            "no `modelgate.dev/version`",
        ),
        (
            "version without model",
            json!({"modelgate.dev/version": "1.4.0"}),
            "no `modelgate.dev/model`",
        ),
        (
            "an annotation may not move a mapped namespace to another environment",
            json!({"modelgate.dev/model": "fraud-scorer", "modelgate.dev/version": "1.4.0",
                   "modelgate.dev/environment": "dev"}),
            "deploys to `production`",
        ),
        (
            "unknown environment",
            json!({"modelgate.dev/model": "fraud-scorer", "modelgate.dev/version": "1.4.0",
                   "modelgate.dev/environment": "moon"}),
            "unknown environment `moon`",
        ),
        (
            "annotation value not a string",
            json!({"modelgate.dev/model": 7, "modelgate.dev/version": "1.4.0"}),
            "is not a string",
        ),
    ];
    for (what, annotations, fragment) in cases {
        let mut review = pod.clone();
        set(&mut review, ann, annotations);
        if what == "unknown environment" {
            set(&mut review, "/request/namespace", json!("sandbox"));
        }
        let response = s.review(&review).await;
        assert_eq!(response["allowed"], false, "{what}: {response}");
        assert_eq!(response["status"]["code"], 403, "{what}");
        let message = response["status"]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "{what}: {message}");
    }

    // A namespace with no mapping and no environment annotation.
    let mut review = pod.clone();
    set(&mut review, "/request/namespace", json!("sandbox"));
    let response = s.review(&review).await;
    assert_eq!(response["allowed"], false, "{response}");
    assert!(response["status"]["message"]
        .as_str()
        .unwrap()
        .contains("no environment for namespace `sandbox`"));

    // The object and its pod template name different versions: no place overrides another.
    let mut review = fixture("deployment-allowed.json");
    set(
        &mut review,
        "/request/object/metadata/annotations/modelgate.dev~1version",
        json!("1.3.0"),
    );
    let response = s.review(&review).await;
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("`1.3.0` in `metadata.annotations`")
            && message.contains("`1.4.0` in `spec.template.metadata.annotations`"),
        "{message}"
    );
    assert_eq!(s.f.size(), size, "none of them recorded anything");
}

#[tokio::test]
async fn deletions_and_sub_resources_pass_unjudged() {
    let s = Served::new().await;
    let size = s.f.size();
    let mut delete = fixture("deployment-denied.json");
    set(&mut delete, "/request/operation", json!("DELETE"));
    let old = delete["request"]["object"].clone();
    set(&mut delete, "/request/oldObject", old);
    set(&mut delete, "/request/object", Value::Null);
    let response = s.review(&delete).await;
    assert_eq!(response["allowed"], true, "{response}");

    let mut scale = fixture("pod-required-annotation.json");
    set(&mut scale, "/request/operation", json!("UPDATE"));
    set(&mut scale, "/request/subResource", json!("scale"));
    let response = s.review(&scale).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(s.f.size(), size);
}

#[tokio::test]
async fn malformed_reviews_are_400_in_the_shared_error_shape() {
    let s = Served::new().await;
    let size = s.f.size();
    let mut uid_not_string = fixture("pod-allowed.json");
    set(&mut uid_not_string, "/request/uid", json!(7));
    let mut no_user = fixture("pod-allowed.json");
    no_user["request"]
        .as_object_mut()
        .unwrap()
        .remove("userInfo");
    let mut no_request = fixture("pod-allowed.json");
    no_request.as_object_mut().unwrap().remove("request");
    // An object that is not an object must not pass as "not a model deployment".
    let mut object_not_object = fixture("pod-allowed.json");
    set(
        &mut object_not_object,
        "/request/object",
        json!([null, null]),
    );
    let mut no_object = fixture("pod-allowed.json");
    no_object["request"]
        .as_object_mut()
        .unwrap()
        .remove("object");
    let bodies: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "no uid",
            serde_json::to_vec(&fixture("malformed-no-uid.json")).unwrap(),
            "`request.uid` is required",
        ),
        (
            "v1beta1",
            serde_json::to_vec(&fixture("malformed-v1beta1.json")).unwrap(),
            "admission.k8s.io/v1beta1",
        ),
        ("not JSON", b"{\"apiVersion\": ".to_vec(), "not valid JSON"),
        (
            "duplicate keys",
            br#"{"apiVersion":"admission.k8s.io/v1","apiVersion":"admission.k8s.io/v1"}"#.to_vec(),
            "not valid JSON",
        ),
        (
            "uid not a string",
            serde_json::to_vec(&uid_not_string).unwrap(),
            "not an AdmissionReview v1",
        ),
        (
            "no userInfo",
            serde_json::to_vec(&no_user).unwrap(),
            "`request.userInfo.username` is required",
        ),
        (
            "no request",
            serde_json::to_vec(&no_request).unwrap(),
            "`request` is missing",
        ),
        (
            "object not an object",
            serde_json::to_vec(&object_not_object).unwrap(),
            "`request.object` must be a JSON object",
        ),
        (
            "no object on CREATE",
            serde_json::to_vec(&no_object).unwrap(),
            "`request.object` is required for CREATE",
        ),
    ];
    for (what, body, fragment) in bodies {
        let (status, answer) = s.call("/v1/admission", Some(&s.pipeline), body).await;
        assert_shared_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_request");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "{what}: {message}");
    }
    assert_eq!(s.f.size(), size);
}

#[tokio::test]
async fn authentication_and_size_errors_use_the_shared_error_shape() {
    let s = Served::new().await;
    let body = serde_json::to_vec(&fixture("pod-allowed.json")).unwrap();
    let (status, answer) = s.call("/v1/admission", None, body.clone()).await;
    assert_shared_error(status, &answer, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, answer) = s.call("/v1/admission", Some(&s.auditor), body).await;
    assert_shared_error(status, &answer, StatusCode::FORBIDDEN, "forbidden");
    let huge = vec![b' '; modelgate::engine::request::MAX_REQUEST_BYTES + 1];
    let (status, answer) = s.call("/v1/admission", Some(&s.pipeline), huge).await;
    assert_shared_error(
        status,
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
}

#[tokio::test]
async fn openapi_document_lists_the_admission_route_and_its_schema() {
    let s = Served::new().await;
    let response = s
        .app
        .clone()
        .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let op = &doc["paths"]["/v1/admission"]["post"];
    assert_eq!(op["x-modelgate-role"], "pipeline");
    assert_eq!(
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AdmissionReview"
    );
    for code in ["400", "401", "403", "413", "503"] {
        assert_eq!(
            op["responses"][code]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error",
            "{code}"
        );
    }
    assert_eq!(
        doc["components"]["schemas"]["AdmissionReview"],
        review_request_schema()
    );
    assert_eq!(
        doc["components"]["schemas"]["AdmissionReviewAnswer"],
        review_answer_schema()
    );
}

#[test]
fn filed_artifact_digest_reads_metadata_only_and_refuses_ambiguity() {
    let canonical =
        |e: &Envelope| modelgate::canonical::to_canonical_vec(&e.to_json_value()).unwrap();
    let (md, approvals) = complete("fraud-scorer", "1.4.0", 1);
    let filed: Vec<Vec<u8>> = with(&md, &approvals).iter().map(canonical).collect();
    assert_eq!(
        filed_artifact_digest(&filed).unwrap(),
        Some(artifact("fraud-scorer", "1.4.0"))
    );
    assert_eq!(
        filed_artifact_digest(&approvals.iter().map(canonical).collect::<Vec<_>>()).unwrap(),
        None,
        "approvals name no artifact"
    );
    let mut other_meta = metadata("fraud-scorer", "1.4.0", 1);
    other_meta["artifact"]["digest"] = json!(artifact("fraud-scorer", "other"));
    let other_meta = sign_metadata(other_meta, &artifact("fraud-scorer", "other"), ALICE.1);
    let mut ambiguous = filed.clone();
    ambiguous.push(canonical(&other_meta));
    let problems = invalid(filed_artifact_digest(&ambiguous).unwrap_err());
    assert!(problems[0].1.contains("several artifacts"), "{problems:?}");
}
