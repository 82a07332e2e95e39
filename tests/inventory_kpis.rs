//! Inventory KPIs against hand-computed fixtures: the population rule, each ratio with its
//! numerator and denominator per tier, findings and expiries. Delivery KPIs:
//! tests/inventory_delivery.rs; through a real ledger and the CLI: tests/inventory_ledger.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod inventory_support;

use std::collections::BTreeSet;

use common::*;
use inventory_support::*;
use modelgate::inventory::fold::Inventory;
use serde_json::json;

#[test]
fn an_empty_inventory_has_an_empty_population_and_no_ratios() {
    let rep = report(&Inventory::new(None));
    assert_eq!(rep.population, 0);
    assert_eq!(rep.kpis.inventory_completeness, ratio(0, 0));
    assert_eq!(rep.kpis.inventory_completeness.ratio, None);
    assert_eq!(rep.kpis.change_failure_rate.denominator, 0);
    assert_eq!(rep.kpis.change_failure_rate.ratio, None);
    assert_eq!(rep.kpis.lead_time_to_production_hours.median, None);
    assert_eq!(rep.kpis.deployment_frequency.count, 0);
    assert_eq!(
        rep.by_tier.keys().cloned().collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    let v = serde_json::to_value(&rep).unwrap();
    for key in [
        "version",
        "as_of",
        "population",
        "kpis",
        "by_tier",
        "findings",
        "expiring",
    ] {
        assert!(v.get(key).is_some(), "the JSON contract lacks `{key}`");
    }
    assert_eq!(
        v["kpis"]["inventory_completeness"],
        json!({"numerator": 0, "denominator": 0, "ratio": null})
    );
}

#[test]
fn ratios_count_the_current_production_versions_with_shadows_as_tier_0() {
    let rep = report(&mixed());
    let members: Vec<(String, String, i64, bool)> = rep
        .members
        .iter()
        .map(|m| (m.model.clone(), m.version.clone(), m.tier, m.shadow))
        .collect();
    assert_eq!(
        members,
        [
            ("a".into(), "1".into(), 0, false),
            ("b".into(), "2".into(), 1, false),
            ("s".into(), "0.1".into(), 0, true)
        ]
    );
    assert_eq!(rep.population, 3);
    let k = &rep.kpis;
    assert_eq!(k.inventory_completeness, ratio(1, 3)); // a only: b2 misses its owner, s is a shadow
    assert_eq!(k.documentation_completeness, ratio(1, 3));
    assert_eq!(k.reproducible_training_rate, ratio(1, 3));
    assert_eq!(k.drift_coverage, ratio(1, 3)); // tiers 0-1: a, b2, s
    assert_eq!(k.approval_currency, ratio(1, 3)); // b2's approval expired on 11-26, s has none
    let t0 = &rep.by_tier["0"];
    assert_eq!(t0.inventory_completeness, ratio(1, 2));
    assert_eq!(t0.approval_currency, ratio(1, 2));
    let t1 = &rep.by_tier["1"];
    assert_eq!(t1.inventory_completeness, ratio(0, 1));
    assert_eq!(rep.by_tier["2"].inventory_completeness, ratio(0, 0));
    let kinds: BTreeSet<(String, String)> = rep
        .findings
        .iter()
        .map(|f| (f.model.clone(), f.kind.clone()))
        .collect();
    for want in [
        ("s", "shadow"),
        ("s", "approval-missing"),
        ("b", "approval-expired"),
        ("b", "documentation"),
        ("b", "inventory"),
        ("b", "drift"),
        ("b", "reproducibility"),
    ] {
        assert!(
            kinds.contains(&(want.0.to_owned(), want.1.to_owned())),
            "missing finding {want:?}: {kinds:?}"
        );
    }
    assert!(
        !kinds
            .iter()
            .any(|(m, _)| m == "a" || m == "c" || m == "old"),
        "{kinds:?}"
    );
    let pointer = rep
        .findings
        .iter()
        .find(|f| f.model == "b" && f.kind == "documentation")
        .unwrap();
    assert_eq!(pointer.detail, "/model/has_model_card");
}

#[test]
fn expiring_lists_approvals_and_waivers_within_the_horizon_soonest_first() {
    let mut inv = mixed();
    let a = inv
        .models
        .get_mut("a")
        .unwrap()
        .versions
        .get_mut("1")
        .unwrap();
    let allow = a
        .environments
        .get_mut("production")
        .and_then(|e| e.last_allow.as_mut())
        .unwrap();
    allow.approvals.push((
        "validator".into(),
        "victor@example.com".into(),
        "2026-12-10T00:00:00Z".into(),
    ));
    allow
        .waivers
        .push(("RISK-9".into(), "2026-12-02T00:00:00Z".into()));
    let rep = report(&inv);
    let listed: Vec<(String, String)> = rep
        .expiring
        .iter()
        .map(|e| (e.expires_at.clone(), e.what.clone()))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "2026-12-01T00:00:00Z".to_owned(),
                "owner approval by olivia@example.com for production".to_owned()
            ),
            (
                "2026-12-02T00:00:00Z".to_owned(),
                "waiver RISK-9 for production".to_owned()
            ),
            (
                "2026-12-10T00:00:00Z".to_owned(),
                "validator approval by victor@example.com for production".to_owned()
            ),
        ],
        "b1's approval (12-01) is listed although b2 replaced it: b1 still has a live allow"
    );
}
