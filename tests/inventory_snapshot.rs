//! The inventory snapshot: a report read through a snapshot is byte for byte the report of a
//! cold fold, with nothing appended and with decisions, deployments and retirements appended
//! after it; a snapshot of another ledger or a corrupt one is ignored (and rewritten); a report
//! as of a time before the snapshot folds from scratch and leaves the snapshot alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use modelgate::clock::{rfc3339, Clock};
use modelgate::inventory::record::{observe, retire, ReportedDeployment};
use modelgate::inventory::{
    build_report, list, load, load_with_snapshot, trust_as_of, Inventory, ReportOptions,
};
use time::{Duration, OffsetDateTime};

fn deployed(f: &mut Fixture, model: &str, version: &str, at: OffsetDateTime) {
    observe(
        &mut f.store,
        &ReportedDeployment {
            source: "nightly-job".into(),
            model: model.into(),
            version: version.into(),
            environment: "production".into(),
        },
        at,
    )
    .unwrap();
}

/// A ledger with allows at three tiers, a deny, a staging allow and a shadow deployment.
fn populated() -> Fixture {
    let mut f = Fixture::new();
    for (model, tier) in [("scorer", 2), ("ranker", 1), ("pricer", 0)] {
        let (md, approvals) = complete(model, "1.0.0", tier);
        assert!(f
            .decide(&request(
                model,
                "1.0.0",
                "production",
                &with(&md, &approvals)
            ))
            .unwrap()
            .is_allow());
    }
    let (md, _) = complete("scorer", "2.0.0", 2);
    assert!(!f
        .decide(&request(
            "scorer",
            "2.0.0",
            "production",
            std::slice::from_ref(&md)
        ))
        .unwrap()
        .is_allow());
    f.decide(&request("scorer", "2.0.0", "staging", &[md]))
        .unwrap();
    let at = f.clock.now() + Duration::hours(1);
    deployed(&mut f, "shadow", "0.1", at);
    f
}

/// The report JSON (and the listing JSON) of `inv` as of `as_of`.
fn rendered(f: &Fixture, inv: &Inventory, as_of: OffsetDateTime) -> (String, String) {
    let options = ReportOptions::new(as_of, f.ws.production_environments());
    let trust = trust_as_of(&f.store, &rfc3339(as_of)).unwrap();
    let report = serde_json::to_string_pretty(&build_report(inv, &trust, &options)).unwrap();
    let listing = serde_json::to_string_pretty(&list::listing(inv)).unwrap();
    (report, listing)
}

fn cold(f: &Fixture, as_of: OffsetDateTime) -> (String, String) {
    let inv = load(&f.store, Some(&rfc3339(as_of)), &mut |_, _| {}).unwrap();
    rendered(f, &inv, as_of)
}

/// Loads through the snapshot at `path`; also returns the first record the fold read
/// (`None` when it read none).
fn warm(f: &Fixture, path: &Path, as_of: OffsetDateTime) -> ((String, String), Option<u64>) {
    let size = f.size();
    let mut first = None;
    let inv = load_with_snapshot(
        &f.store,
        Some(&rfc3339(as_of)),
        Some(path),
        &mut |done, total| {
            assert_eq!(total, size);
            first.get_or_insert(done);
        },
    )
    .unwrap();
    (rendered(f, &inv, as_of), first)
}

fn later(f: &Fixture, days: i64) -> OffsetDateTime {
    f.clock.now() + Duration::days(days)
}

#[test]
fn a_report_through_the_snapshot_equals_the_cold_one_before_and_after_appending() {
    let mut f = populated();
    let path = f.dir.path().join("inventory.snapshot");
    let as_of = later(&f, 1);
    let (first, read) = warm(&f, &path, as_of);
    assert_eq!(
        read,
        Some(f.size()),
        "no snapshot yet: the whole ledger is folded"
    );
    assert!(path.exists(), "the fold saved a snapshot");
    assert_eq!(first, cold(&f, as_of));
    let (again, read) = warm(&f, &path, as_of);
    assert_eq!(read, None, "nothing appended: no record is read again");
    assert_eq!(again, first);

    // Appended after the snapshot: a new allow whose facts source differs (the version denied
    // before is now allowed with approvals), a deployment, a retirement, a new model.
    let covered = f.size();
    let (md, approvals) = complete("scorer", "2.0.0", 2);
    assert!(f
        .decide(&request(
            "scorer",
            "2.0.0",
            "production",
            &with(&md, &approvals)
        ))
        .unwrap()
        .is_allow());
    let (md, approvals) = complete("fresh", "0.9.0", 1);
    f.decide(&request(
        "fresh",
        "0.9.0",
        "production",
        &with(&md, &approvals),
    ))
    .unwrap();
    let at = later(&f, 0) + Duration::hours(2);
    deployed(&mut f, "ranker", "1.0.0", at);
    retire(&mut f.store, "shadow", None, "decommissioned", at).unwrap();
    let (appended, read) = warm(&f, &path, as_of);
    assert_eq!(
        read,
        Some(f.size()),
        "only the records after {covered} are folded"
    );
    assert_eq!(appended, cold(&f, as_of));
    assert_ne!(appended, first, "the appended records change the report");
    let (again, read) = warm(&f, &path, as_of);
    assert_eq!(read, Some(f.size()));
    assert_eq!(again, appended);
}

#[test]
fn the_workspace_report_keeps_its_snapshot_beside_the_ledger_and_matches_a_cold_fold() {
    let f = populated();
    let as_of = later(&f, 1);
    let options = ReportOptions::new(as_of, f.ws.production_environments());
    let path = f.ws.inventory_snapshot_path();
    assert_eq!(path.parent(), f.ws.ledger_path().parent());
    let report = f.ws.inventory_report(&options, &mut |_, _| {}).unwrap();
    assert!(path.exists());
    let again = f.ws.inventory_report(&options, &mut |_, _| {}).unwrap();
    let json = |r| serde_json::to_string_pretty(&r).unwrap();
    let (report, again) = (json(report), json(again));
    assert_eq!(report, again);
    assert_eq!(report, cold(&f, as_of).0);
    let listed = f.ws.inventory(&mut |_, _| {}).unwrap();
    let whole = load(&f.store, None, &mut |_, _| {}).unwrap();
    assert_eq!(list::listing(&listed), list::listing(&whole));
}

#[test]
fn a_snapshot_of_another_ledger_is_ignored_and_replaced() {
    let mut f = populated();
    let path = f.dir.path().join("inventory.snapshot");
    let as_of = later(&f, 1);
    warm(&f, &path, as_of);
    // Another ledger of the same size whose records differ: its root does not match.
    let mut other = Fixture::new();
    let (md, approvals) = complete("elsewhere", "1.0.0", 2);
    other
        .decide(&request(
            "elsewhere",
            "1.0.0",
            "production",
            &with(&md, &approvals),
        ))
        .unwrap();
    while other.size() < f.size() {
        let at = later(&other, 0) + Duration::minutes(i64::try_from(other.size()).unwrap());
        deployed(&mut other, "elsewhere", "1.0.0", at);
    }
    while f.size() < other.size() {
        let at = later(&f, 0) + Duration::hours(3);
        deployed(&mut f, "shadow", "0.2", at);
    }
    let other_path = other.dir.path().join("inventory.snapshot");
    std::fs::copy(&path, &other_path).unwrap();
    let (got, read) = warm(&other, &other_path, as_of);
    assert_eq!(read, Some(other.size()), "the foreign snapshot is not used");
    assert_eq!(got, cold(&other, as_of));
    let (_, read) = warm(&other, &other_path, as_of);
    assert_eq!(read, None, "it was replaced by this ledger's own");
    // A snapshot covering more records than the ledger holds is ignored as well.
    let small = Fixture::new();
    let small_path = small.dir.path().join("inventory.snapshot");
    std::fs::copy(&path, &small_path).unwrap();
    let (got, _) = warm(&small, &small_path, as_of);
    assert_eq!(got, cold(&small, as_of));
}

#[test]
fn a_corrupt_or_foreign_format_snapshot_is_ignored_never_an_error() {
    let f = populated();
    let path = f.dir.path().join("inventory.snapshot");
    let as_of = later(&f, 1);
    let want = cold(&f, as_of);
    warm(&f, &path, as_of);
    let good = std::fs::read(&path).unwrap();
    let truncated = good[..good.len() / 2].to_vec();
    let other_format = String::from_utf8(good.clone())
        .unwrap()
        .replacen("\"format\":1", "\"format\":999", 1)
        .into_bytes();
    assert_ne!(other_format, good);
    for bytes in [b"not json".to_vec(), Vec::new(), truncated, other_format] {
        std::fs::write(&path, &bytes).unwrap();
        let (got, read) = warm(&f, &path, as_of);
        assert_eq!(read, Some(f.size()), "the bad snapshot is not used");
        assert_eq!(got, want);
        assert_eq!(std::fs::read(&path).unwrap(), good, "it is rewritten");
    }
}

#[test]
fn a_report_as_of_before_the_snapshot_folds_from_scratch_and_keeps_the_snapshot() {
    let mut f = populated();
    let at = later(&f, 3);
    deployed(&mut f, "latecomer", "1.0", at);
    let path = f.dir.path().join("inventory.snapshot");
    let (_, _) = warm(&f, &path, later(&f, 4));
    let saved = std::fs::read(&path).unwrap();
    let early = later(&f, 1);
    let (got, read) = warm(&f, &path, early);
    assert_eq!(read, Some(f.size()), "the whole ledger is folded");
    assert_eq!(got, cold(&f, early));
    assert!(
        !got.0.contains("latecomer"),
        "the later deployment is not seen"
    );
    assert_eq!(std::fs::read(&path).unwrap(), saved, "the snapshot is kept");
}

#[test]
fn the_snapshot_is_read_not_recomputed() {
    let f = populated();
    let path = f.dir.path().join("inventory.snapshot");
    let as_of = later(&f, 1);
    warm(&f, &path, as_of);
    // A snapshot edited in place (same format, size and root) is trusted as derived data: the
    // next report shows the edit, which proves the fold started from it.
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"pricer\"", "\"priced-from-snapshot\"");
    std::fs::write(&path, edited).unwrap();
    let ((report, _), read) = warm(&f, &path, as_of);
    assert_eq!(read, None);
    assert!(report.contains("priced-from-snapshot"));
}

/// The compact state keeps the rule of the facts source: the newest decision that counted
/// model metadata, else the newest.
#[test]
fn the_facts_source_is_the_newest_decision_with_metadata_else_the_newest() {
    use modelgate::inventory::fold::{DecisionEvent, VersionEntry};
    let event = |index: u64, metadata: bool| DecisionEvent {
        index,
        time: format!("2026-11-2{index}T00:00:00Z"),
        environment: "staging".into(),
        allowed: false,
        rollback: false,
        dry_run: false,
        approvals: vec![],
        waivers: vec![],
        denied_by: vec!["p".into()],
        input_digest: format!("sha256:{index}"),
        metadata_digest: metadata.then(|| format!("sha256:md{index}")),
    };
    let source = |v: &VersionEntry| v.facts_decision().map(|d| d.index);
    let mut v = VersionEntry::default();
    assert_eq!(source(&v), None);
    v.record(event(1, false));
    assert_eq!(source(&v), Some(1));
    v.record(event(2, true));
    assert_eq!(source(&v), Some(2));
    v.record(event(3, false));
    v.record(event(4, false));
    assert_eq!(source(&v), Some(2));
    v.record(event(5, true));
    assert_eq!(source(&v), Some(5));
    assert_eq!(v.decision_count, 5);
}

/// A long tail after the snapshot (4,096 records or more) is folded once: the snapshot is
/// written anew, so the next report reads no record again.
#[test]
fn a_long_tail_after_the_snapshot_is_saved_into_a_new_one() {
    use modelgate::ledger::{AppendRequest, RecordDraft, RecordKind, Store};
    let mut f = populated();
    let path = f.dir.path().join("inventory.snapshot");
    let as_of = later(&f, 1);
    warm(&f, &path, as_of);
    let at = later(&f, 0) + Duration::hours(2);
    let drafts = (0..4_100)
        .map(|k| RecordDraft {
            kind: RecordKind::Observation,
            time: at,
            body: serde_json::json!({"source": "sync", "model": format!("bulk-{}", k % 50), "version": "1", "environment": "staging"}),
        })
        .collect();
    let outcome = f
        .store
        .append_batch(&[AppendRequest {
            drafts,
            ..AppendRequest::default()
        }])
        .unwrap();
    outcome.into_iter().next().unwrap().unwrap();
    let (got, read) = warm(&f, &path, as_of);
    assert!(read.is_some());
    assert_eq!(got, cold(&f, as_of));
    let (again, read) = warm(&f, &path, as_of);
    assert_eq!(read, None, "the tail is in the new snapshot");
    assert_eq!(again, got);
}
