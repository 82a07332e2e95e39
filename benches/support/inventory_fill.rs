//! The inventory-shaped ledger the inventory and console benchmarks fill: models of ten
//! versions, each version nine decisions made from real decisions (tiers 0/1/2, allow and deny;
//! to staging and production, one in twenty production allows a rollback) with its own stored
//! policy input, and one admission observation (every fiftieth an unregistered model in
//! production).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use modelgate::canonical::to_canonical_vec;
use modelgate::clock::rfc3339;
use modelgate::digest::sha256_prefixed;
use modelgate::ledger::{AppendRequest, RecordDraft, RecordKind, Store};
use serde_json::{json, Value};

use crate::common::*;

/// Records per version: nine decisions and one observation.
pub const PER_VERSION: u64 = 10;
/// Versions per model.
pub const VERSIONS: u64 = 10;
/// Versions appended per transaction while building.
pub const BATCH_VERSIONS: u64 = 1_000;

/// A real decision body and its policy input.
pub struct Template {
    /// The decision body.
    pub body: Value,
    /// Its policy input.
    pub input: Value,
}

/// Real decisions and their policy inputs: tiers 0/1/2, complete (allow) and without
/// approvals (deny).
pub fn templates(f: &mut Fixture) -> Vec<Template> {
    let mut out = Vec::new();
    for tier in [0, 1, 2] {
        let name = format!("inv-t{tier}");
        let (md, approvals) = complete(&name, "1.0.0", tier);
        for envelopes in [with(&md, &approvals), vec![md.clone()]] {
            let d = f
                .decide(&request(&name, "1.0.0", "production", &envelopes))
                .unwrap();
            let input = f.store.attestation(&d.body.input_digest).unwrap().unwrap();
            out.push(Template {
                body: serde_json::to_value(&d.body).unwrap(),
                input: serde_json::from_slice(&input).unwrap(),
            });
        }
    }
    out
}

/// Appends versions `from..to` (nine decisions and one observation each), record `*i` at
/// `time_of(*i)`.
pub fn append_versions(
    f: &mut Fixture,
    templates: &[Template],
    models: u64,
    (from, to): (u64, u64),
    i: &mut u64,
    time_of: &dyn Fn(u64) -> time::OffsetDateTime,
) {
    let envs = [
        "staging",
        "staging",
        "production",
        "production",
        "staging",
        "production",
        "staging",
        "production",
        "production",
    ];
    let mut v = from;
    while v < to {
        let mut request = AppendRequest::default();
        for _ in 0..BATCH_VERSIONS.min(to - v) {
            let model = format!("model-{:05}", v % models);
            let version = format!("{}.{}.0", v / models, v % 7);
            let t = &templates[((v + v / models) % templates.len() as u64) as usize];
            let mut input = t.input.clone();
            input["model"]["name"] = model.clone().into();
            input["model"]["version"] = version.clone().into();
            let input_bytes = to_canonical_vec(&input).unwrap();
            let input_digest = sha256_prefixed(&input_bytes);
            request
                .attestations
                .push((input_digest.clone(), input_bytes));
            for (k, env) in envs.iter().enumerate() {
                let time = time_of(*i);
                let mut body = t.body.clone();
                body["time"] = rfc3339(time).into();
                body["request"]["model"] = model.clone().into();
                body["request"]["version"] = version.clone().into();
                body["request"]["environment"] = (*env).into();
                body["request"]["rollback"] = (k == 8 && v.is_multiple_of(20)).into();
                body["input_digest"] = input_digest.clone().into();
                request.drafts.push(RecordDraft {
                    kind: RecordKind::Decision,
                    time,
                    body,
                });
                *i += 1;
            }
            let time = time_of(*i);
            let env = if v.is_multiple_of(50) {
                "production"
            } else {
                "staging"
            };
            request.drafts.push(RecordDraft {
                kind: RecordKind::Observation,
                time,
                body: json!({"source": "bench", "model": if v.is_multiple_of(50) { format!("unregistered-{v}") } else { model.clone() }, "version": version, "environment": env}),
            });
            *i += 1;
            v += 1;
        }
        let outcome = f.store.append_batch(&[request]).unwrap();
        outcome.into_iter().next().unwrap().unwrap();
    }
}
