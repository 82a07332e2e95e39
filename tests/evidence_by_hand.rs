//! The by-hand verification of docs/evidence.md (`scripts/verify-pack-by-hand`: tar, jq,
//! sha256sum, OpenSSL and a standard-library Python RFC 6962 checker, no modelgate code) accepts
//! the golden pack and rejects packs whose signature or proofs are wrong even when every file
//! digest has been made to match.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use modelgate::attest::PrivateKey;
use modelgate::evidence::archive::{read_tar_gz, write_tar_gz};
use modelgate::evidence::manifest::{sign, Manifest};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn golden() -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(root().join("evidence/golden/credit-risk-scorer.tar.gz")).unwrap();
    read_tar_gz(bytes.as_slice()).unwrap()
}

/// Runs the script on `files` packed into a temporary archive; returns (exit code, stderr).
fn by_hand(files: &BTreeMap<String, Vec<u8>>, pem: Option<&Path>) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let pack: PathBuf = dir.path().join("pack.tar.gz");
    let mut out = Vec::new();
    write_tar_gz(files, &mut out).unwrap();
    std::fs::write(&pack, out).unwrap();
    let mut cmd = Command::new(root().join("scripts/verify-pack-by-hand"));
    cmd.arg(&pack);
    if let Some(pem) = pem {
        cmd.arg(pem);
    }
    let o = cmd
        .output()
        .expect("bash, tar, jq, openssl and python3 (scripts/test-deps installs them)");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Rewrites manifest.json for the current files and re-signs it with the golden engine key
/// (a test key), as a dishonest operator holding the key could.
fn reseal(files: &mut BTreeMap<String, Vec<u8>>) {
    files.remove("manifest.json");
    files.remove("manifest.dsse.json");
    let old: Manifest = serde_json::from_slice(&golden()["manifest.json"]).unwrap();
    let manifest = Manifest::new(&old.scope, &old.generator, old.checkpoint.clone(), files);
    let bytes = manifest.to_bytes().unwrap();
    let key = PrivateKey::from_seed(&[90; 32]);
    files.insert(
        "manifest.dsse.json".into(),
        sign(&manifest, &bytes, &key).unwrap(),
    );
    files.insert("manifest.json".into(), bytes);
}

#[test]
fn the_golden_pack_verifies_by_hand_against_the_published_key() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("engine.pub.pem");
    std::fs::write(&pem, &golden()["keys/engine.pub.pem"]).unwrap();
    let (code, err) = by_hand(&golden(), Some(&pem));
    assert_eq!(code, 0, "{err}");
    let resealed = {
        let mut f = golden();
        reseal(&mut f);
        f
    };
    assert_eq!(
        resealed,
        golden(),
        "resealing an untouched pack must reproduce it"
    );
}

#[test]
fn a_changed_file_or_foreign_key_fails_by_hand() {
    let mut files = golden();
    files
        .get_mut("summary.md")
        .unwrap()
        .extend_from_slice(b"\n");
    let (code, err) = by_hand(&files, None);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("a file differs from manifest.json"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.pem");
    std::fs::write(
        &other,
        PrivateKey::from_seed(&[7; 32]).public_key().to_spki_pem(),
    )
    .unwrap();
    let (code, err) = by_hand(&golden(), Some(&other));
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("no signature on manifest.dsse.json verifies"),
        "{err}"
    );
}

#[test]
fn a_resealed_pack_with_a_bad_proof_or_record_fails_the_merkle_step() {
    // Every digest and the manifest signature are made to match; only the RFC 6962 check can
    // tell that the record is not the one the checkpoint commits to.
    let mut files = golden();
    let path = files
        .keys()
        .find(|k| k.starts_with("records/"))
        .unwrap()
        .clone();
    let text = String::from_utf8(files[&path].clone())
        .unwrap()
        .replacen("2026", "2025", 1);
    files.insert(path, text.into_bytes());
    reseal(&mut files);
    let (code, err) = by_hand(&files, None);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("is not in the checkpointed tree"), "{err}");

    let mut files = golden();
    let consistency = files
        .keys()
        .find(|k| k.starts_with("consistency/"))
        .unwrap()
        .clone();
    let proof = String::from_utf8(files[&consistency].clone()).unwrap();
    let first = proof.lines().next().unwrap().to_owned();
    let zero_hash = format!("{}=", "A".repeat(43)); // base64 of 32 zero bytes
    let swapped = proof.replacen(&first, &zero_hash, 1);
    files.insert(consistency, swapped.into_bytes());
    reseal(&mut files);
    let (code, err) = by_hand(&files, None);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("does not verify"), "{err}");
}
