//! SARIF 2.1.0 for `check`: [`decision`] and [`invalid`] build the log, [`to_string`] prints it.
//!
//! One run whose tool is `modelgate`, with every policy of the bundle as a rule
//! (`tool.driver.rules`: id, `@reason` as short description, a default level from its mode,
//! `@control`s as tags and properties) plus the rule `modelgate.invalid-request`. Each deny reason
//! and each warning is a result: `ruleId` = policy id, the message is the reason with the values
//! it compared, the properties carry the effect, controls and values. Results point at the
//! request file. An allow without warnings has no results. The whole decision object is in the
//! run's properties (`decision`), and `invocations[0].exitCode` is the exit code of `check`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::{exit_code, problem_line, reason_message, subject, ReportContext};
use crate::cli::exit;
use crate::engine::{Decision, Problem};
use crate::policy::{Mode, PolicyBundle, PolicyEffect, Reason};

/// The schema a log names in `$schema` (the OASIS 2.1.0 schema, with errata).
pub const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
/// The rule of invalid-request results.
pub const INVALID_RULE: &str = "modelgate.invalid-request";

/// `log` as pretty-printed JSON, with a final newline.
pub fn to_string(log: &Value) -> String {
    format!("{log:#}\n")
}

/// The rules (every policy, then [`INVALID_RULE`]) and each rule id's index.
fn rules(bundle: &PolicyBundle) -> (Vec<Value>, BTreeMap<String, usize>) {
    let mut rules = Vec::new();
    let mut index = BTreeMap::new();
    for p in bundle.policies() {
        let level = match (p.mode, p.effect) {
            (Mode::Warn, _) => "warning",
            (Mode::Shadow, _) => "note",
            (Mode::Enforce, PolicyEffect::Permit | PolicyEffect::Forbid) => "error",
        };
        index.insert(p.id.clone(), rules.len());
        rules.push(json!({
            "id": p.id,
            "shortDescription": { "text": p.reason },
            "defaultConfiguration": { "level": level },
            "properties": {
                "tags": p.controls,
                "controls": p.controls,
                "effect": p.effect.as_str(),
                "mode": p.mode.as_str(),
                "file": p.file,
            },
        }));
    }
    index.insert(INVALID_RULE.to_owned(), rules.len());
    rules.push(json!({
        "id": INVALID_RULE,
        "shortDescription": { "text": "the promotion request is invalid and was not judged" },
        "defaultConfiguration": { "level": "error" },
        "properties": { "tags": ["modelgate"] },
    }));
    (rules, index)
}

/// A URI reference for `path`: relative paths stay relative (`/`-separated), absolute paths
/// become `file://` URIs; everything but unreserved characters and `/` is percent-encoded.
pub fn artifact_uri(path: &Path) -> String {
    let raw = path.to_string_lossy();
    let mut out = String::new();
    if path.is_absolute() {
        out.push_str("file://");
    }
    for byte in raw.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn location(ctx: &ReportContext<'_>, logical: Option<(&str, String)>) -> Value {
    let mut loc = json!({
        "physicalLocation": { "artifactLocation": { "uri": artifact_uri(ctx.request) } },
    });
    if let (Some((name, qualified)), Some(obj)) = (logical, loc.as_object_mut()) {
        obj.insert(
            "logicalLocations".to_owned(),
            json!([{ "name": name, "fullyQualifiedName": qualified, "kind": "resource" }]),
        );
    }
    loc
}

fn run(
    ctx: &ReportContext<'_>,
    rules: Vec<Value>,
    results: Vec<Value>,
    code: i32,
    properties: Value,
) -> Value {
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "modelgate",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                },
            },
            "invocations": [{ "executionSuccessful": true, "exitCode": code }],
            "artifacts": [{ "location": { "uri": artifact_uri(ctx.request) } }],
            "results": results,
            "properties": properties,
        }],
    })
}

fn result(
    ctx: &ReportContext<'_>,
    d: &Decision,
    index: &BTreeMap<String, usize>,
    r: &Reason,
    level: &str,
) -> Value {
    let model = &d.body.request;
    let mut out = json!({
        "ruleId": r.policy_id,
        "kind": "fail",
        "level": level,
        "message": { "text": reason_message(r) },
        "locations": [location(ctx, Some((
            model.model.as_str(),
            format!("{}@{}/{}", model.model, model.version, model.environment),
        )))],
        "properties": {
            "effect": r.effect,
            "controls": r.controls,
            "values": r.values,
            "decision": d.body.decision.as_str(),
            "subject": subject(d),
        },
    });
    if let (Some(i), Some(obj)) = (index.get(&r.policy_id), out.as_object_mut()) {
        obj.insert("ruleIndex".to_owned(), json!(i));
    }
    out
}

/// The SARIF log of `d`: one result per deny reason and per warning.
pub fn decision(d: &Decision, ctx: &ReportContext<'_>) -> Value {
    let (rules, index) = rules(ctx.bundle);
    let mut results = Vec::new();
    if !d.is_allow() {
        for r in &d.body.reasons {
            results.push(result(ctx, d, &index, r, "error"));
        }
    }
    let warning_level = if ctx.fail_on_warn { "error" } else { "warning" };
    for r in &d.body.warnings {
        results.push(result(ctx, d, &index, r, warning_level));
    }
    let decision = serde_json::to_value(d).unwrap_or(Value::Null);
    run(
        ctx,
        rules,
        results,
        exit_code(d, ctx.fail_on_warn),
        json!({ "decision": decision }),
    )
}

/// The SARIF log of an invalid request: one [`INVALID_RULE`] result per problem.
pub fn invalid(problems: &[Problem], ctx: &ReportContext<'_>) -> Value {
    let (rules, index) = rules(ctx.bundle);
    let results = problems
        .iter()
        .map(|p| {
            json!({
                "ruleId": INVALID_RULE,
                "ruleIndex": index.get(INVALID_RULE),
                "kind": "fail",
                "level": "error",
                "message": { "text": problem_line(p) },
                "locations": [location(ctx, None)],
                "properties": { "pointer": p.pointer },
            })
        })
        .collect();
    run(
        ctx,
        rules,
        results,
        exit::INVALID,
        json!({ "error": "invalid_request", "problems": problems }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris_are_percent_encoded_references() {
        assert_eq!(artifact_uri(Path::new("req/a b.json")), "req/a%20b.json");
        assert_eq!(
            artifact_uri(Path::new("/tmp/x%y,é.json")),
            "file:///tmp/x%25y%2C%C3%A9.json"
        );
    }
}
