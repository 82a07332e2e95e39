//! What an auditor does with the CLI's checkpoint commands, checked with nothing but the vkey and
//! the library's stand-alone verifiers: a record's inclusion proof against a signed checkpoint,
//! a later checkpoint extending an earlier one, and a replaced checkpoint caught by verify.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::mg;

use std::process::{Command, Output};

use modelgate::attest::NoteVerifier;
use modelgate::ledger::{
    open_checkpoint, parse_consistency_proof, verify_consistency, verify_inclusion,
    verify_tlog_proof,
};

fn out(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn an_auditor_with_only_the_vkey_verifies_inclusion_and_consistency() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("demo");
    let demo = Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .args(["demo", "--dir", home.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(demo.status.success());

    let vkey = out(&mg(&home, &["audit", "vkey"])).trim().to_string();
    let verifier = NoteVerifier::from_vkey(&vkey).unwrap();
    let origin = verifier.name().to_string();

    let first = out(&mg(&home, &["audit", "checkpoint"]));
    let old = open_checkpoint(&first, std::slice::from_ref(&verifier), Some(&origin)).unwrap();
    // Asking again without growth returns the same checkpoint.
    assert_eq!(out(&mg(&home, &["audit", "checkpoint"])), first);

    // Record 3's bytes, exactly as stored, and its proof.
    let record = mg(&home, &["audit", "show", "3"]).stdout;
    let record = &record[..record.len() - 1]; // drop the newline `show` adds
    let proof = out(&mg(&home, &["audit", "prove", "3"]));
    let checked = verify_tlog_proof(
        &proof,
        record,
        std::slice::from_ref(&verifier),
        &origin,
        |l, i, n, p, r| verify_inclusion(l, i, n, p, r).is_ok(),
    )
    .unwrap();
    assert_eq!(checked.index, 3);
    // The same proof does not prove other bytes.
    let mut other = record.to_vec();
    other[10] ^= 1;
    assert!(verify_tlog_proof(
        &proof,
        &other,
        std::slice::from_ref(&verifier),
        &origin,
        |l, i, n, p, r| verify_inclusion(l, i, n, p, r).is_ok(),
    )
    .is_err());

    // The ledger grows; the new checkpoint extends the old one.
    let req = home.join("requests/fraud-detector-production.json");
    mg(&home, &["check", "--request", req.to_str().unwrap()]);
    let second = out(&mg(&home, &["audit", "checkpoint"]));
    let new = open_checkpoint(&second, std::slice::from_ref(&verifier), Some(&origin)).unwrap();
    assert_eq!(new.size, old.size + 1);
    let text = out(&mg(
        &home,
        &[
            "audit",
            "consistency",
            &old.size.to_string(),
            &new.size.to_string(),
        ],
    ));
    let hashes = parse_consistency_proof(&text).unwrap();
    verify_consistency(old.size, new.size, &old.root, &new.root, &hashes).unwrap();
    assert!(verify_consistency(old.size, new.size, &new.root, &old.root, &hashes).is_err());

    assert!(mg(&home, &["audit", "verify"]).status.success());
}

#[test]
fn a_replaced_checkpoint_is_reported_by_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("demo");
    Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .args(["demo", "--dir", home.to_str().unwrap()])
        .output()
        .unwrap();
    let cp = out(&mg(&home, &["audit", "checkpoint"]));
    let size: u64 = cp.lines().nth(1).unwrap().parse().unwrap();
    // Another engine key signs a checkpoint over a different root for the same size.
    let other_home = tmp.path().join("other");
    Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .args(["demo", "--dir", other_home.to_str().unwrap()])
        .output()
        .unwrap();
    let forged = out(&mg(&other_home, &["audit", "checkpoint"]));
    let conn = rusqlite::Connection::open(home.join("ledger.db")).unwrap();
    let n = conn
        .execute(
            "UPDATE checkpoints SET note = ?1 WHERE size = ?2",
            rusqlite::params![forged, size as i64],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    let o = mg(&home, &["audit", "verify"]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("checkpoint does not verify"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn checkpoints_are_signed_automatically_by_count_and_by_age() {
    use std::sync::Arc;

    use modelgate::clock::{parse_rfc3339, FixedClock};
    use modelgate::engine::audit::AutoCheckpoint;
    use modelgate::engine::Engine;
    use modelgate::ledger::Store;
    use modelgate::policy::PolicyBundle;

    let mut f = common::Fixture::new();
    let auto = |every_records, every_seconds| AutoCheckpoint {
        signer: f.ws.note_signer().unwrap(),
        origin: f.ws.config().origin.clone(),
        every_records,
        every_seconds,
    };
    let bundle = || PolicyBundle::load(&f.ws.policy_dir()).unwrap();
    let (md, approvals) = common::complete("m", "1.0.0", 2);
    let req = serde_json::to_vec(&common::request(
        "m",
        "1.0.0",
        "production",
        &common::with(&md, &approvals),
    ))
    .unwrap();

    // By count: every 3 uncovered records.
    let engine = Engine::new(bundle(), f.ws.engine_config(), f.clock.clone())
        .unwrap()
        .with_auto_checkpoints(auto(3, 0));
    assert_eq!(f.store.latest_checkpoint().unwrap(), None);
    let mut sizes = Vec::new();
    for _ in 0..4 {
        engine.decide(&mut f.store, &req).unwrap();
        sizes.push(f.store.latest_checkpoint().unwrap().map(|(s, _)| s));
    }
    // The fixture starts with 6 records (activation + 5 keys): the first decision makes 7 > 3.
    assert_eq!(sizes, [Some(7), Some(7), Some(7), Some(10)]);

    // By age: an hour later, one more decision is enough.
    let later = Arc::new(FixedClock(parse_rfc3339("2026-11-27T13:00:00Z").unwrap()));
    let engine = Engine::new(bundle(), f.ws.engine_config(), later)
        .unwrap()
        .with_auto_checkpoints(auto(0, 600));
    engine.decide(&mut f.store, &req).unwrap();
    assert_eq!(
        f.store.latest_checkpoint().unwrap().map(|(s, _)| s),
        Some(11)
    );
    let verify = mg(f.ws.home(), &["audit", "verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
