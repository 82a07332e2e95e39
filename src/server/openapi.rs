//! The OpenAPI 3.1 document, generated from the route table ([`super::routes`]) and the
//! project's JSON Schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12, so `schemas/*.json`
//! are used as they are).

use serde_json::{json, Map, Value};

use super::{Param, Payload, Route};

const DECISION: &str = include_str!("../../schemas/decision.v1.schema.json");
const REQUEST: &str = include_str!("../../schemas/promotion-request.v1.schema.json");

/// The promotion request schema as the component `PromotionRequest`, parsed once: its
/// properties are also the schemas of model and version parameters and of filings.
static REQUEST_SCHEMA: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| schema_of(REQUEST, "PromotionRequest"));

/// The JSON Schema `text` as the component `name`: without `$schema`, and with its local
/// references (`#/$defs/x`) pointing into the component where the document now holds them.
fn schema_of(text: &str, name: &str) -> Value {
    let mut v: Value = serde_json::from_str(text).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut v {
        map.remove("$schema");
    }
    rebase_refs(&mut v, &format!("#/components/schemas/{name}/"));
    v
}

fn rebase_refs(v: &mut Value, base: &str) {
    match v {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::String(target) if key == "$ref" => {
                        if let Some(rest) = target.strip_prefix("#/") {
                            *target = format!("{base}{rest}");
                        }
                    }
                    _ => rebase_refs(child, base),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rebase_refs(i, base)),
        _ => {}
    }
}

/// The schema of a parameter that accepts `param`.
fn param_schema(param: Param) -> Value {
    match param {
        Param::Text => json!({"type": "string"}),
        Param::Model => request_property("model"),
        Param::Version => request_property("version"),
        Param::Count { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        Param::Time => json!({"type": "string", "format": "date-time"}),
        Param::OneOf(words) => json!({"type": "string", "enum": words}),
    }
}

/// What the path parameter `name` of `path` accepts.
fn path_param(path: &str, name: &str) -> Param {
    match name {
        "index" | "id" => super::table::INDEX,
        "name" if path.starts_with("/v1/models/") => Param::Model,
        _ => Param::Text,
    }
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

/// The OpenAPI document for `routes`, with the workspace's `environments` as the values an
/// `environment` field takes.
pub fn document(routes: &[Route], environments: &[String]) -> Value {
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
            .map(|(name, required, param, description)| {
                json!({"name": name, "in": "query", "required": required, "description": description, "schema": param_schema(*param)})
            })
            .collect();
        for segment in r.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let schema = param_schema(path_param(r.path, name));
                parameters
                    .push(json!({"name": name, "in": "path", "required": true, "schema": schema}));
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
    let environment = json!({"type": "string", "enum": environments});
    // Request bodies the handlers read with unknown fields refused.
    let closed = |props: Value, required: &[&str]| {
        let mut o = obj(props, required);
        o["additionalProperties"] = json!(false);
        o
    };
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
                "PromotionRequest": request_schema(environments),
                "Decision": schema_of(DECISION, "Decision"),
                "DecisionAnswer": {"allOf": [{"$ref": "#/components/schemas/Decision"}, obj(json!({"receipt": {"type": "object", "description": "DSSE envelope signed by the engine key, payloadType application/vnd.modelgate.receipt.v1+json"}}), &["receipt"])]},
                "AttestationFiling": closed(json!({"model": request_property("model"), "version": request_property("version"), "attestations": request_property("attestations")}), &["model", "version", "attestations"]),
                "Filed": obj(json!({"model": {"type": "string"}, "version": {"type": "string"}, "filed": {"type": "array", "items": obj(json!({"digest": {"type": "string"}, "predicate_type": {"type": "string"}}), &["digest", "predicate_type"])}}), &["model", "version", "filed"]),
                "DecisionList": obj(json!({"decisions": {"type": "array", "items": {"type": "object"}}, "next_cursor": {"type": ["integer", "null"]}}), &["decisions", "next_cursor"]),
                "Status": obj(json!({"status": {"type": "string"}}), &["status"]),
                "Readiness": obj(json!({"ready": {"type": "boolean"}, "checks": {"type": "object"}}), &["ready", "checks"]),
                "OpenApi": {"type": "object"},
                "Freeze": closed(json!({"environment": environment, "reason": {"type": "string", "minLength": 1}, "until": {"type": ["string", "null"], "format": "date-time"}}), &["environment", "reason"]),
                "Unfreeze": closed(json!({"environment": environment}), &["environment"]),
                "FreezeState": obj(json!({"environment": {"type": "string"}, "frozen": {"type": "boolean"}, "record": {"type": "integer"}}), &["environment", "frozen", "record"]),
                "Reloaded": obj(json!({"bundle_digest": {"type": "string"}, "policies": {"type": "integer"}, "activation_record": {"type": ["integer", "null"]}}), &["bundle_digest", "policies", "activation_record"]),
                "NewToken": closed(json!({"name": {"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$"}, "role": {"enum": ["pipeline", "auditor", "admin"]}}), &["name", "role"]),
                "CreatedToken": obj(json!({"name": {"type": "string"}, "role": {"type": "string"}, "token": {"type": "string"}}), &["name", "role", "token"]),
                "TokenList": obj(json!({"tokens": {"type": "array", "items": obj(json!({"name": {"type": "string"}, "role": {"type": "string"}}), &["name", "role"])}}), &["tokens"]),
                "AdmissionReview": super::admission::review::review_request_schema(),
                "AdmissionReviewAnswer": super::admission::review::review_answer_schema(),
                "ReportList": super::reports::list_schema(),
                "MlflowWebhookEvent": super::mlflow::event_schema(),
                "RevokedToken": obj(json!({"name": {"type": "string"}, "role": {"type": "string"}, "revoked": {"type": "boolean"}}), &["name", "role", "revoked"]),
            }
        }
    })
}

/// The schema of the promotion request's property `name`.
fn request_property(name: &str) -> Value {
    REQUEST_SCHEMA
        .pointer(&format!("/properties/{name}"))
        .cloned()
        .unwrap_or_else(|| json!({"type": "string"}))
}

/// The promotion request schema with `environment` limited to the configured environments.
fn request_schema(environments: &[String]) -> Value {
    let mut schema = REQUEST_SCHEMA.clone();
    if let Some(env) = schema.pointer_mut("/properties/environment") {
        env["enum"] = json!(environments);
    }
    schema
}
