//! Delivery KPIs against hand-computed fixtures: lead time, deployment frequency and change
//! failure rate, with rollbacks inside and outside the horizon, promotions to several
//! production environments, extreme windows, and the percentile definitions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod inventory_support;

use inventory_support::*;
use modelgate::attest::TrustStore;
use modelgate::clock::parse_rfc3339;
use modelgate::inventory::build_report;
use modelgate::inventory::fold::Inventory;
use modelgate::inventory::report::{median, nearest_rank};

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
