//! Waivers are applied by the engine: a valid one lifts the named forbid for that one
//! evaluation and is recorded; every invalid one is reported and ignored, never honoured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use modelgate::engine::Decision;
use modelgate::ledger::Store;
use serde_json::{json, Value};

const MODEL: &str = "fraud";
const CARD: &str = "tier1.model-card";

/// A tier-1 request to production that is complete except for its model card (denied by
/// `tier1.model-card`), plus `extra` envelopes.
fn decide_without_card(f: &mut Fixture, extra: &[modelgate::attest::Envelope]) -> Decision {
    let (md, approvals) = complete_edited(MODEL, "1.0.0", 1, |m| {
        m["documentation"]
            .as_object_mut()
            .unwrap()
            .remove("model_card_uri");
    });
    let mut envelopes = with(&md, &approvals);
    envelopes.extend_from_slice(extra);
    f.decide(&request(MODEL, "1.0.0", "production", &envelopes))
        .unwrap()
}

fn no_edit(_: &mut Value) {}

#[test]
fn a_valid_waiver_lifts_the_named_forbid_and_is_recorded() {
    let mut f = Fixture::new();
    let w = waiver(MODEL, "production", &[CARD], RITA, 1, 30, no_edit);
    let d = decide_without_card(&mut f, &[w]);
    assert!(d.is_allow(), "{:?} {}", reason_ids(&d), findings(&d));
    assert_eq!(d.body.waivers.len(), 1);
    let applied = &d.body.waivers[0];
    assert_eq!(applied.policies, [CARD]);
    assert_eq!(applied.granted_by, RITA.0);
    assert_eq!(applied.ticket, "RISK-1234");
    assert!(d
        .body
        .attestations
        .iter()
        .any(|a| a.digest == applied.attestation && a.counted));
    // The record in the ledger says which waiver was used.
    let stored = f.store.record(d.ledger.index).unwrap().unwrap();
    let record: Value = serde_json::from_slice(&stored.bytes).unwrap();
    assert_eq!(record["body"]["waivers"][0]["policies"], json!([CARD]));
    // Without the waiver the same request is denied by exactly that policy.
    let denied = decide_without_card(&mut f, &[]);
    assert_denied_by(&denied, CARD);
    assert!(denied.body.waivers.is_empty());
}

#[test]
fn a_waiver_for_one_version_does_not_cover_another() {
    let mut f = Fixture::new();
    let w = waiver(MODEL, "production", &[CARD], RITA, 1, 30, |p| {
        p["version"] = json!("9.9.9");
    });
    let d = decide_without_card(&mut f, &[w]);
    assert_denied_by(&d, CARD);
    assert_finding(&d, "it is for version `9.9.9`, not `1.0.0`");
}

/// Each broken rule: the waiver is reported with the rule it breaks and the forbid still denies.
#[test]
fn invalid_waivers_are_reported_and_ignored() {
    let cases: Vec<(&str, modelgate::attest::Envelope)> = vec![
        (
            "expired at",
            waiver(MODEL, "production", &[CARD], RITA, 40, 30, no_edit),
        ),
        (
            "over the 90-day maximum for tier 1",
            waiver(MODEL, "production", &[CARD], RITA, 0, 91, no_edit),
        ),
        (
            "has no `issued_at`",
            waiver(MODEL, "production", &[CARD], RITA, 1, 30, |p| {
                p.as_object_mut().unwrap().remove("issued_at");
            }),
        ),
        (
            "in the future",
            waiver(MODEL, "production", &[CARD], RITA, -2, 10, no_edit),
        ),
        (
            "risk-officer",
            waiver(MODEL, "production", &[CARD], OLIVIA, 1, 30, no_edit),
        ),
        (
            "does not verify under any trusted key",
            waiver(MODEL, "production", &[CARD], MALLORY, 1, 30, no_edit),
        ),
        (
            "for model `other`",
            waiver("other", "production", &[CARD], RITA, 1, 30, no_edit),
        ),
        (
            "for environment `staging`",
            waiver(MODEL, "staging", &[CARD], RITA, 1, 30, no_edit),
        ),
        (
            "`tier1.no-such-rule`, which is not in the active bundle",
            waiver(
                MODEL,
                "production",
                &["tier1.no-such-rule"],
                RITA,
                1,
                30,
                no_edit,
            ),
        ),
        (
            "a permit: only forbid policies can be waived",
            waiver(
                MODEL,
                "production",
                &[CARD, "common.permit-promotion"],
                RITA,
                1,
                30,
                no_edit,
            ),
        ),
    ];
    for (expected, w) in cases {
        let mut f = Fixture::new();
        let d = decide_without_card(&mut f, &[w]);
        assert_denied_by(&d, CARD);
        assert!(d.body.waivers.is_empty(), "{expected}");
        assert_finding(&d, expected);
        assert_finding(&d, "waiver not applied");
    }
}

#[test]
fn a_revoked_risk_officer_key_grants_nothing() {
    let mut f = Fixture::new();
    f.revoke(RITA);
    let w = waiver(MODEL, "production", &[CARD], RITA, 1, 30, no_edit);
    let d = decide_without_card(&mut f, &[w]);
    assert_denied_by(&d, CARD);
    assert_finding(&d, "revoked");
}

/// The horizon follows the verified tier: 31 days is too long at tier 0 but fine at tier 1.
#[test]
fn the_horizon_depends_on_the_tier() {
    let mut f = Fixture::new();
    let w = waiver(MODEL, "production", &[CARD], RITA, 0, 31, no_edit);
    let d = decide_without_card(&mut f, &[w]);
    assert!(d.is_allow(), "{}", findings(&d));

    let (md, approvals) = complete("credit", "1.0.0", 0);
    let w0 = waiver(
        "credit",
        "production",
        &["tier0.roles-named"],
        RITA,
        0,
        31,
        no_edit,
    );
    let d = f
        .decide(&request("credit", "1.0.0", "production", &{
            let mut e = with(&md, &approvals);
            e.push(w0);
            e
        }))
        .unwrap();
    assert_finding(&d, "over the 30-day maximum for tier 0");
}
