//! Freezes: while an environment is frozen, promotions are denied except rollbacks to a version
//! allowed there before; freezes and unfreezes are ledger records, visible in every decision
//! made under them, and a freeze that lands while a request is judged is not missed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use modelgate::clock::Clock;
use modelgate::engine::freeze::{freeze, unfreeze, FreezeState};
use modelgate::engine::{Decision, EngineError};
use modelgate::ledger::{LedgerError, RecordKind, Store};
use serde_json::{json, Value};
use time::Duration;

const FROZEN: &str = "common.environment-frozen";

fn promote(f: &mut Fixture, version: &str, rollback: bool) -> Decision {
    let (md, approvals) = complete("fraud", version, 1);
    let mut req = request("fraud", version, "production", &with(&md, &approvals));
    req["rollback"] = json!(rollback);
    f.decide(&req).unwrap()
}

fn freeze_production(f: &mut Fixture, until: Option<time::OffsetDateTime>) -> u64 {
    let config = f.ws.engine_config();
    freeze(
        &mut f.store,
        f.clock.as_ref() as &dyn Clock,
        &config,
        "production",
        "INC-42: fraud spike under investigation",
        until,
    )
    .unwrap()
    .index
}

#[test]
fn a_frozen_environment_denies_new_versions_and_records_the_freeze() {
    let mut f = Fixture::new();
    let at = freeze_production(&mut f, None);
    let d = promote(&mut f, "2.0.0", false);
    assert_denied_by(&d, FROZEN);
    let freeze = d.body.freeze.as_ref().unwrap();
    assert_eq!(freeze.record, at);
    assert!(freeze.reason.contains("INC-42"));
    let stored = f.store.record(d.ledger.index).unwrap().unwrap();
    let record: Value = serde_json::from_slice(&stored.bytes).unwrap();
    assert_eq!(record["body"]["freeze"]["record"], json!(at));
    f.assert_ledger_intact();
}

#[test]
fn only_a_rollback_to_a_previously_allowed_version_passes_a_freeze() {
    let mut f = Fixture::new();
    assert!(promote(&mut f, "1.0.0", false).is_allow());
    freeze_production(&mut f, None);
    // Rolling back to the version allowed before: allowed, and the freeze is on record.
    let back = promote(&mut f, "1.0.0", true);
    assert!(back.is_allow(), "{:?}", reason_ids(&back));
    assert!(back.body.freeze.is_some());
    // The same version without the rollback flag, and a "rollback" to a never-allowed version.
    assert_denied_by(&promote(&mut f, "1.0.0", false), FROZEN);
    assert_denied_by(&promote(&mut f, "1.5.0", true), FROZEN);
    // A version that was only ever denied there is no rollback target either.
    assert_denied_by(&promote(&mut f, "1.5.0", true), FROZEN);
}

#[test]
fn a_freeze_elsewhere_does_not_touch_this_environment() {
    let mut f = Fixture::new();
    let config = f.ws.engine_config();
    freeze(
        &mut f.store,
        f.clock.as_ref() as &dyn Clock,
        &config,
        "staging",
        "drill",
        None,
    )
    .unwrap();
    let d = promote(&mut f, "1.0.0", false);
    assert!(d.is_allow());
    assert!(d.body.freeze.is_none());
}

#[test]
fn unfreeze_reopens_the_environment() {
    let mut f = Fixture::new();
    freeze_production(&mut f, None);
    assert_denied_by(&promote(&mut f, "2.0.0", false), FROZEN);
    let config = f.ws.engine_config();
    let sealed = unfreeze(
        &mut f.store,
        f.clock.as_ref() as &dyn Clock,
        &config,
        "production",
    )
    .unwrap();
    assert_eq!(
        f.store.record(sealed.index).unwrap().unwrap().kind,
        RecordKind::Unfreeze
    );
    let d = promote(&mut f, "2.0.0", false);
    assert!(d.is_allow(), "{:?}", reason_ids(&d));
    assert!(d.body.freeze.is_none());
}

#[test]
fn a_freeze_with_an_end_lifts_by_itself() {
    let mut f = Fixture::new();
    freeze_production(&mut f, Some(now() + Duration::hours(2)));
    assert!(FreezeState::load(&f.store, now())
        .unwrap()
        .of("production")
        .is_some());
    assert!(FreezeState::load(&f.store, now() + Duration::hours(2))
        .unwrap()
        .of("production")
        .is_none());
}

#[test]
fn bad_freeze_commands_are_refused_with_the_reason() {
    let mut f = Fixture::new();
    let config = f.ws.engine_config();
    let clock = f.clock.clone();
    let before = f.size();
    let cases: Vec<(Result<_, EngineError>, &str)> = vec![
        (
            freeze(&mut f.store, clock.as_ref(), &config, "prod", "x", None),
            "unknown environment `prod`",
        ),
        (
            freeze(
                &mut f.store,
                clock.as_ref(),
                &config,
                "production",
                "  ",
                None,
            ),
            "needs a reason",
        ),
        (
            freeze(
                &mut f.store,
                clock.as_ref(),
                &config,
                "production",
                "x",
                Some(now() - Duration::hours(1)),
            ),
            "is not in the future",
        ),
        (
            unfreeze(&mut f.store, clock.as_ref(), &config, "production"),
            "`production` is not frozen",
        ),
    ];
    for (result, expected) in cases {
        match result {
            Err(EngineError::Invalid(problems)) => {
                assert!(problems[0].message.contains(expected), "{problems:?}")
            }
            other => panic!("expected {expected}, got {other:?}"),
        }
    }
    assert_eq!(f.size(), before, "nothing recorded");
}

/// A judgement read before a freeze landed is not recorded: the guard refuses it, so no
/// promotion slips into a frozen environment on stale state.
#[test]
fn a_judgement_made_before_a_freeze_is_not_recorded_after_it() {
    let mut f = Fixture::new();
    let (read_at, trust, freezes) = f.engine.snapshot(&f.store).unwrap();
    let (md, approvals) = complete("fraud", "3.0.0", 1);
    let bytes = serde_json::to_vec(&request(
        "fraud",
        "3.0.0",
        "production",
        &with(&md, &approvals),
    ))
    .unwrap();
    let judgement = f
        .engine
        .judge_in(
            &modelgate::engine::Basis {
                trust: &trust,
                freezes: &freezes,
                history: Some(&f.store),
            },
            &bytes,
        )
        .unwrap();
    let at = freeze_production(&mut f, None);
    match f.engine.record(&mut f.store, read_at, judgement) {
        Err(EngineError::Ledger(LedgerError::Raced { kind, index })) => {
            assert_eq!((kind, index), (RecordKind::Freeze, at));
        }
        other => panic!("expected a refused append, got {other:?}"),
    }
    // Decided afresh, the request sees the freeze.
    assert_denied_by(&f.decide_bytes(&bytes).unwrap(), FROZEN);
}

/// A dry-run allow deployed nothing, so it does not make a version a rollback target.
#[test]
fn a_dry_run_allow_is_no_rollback_target() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("fraud", "4.0.0", 1);
    let mut req = request("fraud", "4.0.0", "production", &with(&md, &approvals));
    req["dry_run"] = json!(true);
    let dry = f.decide(&req).unwrap();
    assert!(dry.is_allow() && dry.is_dry_run());
    freeze_production(&mut f, None);
    assert_denied_by(&promote(&mut f, "4.0.0", true), FROZEN);
}
