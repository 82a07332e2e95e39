//! Inventory KPIs against hand-computed fixtures: the population rule, each ratio with its
//! numerator and denominator, lead time, deployment frequency and change failure rate with
//! rollbacks inside and outside the window, per tier; and the same through a real ledger.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::*;
use modelgate::attest::TrustStore;
use modelgate::clock::{parse_rfc3339, Clock};
use modelgate::inventory::fold::{DecisionEvent, Deployment, Inventory, VersionEntry};
use modelgate::inventory::record::{observe, retire, ReportedDeployment};
use modelgate::inventory::report::{median, nearest_rank, Ratio};
use modelgate::inventory::{build_report, Criterion, Facts, Report, ReportOptions};
use serde_json::json;

const AS_OF: &str = "2026-11-27T12:00:00Z";

fn options() -> ReportOptions {
    ReportOptions::new(
        parse_rfc3339(AS_OF).unwrap(),
        BTreeSet::from(["production".to_owned()]),
    )
}

fn ok() -> Criterion {
    Criterion {
        complete: true,
        missing: vec![],
    }
}

fn missing(p: &'static str) -> Criterion {
    Criterion {
        complete: false,
        missing: vec![p.to_owned()],
    }
}

fn facts(complete: bool) -> Facts {
    let c = |p| if complete { ok() } else { missing(p) };
    Facts {
        registered: true,
        owner: "olivia@example.com".into(),
        inventory: c("/model/owner"),
        documentation: c("/model/has_model_card"),
        drift: c("/model/has_drift_monitoring"),
        reproducibility: c("/model/reproducibility_attested"),
        validation_next_due_days: -1,
        ..Facts::default()
    }
}

fn allow(index: u64, time: &str, env: &str, expires: &str) -> DecisionEvent {
    DecisionEvent {
        index,
        time: time.into(),
        environment: env.into(),
        allowed: true,
        rollback: false,
        dry_run: false,
        approvals: vec![("owner".into(), "olivia@example.com".into(), expires.into())],
        waivers: vec![],
        denied_by: vec![],
        input_digest: String::new(),
        metadata_digest: None,
    }
}

fn version(
    tier: i64,
    facts_: Option<Facts>,
    decisions: Vec<DecisionEvent>,
    created: Option<&str>,
) -> VersionEntry {
    let mut v = VersionEntry {
        tier: Some(tier),
        facts: facts_,
        created_at: created.map(str::to_owned),
        ..VersionEntry::default()
    };
    for d in decisions {
        v.record(d);
    }
    v
}

fn put(inv: &mut Inventory, model: &str, ver: &str, v: VersionEntry) {
    inv.models
        .entry(model.into())
        .or_default()
        .versions
        .insert(ver.into(), v);
}

fn report(inv: &Inventory) -> Report {
    build_report(inv, &TrustStore::new(), &options())
}

fn r(n: u64, d: u64) -> Ratio {
    Ratio {
        numerator: n,
        denominator: d,
        ratio: (d > 0).then(|| ((n as f64 / d as f64) * 10_000.0).round() / 10_000.0),
    }
}

#[test]
fn an_empty_inventory_has_an_empty_population_and_no_ratios() {
    let rep = report(&Inventory::new(None));
    assert_eq!(rep.population, 0);
    assert_eq!(rep.kpis.inventory_completeness, r(0, 0));
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

/// Hand-computed: a tier-0 complete model, a tier-1 model missing documentation whose
/// approval expired, a staging-only model (not in P), a superseded version (not in P), a
/// shadow deployment (counted as tier 0), and a retired model (not in P).
fn mixed() -> Inventory {
    let mut inv = Inventory::new(None);
    put(
        &mut inv,
        "a",
        "1",
        version(
            0,
            Some(facts(true)),
            vec![allow(
                1,
                "2026-11-20T12:00:00Z",
                "production",
                "2027-01-01T00:00:00Z",
            )],
            Some("2026-11-18T12:00:00Z"),
        ),
    );
    put(
        &mut inv,
        "b",
        "1",
        version(
            1,
            Some(facts(true)),
            vec![allow(
                2,
                "2026-10-01T12:00:00Z",
                "production",
                "2026-12-01T00:00:00Z",
            )],
            Some("2026-09-30T12:00:00Z"),
        ),
    );
    put(
        &mut inv,
        "b",
        "2",
        version(
            1,
            Some(facts(false)),
            vec![allow(
                3,
                "2026-11-25T12:00:00Z",
                "production",
                "2026-11-26T00:00:00Z",
            )],
            Some("2026-11-24T12:00:00Z"),
        ),
    );
    put(
        &mut inv,
        "c",
        "1",
        version(
            2,
            Some(facts(true)),
            vec![allow(
                4,
                "2026-11-21T12:00:00Z",
                "staging",
                "2027-01-01T00:00:00Z",
            )],
            None,
        ),
    );
    let mut shadow = VersionEntry::default();
    shadow.deployments.insert(
        "production".into(),
        Deployment {
            index: 5,
            time: "2026-11-22T12:00:00Z".into(),
            source: "admission".into(),
        },
    );
    put(&mut inv, "s", "0.1", shadow);
    put(
        &mut inv,
        "old",
        "1",
        version(
            2,
            Some(facts(true)),
            vec![allow(
                6,
                "2026-11-23T12:00:00Z",
                "production",
                "2027-01-01T00:00:00Z",
            )],
            Some("2026-11-23T00:00:00Z"),
        ),
    );
    inv.models.get_mut("old").unwrap().retired =
        Some((7, "2026-11-24T12:00:00Z".into(), "replaced".into()));
    inv
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
    assert_eq!(k.inventory_completeness, r(1, 3)); // a only: b2 misses its owner, s is a shadow
    assert_eq!(k.documentation_completeness, r(1, 3));
    assert_eq!(k.reproducible_training_rate, r(1, 3));
    assert_eq!(k.drift_coverage, r(1, 3)); // tiers 0-1: a, b2, s
    assert_eq!(k.approval_currency, r(1, 3)); // b2's approval expired on 11-26, s has none
    let t0 = &rep.by_tier["0"];
    assert_eq!(t0.inventory_completeness, r(1, 2));
    assert_eq!(t0.approval_currency, r(1, 2));
    let t1 = &rep.by_tier["1"];
    assert_eq!(t1.inventory_completeness, r(0, 1));
    assert_eq!(rep.by_tier["2"].inventory_completeness, r(0, 0));
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
fn delivery_kpis_count_promotions_in_the_window() {
    // Promotions to production: a1 (11-20), b1 (10-01, outside the 28-day window), b2 (11-25),
    // old1 (11-23, retired the next day: a failed change). Lead times: a1 48 h, b2 24 h,
    // old1 12 h.
    let rep = report(&mixed());
    let k = &rep.kpis;
    assert_eq!(k.deployment_frequency.count, 3);
    assert_eq!(k.deployment_frequency.window_days, 28);
    assert_eq!(k.deployment_frequency.per_week, 0.75);
    assert_eq!(
        (
            k.change_failure_rate.numerator,
            k.change_failure_rate.denominator
        ),
        (1, 3)
    );
    assert_eq!(k.lead_time_to_production_hours.count, 3);
    assert_eq!(k.lead_time_to_production_hours.median, Some(24.0));
    assert_eq!(k.lead_time_to_production_hours.p90, Some(48.0));
    assert_eq!(rep.series.lead_time_hours, [12.0, 24.0, 48.0]);
    assert_eq!(rep.by_tier["2"].change_failure_rate.numerator, 1);
    assert_eq!(rep.by_tier["1"].deployment_frequency.count, 1);
}

#[test]
fn a_rollback_fails_a_change_only_within_the_horizon_and_by_as_of() {
    let mut inv = Inventory::new(None);
    let mut v2 = version(
        1,
        Some(facts(true)),
        vec![allow(
            1,
            "2026-11-10T12:00:00Z",
            "production",
            "2027-01-01T00:00:00Z",
        )],
        None,
    );
    let mut rollback = allow(
        3,
        "2026-11-12T12:00:00Z",
        "production",
        "2027-01-01T00:00:00Z",
    );
    rollback.rollback = true;
    let v1 = version(1, Some(facts(true)), vec![rollback], None);
    put(&mut inv, "m", "1", v1);
    // Another promotion whose rollback came 8 days later: outside the 7-day horizon.
    v2.record(allow(
        2,
        "2026-11-10T12:00:00Z",
        "staging",
        "2027-01-01T00:00:00Z",
    ));
    put(&mut inv, "m", "2", v2);
    put(
        &mut inv,
        "n",
        "2",
        version(
            1,
            Some(facts(true)),
            vec![allow(
                4,
                "2026-11-01T12:00:00Z",
                "production",
                "2027-01-01T00:00:00Z",
            )],
            None,
        ),
    );
    let mut late = allow(
        5,
        "2026-11-09T13:00:00Z",
        "production",
        "2027-01-01T00:00:00Z",
    );
    late.rollback = true;
    put(
        &mut inv,
        "n",
        "1",
        version(1, Some(facts(true)), vec![late], None),
    );
    let rep = report(&inv);
    let c = &rep.kpis.change_failure_rate;
    assert_eq!(
        (c.numerator, c.denominator),
        (1, 2),
        "m2 failed (rollback 2 days later), n2 did not (8 days)"
    );
    // A rollback is not itself a promotion, and a dry run is neither.
    assert_eq!(rep.kpis.deployment_frequency.count, 2);
    // The rollback after as_of does not count yet.
    let mut early = options();
    early.as_of = parse_rfc3339("2026-11-11T12:00:00Z").unwrap();
    let rep = build_report(&inv, &TrustStore::new(), &early);
    assert_eq!(
        (
            rep.kpis.change_failure_rate.numerator,
            rep.kpis.change_failure_rate.denominator
        ),
        (0, 2)
    );
    // No production promotion at all: nothing to divide.
    let mut none = Inventory::new(None);
    put(
        &mut none,
        "x",
        "1",
        version(
            2,
            Some(facts(true)),
            vec![allow(
                1,
                "2026-11-20T12:00:00Z",
                "staging",
                "2027-01-01T00:00:00Z",
            )],
            None,
        ),
    );
    let rep = report(&none);
    assert_eq!(rep.population, 0);
    assert_eq!(rep.kpis.change_failure_rate.ratio, None);
    assert_eq!(rep.kpis.deployment_frequency.per_week, 0.0);
}

#[test]
fn extreme_windows_and_times_do_not_overflow() {
    let mut o = options();
    o.window_days = u64::MAX;
    o.failure_days = u64::MAX;
    o.expiring_days = u64::MAX;
    let rep = build_report(&mixed(), &TrustStore::new(), &o);
    assert_eq!(
        rep.kpis.deployment_frequency.count, 4,
        "every promotion is in an unbounded window"
    );
    o.as_of = time::PrimitiveDateTime::MAX.assume_utc();
    let rep = build_report(&mixed(), &TrustStore::new(), &o);
    assert_eq!(rep.population, 3);
}

#[test]
fn a_version_promoted_to_two_production_environments_is_one_promotion() {
    let mut inv = Inventory::new(None);
    let mut rollback = allow(
        4,
        "2026-11-22T12:00:00Z",
        "eu-production",
        "2027-01-01T00:00:00Z",
    );
    rollback.rollback = true;
    put(
        &mut inv,
        "m",
        "1",
        version(1, Some(facts(true)), vec![rollback], None),
    );
    put(
        &mut inv,
        "m",
        "2",
        version(
            1,
            Some(facts(true)),
            vec![
                allow(
                    2,
                    "2026-11-20T12:00:00Z",
                    "production",
                    "2027-01-01T00:00:00Z",
                ),
                allow(
                    3,
                    "2026-11-21T12:00:00Z",
                    "eu-production",
                    "2027-01-01T00:00:00Z",
                ),
            ],
            Some("2026-11-20T00:00:00Z"),
        ),
    );
    let mut o = options();
    o.production.insert("eu-production".into());
    let rep = build_report(&inv, &TrustStore::new(), &o);
    let k = &rep.kpis;
    assert_eq!(k.deployment_frequency.count, 1);
    assert_eq!(
        (
            k.change_failure_rate.numerator,
            k.change_failure_rate.denominator
        ),
        (1, 1),
        "rolled back in the second production environment"
    );
    assert_eq!(k.lead_time_to_production_hours.count, 1);
    assert_eq!(k.lead_time_to_production_hours.median, Some(12.0));
    // The rolled-back-to version 1 is current in eu-production, version 2 in production.
    assert_eq!(rep.population, 2);
}

#[test]
fn percentiles_follow_their_definitions() {
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[5.0]), Some(5.0));
    assert_eq!(median(&[1.0, 2.0, 3.0, 10.0]), Some(2.5));
    let ten: Vec<f64> = (1..=10).map(f64::from).collect();
    assert_eq!(nearest_rank(&ten, 90), Some(9.0));
    assert_eq!(nearest_rank(&ten[..3], 90), Some(3.0));
    assert_eq!(nearest_rank(&[7.0], 90), Some(7.0));
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

#[test]
fn through_a_real_ledger_observe_and_retire_move_the_population() {
    let mut f = Fixture::new();
    let (md, approvals) = complete("scorer", "1.0.0", 2);
    assert!(f
        .decide(&request(
            "scorer",
            "1.0.0",
            "production",
            &with(&md, &approvals)
        ))
        .unwrap()
        .is_allow());
    let now = f.clock.now();
    observe(
        &mut f.store,
        &ReportedDeployment {
            source: "nightly-job".into(),
            model: "shadow".into(),
            version: "0.1".into(),
            environment: "production".into(),
        },
        now,
    )
    .unwrap();
    let opts = ReportOptions::new(now, f.ws.production_environments());
    let rep = f.ws.inventory_report(&opts, &mut |_, _| {}).unwrap();
    assert_eq!(rep.population, 2);
    assert_eq!(rep.kpis.inventory_completeness, r(1, 2));
    assert!(rep
        .findings
        .iter()
        .any(|x| x.model == "shadow" && x.kind == "shadow" && x.detail.contains("nightly-job")));
    let err = retire(&mut f.store, "nope", None, "typo", now)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nothing to retire"), "{err}");
    assert!(retire(&mut f.store, "shadow", None, " ", now).is_err());
    retire(&mut f.store, "shadow", None, "decommissioned", now).unwrap();
    let rep = f.ws.inventory_report(&opts, &mut |_, _| {}).unwrap();
    assert_eq!(rep.population, 1);
    assert_eq!(rep.kpis.inventory_completeness, r(1, 1));
    // Deployed again after its retirement: back in the population, as a shadow entry.
    observe(
        &mut f.store,
        &ReportedDeployment {
            source: "admission".into(),
            model: "shadow".into(),
            version: "0.2".into(),
            environment: "production".into(),
        },
        now,
    )
    .unwrap();
    let rep = f.ws.inventory_report(&opts, &mut |_, _| {}).unwrap();
    assert_eq!(rep.population, 2);
    assert!(rep
        .members
        .iter()
        .any(|m| m.model == "shadow" && m.version == "0.2" && m.shadow));
    // The report as of before the observation does not see it.
    f.assert_ledger_intact();
}

#[test]
fn the_cli_report_formats_carry_the_same_numbers() {
    let f = Fixture::new();
    let home = f.dir.path();
    let o = mg(
        home,
        &[
            "inventory",
            "observe",
            "--model",
            "ghost",
            "--version",
            "1",
            "--environment",
            "production",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&mg(home, &["inventory", "report"]))).unwrap();
    assert_eq!(json["population"], 1);
    assert_eq!(
        json["kpis"]["inventory_completeness"],
        json!({"numerator": 0, "denominator": 1, "ratio": 0.0})
    );
    let md = stdout(&mg(home, &["inventory", "report", "--format", "md"]));
    assert!(
        md.contains("| Inventory completeness | 0.0% (0/1) |"),
        "{md}"
    );
    let csv = stdout(&mg(home, &["inventory", "report", "--format", "csv"]));
    assert!(
        csv.contains("all,inventory_completeness,0,1,0\r\n"),
        "{csv}"
    );
    let html = stdout(&mg(home, &["inventory", "report", "--format", "html"]));
    assert!(html.contains("<svg") && !html.contains("<script"), "{html}");
    assert!(html.contains("0.0% (0/1)"));
    let o = mg(home, &["inventory", "report", "--as-of", "never"]);
    assert_eq!(code(&o), 3);
    let o = mg(
        home,
        &["inventory", "retire", "--model", "unknown", "--reason", "x"],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let o = mg(home, &["inventory", "expiring", "--days", "30"]);
    assert_eq!(code(&o), 0);
    let o = mg(home, &["inventory", "list"]);
    assert!(
        stdout(&o).contains("ghost  [production=1]") && stdout(&o).contains("SHADOW"),
        "{}",
        stdout(&o)
    );
    let listed: serde_json::Value = serde_json::from_str(&stdout(&mg(
        home,
        &["inventory", "list", "--format", "json"],
    )))
    .unwrap();
    assert_eq!(
        listed[0]["versions"][0]["deployments"]["production"][0],
        "cli"
    );
}
