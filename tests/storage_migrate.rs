//! `modelgate storage migrate` as an operator runs it: a SQLite ledger with real content (the
//! demo's: key changes, decisions, attestations, checkpoints; plus filings) copied into a fresh
//! PostgreSQL database of the throwaway server (`tests/pg_support`), proven by the report and
//! checked here record by record; a rerun resumes with nothing to copy; a different ledger is
//! refused in a non-empty target; bad spellings exit 3; a password never appears in the output;
//! and the workspace switched to `storage = "postgres"` verifies and decides on the copy.
//!
//! The PostgreSQL tests return early, after the harness's skip line, when PostgreSQL is not
//! installed; the spelling checks run everywhere (they fail before any connection).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ledger_support;
mod pg_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use ledger_support::drafts;
use modelgate::ledger::{verify_store, PgStore, RecordKind, SqliteStore, Store};
use serde_json::Value;

/// Runs the binary with `args`, without the operator's environment leaking in.
fn modelgate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_modelgate"));
    command
        .args(args)
        .env_remove("MODELGATE_HOME")
        .env_remove("MODELGATE_POSTGRES_URL");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn expect(o: Output, want: i32) -> Output {
    let (out, err) = text(&o);
    assert_eq!(code(&o), want, "stdout:\n{out}\nstderr:\n{err}");
    o
}

/// `storage migrate --from sqlite:LEDGER --to postgres:URL --json`, its exit code and report.
fn migrate(ledger: &Path, url: &str) -> (i32, Value, String) {
    let o = modelgate(
        &[
            "storage",
            "migrate",
            "--from",
            &format!("sqlite:{}", ledger.display()),
            "--to",
            &format!("postgres:{url}"),
            "--json",
        ],
        &[],
    );
    let (out, err) = text(&o);
    let report = serde_json::from_str(&out).unwrap_or(Value::Null);
    (code(&o), report, err)
}

/// A demo workspace (six personas' key changes, six decisions, their attestations, an evidence
/// pack's checkpoint), grown by one more decision and a second signed checkpoint, with two
/// attestations filed by model and version as the server files them.
fn demo_workspace(parent: &Path, name: &str) -> PathBuf {
    let home = parent.join(name);
    expect(
        modelgate(&["demo", "--dir", home.to_str().unwrap()], &[]),
        0,
    );
    let request = home.join("requests/fraud-detector-production.json");
    expect(check(&home, &request), 2);
    expect(
        modelgate(
            &["--home", home.to_str().unwrap(), "audit", "checkpoint"],
            &[],
        ),
        0,
    );
    let mut store = SqliteStore::open(&home.join("ledger.db")).unwrap();
    let digests = store.attestation_digests().unwrap();
    for digest in &digests[..2] {
        let bytes = store.attestation(digest).unwrap().unwrap();
        store
            .file_attestation("fraud-detector", "2.1.0", digest, &bytes)
            .unwrap();
    }
    home
}

fn check(home: &Path, request: &Path) -> Output {
    modelgate(
        &[
            "--home",
            home.to_str().unwrap(),
            "check",
            "--request",
            request.to_str().unwrap(),
        ],
        &[],
    )
}

/// Everything a store holds that migration copies.
#[derive(Debug, PartialEq)]
struct Contents {
    records: Vec<modelgate::ledger::StoredRecord>,
    attestations: Vec<(String, Vec<u8>)>,
    filings: Vec<(String, String, String)>,
    filed: Vec<Vec<Vec<u8>>>,
    checkpoints: Vec<(u64, String)>,
    root: [u8; 32],
    /// The demo's models' decisions, as the query index answers them.
    decisions: Vec<Vec<u64>>,
    /// The newest record of each kind.
    last_of_each_kind: Vec<Option<u64>>,
}

/// The models of the demo's requests.
const DEMO_MODELS: [&str; 4] = [
    "churn-predictor",
    "fraud-detector",
    "credit-risk-scorer",
    "credit-limit-advisor",
];

fn contents(store: &dyn Store) -> Contents {
    let size = store.size().unwrap();
    let filings = store.attestation_filings().unwrap();
    Contents {
        records: store.records(0, u64::MAX).unwrap(),
        attestations: store
            .attestation_digests()
            .unwrap()
            .into_iter()
            .map(|d| {
                let bytes = store.attestation(&d).unwrap().unwrap();
                (d, bytes)
            })
            .collect(),
        filed: filings
            .iter()
            .map(|(m, v, _)| store.filed_attestations(m, v).unwrap())
            .collect(),
        filings,
        checkpoints: store.checkpoints().unwrap(),
        root: store.tree_root(size).unwrap(),
        decisions: DEMO_MODELS
            .iter()
            .map(|m| {
                let found = store.decisions_for_model(m).unwrap();
                found.iter().map(|r| r.index).collect()
            })
            .collect(),
        last_of_each_kind: RecordKind::ALL
            .iter()
            .map(|k| store.last_of_kinds(std::slice::from_ref(k)).unwrap())
            .collect(),
    }
}

/// The demo ledger copied: exit 0 and a proven JSON report with the right counts; the copy
/// verifies and holds every record, attestation, filing and checkpoint of the source, byte for
/// byte; a rerun finds everything there, copies nothing and is still proven.
#[test]
fn a_demo_ledger_is_copied_whole_and_proven_and_a_rerun_resumes_with_nothing_to_copy() {
    let Some(pg) = pg_support::server() else {
        return;
    };
    let url = pg.fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let home = demo_workspace(tmp.path(), "demo");
    let ledger = home.join("ledger.db");
    let source = SqliteStore::open_read_only(&ledger).unwrap();
    let expected = contents(&source);
    assert!(expected.records.len() >= 15, "{}", expected.records.len());
    assert!(expected.attestations.len() > 20);
    assert_eq!(expected.filings.len(), 2);
    assert_eq!(expected.checkpoints.len(), 2);
    assert!(expected.decisions.iter().all(|d| !d.is_empty()));

    let (code, report, err) = migrate(&ledger, &url);
    assert_eq!(code, 0, "{report}\n{err}");
    let size = expected.records.len() as u64;
    let root = hex::encode(expected.root);
    assert_eq!(report["proven"], true, "{report}");
    assert_eq!(report["size"], size);
    assert_eq!(report["records_copied"], size);
    assert_eq!(report["records_already_there"], 0);
    assert_eq!(report["attestations"], expected.attestations.len());
    assert_eq!(report["filings"], 2);
    assert_eq!(report["checkpoints"], 2);
    assert_eq!(report["source_root"], root);
    assert_eq!(report["target_root"], root);
    assert_eq!(report["from"], ledger.display().to_string());
    let to = report["to"].as_str().unwrap();
    assert!(
        to.ends_with(&format!(
            "127.0.0.1:{}/{}",
            pg.port(),
            url.rsplit('/').next().unwrap()
        )),
        "{to}"
    );

    let target = PgStore::open_read_only(&url).unwrap();
    let verified = verify_store(&target).unwrap();
    assert!(verified.is_intact(), "{:?}", verified.failure);
    assert_eq!(verified.size, size);
    assert_eq!(hex::encode(verified.root), root);
    assert_eq!(contents(&target), expected);

    let (code, again, err) = migrate(&ledger, &url);
    assert_eq!(code, 0, "{again}\n{err}");
    assert_eq!(again["proven"], true);
    assert_eq!(again["records_copied"], 0);
    assert_eq!(again["records_already_there"], size);
    assert_eq!(again["target_root"], root);
    assert_eq!(contents(&target), expected);

    // The text report says the same.
    let o = expect(
        modelgate(
            &[
                "storage",
                "migrate",
                "--from",
                &format!("sqlite:{}", ledger.display()),
                "--to",
                &format!("postgres:{url}"),
            ],
            &[],
        ),
        0,
    );
    let (out, _) = text(&o);
    assert!(
        out.contains(&format!("0 copied ({size} were already there)")),
        "{out}"
    );
    assert!(out.contains("proven: same size, same root"), "{out}");
    assert!(out.contains(&root), "{out}");
}

/// A copy cut short (the first records already imported) is finished by the next run, which
/// copies only the rest; a source that has grown since a complete copy is brought up to date.
#[test]
fn an_interrupted_or_outgrown_copy_is_resumed_from_where_the_target_ends() {
    let Some(pg) = pg_support::server() else {
        return;
    };
    let url = pg.fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let ledger = tmp.path().join("ledger.db");
    let mut source = SqliteStore::open(&ledger).unwrap();
    source.append(&drafts(0..12)).unwrap();
    PgStore::open(&url)
        .unwrap()
        .import(&source.records(0, 5).unwrap())
        .unwrap();

    let (code, report, err) = migrate(&ledger, &url);
    assert_eq!(code, 0, "{report}\n{err}");
    assert_eq!(report["records_already_there"], 5);
    assert_eq!(report["records_copied"], 7);
    assert_eq!(report["proven"], true);

    source.append(&drafts(12..20)).unwrap();
    let (code, report, err) = migrate(&ledger, &url);
    assert_eq!(code, 0, "{report}\n{err}");
    assert_eq!(report["records_already_there"], 12);
    assert_eq!(report["records_copied"], 8);
    assert_eq!(report["size"], 20);
    assert_eq!(report["proven"], true);
    let target = PgStore::open_read_only(&url).unwrap();
    assert_eq!(contents(&target), contents(&source));
    assert!(verify_store(&target).unwrap().is_intact());
}

/// Another ledger is never merged into a non-empty target: same size, different records (the
/// message names the differing roots), or fewer records than the target; the target is left
/// as it was.
#[test]
fn a_different_ledger_is_refused_by_a_non_empty_target() {
    let Some(pg) = pg_support::server() else {
        return;
    };
    let url = pg.fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let ledger = |name: &str, range: std::ops::Range<u64>| {
        let path = tmp.path().join(name);
        SqliteStore::open(&path)
            .unwrap()
            .append(&drafts(range))
            .unwrap();
        path
    };
    let first = ledger("first.db", 0..10);
    let (code, report, err) = migrate(&first, &url);
    assert_eq!(code, 0, "{report}\n{err}");
    let before = contents(&PgStore::open_read_only(&url).unwrap());

    for (other, what) in [
        (ledger("other.db", 100..110), "roots differ"),
        (ledger("longer.db", 100..130), "roots differ"),
        (ledger("shorter.db", 0..5), "more than"),
    ] {
        let (code, report, err) = migrate(&other, &url);
        assert_ne!(code, 0, "{report}\n{err}");
        assert_eq!(report, Value::Null, "no report for a refused copy");
        assert!(err.contains(what), "{}: {err}", other.display());
        assert_eq!(contents(&PgStore::open_read_only(&url).unwrap()), before);
    }
}

/// Spellings of `--from` and `--to` the command does not take exit 3 with a message saying what
/// it expects, before any connection.
#[test]
fn bad_spellings_exit_3_with_the_expected_form() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = tmp.path().join("ledger.db");
    SqliteStore::open(&ledger)
        .unwrap()
        .append(&drafts(0..1))
        .unwrap();
    let from = format!("sqlite:{}", ledger.display());
    let to = "postgres:postgres://postgres@127.0.0.1:1/nowhere";
    let cases: [(&str, &str, &str); 8] = [
        (ledger.to_str().unwrap(), to, "expected `sqlite:PATH`"),
        ("sqlite:", to, "expected `sqlite:PATH`"),
        (
            "postgres:postgres://x@127.0.0.1/y",
            to,
            "expected `sqlite:PATH`",
        ),
        ("", to, "expected `sqlite:PATH`"),
        (&from, "sqlite:/tmp/other.db", "expected `postgres:URL`"),
        (
            &from,
            "mysql://root@localhost/db",
            "expected `postgres:URL`",
        ),
        (&from, "postgres", "MODELGATE_POSTGRES_URL is not set"),
        (&from, "postgres:", "MODELGATE_POSTGRES_URL is not set"),
    ];
    for (from, to, message) in cases {
        let o = modelgate(&["storage", "migrate", "--from", from, "--to", to], &[]);
        let (out, err) = text(&o);
        assert_eq!(code(&o), 3, "--from {from} --to {to}\n{out}{err}");
        assert!(err.contains(message), "--from {from} --to {to}: {err}");
    }
    // A missing option is a usage error, also exit 3 (clap's code is mapped by the binary).
    let o = modelgate(&["storage", "migrate", "--from", &from], &[]);
    assert_eq!(code(&o), 3, "{:?}", text(&o));
}

/// A password in the target URL (in the argument, the key-value form or the environment) is
/// never printed: not in the reports, not in an error about the target.
#[test]
fn a_password_in_the_url_never_appears_in_the_output() {
    const PASSWORD: &str = "S3cret-pw-in-url";
    let Some(pg) = pg_support::server() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ledger = tmp.path().join("ledger.db");
    SqliteStore::open(&ledger)
        .unwrap()
        .append(&drafts(0..3))
        .unwrap();
    let from = format!("sqlite:{}", ledger.display());
    // The test server trusts loopback connections, so the password is sent but not needed.
    let with_password = |url: &str| url.replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1);
    let url = with_password(&pg.fresh_database());
    let db = url.rsplit('/').next().unwrap().to_owned();
    let key_value = format!(
        "host=127.0.0.1 port={} user=postgres password={PASSWORD} dbname={db}",
        pg.port()
    );
    let missing_db = with_password(&pg.url("no_such_database"));
    let runs = [
        (format!("postgres:{url}"), vec![], true),
        (format!("postgres:{url}"), vec![], true),
        (format!("postgres:{key_value}"), vec![], true),
        (
            "postgres".to_owned(),
            vec![("MODELGATE_POSTGRES_URL", url.as_str())],
            true,
        ),
        (format!("postgres:{missing_db}"), vec![], false),
        (
            "postgres".to_owned(),
            vec![("MODELGATE_POSTGRES_URL", missing_db.as_str())],
            false,
        ),
    ];
    for (i, (to, env, succeeds)) in runs.iter().enumerate() {
        let mut args = vec![
            "storage",
            "migrate",
            "--from",
            from.as_str(),
            "--to",
            to.as_str(),
        ];
        if i % 2 == 0 {
            args.push("--json");
        }
        let o = modelgate(&args, env);
        let (out, err) = text(&o);
        assert_eq!(code(&o) == 0, *succeeds, "run {i}: {out}{err}");
        assert!(
            !out.contains(PASSWORD) && !err.contains(PASSWORD),
            "run {i}:\n{out}\n{err}"
        );
        if *succeeds {
            assert!(
                out.contains(&format!("127.0.0.1:{}/{db}", pg.port())),
                "run {i}: {out}"
            );
        } else {
            assert!(err.contains("no_such_database"), "run {i}: {err}");
        }
    }
}

/// After the copy, the workspace switched to `storage = "postgres"` verifies its ledger (stored
/// checkpoints included) from PostgreSQL, and decisions append there; the SQLite file is left
/// as it was.
#[test]
fn a_workspace_switched_to_the_migrated_database_verifies_and_decides() {
    let Some(pg) = pg_support::server() else {
        return;
    };
    let url = pg.fresh_database();
    let tmp = tempfile::tempdir().unwrap();
    let home = demo_workspace(tmp.path(), "demo");
    let ledger = home.join("ledger.db");
    let (code, report, err) = migrate(&ledger, &url);
    assert_eq!(code, 0, "{report}\n{err}");
    let size = report["size"].as_u64().unwrap();

    let config = home.join("modelgate.toml");
    let toml = std::fs::read_to_string(&config).unwrap();
    let switched = toml.replacen(
        "ledger = \"ledger.db\"\n",
        &format!("ledger = \"ledger.db\"\nstorage = \"postgres\"\npostgres_url = \"{url}\"\n"),
        1,
    );
    assert_ne!(switched, toml, "the config names its ledger file:\n{toml}");
    std::fs::write(&config, switched).unwrap();
    let home_arg = home.to_str().unwrap();

    let o = expect(modelgate(&["--home", home_arg, "audit", "verify"], &[]), 0);
    let (out, _) = text(&o);
    println!(
        "storage_migrate: audit verify on PostgreSQL says: {}",
        out.trim()
    );

    let allow = home.join("requests/churn-predictor-production.json");
    let o = expect(check(&home, &allow), 0);
    let (out, _) = text(&o);
    assert!(out.contains("ALLOW"), "{out}");
    let deny = home.join("requests/fraud-detector-production.json");
    expect(check(&home, &deny), 2);
    expect(modelgate(&["--home", home_arg, "audit", "verify"], &[]), 0);

    let target = PgStore::open_read_only(&url).unwrap();
    assert_eq!(target.size().unwrap(), size + 2);
    assert!(verify_store(&target).unwrap().is_intact());
    let source = SqliteStore::open_read_only(&ledger).unwrap();
    assert_eq!(source.size().unwrap(), size);
    assert_eq!(
        target.records(0, size).unwrap(),
        source.records(0, size).unwrap()
    );
}

/// `--to postgres://…` (the URL as it is usually written, without the `postgres:` prefix) is
/// taken as it is.
#[test]
fn a_plain_postgres_url_is_taken_as_it_is() {
    let Some(server) = pg_support::server() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ledger = tmp.path().join("ledger.db");
    SqliteStore::open(&ledger)
        .unwrap()
        .append(&drafts(0..3))
        .unwrap();
    let url = server.fresh_database();
    let o = modelgate(
        &[
            "storage",
            "migrate",
            "--from",
            &format!("sqlite:{}", ledger.display()),
            "--to",
            &url,
            "--json",
        ],
        &[],
    );
    let (out, err) = text(&o);
    assert_eq!(code(&o), 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["proven"], true, "{report}");
    assert_eq!(report["size"], 3, "{report}");
}

/// `init --postgres-url` with a password is refused: modelgate.toml is not a secret file. The
/// message says where the password goes and does not repeat it; no workspace is left behind.
#[test]
fn init_refuses_a_postgres_url_with_a_password() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("ws");
    let o = modelgate(
        &[
            "--home",
            home.to_str().unwrap(),
            "init",
            "--storage",
            "postgres",
            "--postgres-url",
            "postgres://modelgate:hunter2-secret@127.0.0.1:1/ledger",
        ],
        &[],
    );
    let (out, err) = text(&o);
    assert_ne!(code(&o), 0, "{out}{err}");
    assert!(err.contains("MODELGATE_POSTGRES_URL"), "{err}");
    assert!(!format!("{out}{err}").contains("hunter2"), "{out}{err}");
    assert!(!home.join("modelgate.toml").exists());
    // Nor does the config type print a URL it holds.
    let config = modelgate::workspace::PostgresUrl(
        "postgres://modelgate:hunter2-secret@db.internal:5432/ledger".to_owned(),
    );
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("db.internal:5432/ledger"), "{shown}");
}
