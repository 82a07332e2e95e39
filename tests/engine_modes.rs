//! Enforcement modes through the engine: enforce policies alone decide; warn policies add
//! warnings to the answer; shadow policies are evaluated and recorded in the ledger only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use modelgate::ledger::Store;
use serde_json::Value;

/// A shadow forbid that would deny every production promotion, added to the workspace bundle.
const SHADOW: &str = r#"
@id("rollout.shadow-freeze-friday")
@reason("promotions to production would be refused by the planned gate")
@control("ORG:CHANGE-1")
@mode("shadow")
forbid (principal, action, resource)
when { context.environment.production };
"#;

#[test]
fn shadow_outcomes_are_recorded_but_do_not_decide() {
    let mut f = Fixture::new();
    std::fs::write(f.ws.policy_dir().join("rollout.cedar"), SHADOW).unwrap();
    f.engine = f.ws.engine(f.clock.clone()).unwrap();
    let (md, approvals) = complete("credit", "1.0.0", 1);
    let d = f
        .decide(&request(
            "credit",
            "1.0.0",
            "production",
            &with(&md, &approvals),
        ))
        .unwrap();
    assert!(d.is_allow(), "{:?}", reason_ids(&d));
    let ids: Vec<&str> = d.body.shadow.iter().map(|r| r.policy_id.as_str()).collect();
    assert_eq!(ids, ["rollout.shadow-freeze-friday"]);
    assert_eq!(d.body.shadow[0].effect, "forbid");
    let stored = f.store.record(d.ledger.index).unwrap().unwrap();
    let record: Value = serde_json::from_slice(&stored.bytes).unwrap();
    assert_eq!(
        record["body"]["shadow"][0]["policy_id"],
        "rollout.shadow-freeze-friday"
    );
    assert!(d.body.warnings.is_empty());
}

#[test]
fn decisions_without_shadow_policies_record_no_shadow_field() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("credit", "1.0.0", 1);
    let d = f
        .decide(&request(
            "credit",
            "1.0.0",
            "production",
            &with(&md, &approvals),
        ))
        .unwrap();
    let stored = f.store.record(d.ledger.index).unwrap().unwrap();
    let record: Value = serde_json::from_slice(&stored.bytes).unwrap();
    assert!(record["body"].get("shadow").is_none());
    assert!(record["body"].get("waivers").is_none());
}
