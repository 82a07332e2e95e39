//! Shared by the evidence pack tests: the golden scenario (fixed clock, persona test keys,
//! engine test key seed 90), building and verifying packs, and asserting on failed checks.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;
use modelgate::attest::PrivateKey;
use modelgate::clock::Clock;
use modelgate::engine::audit;
use modelgate::engine::freeze::freeze;
use modelgate::evidence::archive::{read_tar_gz, write_tar_gz};
use modelgate::evidence::{verify_pack, Scope, VerifyOutcome};
use serde_json::json;

pub const MODEL: &str = "credit-risk-scorer";
/// The engine key of the golden workspace (a test key).
pub const ENGINE_SEED: u8 = 90;

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("evidence/golden")
}

/// A workspace with a fixed engine key and a history worth a pack: a tier-0 allow, a deny for
/// a lapsed approval, decisions about another model, a checkpoint in between, a revoked key,
/// a waiver and a rollback under a freeze.
pub fn scenario() -> Fixture {
    let mut f = Fixture::new();
    let key = PrivateKey::from_seed(&[ENGINE_SEED; 32]);
    let key_path = f.ws.engine_key_path();
    std::fs::remove_file(&key_path).unwrap();
    modelgate::workspace::write_private(&key_path, key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
    std::fs::write(
        f.dir.path().join("engine.pub"),
        key.public_key().to_spki_pem(),
    )
    .unwrap();
    f.engine = f.ws.engine(f.clock.clone()).unwrap();

    let (md, approvals) = complete(MODEL, "3.2.0", 0);
    assert!(f
        .decide(&request(
            MODEL,
            "3.2.0",
            "production",
            &with(&md, &approvals)
        ))
        .unwrap()
        .is_allow());
    let (other, other_approvals) = complete("fraud-detector", "2.1.0", 1);
    f.decide(&request(
        "fraud-detector",
        "2.1.0",
        "production",
        &with(&other, &other_approvals),
    ))
    .unwrap();
    audit::checkpoint(
        &mut f.store,
        &f.ws.note_signer().unwrap(),
        &f.ws.config().origin,
    )
    .unwrap();

    // 3.3.0 without the risk officer: denied.
    let (md, approvals) = complete(MODEL, "3.3.0", 0);
    let partial: Vec<_> = approvals.iter().take(2).cloned().collect();
    assert!(!f
        .decide(&request(MODEL, "3.3.0", "production", &with(&md, &partial)))
        .unwrap()
        .is_allow());
    f.revoke(BOB);
    // A tier-1 version without a model card, allowed to staging under a waiver.
    let (md, approvals) = complete_edited(MODEL, "3.4.0", 1, |m| {
        m["documentation"]
            .as_object_mut()
            .unwrap()
            .remove("model_card_uri");
    });
    let w = waiver(MODEL, "staging", &["tier1.model-card"], RITA, 1, 30, |_| {});
    let mut envelopes = with(&md, &approvals);
    envelopes.push(w);
    let waived = f
        .decide(&request(MODEL, "3.4.0", "staging", &envelopes))
        .unwrap();
    assert_eq!(waived.body.waivers.len(), 1, "{}", findings(&waived));
    // Production frozen; a rollback to the allowed 3.2.0 passes.
    let config = f.ws.engine_config();
    freeze(
        &mut f.store,
        f.clock.as_ref() as &dyn Clock,
        &config,
        "production",
        "INC-7: incident review",
        None,
    )
    .unwrap();
    let (md, approvals) = complete(MODEL, "3.2.0", 0);
    let mut req = request(MODEL, "3.2.0", "production", &with(&md, &approvals));
    req["rollback"] = json!(true);
    let rollback = f.decide(&req).unwrap();
    assert!(
        rollback.is_allow() && rollback.body.freeze.is_some(),
        "{:?}",
        reason_ids(&rollback)
    );
    f.decide(&request(
        "fraud-detector",
        "2.1.0",
        "staging",
        &with(&other, &other_approvals),
    ))
    .unwrap();
    f
}

pub fn build(f: &Fixture, scope: &Scope) -> Vec<u8> {
    f.ws.evidence_pack(scope).unwrap().to_tar_gz().unwrap()
}

pub fn all_of(model: &str) -> Scope {
    Scope::new(model, None, None, None).unwrap()
}

pub fn vkey(f: &Fixture) -> String {
    f.ws.note_verifier().unwrap().to_vkey()
}

pub fn assert_ok(o: &VerifyOutcome) {
    let failed: Vec<_> = o.failures().collect();
    assert!(o.ok && failed.is_empty(), "{failed:#?}");
}

/// The failed checks as `check: detail` lines.
pub fn failures(o: &VerifyOutcome) -> Vec<String> {
    assert!(!o.ok, "the pack verified but should not have");
    o.failures()
        .map(|c| format!("{}: {}", c.check, c.detail))
        .collect()
}

pub fn assert_fails(o: &VerifyOutcome, check: &str, fragment: &str) {
    let f = failures(o);
    assert!(
        f.iter()
            .any(|l| l.starts_with(&format!("{check}: ")) && l.contains(fragment)),
        "expected a `{check}` failure mentioning `{fragment}`, got {f:#?}"
    );
}

pub fn repack(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    write_tar_gz(files, &mut out).unwrap();
    out
}

/// A pack whose files are edited; `edit` gets the file map.
pub fn tampered(edit: impl FnOnce(&mut BTreeMap<String, Vec<u8>>)) -> (VerifyOutcome, String) {
    let f = scenario();
    let mut files = read_tar_gz(build(&f, &all_of(MODEL)).as_slice()).unwrap();
    edit(&mut files);
    (verify_pack(&repack(&files), Some(&vkey(&f))), vkey(&f))
}

pub fn first(files: &BTreeMap<String, Vec<u8>>, prefix: &str) -> String {
    files
        .keys()
        .find(|k| k.starts_with(prefix))
        .unwrap()
        .clone()
}
