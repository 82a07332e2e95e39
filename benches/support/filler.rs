//! Filler for ledgers at scale: decision records whose bodies come from real decisions, with
//! their fields varied per record so that no two records share a body.
//!
//! [`decision_templates`] makes six real decisions (tiers 0/1/2, allowed and denied) through
//! the engine; [`decision_draft`] turns template `i mod 6` into record draft number `i`, about
//! one of 2,000 models named `model-NNNN`.

use modelgate::clock::rfc3339;
use modelgate::digest::sha256_prefixed;
use modelgate::ledger::{RecordDraft, RecordKind};
use serde_json::Value;

use crate::common::{artifact, complete, now, request, with, Fixture};

/// Decision bodies of real decisions, one per request of the mixed workload (tiers 0/1/2, a
/// complete request that is allowed and one without approvals that is denied).
pub fn decision_templates(f: &mut Fixture) -> Vec<Value> {
    let mut bodies = Vec::new();
    for tier in [0, 1, 2] {
        let name = format!("scale-t{tier}");
        let (md, approvals) = complete(&name, "1.0.0", tier);
        for envelopes in [with(&md, &approvals), vec![md.clone()]] {
            let d = f
                .decide(&request(&name, "1.0.0", "production", &envelopes))
                .unwrap();
            bodies.push(serde_json::to_value(&d.body).unwrap());
        }
    }
    bodies
}

/// The draft of decision number `i`: template `i mod 6` with its time, model, version and
/// every digest changed, so no two records share a body.
pub fn decision_draft(templates: &[Value], i: u64) -> RecordDraft {
    let mut body = templates[(i % templates.len() as u64) as usize].clone();
    let time = now() + time::Duration::seconds(i as i64);
    let model = format!("model-{:04}", (i / 6) % 2_000);
    let version = format!("{}.{}.{}", i % 7, (i / 7) % 13, i % 101);
    body["time"] = rfc3339(time).into();
    body["request"]["model"] = model.clone().into();
    body["request"]["version"] = version.clone().into();
    body["request"]["artifact_digest"] = artifact(&model, &version).into();
    body["input_digest"] = sha256_prefixed(&i.to_le_bytes()).into();
    let mut renamed = Vec::new();
    for (k, a) in body["attestations"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        let new = sha256_prefixed(format!("{i}/{k}").as_bytes());
        renamed.push((a["digest"].as_str().unwrap().to_owned(), new.clone()));
        a["digest"] = new.into();
    }
    for a in body["approvals"].as_array_mut().unwrap() {
        if let Some((_, new)) = renamed.iter().find(|(old, _)| a["attestation"] == **old) {
            a["attestation"] = new.clone().into();
        }
    }
    RecordDraft {
        kind: RecordKind::Decision,
        time,
        body,
    }
}
