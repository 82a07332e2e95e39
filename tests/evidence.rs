//! Evidence packs: built deterministically from a real ledger, verified offline, and every kind
//! of tampering caught by the right check. The golden pack under `evidence/golden/` is rebuilt
//! from the same scenario and compared byte for byte (`MODELGATE_BLESS=1` rewrites it). Hostile
//! archives: tests/evidence_archive.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod evidence_support;

use common::*;
use evidence_support::*;
use modelgate::attest::{NoteSigner, PrivateKey};
use modelgate::evidence::archive::read_tar_gz;
use modelgate::evidence::{verify_pack, Scope};
use modelgate::ledger::{open_checkpoint, sign_checkpoint, TlogProof};
use serde_json::json;

#[test]
fn the_pack_is_deterministic_verifies_and_matches_the_golden_pack() {
    let f = scenario();
    let scope = all_of(MODEL);
    let one = build(&f, &scope);
    let two = build(&f, &scope);
    assert_eq!(one, two, "two builds from an unchanged ledger differ");
    let outcome = verify_pack(&one, Some(&vkey(&f)));
    assert_ok(&outcome);
    assert_eq!(outcome.decisions, 4);

    let golden = golden_dir().join("credit-risk-scorer.tar.gz");
    if std::env::var_os("MODELGATE_BLESS").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&golden, &one).unwrap();
        std::fs::write(golden_dir().join("engine.vkey"), format!("{}\n", vkey(&f))).unwrap();
    }
    let checked_in = std::fs::read(&golden)
        .expect("evidence/golden/credit-risk-scorer.tar.gz (MODELGATE_BLESS=1 writes it)");
    assert!(checked_in == one, "the pack differs from the golden pack: the format changed; review and re-bless with MODELGATE_BLESS=1");
}

#[test]
fn the_checked_in_golden_pack_verifies_against_its_published_key() {
    let pack = std::fs::read(golden_dir().join("credit-risk-scorer.tar.gz")).unwrap();
    let vkey = std::fs::read_to_string(golden_dir().join("engine.vkey")).unwrap();
    let o = verify_pack(&pack, Some(vkey.trim()));
    assert_ok(&o);
    assert_eq!(
        o.key_source,
        Some(modelgate::evidence::verify::KeySource::Given)
    );
    // Every record is there with a proof, and the dependencies came along.
    let files = read_tar_gz(pack.as_slice()).unwrap();
    let has = |p: &str| files.keys().any(|k| k.starts_with(p));
    for p in [
        "records/",
        "proofs/",
        "checkpoints/",
        "consistency/",
        "attestations/",
        "inputs/",
        "policies/",
        "schemas/",
        "keys/trust.json",
        "inventory.json",
        "summary.md",
        "summary.html",
    ] {
        assert!(has(p), "the golden pack has no {p}");
    }
    let summary = String::from_utf8(files["summary.md"].clone()).unwrap();
    for needle in [
        "tier0.risk-officer-approval",
        "tier1.model-card",
        "INC-7",
        "Controls crosswalk",
        "ISO/IEC 42001",
    ] {
        assert!(summary.contains(needle), "summary.md lacks {needle}");
    }
}

#[test]
fn scope_narrows_to_a_version_and_a_window_and_leaves_other_models_out() {
    let f = scenario();
    let pack = build(&f, &Scope::new(MODEL, Some("3.2.0"), None, None).unwrap());
    let o = verify_pack(&pack, None);
    assert_ok(&o);
    assert_eq!(o.decisions, 2);
    assert_eq!(
        o.key_source,
        Some(modelgate::evidence::verify::KeySource::Pack)
    );
    let files = read_tar_gz(pack.as_slice()).unwrap();
    for (path, bytes) in files.iter().filter(|(p, _)| p.starts_with("records/")) {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("fraud-detector"),
            "{path} is about another model"
        );
    }
    let later = Scope::new(MODEL, None, Some("2099-01-01T00:00:00Z"), None).unwrap();
    let err = f.ws.evidence_pack(&later).unwrap_err().to_string();
    assert!(
        err.contains("no decision about model `credit-risk-scorer`"),
        "{err}"
    );
    assert!(Scope::new(MODEL, None, Some("yesterday"), None).is_err());
    assert!(Scope::new(
        MODEL,
        None,
        Some("2026-12-01T00:00:00Z"),
        Some("2026-11-01T00:00:00Z")
    )
    .is_err());
}

#[test]
fn a_changed_byte_in_any_file_is_caught() {
    let f = scenario();
    let files = read_tar_gz(build(&f, &all_of(MODEL)).as_slice()).unwrap();
    for path in files.keys() {
        let mut edited = files.clone();
        let bytes = edited.get_mut(path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        let o = verify_pack(&repack(&edited), Some(&vkey(&f)));
        let f = failures(&o);
        assert!(
            f.iter().any(|l| l.contains(path.as_str())
                || l.starts_with("manifest:")
                || l.starts_with("signature:")),
            "{path}: {f:#?}"
        );
    }
}

#[test]
fn a_missing_or_extra_file_is_named() {
    let (o, _) = tampered(|files| {
        let p = first(files, "attestations/");
        files.remove(&p);
    });
    assert_fails(&o, "files", "listed in the manifest but missing");
    let (o, _) = tampered(|files| {
        files.insert("notes.txt".into(), b"trust me".to_vec());
    });
    assert_fails(
        &o,
        "files",
        "notes.txt: in the archive but not in the manifest",
    );
}

#[test]
fn a_record_edited_with_a_matching_manifest_breaks_the_signature_and_the_proof() {
    let (o, _) = tampered(|files| {
        let path = first(files, "records/");
        let text = String::from_utf8(files[&path].clone())
            .unwrap()
            .replace("2026", "2025");
        files.insert(path.clone(), text.into_bytes());
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&files["manifest.json"]).unwrap();
        for entry in manifest["files"].as_array_mut().unwrap() {
            if entry["path"] == path.as_str() {
                entry["size"] = json!(files[&path].len());
                entry["sha256"] = json!(modelgate::digest::sha256_hex(&files[&path]));
            }
        }
        files.insert(
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        );
    });
    assert_fails(&o, "signature", "does not cover");
    assert_fails(&o, "inclusion", "does not lead to the root");
}

#[test]
fn a_swapped_proof_is_caught() {
    let (o, _) = tampered(|files| {
        let proofs: Vec<String> = files
            .keys()
            .filter(|k| k.starts_with("proofs/"))
            .cloned()
            .collect();
        let (a, b) = (proofs[0].clone(), proofs[1].clone());
        let pa = files[&a].clone();
        let pb = files[&b].clone();
        files.insert(a, pb);
        files.insert(b, pa);
    });
    assert_fails(&o, "files", "SHA-256");
    assert_fails(&o, "inclusion", "the proof is for index");
}

#[test]
fn a_checkpoint_from_another_key_is_refused() {
    let (o, _) = tampered(|files| {
        let note = String::from_utf8(files["checkpoint"].clone()).unwrap();
        let origin = note.lines().next().unwrap().to_owned();
        let real = NoteSigner::new(&origin, PrivateKey::from_seed(&[ENGINE_SEED; 32])).unwrap();
        let cp = open_checkpoint(&note, &[real.verifier()], Some(&origin)).unwrap();
        let other = NoteSigner::new(&origin, PrivateKey::from_seed(&[77; 32])).unwrap();
        files.insert(
            "checkpoint".into(),
            sign_checkpoint(&cp, &other).unwrap().into_bytes(),
        );
    });
    assert_fails(&o, "checkpoint", "checkpoint: ");
    assert_fails(&o, "files", "checkpoint: SHA-256");
}

#[test]
fn a_pack_signed_by_another_engine_fails_against_the_pinned_key() {
    let f = scenario();
    let pack = build(&f, &all_of(MODEL));
    let stranger =
        NoteSigner::new(&f.ws.config().origin, PrivateKey::from_seed(&[78; 32])).unwrap();
    let o = verify_pack(&pack, Some(&stranger.verifier().to_vkey()));
    assert_fails(&o, "key", "is not the key given with --vkey");
    assert_fails(&o, "signature", "no signature verifies");
}

#[test]
fn a_forged_decision_outcome_fails_replay_even_when_re_signed() {
    // An operator holding the engine key could re-sign anything; the replay still shows that
    // the recorded outcome is not what the policies give.
    let f = scenario();
    let files = read_tar_gz(build(&f, &all_of(MODEL)).as_slice()).unwrap();
    let (contents, problems) = modelgate::evidence::contents::Contents::read(&files);
    assert!(problems.is_empty(), "{problems:?}");
    let deny = contents
        .decisions
        .iter()
        .find(|d| !matches!(d.body.decision, modelgate::policy::Outcome::Allow))
        .unwrap();
    let reasons = &deny.body.reasons;
    let evaluated = modelgate::engine::replay::reevaluate(
        &deny.body,
        &contents.bundles[&deny.body.bundle_digest],
        &contents.inputs[&deny.body.input_digest],
    )
    .unwrap();
    assert!(evaluated.1.is_empty());
    let mut forged = deny.body.clone();
    forged.decision = modelgate::policy::Outcome::Allow;
    let (_, differences) = modelgate::engine::replay::reevaluate(
        &forged,
        &contents.bundles[&deny.body.bundle_digest],
        &contents.inputs[&deny.body.input_digest],
    )
    .unwrap();
    assert!(
        differences
            .iter()
            .any(|d| d.contains("recorded allow, replay decides deny")),
        "{differences:?} {reasons:?}"
    );
}

#[test]
fn cli_build_and_verify_exit_codes() {
    let f = scenario();
    let home = f.dir.path();
    let out = home.join("pack.tar.gz");
    let o = mg(
        home,
        &[
            "evidence",
            "build",
            "--model",
            MODEL,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("4 decisions"), "{}", stdout(&o));
    let o = mg(home, &["evidence", "verify", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("verified against the key inside the pack"),
        "{}",
        stdout(&o)
    );
    let o = mg(
        home,
        &[
            "evidence",
            "verify",
            out.to_str().unwrap(),
            "--vkey",
            &vkey(&f),
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&o), 0);
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["schema"], "https://modelgate.dev/evidence-verify/v1");
    assert_eq!(report["key_source"], "given");

    // Tampered: exit 4 naming the file.
    let mut files = read_tar_gz(std::fs::read(&out).unwrap().as_slice()).unwrap();
    files
        .get_mut("summary.md")
        .unwrap()
        .extend_from_slice(b"\nall good\n");
    std::fs::write(&out, repack(&files)).unwrap();
    let o = mg(home, &["evidence", "verify", out.to_str().unwrap()]);
    assert_eq!(code(&o), 4);
    assert!(
        stdout(&o).contains("FAIL files") && stdout(&o).contains("summary.md"),
        "{}",
        stdout(&o)
    );

    // From stdin with `-`.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .args(["evidence", "verify", "-"])
        .stdin(std::fs::File::open(&out).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        code(&o),
        4,
        "the tampered pack read from stdin: {}",
        stdout(&o)
    );

    // Nothing in scope, and a missing pack: exit 3.
    let o = mg(
        home,
        &[
            "evidence",
            "build",
            "--model",
            "nope",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("no decision about model `nope`"));
    let o = mg(
        home,
        &[
            "evidence",
            "verify",
            home.join("absent.tar.gz").to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 3);
}

#[test]
fn proofs_in_the_pack_check_with_the_ledger_s_own_formats() {
    let f = scenario();
    let files = read_tar_gz(build(&f, &all_of(MODEL)).as_slice()).unwrap();
    let note = String::from_utf8(files["checkpoint"].clone()).unwrap();
    let verifier = f.ws.note_verifier().unwrap();
    let cp = open_checkpoint(
        &note,
        std::slice::from_ref(&verifier),
        Some(verifier.name()),
    )
    .unwrap();
    assert_eq!(cp.size, f.size());
    let proof =
        TlogProof::parse(&String::from_utf8(files[&first(&files, "proofs/")].clone()).unwrap())
            .unwrap();
    assert_eq!(proof.checkpoint, note);
}
