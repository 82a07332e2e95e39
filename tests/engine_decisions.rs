//! The decision path end to end through the engine, on a real SQLite workspace: allows per
//! tier, and every kind of bad input from the foundation contract, each giving either an
//! `Invalid` error that names the problem (nothing recorded) or a recorded deny whose reason
//! names the gap. After each, the ledger must still verify.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use modelgate::attest::Role;
use modelgate::engine::EngineError;
use modelgate::ledger::{parse_record, RecordKind, Store};
use modelgate::metadata::{SchemaKind, Schemas};
use serde_json::{json, Value};

#[test]
fn complete_requests_of_every_tier_are_allowed_and_recorded() {
    let mut f = Fixture::new();
    for tier in [2, 1, 0] {
        let name = format!("model-t{tier}");
        let (md, approvals) = complete(&name, "1.0.0", tier);
        let before = f.size();
        let d = f
            .decide(&request(
                &name,
                "1.0.0",
                "production",
                &with(&md, &approvals),
            ))
            .unwrap();
        assert!(
            d.is_allow(),
            "tier {tier} denied: {:?}\n{}",
            reason_ids(&d),
            findings(&d)
        );
        assert_eq!(d.body.tier, Some(tier));
        assert_eq!(d.ledger.index, before, "decision is the next record");
        assert_eq!(d.body.approvals.len(), approvers_for(tier).len());
        // The record holds exactly the decision body.
        let rec = f.store.record(d.ledger.index).unwrap().unwrap();
        assert_eq!(hex::encode(rec.leaf_hash), d.ledger.leaf_hash);
        let parsed = parse_record(&rec.bytes).unwrap();
        assert_eq!(parsed.kind, RecordKind::Decision);
        assert_eq!(parsed.body, serde_json::to_value(&d.body).unwrap());
    }
    f.assert_ledger_intact();
}

#[test]
fn decision_json_matches_the_published_schema() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 1);
    let allow = f
        .decide(&request("m", "1.0.0", "production", &with(&md, &approvals)))
        .unwrap();
    let deny = f
        .decide(&request("m", "1.0.0", "production", &[md]))
        .unwrap();
    let schemas = Schemas::compile().unwrap();
    for d in [allow, deny] {
        let v = serde_json::to_value(&d).unwrap();
        schemas.validate(SchemaKind::Decision, &v).unwrap();
        assert!(v["ledger"]["leaf_hash"].as_str().unwrap().len() == 64);
    }
}

#[test]
fn attestations_are_kept_by_digest_in_the_attestation_store() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let d = f
        .decide(&request("m", "1.0.0", "production", &with(&md, &approvals)))
        .unwrap();
    for a in &d.body.attestations {
        let bytes = f.store.attestation(&a.digest).unwrap().expect("stored");
        assert_eq!(modelgate::digest::sha256_prefixed(&bytes), a.digest);
    }
}

#[test]
fn tier1_without_model_card_is_denied_naming_the_model_card_rule() {
    let mut f = Fixture::new();
    let (md, approvals) = complete_edited("fraud", "2.0.0", 1, |m| {
        m["documentation"]
            .as_object_mut()
            .unwrap()
            .remove("model_card_uri");
    });
    let d = f
        .decide(&request(
            "fraud",
            "2.0.0",
            "production",
            &with(&md, &approvals),
        ))
        .unwrap();
    assert!(!d.is_allow());
    assert_eq!(reason_ids(&d), ["tier1.model-card"]);
    let r = &d.body.reasons[0];
    assert!(!r.controls.is_empty(), "reasons carry their controls");
    assert_eq!(
        r.values.get("resource.has_model_card"),
        Some(&json!(false)),
        "{:?}",
        r.values
    );
}

#[test]
fn tier0_validator_who_is_also_developer_is_denied() {
    let mut f = Fixture::new();
    let (md, approvals) = complete_edited("advisor", "1.0.0", 0, |m| {
        m["ownership"]["validator"] = json!("alice@example.com");
    });
    let d = f
        .decide(&request(
            "advisor",
            "1.0.0",
            "production",
            &with(&md, &approvals),
        ))
        .unwrap();
    assert!(!d.is_allow());
    // The validator approval by victor no longer counts either: the metadata names alice.
    assert_eq!(
        reason_ids(&d),
        ["tier0.validator-approval", "tier0.validator-not-developer"]
    );
    assert_finding(&d, "metadata names `alice@example.com` as validator");
    let sod = &d.body.reasons[1];
    assert_eq!(sod.values["resource.developer"], json!("alice@example.com"));
    assert_eq!(sod.values["resource.validator"], json!("alice@example.com"));
}

#[test]
fn expired_approval_does_not_count_and_the_finding_says_when_it_expired() {
    let mut f = Fixture::new();
    let (md, mut approvals) = complete("scorer", "3.3.0", 0);
    approvals[2] = approval(&md, RITA, Role::RiskOfficer, "production", 100, 90);
    let d = f
        .decide(&request(
            "scorer",
            "3.3.0",
            "production",
            &with(&md, &approvals),
        ))
        .unwrap();
    assert!(!d.is_allow());
    assert_eq!(reason_ids(&d), ["tier0.risk-officer-approval"]);
    assert_finding(&d, "expired at 2026-11-17T12:00:00Z");
    assert!(!d.body.attestations[3].counted);
}

#[test]
fn approval_bound_to_other_metadata_does_not_count() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let other = sign_metadata(metadata("m", "0.9.0", 2), &artifact("m", "0.9.0"), ALICE.1);
    let moved = approval(&other, OLIVIA, Role::Owner, "production", 1, 365);
    drop(approvals);
    let d = f
        .decide(&request("m", "1.0.0", "production", &[md, moved]))
        .unwrap();
    assert!(!d.is_allow());
    assert_finding(&d, "bound to metadata payload");
}

#[test]
fn approval_in_a_role_the_key_does_not_hold_does_not_count() {
    let mut f = Fixture::new();
    let (md, _) = complete("m", "1.0.0", 2);
    // Victor is a validator, not an owner.
    let fake_owner = approval(&md, (VICTOR.0, VICTOR.1), Role::Owner, "production", 1, 365);
    let d = f
        .decide(&request("m", "1.0.0", "production", &[md, fake_owner]))
        .unwrap();
    assert!(!d.is_allow());
    assert_finding(&d, "role");
}

#[test]
fn metadata_signed_by_untrusted_revoked_expired_or_wrong_role_keys_counts_for_nothing() {
    // Each case: how the metadata is signed, and a fragment the finding must contain.
    let mut f = Fixture::new();
    f.trust_window(
        ("eve@example.com", 7),
        &[Role::ModelAuthor],
        None,
        Some("2026-11-01T00:00:00Z"),
    );
    f.trust(("carl@example.com", 8), &[Role::ModelAuthor]);
    f.revoke(("carl@example.com", 8));
    for (signer, fragment) in [
        (MALLORY.1, "any trusted key"),
        (7, "expired"),
        (8, "revoked"),
        (VICTOR.1, "role"),
    ] {
        let before = f.size();
        let md = sign_metadata(metadata("m", "1.0.0", 2), &artifact("m", "1.0.0"), signer);
        let owner = approval(&md, OLIVIA, Role::Owner, "production", 1, 365);
        let d = f
            .decide(&request("m", "1.0.0", "production", &[md, owner]))
            .unwrap();
        assert!(!d.is_allow(), "signer {signer} was accepted");
        assert_eq!(d.body.tier, None);
        assert!(
            findings(&d).to_lowercase().contains(fragment),
            "signer {signer}: {}",
            findings(&d)
        );
        assert_denied_by(&d, "common.metadata-verified");
        assert!(f.size() > before, "the deny is recorded");
    }
    f.assert_ledger_intact();
}

#[test]
fn tampered_payload_fails_verification_and_is_denied() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let mut req = request("m", "1.0.0", "production", &with(&md, &approvals));
    // Re-encode the payload with tier 2 -> the same text but one byte changed.
    let mut payload = md.payload.clone();
    let pos = payload.windows(4).position(|w| w == b"0.91").unwrap();
    payload[pos + 3] = b'9';
    req["attestations"][0]["payload"] = json!(base64_encode(&payload));
    let d = f.decide(&req).unwrap();
    assert!(!d.is_allow());
    assert_denied_by(&d, "common.metadata-verified");
    assert_finding(&d, "does not verify");
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn subject_digest_other_than_the_requested_artifact_is_denied() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let mut req = request("m", "1.0.0", "production", &with(&md, &approvals));
    req["artifact_digest"] = json!(modelgate::digest::sha256_prefixed(b"another artifact"));
    let d = f.decide(&req).unwrap();
    assert!(!d.is_allow());
    assert_eq!(reason_ids(&d), ["common.artifact-digest-matches"]);
    assert_finding(&d, "another artifact");
}

#[test]
fn invalid_inputs_are_rejected_naming_the_problem_and_record_nothing() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let good = request("m", "1.0.0", "production", &with(&md, &approvals));
    let before = f.size();

    // Malformed JSON.
    let e = invalid(f.decide_bytes(b"{\"model\": ").unwrap_err());
    assert!(e[0].1.contains("not valid JSON"), "{e:?}");

    // Empty attestation list.
    let mut r = good.clone();
    r["attestations"] = json!([]);
    let e = invalid(f.decide(&r).unwrap_err());
    assert!(e.iter().any(|(p, _)| p == "/attestations"), "{e:?}");

    // Unknown environment.
    let mut r = good.clone();
    r["environment"] = json!("moon");
    let e = invalid(f.decide(&r).unwrap_err());
    assert_eq!(e[0].0, "/environment");
    assert!(e[0].1.contains("unknown environment `moon`"), "{e:?}");

    // Wrong payloadType.
    let mut r = good.clone();
    r["attestations"][0]["payloadType"] = json!("text/plain");
    let e = invalid(f.decide(&r).unwrap_err());
    assert_eq!(e[0].0, "/attestations/0/payloadType");

    // Bad base64.
    let mut r = good.clone();
    r["attestations"][1]["payload"] = json!("not*base64!");
    let e = invalid(f.decide(&r).unwrap_err());
    assert_eq!(e[0].0, "/attestations/1");
    assert!(e[0].1.contains("payload"), "{e:?}");

    // Duplicate attestation.
    let mut r = good.clone();
    let first = r["attestations"][0].clone();
    r["attestations"].as_array_mut().unwrap().push(first);
    let e = invalid(f.decide(&r).unwrap_err());
    assert!(e[0].1.contains("duplicate attestation"), "{e:?}");

    // Conflicting metadata: two verified statements with different content.
    let other = sign_metadata(metadata("m", "1.0.1", 2), &artifact("m", "1.0.0"), ALICE.1);
    let r = request("m", "1.0.0", "production", &[md.clone(), other]);
    let e = invalid(f.decide(&r).unwrap_err());
    assert!(e[0].1.contains("conflicting model-metadata"), "{e:?}");

    // Schema violation in the signed predicate, with its pointer.
    let mut bad = metadata("m", "1.0.0", 2);
    bad["risk"]["tier"] = json!(5);
    bad["evaluation"]["metrics"][0]["value"] = json!("high");
    let bad = sign_metadata(bad, &artifact("m", "1.0.0"), ALICE.1);
    let e = invalid(
        f.decide(&request("m", "1.0.0", "production", &[bad]))
            .unwrap_err(),
    );
    let pointers: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        pointers.contains(&"/attestations/0/payload/predicate/risk/tier"),
        "{e:?}"
    );
    assert!(
        pointers.contains(&"/attestations/0/payload/predicate/evaluation/metrics/0/value"),
        "{e:?}"
    );

    // Request schema violation: missing field and bad digest.
    let mut r = good.clone();
    r.as_object_mut().unwrap().remove("requested_by");
    r["artifact_digest"] = json!("md5:abc");
    let e = invalid(f.decide(&r).unwrap_err());
    assert!(e.iter().any(|(p, _)| p == "/artifact_digest"), "{e:?}");
    assert!(e.iter().any(|(_, m)| m.contains("requested_by")), "{e:?}");

    assert_eq!(f.size(), before, "invalid input records nothing");
    f.assert_ledger_intact();
}

#[test]
fn a_ledger_that_cannot_be_written_closes_the_gate() {
    // The only way to an answer is through a durable append: a read-only ledger gives an error,
    // never an allow.
    let f = Fixture::new();
    let (md, approvals) = complete("m", "1.0.0", 2);
    let req =
        serde_json::to_vec(&request("m", "1.0.0", "production", &with(&md, &approvals))).unwrap();
    let mut ro = f.ws.read_store().unwrap();
    let before = f.size();
    let err = f.engine.decide(&mut *ro, &req).unwrap_err();
    assert!(matches!(err, EngineError::Ledger(_)), "{err:?}");
    assert_eq!(f.size(), before);
}

#[test]
fn non_production_environments_do_not_require_production_approvals() {
    let mut f = Fixture::new();
    let (md, _) = complete("m", "1.0.0", 1);
    let d = f.decide(&request("m", "1.0.0", "staging", &[md])).unwrap();
    assert!(d.is_allow(), "{:?}", reason_ids(&d));
}

#[test]
fn every_record_kind_written_by_a_session_verifies_and_bundle_activation_is_recorded_once() {
    let mut f = Fixture::new();
    for v in ["1.0.0", "1.0.1"] {
        let (md, approvals) = complete("m", v, 2);
        f.decide(&request("m", v, "production", &with(&md, &approvals)))
            .unwrap();
    }
    let activations = f
        .store
        .records_of_kind(RecordKind::BundleActivation)
        .unwrap();
    assert_eq!(activations.len(), 1, "same bundle, one activation");
    let body: Value = parse_record(&activations[0].bytes).unwrap().body;
    assert_eq!(body["bundle_digest"], json!(f.engine.bundle().digest()));
    f.assert_ledger_intact();
}
