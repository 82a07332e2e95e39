//! Hand-built inventories for the KPI tests: options as of a fixed time, facts complete or
//! missing one item, allows, versions, and the mixed population whose figures the tests
//! compute by hand.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use modelgate::attest::TrustStore;
use modelgate::clock::parse_rfc3339;
use modelgate::inventory::fold::{DecisionEvent, Deployment, Inventory, VersionEntry};
use modelgate::inventory::{build_report, Criterion, Facts, Report, ReportOptions};

pub const AS_OF: &str = "2026-11-27T12:00:00Z";

pub fn options() -> ReportOptions {
    ReportOptions::new(
        parse_rfc3339(AS_OF).unwrap(),
        BTreeSet::from(["production".to_owned()]),
    )
}

pub fn ok() -> Criterion {
    Criterion {
        complete: true,
        missing: vec![],
    }
}

pub fn missing(p: &'static str) -> Criterion {
    Criterion {
        complete: false,
        missing: vec![p.to_owned()],
    }
}

pub fn facts(complete: bool) -> Facts {
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

pub fn allow(index: u64, time: &str, env: &str, expires: &str) -> DecisionEvent {
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

pub fn version(
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

pub fn put(inv: &mut Inventory, model: &str, ver: &str, v: VersionEntry) {
    inv.models
        .entry(model.into())
        .or_default()
        .versions
        .insert(ver.into(), v);
}

pub fn report(inv: &Inventory) -> Report {
    build_report(inv, &TrustStore::new(), &options())
}

/// Hand-computed: a tier-0 complete model, a tier-1 model missing documentation whose
/// approval expired, a staging-only model (not in P), a superseded version (not in P), a
/// shadow deployment (counted as tier 0), and a retired model (not in P).
pub fn mixed() -> Inventory {
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
