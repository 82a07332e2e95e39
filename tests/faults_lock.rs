//! A ledger locked by another process: while a second connection holds an exclusive
//! transaction on the ledger file, `modelgate check` waits out its busy timeout and then fails
//! with exit 1 and an error naming the lock; it prints no decision and records none. Once the
//! lock is released, the same check is allowed and the ledger verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use modelgate::ledger::{verify_store, RecordKind, SqliteStore, Store};

fn mg(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("MODELGATE_HOME")
        .output()
        .unwrap()
}

fn decisions(ledger: &Path) -> usize {
    SqliteStore::open_read_only(ledger)
        .unwrap()
        .records_of_kind(RecordKind::Decision)
        .unwrap()
        .len()
}

#[test]
fn a_locked_ledger_fails_the_check_naming_the_lock_and_it_works_after_release() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("demo");
    let demo = Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .args(["demo", "--dir", home.to_str().unwrap()])
        .env_remove("MODELGATE_HOME")
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let ledger = home.join("ledger.db");
    let req = home.join("requests/credit-risk-scorer-production.json");
    let req = req.to_str().unwrap();
    let before = decisions(&ledger);

    let holder = rusqlite::Connection::open(&ledger).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let locked = mg(&home, &["check", "--request", req]);
    let waited = started.elapsed();
    let stdout = String::from_utf8_lossy(&locked.stdout);
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert_eq!(locked.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains("ledger index"),
        "a decision was printed: {stdout}"
    );
    let message = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        message.contains("database is locked"),
        "the error does not name the lock: {message}"
    );
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(25),
        "the check gave up after {waited:?}, not after its busy timeout"
    );
    eprintln!("locked: exit 1 after {waited:?}: {message}");
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert_eq!(
        decisions(&ledger),
        before,
        "the locked check recorded nothing"
    );

    let after = mg(&home, &["check", "--request", req]);
    assert_eq!(
        after.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert!(String::from_utf8_lossy(&after.stdout).contains("ledger index"));
    assert_eq!(decisions(&ledger), before + 1);
    let report = verify_store(&SqliteStore::open_read_only(&ledger).unwrap()).unwrap();
    assert!(report.failure.is_none(), "{:?}", report.failure);
}
