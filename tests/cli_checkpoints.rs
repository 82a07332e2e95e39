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

/// The auditor's routine of docs/checkpoints.md §7: keep the vkey and a checkpoint, later check
/// an export against them outside any workspace. A cut-off export is caught by the checkpoint
/// and named by its size and the missing records.
#[test]
fn an_auditor_checks_an_export_against_a_kept_checkpoint_and_vkey() {
    let f = common::Fixture::new();
    let home = f.ws.home();
    let aud = tempfile::tempdir().unwrap();
    let p = |name: &str| aud.path().join(name).to_str().unwrap().to_owned();
    out(&mg(home, &["audit", "checkpoint", "--out", &p("cp-6.txt")]));
    let vkey = out(&mg(home, &["audit", "vkey"]));
    std::fs::write(p("ledger.vkey"), &vkey).unwrap();
    out(&mg(home, &["audit", "export", "--out", &p("export.jsonl")]));

    let nowhere = aud.path().join("no-workspace");
    let verify = |export: &str, extra: &[&str]| {
        let mut args = vec!["audit", "verify", "--from-export", export, "--checkpoint"];
        let cp = p("cp-6.txt");
        args.push(&cp);
        args.extend_from_slice(extra);
        mg(&nowhere, &args)
    };
    let text = out(&verify(
        &p("export.jsonl"),
        &["--vkey-file", &p("ledger.vkey")],
    ));
    assert!(text.contains("ledger intact: 6 records verified"), "{text}");
    assert!(
        text.contains("given checkpoints matched, by size: 6"),
        "{text}"
    );

    let json: serde_json::Value = serde_json::from_str(&out(&verify(
        &p("export.jsonl"),
        &["--vkey", vkey.trim(), "--format", "json"],
    )))
    .unwrap();
    assert_eq!(json["schema"], "https://modelgate.dev/audit-verify/v1");
    assert_eq!(json["intact"], true);
    assert_eq!(json["records"], 6);
    assert_eq!(json["checkpoints"]["given"], serde_json::json!([6]));
    assert!(json["failure"].is_null());

    let full = std::fs::read_to_string(p("export.jsonl")).unwrap();
    let cut: String = full.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(p("cut.jsonl"), cut).unwrap();
    let o = verify(&p("cut.jsonl"), &["--vkey-file", &p("ledger.vkey")]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(4), "{text}");
    assert!(
        text.contains("LEDGER TAMPERED") && text.contains("checkpoint of size 6, records 4..=5"),
        "{text}"
    );
}

/// A checkpoint that cannot be checked is unusable input (exit 3), never "intact" and never a
/// finding about the ledger: no key to check it with, a key that is not the signer's, a vkey
/// with nothing to check, a malformed vkey.
#[test]
fn checkpoints_that_cannot_be_checked_are_usage_errors() {
    use modelgate::attest::{NoteSigner, PrivateKey};
    use modelgate::ledger::{sign_checkpoint, Checkpoint};

    let f = common::Fixture::new();
    let home = f.ws.home();
    let aud = tempfile::tempdir().unwrap();
    let p = |name: &str| aud.path().join(name).to_str().unwrap().to_owned();
    out(&mg(home, &["audit", "checkpoint", "--out", &p("cp.txt")]));
    out(&mg(home, &["audit", "export", "--out", &p("export.jsonl")]));
    let vkey = out(&mg(home, &["audit", "vkey"])).trim().to_owned();
    let forger = NoteSigner::new(&f.ws.config().origin, PrivateKey::from_seed(&[7; 32])).unwrap();
    let forged = Checkpoint {
        origin: f.ws.config().origin.clone(),
        size: 6,
        root: [1; 32],
        extensions: Vec::new(),
    };
    std::fs::write(p("forged.txt"), sign_checkpoint(&forged, &forger).unwrap()).unwrap();

    let nowhere = aud.path().join("no-workspace");
    let export = p("export.jsonl");
    let base = ["audit", "verify", "--from-export", export.as_str()];
    let run = |home: &std::path::Path, extra: &[&str]| {
        let o = mg(home, &[&base[..], extra].concat());
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(3), "{extra:?}: {err}");
        err
    };
    let cp = p("cp.txt");
    let err = run(&nowhere, &["--checkpoint", &cp]);
    assert!(err.contains("pass --vkey"), "{err}");
    let err = run(&nowhere, &["--vkey", &vkey]);
    assert!(err.contains("--vkey needs --checkpoint"), "{err}");
    let forged = p("forged.txt");
    let err = run(&nowhere, &["--checkpoint", &forged, "--vkey", &vkey]);
    assert!(err.contains("does not verify under the key"), "{err}");
    // Inside the workspace its engine key is used, with the same verdict on the forgery.
    let err = run(home, &["--checkpoint", &forged]);
    assert!(err.contains("does not verify under the key"), "{err}");
    let err = run(&nowhere, &["--checkpoint", &cp, "--vkey", "not-a-vkey"]);
    assert!(err.contains("vkey"), "{err}");
    let err = run(
        &nowhere,
        &["--checkpoint", &cp, "--vkey", &vkey, "--vkey-file", &cp],
    );
    assert!(err.contains("cannot be used with"), "{err}");
    // With the right key the same checkpoint passes, inside the workspace and out.
    assert!(mg(home, &[&base[..], &["--checkpoint", &cp]].concat())
        .status
        .success());
}
