//! The tamper matrix: each way of altering a ledger behind modelgate's back, on the SQLite store
//! and on a JSON Lines export, is reported at the exact first bad record or checkpoint size, by
//! the library and by `modelgate audit verify` (exit 4 and the same finding in `--format json`).
//! Rows marked LIMIT verify as intact on purpose: they pin down what cannot be seen without
//! checkpoints or a vkey held outside the ledger (docs/ledger.md §7), so a change there is a
//! deliberate change of the documented guarantees.
//!
//! Every row starts from a copy of the same directory: workspace `ws/` with 10 records (0 is the
//! bundle activation, 1..=9 small drafts) and stored checkpoints of sizes 4, 8 and 10 signed by
//! its engine key; the auditor's copies of those notes and of the vkey in `auditor/`; and a
//! second workspace `other/` (its own engine key and records) that records are spliced from,
//! whose engine key is the attacker's signing key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod ledger_support;
#[path = "ledger_tamper_matrix/victim.rs"]
mod victim;

use std::path::Path;

use common::mg;
use ledger_support::independent_leaf_hash;
use modelgate::attest::NoteVerifier;
use modelgate::ledger::{verify_lines_against, verify_store_against, SqliteStore, VerifyReport};
use modelgate::workspace::Workspace;
use serde_json::Value;
use victim::{Lines, Template, Victim, CHECKPOINTS};

/// What verification must report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Intact,
    /// The first bad record index.
    Record(u64),
    /// A checkpoint finding: its size and the records known to hold the change.
    Checkpoint(u64, Option<(u64, u64)>),
}
use Want::{Checkpoint as Cp, Intact, Record};

/// Which key the auditor checks checkpoints with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// The workspace engine's (`engine.pub`): no `--vkey`; for an export, run inside the
    /// workspace.
    Workspace,
    /// The genuine vkey kept by the auditor: `--vkey` for the store, `--vkey-file` for an
    /// export checked outside any workspace.
    Pinned,
}

/// One row: how the ledger is altered, what the auditor brings, what must be reported.
struct Case<T> {
    name: &'static str,
    tamper: T,
    /// Sizes of the genuine checkpoint notes the auditor passes with `--checkpoint`.
    given: &'static [u64],
    key: Key,
    want: Want,
    /// A fragment of the reported problem.
    says: &'static str,
}

type StoreCase = Case<fn(&Victim)>;
type ExportCase = Case<fn(&Victim) -> Lines>;

/// `name, tamper, given, key, want, says;` rows.
macro_rules! table {
    ($($name:literal, $tamper:expr, $given:expr, $key:ident, $want:expr, $says:literal;)*) => {
        &[$(Case {
            name: $name,
            tamper: $tamper,
            given: &$given,
            key: Key::$key,
            want: $want,
            says: $says,
        },)*]
    };
}

#[rustfmt::skip]
const STORE_CASES: &[StoreCase] = table! {
    "flip a byte in record 5",
        |v| v.edit_rows(|r| flip(&mut r[5].bytes)),
        [], Workspace, Record(5), "stored leaf hash does not match";
    "flip a byte, rewrite the leaf hash column",
        flip_with_leaf,
        [], Workspace, Record(5), "stored tree node of this record";
    "flip a byte, rewrite the leaf hash column and the tree",
        |v| { flip_with_leaf(v); v.rebuild_tree() },
        [], Workspace, Record(6), "prev does not match the leaf hash of record 5";
    "delete record 5",
        |v| v.sql("DELETE FROM records WHERE idx = 5"),
        [], Workspace, Record(5), "record is missing";
    "reorder records 5 and 6",
        |v| v.edit_rows(|r| r.swap(5, 6)),
        [], Workspace, Record(5), "says index 6";
    "truncate from 6",
        truncate,
        [], Workspace, Record(6), "the head says the ledger holds 10 records";
    "truncate from 6, rewrite the head",
        truncate_with_head,
        [], Workspace, Cp(8, Some((6, 7))), "the ledger holds 6: records 6..=7 are missing";
    "LIMIT: truncate, rewrite the head, drop later checkpoints",
        truncate_everything,
        [], Workspace, Intact, "";
    "truncate, rewrite the head, drop later checkpoints; auditor's checkpoints",
        truncate_everything,
        [4, 8, 10], Workspace, Cp(8, Some((6, 7))), "records 6..=7 are missing";
    "duplicate record 5",
        |v| { v.edit_rows(|r| r.insert(6, r[5].clone())); v.fix_head() },
        [], Workspace, Record(6), "says index 5";
    "splice in the other ledger's record 5",
        |v| { let o = v.other_rows(); v.edit_rows(|r| r[5] = o[5].clone()) },
        [], Workspace, Record(5), "prev does not match the leaf hash of record 4";
    "rewrite from 6, re-sign later checkpoints with another key",
        rewrite_resigned,
        [], Workspace, Cp(8, None), "stored checkpoint does not verify";
    "LIMIT: rewrite from 6, drop later checkpoints",
        rewrite_dropped,
        [], Workspace, Intact, "";
    "rewrite from 6, drop later checkpoints; auditor's checkpoints",
        rewrite_dropped,
        [4, 8, 10], Workspace, Cp(8, Some((4, 7))), "a record in 4..=7 was changed";
    "LIMIT: rewrite from 6, re-sign all, swap engine.pub",
        rewrite_key_swapped,
        [], Workspace, Intact, "";
    "rewrite from 6, re-sign all, swap engine.pub; vkey pinned",
        rewrite_key_swapped,
        [], Pinned, Cp(4, None), "stored checkpoint does not verify under the key";
    "replace checkpoint 8 with one signed by another key",
        |v| v.put_checkpoint(8, 8, None, &v.attacker()),
        [], Workspace, Cp(8, None), "stored checkpoint does not verify";
    "replace checkpoint 8 with the note of size 4",
        |v| v.sql_with("UPDATE checkpoints SET note = ?1 WHERE size = 8", &v.note(4)),
        [], Workspace, Cp(8, None), "checkpoint stored as size 8 says size 4";
    "replace checkpoint 8 with one over another root",
        |v| v.put_checkpoint(8, 8, Some([0x5a; 32]), &v.engine()),
        [], Workspace, Cp(8, Some((4, 7))), "do not hash to the root the stored checkpoint names";
    "plant a checkpoint beyond the head",
        |v| v.put_checkpoint(12, 12, Some([0x5a; 32]), &v.engine()),
        [], Workspace, Cp(12, Some((10, 11))), "records 10..=11 are missing";
};

#[rustfmt::skip]
const EXPORT_CASES: &[ExportCase] = table! {
    "flip a byte in record 5",
        |v| edit(v.lines(), |l| flip(&mut l[5])),
        [], Workspace, Record(6), "prev does not match the leaf hash of record 5";
    "LIMIT: flip a byte in the last record",
        |v| edit(v.lines(), |l| flip(&mut l[9])),
        [], Workspace, Intact, "";
    "flip a byte in the last record; auditor's checkpoints",
        |v| edit(v.lines(), |l| flip(&mut l[9])),
        [4, 8, 10], Pinned, Cp(10, Some((8, 9))), "do not hash to the root the checkpoint names";
    "delete record 5",
        |v| edit(v.lines(), |l| { l.remove(5); }),
        [], Workspace, Record(5), "says index 6";
    "reorder records 5 and 6",
        |v| edit(v.lines(), |l| l.swap(5, 6)),
        [], Workspace, Record(5), "says index 6";
    "LIMIT: truncate from 6",
        |v| edit(v.lines(), |l| l.truncate(6)),
        [], Workspace, Intact, "";
    "truncate from 6; auditor's checkpoints",
        |v| edit(v.lines(), |l| l.truncate(6)),
        [4, 8, 10], Pinned, Cp(8, Some((6, 7))), "the export holds 6: records 6..=7 are missing";
    "truncate from 6; auditor's full-size checkpoint, workspace key",
        |v| edit(v.lines(), |l| l.truncate(6)),
        [10], Workspace, Cp(10, Some((6, 9))), "records 6..=9 are missing";
    "duplicate record 5",
        |v| edit(v.lines(), |l| l.insert(6, l[5].clone())),
        [], Workspace, Record(6), "says index 5";
    "splice in the other ledger's record 5",
        |v| { let o = v.other_rows(); edit(v.lines(), |l| l[5] = line(&o[5].bytes)) },
        [4, 8, 10], Workspace, Record(5), "prev does not match the leaf hash of record 4";
    "LIMIT: rewrite from 6 and re-sign",
        |v| { rewrite_resigned(v); v.lines() },
        [], Workspace, Intact, "";
    "rewrite from 6 and re-sign; auditor's checkpoints",
        |v| { rewrite_resigned(v); v.lines() },
        [4, 8, 10], Pinned, Cp(8, Some((4, 7))), "a record in 4..=7 was changed";
    "rewrite from 6 and re-sign; auditor's full-size checkpoint",
        |v| { rewrite_resigned(v); v.lines() },
        [10], Workspace, Cp(10, Some((0, 9))), "a record in 0..=9 was changed";
};

// ---------------------------------------------------------------------------------------------
// Multi-step tampering.
// ---------------------------------------------------------------------------------------------

/// Record 5's body changed and its leaf hash column updated to match.
fn flip_with_leaf(v: &Victim) {
    v.edit_rows(|r| {
        flip(&mut r[5].bytes);
        r[5].leaf = independent_leaf_hash(&r[5].bytes).to_vec();
    });
}

fn truncate(v: &Victim) {
    v.sql("DELETE FROM records WHERE idx >= 6");
}

fn truncate_with_head(v: &Victim) {
    truncate(v);
    v.fix_head();
}

fn truncate_everything(v: &Victim) {
    truncate_with_head(v);
    v.sql("DELETE FROM checkpoints WHERE size > 6");
}

/// Records from 6 on replaced by the other ledger's, re-chained, with leaf hashes, tree and
/// head recomputed; the checkpoints after 6 re-signed with the attacker's key.
fn rewrite_resigned(v: &Victim) {
    v.rewrite_from(6);
    v.resign(&v.attacker(), [8, 10]);
}

fn rewrite_dropped(v: &Victim) {
    v.rewrite_from(6);
    v.sql("DELETE FROM checkpoints WHERE size > 6");
}

/// The rewrite with every checkpoint re-signed and the workspace's `engine.pub` swapped for the
/// attacker's key: only a vkey the auditor kept tells.
fn rewrite_key_swapped(v: &Victim) {
    v.rewrite_from(6);
    v.resign(&v.attacker(), CHECKPOINTS);
    let other_pub = std::fs::read(v.path("other/engine.pub")).unwrap();
    std::fs::write(v.path("ws/engine.pub"), other_pub).unwrap();
}

/// One byte of `fraud-scorer` in the body changed to `fraud-scoser`: the record stays
/// well-formed and canonical.
fn flip(bytes: &mut [u8]) {
    let at = bytes
        .windows(12)
        .position(|w| w == b"fraud-scorer")
        .unwrap();
    bytes[at + 10] ^= 0x01;
}

fn edit(mut lines: Lines, f: impl FnOnce(&mut Lines)) -> Lines {
    f(&mut lines);
    lines
}

fn line(bytes: &[u8]) -> Vec<u8> {
    [bytes, b"\n"].concat()
}

// ---------------------------------------------------------------------------------------------
// Checking a row: the library's report, then the binary's exit code and JSON finding.
// ---------------------------------------------------------------------------------------------

fn found(report: &VerifyReport) -> (Want, String) {
    let Some(f) = &report.failure else {
        return (Intact, String::new());
    };
    let want = match f.checkpoint {
        None => Record(f.index),
        Some(c) => Cp(c.size, c.records),
    };
    (want, f.problem.clone())
}

fn found_in_json(out: &Value) -> Want {
    let failure = &out["failure"];
    let (cp, records) = (&failure["checkpoint"], &failure["checkpoint"]["records"]);
    let n = |v: &Value| v.as_u64().unwrap();
    if failure.is_null() {
        Intact
    } else if cp.is_null() {
        Record(n(&failure["index"]))
    } else {
        let range = (!records.is_null()).then(|| (n(&records["first"]), n(&records["last"])));
        Cp(n(&cp["size"]), range)
    }
}

fn check<T>(
    case: &Case<T>,
    report: &VerifyReport,
    home: &Path,
    args: &[String],
) -> Result<(), String> {
    let (got, problem) = found(report);
    if let Some(failure) = &report.failure {
        eprintln!("{}: {failure}", case.name);
    }
    if got != case.want || !problem.contains(case.says) {
        let (want, says) = (case.want, case.says);
        return Err(format!(
            "library reports {got:?} `{problem}`, want {want:?} with `{says}`"
        ));
    }
    let mut all = vec!["audit", "verify", "--format", "json"];
    all.extend(args.iter().map(String::as_str));
    let o = mg(home, &all);
    let expected = if case.want == Intact { 0 } else { 4 };
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    if o.status.code() != Some(expected) {
        return Err(format!(
            "binary exit {:?}, want {expected}: {stdout}{stderr}",
            o.status.code()
        ));
    }
    let got = found_in_json(&serde_json::from_str(&stdout).map_err(|e| e.to_string())?);
    if got != case.want {
        return Err(format!("binary reports {got:?}, want {:?}", case.want));
    }
    Ok(())
}

fn run_store_case(t: &Template, case: &StoreCase) -> Result<(), String> {
    let v = t.victim();
    (case.tamper)(&v);
    let (verifier, mut args) = match case.key {
        Key::Pinned => {
            let vkey = v.vkey();
            (
                NoteVerifier::from_vkey(&vkey).unwrap(),
                vec!["--vkey".to_owned(), vkey],
            )
        }
        Key::Workspace => (
            Workspace::open(&v.home()).unwrap().note_verifier().unwrap(),
            vec![],
        ),
    };
    let store = SqliteStore::open_read_only(&v.path("ws/ledger.db")).unwrap();
    let report = verify_store_against(&store, &verifier, &v.given(case.given)).unwrap();
    args.extend(v.checkpoint_args(case.given));
    check(case, &report, &v.home(), &args)
}

fn run_export_case(t: &Template, case: &ExportCase) -> Result<(), String> {
    let v = t.victim();
    let lines = (case.tamper)(&v).concat();
    let report = verify_lines_against(&lines[..], &v.given(case.given)).unwrap();
    let export = v.path("export.jsonl");
    std::fs::write(&export, &lines).unwrap();
    let mut args = vec!["--from-export".to_owned(), export.display().to_string()];
    args.extend(v.checkpoint_args(case.given));
    let home = match case.key {
        Key::Pinned => {
            args.extend([
                "--vkey-file".to_owned(),
                v.path("auditor/vkey").display().to_string(),
            ]);
            v.path("no-workspace")
        }
        Key::Workspace => v.home(),
    };
    check(case, &report, &home, &args)
}

fn assert_no_failures(failures: Vec<String>) {
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Every store row is reported at its record index or checkpoint size, by the library and the
/// binary; the untouched copy verifies with every checkpoint holding.
#[test]
fn store_tamper_matrix() {
    let t = Template::new();
    let v = t.victim();
    let store = SqliteStore::open_read_only(&v.path("ws/ledger.db")).unwrap();
    let verifier = NoteVerifier::from_vkey(&v.vkey()).unwrap();
    let report = verify_store_against(&store, &verifier, &v.given(&CHECKPOINTS)).unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    assert_eq!(report.stored_checkpoints, CHECKPOINTS);
    assert_eq!(report.given_checkpoints, CHECKPOINTS);

    let failures = STORE_CASES.iter().filter_map(|case| {
        run_store_case(&t, case)
            .err()
            .map(|e| format!("{}: {e}", case.name))
    });
    assert_no_failures(failures.collect());
}

/// Every export row is reported at its record index or checkpoint size, by the library and the
/// binary; the untouched export verifies with every checkpoint holding.
#[test]
fn export_tamper_matrix() {
    let t = Template::new();
    let v = t.victim();
    let lines = v.lines().concat();
    let report = verify_lines_against(&lines[..], &v.given(&CHECKPOINTS)).unwrap();
    assert!(report.is_intact(), "{:?}", report.failure);
    assert_eq!(report.given_checkpoints, CHECKPOINTS);

    let failures = EXPORT_CASES.iter().filter_map(|case| {
        run_export_case(&t, case)
            .err()
            .map(|e| format!("{}: {e}", case.name))
    });
    assert_no_failures(failures.collect());
}
