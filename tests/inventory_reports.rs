//! Kept inventory reports and their schedules: cron parsing and next fire times (known
//! answers), `[[reports]]` in the workspace config, which reports are due between two instants,
//! the generate / list / get round trip with digests and a verifying ledger, tampered bytes
//! never served, a ledger of the earlier kinds taking a `report` record, and the CLI listing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use modelgate::clock::{parse_rfc3339, rfc3339};
use modelgate::digest::sha256_prefixed;
use modelgate::inventory::scheduled::{
    self, due_reports, next_fire, Cron, CronError, ReportSchedule, StoredFormat,
};
use modelgate::inventory::{render, InventoryError, Report, ReportOptions};
use modelgate::ledger::{parse_record, verify_store, RecordKind, SqliteStore, Store};
use modelgate::workspace::{Workspace, WorkspaceError};
use serde_json::json;

fn t(s: &str) -> time::OffsetDateTime {
    parse_rfc3339(s).unwrap()
}

fn next(expr: &str, after: &str) -> String {
    rfc3339(Cron::parse(expr).unwrap().next_after(t(after)).unwrap())
}

// ---- cron ------------------------------------------------------------------------------------

/// Known answers for the schedules the docs promise: Mondays 06:00 UTC, every 15 minutes, and
/// the first fire time strictly after the given instant (never the instant itself).
#[test]
fn next_fire_times_of_common_schedules_are_the_known_answers() {
    let cases = [
        // 2026-11-25 is a Wednesday; 2026-11-30 a Monday.
        (
            "0 6 * * MON",
            "2026-11-25T10:00:00Z",
            "2026-11-30T06:00:00Z",
        ),
        ("0 6 * * 1", "2026-11-30T05:59:59Z", "2026-11-30T06:00:00Z"),
        (
            "0 6 * * mon",
            "2026-11-30T06:00:00Z",
            "2026-12-07T06:00:00Z",
        ),
        // The instant is taken in UTC whatever its offset (07:30+02:00 is 05:30Z).
        (
            "0 6 * * MON",
            "2026-11-30T07:30:00+02:00",
            "2026-11-30T06:00:00Z",
        ),
        (
            "*/15 * * * *",
            "2026-11-27T12:07:30Z",
            "2026-11-27T12:15:00Z",
        ),
        (
            "*/15 * * * *",
            "2026-11-27T12:45:00Z",
            "2026-11-27T13:00:00Z",
        ),
        (
            "*/15 * * * *",
            "2026-12-31T23:59:00Z",
            "2027-01-01T00:00:00Z",
        ),
        ("* * * * *", "2026-11-27T12:00:59Z", "2026-11-27T12:01:00Z"),
        ("@weekly", "2026-11-25T10:00:00Z", "2026-11-29T00:00:00Z"),
        ("@hourly", "2026-11-25T10:00:00Z", "2026-11-25T11:00:00Z"),
        ("@yearly", "2026-11-25T10:00:00Z", "2027-01-01T00:00:00Z"),
        // Sunday is 0 and 7.
        ("0 0 * * 7", "2026-11-25T10:00:00Z", "2026-11-29T00:00:00Z"),
    ];
    for (expr, after, want) in cases {
        assert_eq!(next(expr, after), want, "`{expr}` after {after}");
    }
}

/// Month and year boundaries: a day that only some months have, 29 February, the last minute
/// of the year.
#[test]
fn next_fire_crosses_month_and_year_boundaries() {
    let cases = [
        ("0 0 31 * *", "2026-11-27T12:00:00Z", "2026-12-31T00:00:00Z"),
        // February has no 31st: the next is in March.
        ("0 0 31 * *", "2027-01-31T00:00:00Z", "2027-03-31T00:00:00Z"),
        ("0 0 1 * *", "2026-12-15T08:00:00Z", "2027-01-01T00:00:00Z"),
        ("0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        (
            "59 23 31 12 *",
            "2026-12-31T23:59:00Z",
            "2027-12-31T23:59:00Z",
        ),
        ("30 4 * 2 *", "2027-02-28T04:30:00Z", "2028-02-01T04:30:00Z"),
    ];
    for (expr, after, want) in cases {
        assert_eq!(next(expr, after), want, "`{expr}` after {after}");
    }
}

/// Lists, ranges, steps, `N/STEP` and names; and the two day fields: when both are restricted a
/// day matches if either does, when one starts with `*` both must.
#[test]
fn lists_ranges_steps_names_and_the_day_field_rule() {
    let expr = "5,10-20/5 9-17/4 * jan-mar,DEC *";
    assert_eq!(next(expr, "2026-11-27T12:00:00Z"), "2026-12-01T09:05:00Z");
    assert_eq!(next(expr, "2026-12-01T13:12:00Z"), "2026-12-01T13:15:00Z");
    assert_eq!(next(expr, "2026-12-01T17:20:00Z"), "2026-12-02T09:05:00Z");
    assert_eq!(
        next("7/20 * * * *", "2026-11-27T12:30:00Z"),
        "2026-11-27T12:47:00Z"
    );
    // 13th or Friday: 2026-11-27 is a Friday, 2026-12-13 a Sunday.
    assert_eq!(
        next("0 12 13 * FRI", "2026-11-27T12:00:00Z"),
        "2026-12-04T12:00:00Z"
    );
    assert_eq!(
        next("0 12 13 * FRI", "2026-12-11T12:00:00Z"),
        "2026-12-13T12:00:00Z"
    );
    // `*/7` starts with `*`: 29 February AND a Sunday, next in 2032.
    assert_eq!(
        next("0 0 29 2 */7", "2026-03-01T00:00:00Z"),
        "2032-02-29T00:00:00Z"
    );
    assert_eq!(
        Cron::parse("  0 6 * * MON ").unwrap().to_string(),
        "0 6 * * MON"
    );
}

/// `next_after` agrees with a minute-by-minute scan against a hand-written predicate (an
/// oracle independent of the parser) from many starting instants across a year end.
#[test]
fn next_fire_agrees_with_a_minute_by_minute_scan() {
    use time::Weekday::{Friday, Monday, Saturday, Sunday, Thursday, Tuesday};
    type Oracle = fn(&time::OffsetDateTime) -> bool;
    let cases: [(&str, Oracle); 5] = [
        ("*/15 * * * *", |d| d.minute() % 15 == 0),
        ("0 6 * * MON", |d| {
            d.minute() == 0 && d.hour() == 6 && d.weekday() == Monday
        }),
        ("5,10-20/5 9-17/4 * jan-mar,DEC *", |d| {
            [5, 10, 15, 20].contains(&d.minute())
                && [9, 13, 17].contains(&d.hour())
                && [1, 2, 3, 12].contains(&u8::from(d.month()))
        }),
        // Both day fields restricted: either.
        ("0 12 13 * FRI", |d| {
            d.minute() == 0 && d.hour() == 12 && (d.day() == 13 || d.weekday() == Friday)
        }),
        // The day of week starts with `*`: both.
        ("30 2 1-7 * */2", |d| {
            d.minute() == 30
                && d.hour() == 2
                && d.day() <= 7
                && [Sunday, Tuesday, Thursday, Saturday].contains(&d.weekday())
        }),
    ];
    let mut start = t("2026-11-20T00:00:00Z");
    let end = t("2027-01-10T00:00:00Z");
    let minute = time::Duration::minutes(1);
    while start < end {
        for (expr, oracle) in &cases {
            let got = Cron::parse(expr).unwrap().next_after(start).unwrap();
            let mut want = start.replace_second(0).unwrap() + minute;
            while !oracle(&want) {
                want += minute;
            }
            assert_eq!(
                rfc3339(got),
                rfc3339(want),
                "`{expr}` after {}",
                rfc3339(start)
            );
        }
        start += time::Duration::minutes(13 * 60 + 17) + time::Duration::seconds(29);
    }
}

/// Every refused expression says which field is wrong and why.
#[test]
fn invalid_expressions_are_refused_with_the_field_and_the_reason() {
    let cases = [
        ("0 6 * *", "has 4 fields; a cron schedule has 5"),
        ("", "has 0 fields"),
        ("0 0 6 * * MON", "has 6 fields"),
        ("60 * * * *", "minute `60`: `60` is outside 0-59"),
        ("* 24 * * *", "hour `24`: `24` is outside 0-23"),
        ("* * 0 * *", "day-of-month `0`: `0` is outside 1-31"),
        ("* * * 13 *", "month `13`: `13` is outside 1-12"),
        ("* * * * 8", "day-of-week `8`: `8` is outside 0-7"),
        ("*/0 * * * *", "a step must be at least 1"),
        ("*/x * * * *", "step `x` is not a number"),
        ("*/+2 * * * *", "step `+2` is not a number"),
        ("*/300 * * * *", "step `300` is too large"),
        ("+5 * * * *", "`+5` is not a number"),
        ("300 * * * *", "minute `300`: `300` is outside 0-59"),
        (
            "0 0 * FOO *",
            "`FOO` is neither a number nor a name (JAN, FEB",
        ),
        ("5-1 * * * *", "range `5-1` runs backwards"),
        (
            "0 0 * * FUNDAY",
            "`FUNDAY` is neither a number nor a name (SUN, MON",
        ),
        ("1,,2 * * * *", "has an empty list item"),
        ("0 0 L * *", "`L` is not a number"),
        ("0 0 ? * *", "`?` is not a number"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("@fortnightly", "`@fortnightly` is not a cron macro"),
    ];
    for (expr, want) in cases {
        let err = Cron::parse(expr).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(want), "`{expr}`: {text:?} lacks {want:?}");
    }
    assert!(matches!(
        Cron::parse("60 * * * *"),
        Err(CronError::Field {
            field: "minute",
            ..
        })
    ));
}

// ---- config and due computation --------------------------------------------------------------

fn with_reports(fx: &Fixture, toml: &str) -> Result<Workspace, WorkspaceError> {
    let path = fx.dir.path().join("modelgate.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(toml);
    std::fs::write(&path, text).unwrap();
    Workspace::open(fx.dir.path())
}

/// `[[reports]]` entries load with their schedule parsed; a workspace without any has none.
#[test]
fn reports_entries_load_from_the_workspace_config() {
    let fx = Fixture::new();
    assert!(fx.ws.config().reports.is_empty());
    let ws = with_reports(
        &fx,
        r#"
[[reports]]
name = "weekly-governance"
schedule = "0 6 * * MON"
window_days = 14
expiring_days = 60

[[reports]]
name = "daily"
schedule = "@daily"
"#,
    )
    .unwrap();
    let r = &ws.config().reports;
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].name, "weekly-governance");
    assert_eq!(r[0].cron.as_str(), "0 6 * * MON");
    assert_eq!((r[0].window_days, r[0].expiring_days), (Some(14), Some(60)));
    assert_eq!((r[1].window_days, r[1].expiring_days), (None, None));
    let options = r[0].options(now(), ws.production_environments());
    assert_eq!((options.window_days, options.expiring_days), (14, 60));
    let defaults = r[1].options(now(), ws.production_environments());
    assert_eq!((defaults.window_days, defaults.expiring_days), (28, 30));
}

/// A bad entry stops the workspace from opening, and the error names the entry and the problem.
#[test]
fn a_bad_reports_entry_is_refused_at_load_naming_the_entry() {
    let cases = [
        (
            "[[reports]]\nname = \"weekly\"\nschedule = \"0 6 * * MONDAY\"\n",
            vec!["`weekly`", "day-of-week `MONDAY`"],
        ),
        (
            "[[reports]]\nname = \"weekly\"\nschedule = \"0 6 * *\"\n",
            vec!["`weekly`", "has 4 fields"],
        ),
        (
            "[[reports]]\nname = \"w\"\nschedule = \"@daily\"\n[[reports]]\nname = \"w\"\nschedule = \"@hourly\"\n",
            vec!["`w` is defined twice"],
        ),
        (
            "[[reports]]\nname = \"w\"\nschedule = \"@daily\"\nwindow_days = 0\n",
            vec!["`w`", "`window_days` must be at least 1"],
        ),
        (
            "[[reports]]\nname = \"w\"\nschedule = \"@daily\"\nexpiring_days = 40000\n",
            vec!["`w`", "`expiring_days` must be at most 36500"],
        ),
        (
            "[[reports]]\nname = \"w\"\nschedul = \"@daily\"\n",
            vec!["schedul"],
        ),
        (
            "[[reports]]\nname = \"\"\nschedule = \"@daily\"\n",
            vec!["must be non-empty"],
        ),
    ];
    for (toml, wants) in cases {
        let fx = Fixture::new();
        let err = with_reports(&fx, toml).unwrap_err().to_string();
        for want in wants {
            assert!(err.contains(want), "{toml}: {err:?} lacks {want:?}");
        }
    }
}

fn schedules(entries: &[(&str, &str)]) -> Vec<ReportSchedule> {
    entries
        .iter()
        .map(|(name, expr)| ReportSchedule {
            name: (*name).to_owned(),
            cron: Cron::parse(expr).unwrap(),
            window_days: None,
            expiring_days: None,
        })
        .collect()
}

fn due_names(s: &[ReportSchedule], last: &str, now: &str) -> Vec<(String, String)> {
    due_reports(s, t(last), t(now))
        .into_iter()
        .map(|d| (d.schedule.name.clone(), rfc3339(d.as_of)))
        .collect()
}

/// What is due between the last run and now, as a pure computation of fixed instants: each
/// entry once, as of its latest passed fire time; a failed run (the scheduler moves `last_run`
/// all the same) is tried again at the next fire time, not at once.
#[test]
fn due_reports_are_those_with_a_fire_time_since_the_last_run() {
    let s = schedules(&[("weekly", "0 6 * * MON"), ("quarter-hour", "*/15 * * * *")]);
    // Monday 2026-11-30.
    assert_eq!(
        due_names(&s, "2026-11-30T05:50:00Z", "2026-11-30T06:00:00Z"),
        [
            ("weekly".to_owned(), "2026-11-30T06:00:00Z".to_owned()),
            ("quarter-hour".to_owned(), "2026-11-30T06:00:00Z".to_owned()),
        ]
    );
    assert!(due_names(&s, "2026-11-30T06:00:00Z", "2026-11-30T06:14:59Z").is_empty());
    // Two quarter hours passed: one report, as of the later.
    assert_eq!(
        due_names(&s, "2026-11-30T06:00:00Z", "2026-11-30T06:31:00Z"),
        [("quarter-hour".to_owned(), "2026-11-30T06:30:00Z".to_owned())]
    );
    // After a run at 06:00 (failed or not) the weekly one is next due a week later.
    assert!(due_names(&s[..1], "2026-11-30T06:00:00Z", "2026-12-07T05:59:59Z").is_empty());
    assert_eq!(
        due_names(&s[..1], "2026-11-30T06:00:00Z", "2026-12-07T06:00:00Z"),
        [("weekly".to_owned(), "2026-12-07T06:00:00Z".to_owned())]
    );
    assert_eq!(
        next_fire(&s, t("2026-11-30T06:00:00Z")).map(rfc3339),
        Some("2026-11-30T06:15:00Z".to_owned())
    );
    assert_eq!(next_fire(&[], t("2026-11-30T06:00:00Z")), None);
}

// ---- generate, list, get ---------------------------------------------------------------------

/// A fixture with one tier-1 model allowed to production, and its report as of NOW.
fn fixture_with_report() -> (Fixture, Report) {
    let mut fx = Fixture::new();
    let (md, approvals) = complete("fraud-scorer", "1.0.0", 1);
    let d = fx
        .decide(&request(
            "fraud-scorer",
            "1.0.0",
            "production",
            &with(&md, &approvals),
        ))
        .unwrap();
    assert!(d.is_allow(), "{}", findings(&d));
    let report = report_now(&fx);
    assert_eq!(report.population, 1);
    (fx, report)
}

fn report_now(fx: &Fixture) -> Report {
    let options = ReportOptions::new(now(), fx.ws.production_environments());
    fx.ws.inventory_report(&options, &mut |_, _| {}).unwrap()
}

/// Generating keeps the JSON and HTML bytes by digest and one `report` record naming them;
/// `list` and `get` give them back, digests re-checked, and the ledger verifies afterwards.
#[test]
fn generate_list_get_round_trip_with_digests_and_a_verifying_ledger() {
    let (mut fx, report) = fixture_with_report();
    let at = fx.size();
    let kept = scheduled::generate(&mut fx.store, "weekly-governance", &report, now()).unwrap();
    assert_eq!(kept.id, at);
    assert_eq!(fx.size(), at + 1);

    let json_bytes = serde_json::to_vec_pretty(&report).unwrap();
    let html_bytes = render::html(&report).into_bytes();
    assert_eq!(kept.json_digest, sha256_prefixed(&json_bytes));
    assert_eq!(kept.html_digest, sha256_prefixed(&html_bytes));
    assert_eq!(kept.as_of, "2026-11-27T12:00:00Z");
    assert_eq!(kept.generated_at, NOW);
    assert_eq!(kept.population, 1);

    // The record: kind `report`, exactly the documented body.
    let stored = fx.store.record(kept.id).unwrap().unwrap();
    assert_eq!(stored.kind, RecordKind::Report);
    let record = parse_record(&stored.bytes).unwrap();
    assert_eq!(
        record.body,
        json!({
            "name": "weekly-governance",
            "as_of": "2026-11-27T12:00:00Z",
            "json": kept.json_digest,
            "html": kept.html_digest,
            "population": 1,
        })
    );

    assert_eq!(scheduled::list(&fx.store).unwrap(), vec![kept.clone()]);
    assert_eq!(
        scheduled::find(&fx.store, kept.id).unwrap(),
        Some(kept.clone())
    );
    let json = scheduled::get(&fx.store, kept.id, StoredFormat::Json)
        .unwrap()
        .unwrap();
    assert_eq!(json, json_bytes);
    let parsed: Report = serde_json::from_slice(&json).unwrap();
    assert_eq!(parsed, report);
    let html = scheduled::get(&fx.store, kept.id, StoredFormat::Html)
        .unwrap()
        .unwrap();
    assert_eq!(html, html_bytes);

    // Not a report: another kind's record, or no record at all.
    assert_eq!(
        scheduled::get(&fx.store, 0, StoredFormat::Json).unwrap(),
        None
    );
    assert_eq!(scheduled::find(&fx.store, 10_000).unwrap(), None);

    // A second report is listed after the first.
    let second = scheduled::generate(&mut fx.store, "daily", &report, now()).unwrap();
    let names: Vec<String> = scheduled::list(&fx.store)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["weekly-governance", "daily"]);
    // The same report twice shares its blobs.
    assert_eq!(second.json_digest, kept.json_digest);
    fx.assert_ledger_intact();
}

/// A name the record could not carry cleanly is refused before anything is written.
#[test]
fn generate_refuses_a_bad_name_and_writes_nothing() {
    let (mut fx, report) = fixture_with_report();
    let at = fx.size();
    for name in ["", "  ", "a\nb", &"x".repeat(129)] {
        let err = scheduled::generate(&mut fx.store, name, &report, now()).unwrap_err();
        assert!(matches!(err, InventoryError::Invalid(_)), "{name:?}: {err}");
    }
    assert_eq!(fx.size(), at);
}

/// Kept bytes altered behind the store's back are an error, never served as the report.
#[test]
fn altered_report_bytes_are_never_served() {
    if common::on_postgres() {
        // Rewrites the SQLite file behind the store's back; tests/pg_ledger.rs tampers with
        // PostgreSQL rows.
        return;
    }
    let (mut fx, report) = fixture_with_report();
    let kept = scheduled::generate(&mut fx.store, "weekly", &report, now()).unwrap();
    let conn = rusqlite::Connection::open(fx.ws.ledger_path()).unwrap();
    let changed = conn
        .execute(
            "UPDATE attestations SET bytes = CAST(?1 AS BLOB) WHERE digest = ?2",
            rusqlite::params![b"<html>all green</html>".to_vec(), kept.html_digest],
        )
        .unwrap();
    assert_eq!(changed, 1);
    assert!(scheduled::get(&fx.store, kept.id, StoredFormat::Html).is_err());
    // The JSON was not touched and is still served.
    assert!(scheduled::get(&fx.store, kept.id, StoredFormat::Json)
        .unwrap()
        .is_some());
}

/// A ledger holding only the kinds written before `report` existed (activation, key changes,
/// decisions, freeze, unfreeze, observation, retire) opens, verifies, takes a `report` record
/// without a schema change, and still proves the tree it had.
#[test]
fn a_ledger_of_the_earlier_kinds_opens_verifies_and_takes_a_report() {
    if common::on_postgres() {
        // Rewrites the SQLite file behind the store's back; tests/pg_ledger.rs tampers with
        // PostgreSQL rows.
        return;
    }
    let (mut fx, report) = fixture_with_report();
    let config = fx.ws.engine_config();
    modelgate::engine::freeze::freeze(
        &mut fx.store,
        fx.clock.as_ref(),
        &config,
        "production",
        "INC-1",
        None,
    )
    .unwrap();
    modelgate::engine::freeze::unfreeze(&mut fx.store, fx.clock.as_ref(), &config, "production")
        .unwrap();
    let seen = modelgate::inventory::record::ReportedDeployment {
        source: "cli".into(),
        model: "fraud-scorer".into(),
        version: "1.0.0".into(),
        environment: "staging".into(),
    };
    modelgate::inventory::record::observe(&mut fx.store, &seen, now()).unwrap();
    modelgate::inventory::record::retire(
        &mut fx.store,
        "fraud-scorer",
        Some("0.9.0"),
        "old",
        now(),
    )
    .unwrap_err(); // unknown version: refused, nothing written
    modelgate::inventory::record::retire(&mut fx.store, "fraud-scorer", None, "replaced", now())
        .unwrap();
    let path = fx.ws.ledger_path();
    let old_size = fx.size();
    let old_root = fx.store.tree_root(old_size).unwrap();
    let kinds: std::collections::BTreeSet<RecordKind> = fx
        .store
        .records(0, old_size)
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert!(!kinds.contains(&RecordKind::Report));
    assert_eq!(kinds.len(), RecordKind::ALL.len() - 2, "{kinds:?}"); // all but inventory_sync, report
    drop(fx.store);

    let schema_version = |p: &std::path::Path| -> i64 {
        rusqlite::Connection::open(p)
            .unwrap()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap()
    };
    let before = schema_version(&path);
    let mut store = SqliteStore::open(&path).unwrap();
    assert!(verify_store(&store).unwrap().is_intact());
    let kept = scheduled::generate(&mut store, "weekly", &report, now()).unwrap();
    assert_eq!(kept.id, old_size);
    let after = verify_store(&store).unwrap();
    assert!(after.is_intact(), "{:?}", after.failure);
    assert_eq!(after.size, old_size + 1);
    assert_eq!(
        schema_version(&path),
        before,
        "a new kind needs no migration"
    );
    let proof = store.consistency_proof(old_size, old_size + 1).unwrap();
    modelgate::ledger::verify_consistency(old_size, old_size + 1, &old_root, &after.root, &proof)
        .unwrap();
    // A read-only handle (as the auditor API uses) reads it too.
    let reader = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(scheduled::list(&reader).unwrap(), vec![kept]);
}

/// `modelgate inventory reports` lists what was kept, as text and as JSON.
#[test]
fn the_cli_lists_kept_reports() {
    let (mut fx, report) = fixture_with_report();
    let home = fx.dir.path().to_path_buf();
    let out = mg(&home, &["inventory", "reports"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no reports kept yet"));

    let kept = scheduled::generate(&mut fx.store, "weekly-governance", &report, now()).unwrap();
    let out = mg(&home, &["inventory", "reports"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("#{}", kept.id)), "{text}");
    assert!(
        text.contains("weekly-governance") && text.contains(&kept.json_digest),
        "{text}"
    );

    let out = mg(&home, &["inventory", "reports", "--format", "json"]);
    assert!(out.status.success());
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["id"], kept.id);
    assert_eq!(listed[0]["html_digest"], kept.html_digest.as_str());
}
