//! The inventory through a real ledger and the CLI: `observe` and `retire` move the
//! population (and a later deployment brings a retired model back), and every report format
//! carries the same numbers. The KPI definitions themselves: tests/inventory_kpis.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use modelgate::clock::Clock;
use modelgate::inventory::record::{observe, retire, ReportedDeployment};
use modelgate::inventory::ReportOptions;
use serde_json::json;

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
    assert_eq!(rep.kpis.inventory_completeness, ratio(1, 2));
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
    assert_eq!(rep.kpis.inventory_completeness, ratio(1, 1));
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
