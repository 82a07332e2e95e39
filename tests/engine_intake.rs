//! Attestations filed ahead of a decision are checked on arrival: every signature must verify
//! under a trusted key (junk signatures would be merged into every later request), at most eight
//! per envelope, and what the envelope names must match where it is filed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use modelgate::engine::intake::{accept_attestation, MAX_SIGNATURES_PER_ENVELOPE};
use modelgate::engine::{load_trust, EngineError};
use serde_json::{json, Value};

fn accept(f: &Fixture, model: &str, version: &str, envelope: &Value) -> Result<(), String> {
    let trust = load_trust(&f.store).unwrap();
    accept_attestation(
        f.engine.schemas(),
        &trust,
        model,
        version,
        envelope,
        "/attestations/0",
        now(),
    )
    .map(|_| ())
    .map_err(|e| match e {
        EngineError::Invalid(p) => p[0].message.clone(),
        other => panic!("{other}"),
    })
}

#[test]
fn a_well_signed_envelope_is_accepted_and_junk_signatures_are_not() {
    let f = Fixture::new();
    let (md, approvals) = complete("fraud", "1.0.0", 1);
    accept(&f, "fraud", "1.0.0", &md.to_json_value()).unwrap();
    accept(&f, "fraud", "1.0.0", &approvals[0].to_json_value()).unwrap();

    let mut junk = approvals[0].to_json_value();
    junk["signatures"]
        .as_array_mut()
        .unwrap()
        .push(json!({"keyid": "x", "sig": base64_zeros()}));
    let err = accept(&f, "fraud", "1.0.0", &junk).unwrap_err();
    assert!(
        err.contains("every signature of a filed envelope must verify"),
        "{err}"
    );

    let mut many = md.to_json_value();
    let first = many["signatures"][0].clone();
    for _ in 0..MAX_SIGNATURES_PER_ENVELOPE {
        many["signatures"]
            .as_array_mut()
            .unwrap()
            .push(first.clone());
    }
    let err = accept(&f, "fraud", "1.0.0", &many).unwrap_err();
    assert!(err.contains("over the limit of 8"), "{err}");
}

#[test]
fn metadata_is_filed_only_under_the_model_and_version_it_names() {
    let f = Fixture::new();
    let (md, _) = complete("fraud", "1.0.0", 1);
    let err = accept(&f, "fraud", "2.0.0", &md.to_json_value()).unwrap_err();
    assert!(err.contains("not `fraud` `2.0.0`"), "{err}");
    let (signed_by_stranger, _) = complete("fraud", "1.0.0", 1);
    let mut v = signed_by_stranger.to_json_value();
    v["signatures"] = json!([sign(
        &modelgate::attest::Statement::from_payload(&signed_by_stranger.payload).unwrap(),
        MALLORY.1
    )
    .to_json_value()["signatures"][0]
        .clone()]);
    let err = accept(&f, "fraud", "1.0.0", &v).unwrap_err();
    assert!(
        err.contains("no signature verifies under a trusted key"),
        "{err}"
    );
}

fn base64_zeros() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode([0u8; 64])
}
