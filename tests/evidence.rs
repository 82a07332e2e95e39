//! Evidence packs: built deterministically from a real ledger, verified offline, and every kind
//! of tampering caught by the right check. The golden pack under `evidence/golden/` is rebuilt
//! from the same scenario and compared byte for byte (`MODELGATE_BLESS=1` rewrites it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use common::*;
use modelgate::attest::{NoteSigner, PrivateKey};
use modelgate::clock::Clock;
use modelgate::engine::audit;
use modelgate::engine::freeze::freeze;
use modelgate::evidence::archive::{read_tar_gz, write_tar_gz};
use modelgate::evidence::{verify_pack, Scope, VerifyOutcome};
use modelgate::ledger::{open_checkpoint, sign_checkpoint, TlogProof};
use serde_json::json;

const MODEL: &str = "credit-risk-scorer";
/// The engine key of the golden workspace (a test key).
const ENGINE_SEED: u8 = 90;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("evidence/golden")
}

/// A workspace with a fixed engine key and a history worth a pack: a tier-0 allow, a deny for
/// a lapsed approval, decisions about another model, a checkpoint in between, a revoked key,
/// a waiver and a rollback under a freeze.
fn scenario() -> Fixture {
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

fn build(f: &Fixture, scope: &Scope) -> Vec<u8> {
    f.ws.evidence_pack(scope).unwrap().to_tar_gz().unwrap()
}

fn all_of(model: &str) -> Scope {
    Scope::new(model, None, None, None).unwrap()
}

fn vkey(f: &Fixture) -> String {
    f.ws.note_verifier().unwrap().to_vkey()
}

fn assert_ok(o: &VerifyOutcome) {
    let failed: Vec<_> = o.failures().collect();
    assert!(o.ok && failed.is_empty(), "{failed:#?}");
}

/// The failed checks as `check: detail` lines.
fn failures(o: &VerifyOutcome) -> Vec<String> {
    assert!(!o.ok, "the pack verified but should not have");
    o.failures()
        .map(|c| format!("{}: {}", c.check, c.detail))
        .collect()
}

fn assert_fails(o: &VerifyOutcome, check: &str, fragment: &str) {
    let f = failures(o);
    assert!(
        f.iter()
            .any(|l| l.starts_with(&format!("{check}: ")) && l.contains(fragment)),
        "expected a `{check}` failure mentioning `{fragment}`, got {f:#?}"
    );
}

fn repack(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    write_tar_gz(files, &mut out).unwrap();
    out
}

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

/// A pack whose files are edited; `edit` gets the file map.
fn tampered(edit: impl FnOnce(&mut BTreeMap<String, Vec<u8>>)) -> (VerifyOutcome, String) {
    let f = scenario();
    let mut files = read_tar_gz(build(&f, &all_of(MODEL)).as_slice()).unwrap();
    edit(&mut files);
    (verify_pack(&repack(&files), Some(&vkey(&f))), vkey(&f))
}

fn first(files: &BTreeMap<String, Vec<u8>>, prefix: &str) -> String {
    files
        .keys()
        .find(|k| k.starts_with(prefix))
        .unwrap()
        .clone()
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
fn hostile_archives_are_refused_by_name() {
    use tar::{EntryType, Header};
    let entry = |path: &str, kind: EntryType, data: &[u8], link: Option<&str>| -> Vec<u8> {
        let mut out = Vec::new();
        {
            let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
            let mut b = tar::Builder::new(gz);
            let mut h = Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            {
                let name = &mut h.as_old_mut().name;
                name[..path.len()].copy_from_slice(path.as_bytes());
            }
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
            b.into_inner().unwrap().finish().unwrap();
        }
        out
    };
    let cases = [
        (
            entry("../escape", EntryType::Regular, b"x", None),
            "`..` component",
        ),
        (
            entry("/etc/passwd", EntryType::Regular, b"x", None),
            "absolute",
        ),
        (
            entry("link", EntryType::Symlink, b"", Some("/etc/passwd")),
            "symbolic link",
        ),
        (
            entry("hard", EntryType::Link, b"", Some("records/0.json")),
            "hard link",
        ),
        (entry("dev", EntryType::Char, b"", None), "device file"),
        (entry("fifo", EntryType::Fifo, b"", None), "FIFO"),
    ];
    for (archive, fragment) in cases {
        let o = verify_pack(&archive, None);
        assert_fails(&o, "archive", fragment);
    }
    // Duplicate names.
    let mut out = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for _ in 0..2 {
            let mut h = Header::new_gnu();
            h.set_size(1);
            b.append_data(&mut h, "manifest.json", &b"x"[..]).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    assert_fails(&verify_pack(&out, None), "archive", "occurs twice");
    // Not an archive at all.
    assert_fails(
        &verify_pack(b"PK\x03\x04 a zip", None),
        "archive",
        "not a readable .tar.gz",
    );
}

#[test]
fn an_oversized_member_is_refused_before_it_is_read() {
    // A header claiming a member larger than the limit: refused from the header alone.
    let mut tar_bytes = Vec::new();
    let mut h = tar::Header::new_gnu();
    h.set_path("records/0.json").unwrap();
    h.set_size(modelgate::evidence::archive::MAX_MEMBER_BYTES + 1);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    tar_bytes.extend_from_slice(h.as_bytes());
    tar_bytes.extend_from_slice(&[0u8; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar_bytes).unwrap();
    let o = verify_pack(&gz.finish().unwrap(), None);
    assert_fails(&o, "archive", "more than the");
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    // Members of zeros compress about a thousandfold; reading stops at the total limit (here
    // 2 MiB for the test; 1 GiB by default) and at the member limit, without keeping the rest.
    use modelgate::evidence::archive::{read_tar_gz_within, ArchiveError, Limits};
    let mut files = BTreeMap::new();
    for i in 0..4 {
        files.insert(format!("records/{i}.json"), vec![0u8; 1 << 20]);
    }
    let bomb = repack(&files);
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    let small = Limits {
        member_bytes: 4 << 20,
        total_bytes: 2 << 20,
        members: 100,
    };
    let err = read_tar_gz_within(bomb.as_slice(), small).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge(_)), "{err}");
    assert!(err.to_string().contains("decompression bomb"), "{err}");
    let narrow = Limits {
        member_bytes: 1 << 19,
        ..Limits::default()
    };
    let err = read_tar_gz_within(bomb.as_slice(), narrow).unwrap_err();
    assert!(
        err.to_string()
            .contains("more than the 524288 a pack member may be"),
        "{err}"
    );
    let few = Limits {
        members: 3,
        ..Limits::default()
    };
    assert!(matches!(
        read_tar_gz_within(bomb.as_slice(), few).unwrap_err(),
        ArchiveError::TooManyMembers(3)
    ));
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

#[test]
fn anything_after_the_archive_is_refused() {
    let golden = std::fs::read(golden_dir().join("credit-risk-scorer.tar.gz")).unwrap();
    // A second gzip member holding another summary: some tools would extract it.
    let mut smuggled = golden.clone();
    let mut extra = BTreeMap::new();
    extra.insert("summary.html".to_owned(), b"ALL CONTROLS PASSED".to_vec());
    smuggled.extend_from_slice(&repack(&extra));
    assert_fails(
        &verify_pack(&smuggled, None),
        "archive",
        "after the gzip stream",
    );
    // Bytes appended after the gzip member.
    let mut appended = golden.clone();
    appended.extend_from_slice(b"\0\0junk");
    assert_fails(
        &verify_pack(&appended, None),
        "archive",
        "after the gzip stream",
    );
    // Data after the tar's end-of-archive blocks, inside the one gzip member.
    let mut tar = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(golden.as_slice()),
        &mut tar,
    )
    .unwrap();
    tar.extend_from_slice(b"hidden");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    assert_fails(
        &verify_pack(&gz.finish().unwrap(), None),
        "archive",
        "after the end of the tar archive",
    );
}

#[test]
fn names_with_control_characters_are_refused() {
    use modelgate::evidence::archive::check_path;
    for bad in [
        "zz\r\u{1b}[2K",
        "a\u{7f}b",
        "x\u{202e}txt.json",
        "tab\there",
    ] {
        let err = check_path(bad).unwrap_err();
        assert!(err.contains("control character"), "{bad:?}: {err}");
    }
    // And through the CLI the detail of an unlisted, oddly named file never reaches the terminal raw.
    let f = scenario();
    let home = f.dir.path();
    let mut files = read_tar_gz(build(&f, &all_of(MODEL)).as_slice()).unwrap();
    files.insert("zz\u{1b}[8m".to_owned(), b"x".to_vec());
    let mut out = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (path, bytes) in &files {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            {
                let name = &mut h.as_old_mut().name;
                name[..path.len()].copy_from_slice(path.as_bytes());
            }
            h.set_cksum();
            b.append(&h, bytes.as_slice()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    let pack = home.join("odd.tar.gz");
    std::fs::write(&pack, out).unwrap();
    let o = mg(home, &["evidence", "verify", pack.to_str().unwrap()]);
    assert_eq!(code(&o), 4);
    assert!(!stdout(&o).contains('\u{1b}'), "{:?}", stdout(&o));
    assert!(stdout(&o).contains("control character"), "{}", stdout(&o));
}
