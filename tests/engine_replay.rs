//! Replay: every record of every kind re-derives from what the ledger kept (bundles by digest,
//! policy inputs by digest, trust history, freeze bodies), a changed record is caught by its
//! replay, and a decision replays with its own bundle after the workspace moved to another.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[macro_use]
mod ledger_support;

use common::*;
use ledger_support::raw;
use modelgate::clock::Clock;
use modelgate::engine::freeze::{freeze, unfreeze};
use modelgate::engine::replay::replay;
use modelgate::ledger::{leaf_hash, RecordKind, Store};
use serde_json::Value;

/// A ledger with every kind the engine writes: key changes, a bundle activation, allow and
/// deny decisions, a waived decision, a freeze, a rollback under it and an unfreeze.
fn busy_ledger() -> Fixture {
    let mut f = Fixture::new();
    let (md, approvals) = complete("fraud", "1.0.0", 1);
    f.decide(&request(
        "fraud",
        "1.0.0",
        "production",
        &with(&md, &approvals),
    ))
    .unwrap();
    f.decide(&request("fraud", "1.0.0", "production", &[md]))
        .unwrap();
    let (md, mut approvals) = complete_edited("fraud", "1.1.0", 1, |m| {
        m["documentation"]
            .as_object_mut()
            .unwrap()
            .remove("model_card_uri");
    });
    approvals.push(waiver(
        "fraud",
        "production",
        &["tier1.model-card"],
        RITA,
        1,
        30,
        |_| {},
    ));
    let waived = f
        .decide(&request(
            "fraud",
            "1.1.0",
            "production",
            &with(&md, &approvals),
        ))
        .unwrap();
    assert!(waived.is_allow() && !waived.body.waivers.is_empty());
    let config = f.ws.engine_config();
    let clock = f.clock.clone();
    freeze(
        &mut f.store,
        clock.as_ref() as &dyn Clock,
        &config,
        "production",
        "INC-7",
        None,
    )
    .unwrap();
    let (md, approvals) = complete("fraud", "1.0.0", 1);
    let mut back = request("fraud", "1.0.0", "production", &with(&md, &approvals));
    back["rollback"] = Value::Bool(true);
    assert!(f.decide(&back).unwrap().is_allow());
    unfreeze(
        &mut f.store,
        clock.as_ref() as &dyn Clock,
        &config,
        "production",
    )
    .unwrap();
    f.revoke(VICTOR);
    f
}

#[test]
fn every_record_of_every_kind_replays_to_what_was_recorded() {
    let f = busy_ledger();
    let mut kinds = std::collections::BTreeSet::new();
    for index in 0..f.size() {
        let r = replay(&f.store, index).unwrap();
        assert!(
            r.reproduced,
            "record {index} ({}): {:?}",
            r.kind, r.differences
        );
        kinds.insert(r.kind);
        if r.kind == RecordKind::Decision {
            let eval = r.evaluation.unwrap();
            assert_eq!(eval.decision.as_str(), r.record.body["decision"]);
        }
    }
    for kind in [
        RecordKind::KeyChange,
        RecordKind::BundleActivation,
        RecordKind::Decision,
        RecordKind::Freeze,
        RecordKind::Unfreeze,
    ] {
        assert!(kinds.contains(&kind), "no {kind} record replayed");
    }
}

/// A decision record rewritten to say deny (with a matching leaf hash) no longer replays.
#[test]
fn a_rewritten_decision_does_not_replay() {
    if common::on_postgres() {
        // Rewrites the SQLite file behind the store's back; tests/pg_ledger.rs tampers with
        // PostgreSQL rows.
        return;
    }
    let f = busy_ledger();
    let decisions = f.store.records_of_kind(RecordKind::Decision).unwrap();
    let allow = decisions
        .iter()
        .find(|r| String::from_utf8_lossy(&r.bytes).contains("\"decision\":\"allow\""))
        .unwrap();
    let forged = String::from_utf8(allow.bytes.clone())
        .unwrap()
        .replace("\"decision\":\"allow\"", "\"decision\":\"deny\"");
    let conn = raw(&f.ws.ledger_path());
    conn.execute(
        "UPDATE records SET bytes = ?1, leaf_hash = ?2 WHERE idx = ?3",
        rusqlite::params![
            forged.as_bytes(),
            &leaf_hash(forged.as_bytes())[..],
            allow.index as i64
        ],
    )
    .unwrap();
    let r = replay(&f.store, allow.index).unwrap();
    assert!(!r.reproduced);
    assert!(
        r.differences
            .iter()
            .any(|d| d.contains("recorded deny, replay decides allow")),
        "{:?}",
        r.differences
    );
}

/// After the workspace's policies change (a new bundle is activated), old decisions still
/// replay with the bundle that made them, retrieved by digest.
#[test]
fn old_decisions_replay_with_their_own_bundle_after_a_policy_change() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("fraud", "1.0.0", 1);
    let req = request("fraud", "1.0.0", "production", &with(&md, &approvals));
    let before = f.decide(&req).unwrap();
    assert!(before.is_allow());
    // A stricter bundle: forbid every production promotion.
    std::fs::write(
        f.ws.policy_dir().join("stop.cedar"),
        "@id(\"stop.all\")\n@reason(\"stop\")\n@control(\"ORG:1\")\n\
         forbid (principal, action, resource) when { context.environment.production };\n",
    )
    .unwrap();
    f.engine = f.ws.engine(f.clock.clone()).unwrap();
    let after = f.decide(&req).unwrap();
    assert_denied_by(&after, "stop.all");
    assert_ne!(before.body.bundle_digest, after.body.bundle_digest);
    for d in [&before, &after] {
        let r = replay(&f.store, d.ledger.index).unwrap();
        assert!(r.reproduced, "{:?}", r.differences);
    }
    let activations = f
        .store
        .records_of_kind(RecordKind::BundleActivation)
        .unwrap();
    assert_eq!(activations.len(), 2);
    for a in activations {
        assert!(replay(&f.store, a.index).unwrap().reproduced);
    }
}

#[test]
fn replaying_a_missing_record_is_a_clear_error() {
    let f = Fixture::new();
    let err = replay(&f.store, 999).unwrap_err().to_string();
    assert!(err.contains("there is no record 999"), "{err}");
}
