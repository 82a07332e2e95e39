//! The OpenAPI 3.1 document, generated from the route table ([`super::routes`]) and the
//! project's JSON Schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12, so `schemas/*.json`
//! are used as they are).

use serde_json::{json, Map, Value};

use super::{Payload, Route};

const DECISION: &str = include_str!("../../schemas/decision.v1.schema.json");
const REQUEST: &str = include_str!("../../schemas/promotion-request.v1.schema.json");

fn schema_of(text: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut v {
        map.remove("$schema");
    }
    v
}

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Invalid request (the shared error shape)",
        401 => "Missing or unknown bearer token",
        403 => "A token of another role",
        404 => "Not found",
        409 => "Conflict",
        413 => "Body over the size limit",
        422 => "Well-formed but unacceptable input, with problems and JSON pointers",
        500 => "Internal error: the gate stays closed",
        503 => "Deadline exceeded or not ready: never an allow",
        _ => "Error",
    }
}

fn content(payload: Payload) -> Option<Value> {
    match payload {
        Payload::Empty => None,
        Payload::Json(name) => Some(json!({
            "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}") } }
        })),
        Payload::Text => Some(json!({ "text/plain": { "schema": { "type": "string" } } })),
        Payload::Metrics => Some(json!({
            "application/openmetrics-text": { "schema": { "type": "string" } }
        })),
        Payload::Binary(media_type) => Some(json!({
            media_type: { "schema": { "type": "string", "format": "binary" } }
        })),
        Payload::Media(types) => Some(Value::Object(
            types
                .iter()
                .map(|t| {
                    let kind = if *t == "application/json" {
                        "object"
                    } else {
                        "string"
                    };
                    ((*t).to_owned(), json!({ "schema": { "type": kind } }))
                })
                .collect(),
        )),
        Payload::RecordBytes => Some(json!({
            "application/json": { "schema": { "type": "object", "description": "the canonical record bytes (docs/ledger.md)" } }
        })),
    }
}

/// The OpenAPI document for `routes`.
pub fn document(routes: &[Route]) -> Value {
    let mut paths = Map::new();
    for r in routes {
        let mut responses = Map::new();
        let (code, payload) = r.response;
        let mut ok = json!({ "description": status_text(code) });
        if let Some(c) = content(payload) {
            ok["content"] = c;
        }
        responses.insert(code.to_string(), ok);
        let mut errors: Vec<u16> = r.errors.to_vec();
        if r.role.is_some() {
            errors.extend([401, 403]);
        }
        errors.push(503);
        errors.sort_unstable();
        errors.dedup();
        for e in errors {
            responses.insert(
                e.to_string(),
                json!({
                    "description": status_text(e),
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                }),
            );
        }
        let mut op = json!({
            "operationId": format!("{} {}", r.method, r.path),
            "summary": r.summary,
            "responses": responses,
        });
        let mut parameters: Vec<Value> = r
            .query
            .iter()
            .map(|(name, required, description)| {
                json!({"name": name, "in": "query", "required": required, "description": description, "schema": {"type": "string"}})
            })
            .collect();
        for segment in r.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                parameters.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
            }
        }
        if !parameters.is_empty() {
            op["parameters"] = Value::Array(parameters);
        }
        if let Some(c) = content(r.request) {
            op["requestBody"] = json!({ "required": true, "content": c });
        }
        match r.role {
            Some(role) => {
                op["security"] = json!([{ "bearer": [] }]);
                op["x-modelgate-role"] = json!(role.as_str());
            }
            None => op["security"] = json!([]),
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.method.to_ascii_lowercase()] = op;
    }
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "modelgate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Policy-as-code governance for ML model promotion. Pipelines ask for decisions; auditors read the tamper-evident ledger. See docs/http.md."
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "a token from `modelgate token create --role ROLE`" } },
            "schemas": {
                "Error": obj(json!({"error": obj(json!({"code": {"type": "string"}, "message": {"type": "string"}, "problems": {"type": "array", "items": obj(json!({"pointer": {"type": "string"}, "message": {"type": "string"}}), &["pointer", "message"])}}), &["code", "message"])}), &["error"]),
                "PromotionRequest": schema_of(REQUEST),
                "Decision": schema_of(DECISION),
                "DecisionAnswer": {"allOf": [{"$ref": "#/components/schemas/Decision"}, obj(json!({"receipt": {"type": "object", "description": "DSSE envelope signed by the engine key, payloadType application/vnd.modelgate.receipt.v1+json"}}), &["receipt"])]},
                "AttestationFiling": obj(json!({"model": {"type": "string"}, "version": {"type": "string"}, "attestations": {"type": "array", "minItems": 1, "maxItems": 64, "items": {"type": "object"}}}), &["model", "version", "attestations"]),
                "Filed": obj(json!({"model": {"type": "string"}, "version": {"type": "string"}, "filed": {"type": "array", "items": obj(json!({"digest": {"type": "string"}, "predicate_type": {"type": "string"}}), &["digest", "predicate_type"])}}), &["model", "version", "filed"]),
                "DecisionList": obj(json!({"decisions": {"type": "array", "items": {"type": "object"}}, "next_cursor": {"type": ["integer", "null"]}}), &["decisions", "next_cursor"]),
                "Status": obj(json!({"status": {"type": "string"}}), &["status"]),
                "Readiness": obj(json!({"ready": {"type": "boolean"}, "checks": {"type": "object"}}), &["ready", "checks"]),
                "OpenApi": {"type": "object"},
                "Freeze": obj(json!({"environment": {"type": "string"}, "reason": {"type": "string"}, "until": {"type": "string"}}), &["environment", "reason"]),
                "Unfreeze": obj(json!({"environment": {"type": "string"}}), &["environment"]),
                "FreezeState": obj(json!({"environment": {"type": "string"}, "frozen": {"type": "boolean"}, "record": {"type": "integer"}}), &["environment", "frozen", "record"]),
                "Reloaded": obj(json!({"bundle_digest": {"type": "string"}, "policies": {"type": "integer"}, "activation_record": {"type": ["integer", "null"]}}), &["bundle_digest", "policies", "activation_record"]),
                "NewToken": obj(json!({"name": {"type": "string"}, "role": {"enum": ["pipeline", "auditor", "admin"]}}), &["name", "role"]),
                "CreatedToken": obj(json!({"name": {"type": "string"}, "role": {"type": "string"}, "token": {"type": "string"}}), &["name", "role", "token"]),
                "TokenList": obj(json!({"tokens": {"type": "array", "items": obj(json!({"name": {"type": "string"}, "role": {"type": "string"}}), &["name", "role"])}}), &["tokens"]),
                "AdmissionReview": super::admission::review_schema(),
                "ReportList": super::reports::list_schema(),
                "MlflowWebhookEvent": super::mlflow::event_schema(),
                "RevokedToken": obj(json!({"name": {"type": "string"}, "role": {"type": "string"}, "revoked": {"type": "boolean"}}), &["name", "role", "revoked"]),
            }
        }
    })
}
