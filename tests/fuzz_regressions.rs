//! The fuzz targets (`fuzz/src/targets.rs`, shared with the libFuzzer binaries) replayed in
//! plain `cargo test`: every seed of `fuzz/corpus/NAME/` and every past crash of
//! `fuzz/regressions/NAME/` must pass its target's invariants. The seed corpora are generated
//! here from the fixtures, the golden pack and the reference bundle; `MODELGATE_BLESS=1 cargo
//! test --test fuzz_regressions` rewrites them (see docs/fuzzing.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use modelgate::attest::{Envelope, Role, IN_TOTO_PAYLOAD_TYPE};
use modelgate::evidence::archive::{read_tar_gz, write_tar_gz};

#[path = "../fuzz/src/targets.rs"]
mod targets;

use targets::personas::{self, approval, complete, key, metadata, request, MALLORY, OLIVIA};

/// The files of a pack, by path.
type Files = BTreeMap<String, Vec<u8>>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap()
}

/// Every seed file, by path under `fuzz/corpus/`.
fn seeds() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut add = |target: &str, name: &str, bytes: Vec<u8>| {
        out.insert(format!("{target}/{name}"), bytes);
    };

    // dsse: independent implementations' envelopes and persona-signed ones.
    for f in ["securesystemslib-ed25519", "openssl-test-ed25519"] {
        add(
            "dsse",
            f,
            read(&format!("tests/fixtures/attest/{f}.envelope.json")),
        );
    }
    let md = metadata("credit-risk-scorer", "2.1.0", 1);
    add("dsse", "metadata-alice", json(&md.to_json_value()));
    let approval_env = approval(&md, OLIVIA, Role::Owner, "production");
    add(
        "dsse",
        "approval-olivia",
        json(&approval_env.to_json_value()),
    );
    let mut twice = approval_env.clone();
    twice.add_signature(&key(MALLORY.1));
    add(
        "dsse",
        "approval-olivia-and-revoked",
        json(&twice.to_json_value()),
    );
    let other_type = Envelope::sign("text/plain", b"hello world".to_vec(), &key(OLIVIA.1));
    add(
        "dsse",
        "wrong-payload-type",
        json(&other_type.to_json_value()),
    );
    assert_ne!(other_type.payload_type, IN_TOTO_PAYLOAD_TYPE);

    // decision: complete requests per tier (allowed), incomplete and untrusted ones (denied).
    for tier in [0, 1, 2] {
        let name = format!("model-t{tier}");
        let all = complete(&name, "1.0.0", tier);
        add(
            "decision",
            &format!("tier{tier}-complete"),
            json(&request(&name, "1.0.0", "production", &all)),
        );
    }
    let all = complete("model-t1", "1.0.0", 1);
    add(
        "decision",
        "tier1-no-approvals",
        json(&request("model-t1", "1.0.0", "production", &all[..1])),
    );
    add(
        "decision",
        "tier1-staging",
        json(&request("model-t1", "1.0.0", "staging", &all)),
    );
    let mut forged = all.clone();
    forged[1] = Envelope::sign(
        IN_TOTO_PAYLOAD_TYPE,
        forged[1].payload.clone(),
        &key(MALLORY.1),
    );
    add(
        "decision",
        "tier1-approval-by-untrusted",
        json(&request("model-t1", "1.0.0", "production", &forged)),
    );

    // admission: the reviews of the HTTP tests.
    let mut reviews: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/admission"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    reviews.sort();
    for p in reviews {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        add("admission", &name, std::fs::read(&p).unwrap());
    }

    // notes: the golden pack's checkpoint, proofs and consistency proof; the C2SP vectors.
    let golden = read_tar_gz(targets::pack::GOLDEN).unwrap();
    let file = |p: &str| {
        golden
            .get(p)
            .unwrap_or_else(|| panic!("golden {p}"))
            .clone()
    };
    let note = String::from_utf8(file("checkpoint")).unwrap();
    let text = &note[..note.rfind("\n\n").unwrap() + 1];
    add("notes", "checkpoint", [b"c", text.as_bytes()].concat());
    add("notes", "note-checkpoint", [b"n", note.as_bytes()].concat());
    for i in [0, 12] {
        let mut seed = b"p".to_vec();
        seed.extend(file(&format!("proofs/{i}.tlog-proof")));
        seed.extend(b"\n====\n");
        seed.extend(file(&format!("records/{i}.json")));
        add("notes", &format!("proof-{i}"), seed);
    }
    add(
        "notes",
        "consistency",
        [b"k".to_vec(), file("consistency/8-14")].concat(),
    );
    let vectors: serde_json::Value =
        serde_json::from_slice(&read("tests/fixtures/signed-note/signed-note.json")).unwrap();
    for (i, v) in vectors["vectors"].as_array().unwrap().iter().enumerate() {
        let vkey = v["vkey"].as_str().unwrap();
        add(
            "notes",
            &format!("vkey-{i}"),
            [b"v", vkey.as_bytes()].concat(),
        );
        let note = v["note"].as_str().unwrap();
        add(
            "notes",
            &format!("note-{i}"),
            [b"n", note.as_bytes()].concat(),
        );
    }

    // pack: the golden pack, compressed and not, and three damaged variants.
    add("pack", "golden.tar.gz", targets::pack::GOLDEN.to_vec());
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(targets::pack::GOLDEN)
        .read_to_end(&mut tar)
        .unwrap();
    add("pack", "golden.tar", tar);
    let variant = |edit: &dyn Fn(&mut Files)| {
        let mut files = golden.clone();
        edit(&mut files);
        let mut out = Vec::new();
        write_tar_gz(&files, &mut out).unwrap();
        out
    };
    add(
        "pack",
        "manifest-renamed.tar.gz",
        variant(&|f| {
            let m = String::from_utf8(f["manifest.json"].clone()).unwrap();
            f.insert(
                "manifest.json".into(),
                m.replace("credit-risk-scorer", "credit-risk-scorex")
                    .into_bytes(),
            );
        }),
    );
    add(
        "pack",
        "record-missing.tar.gz",
        variant(&|f| {
            f.remove("records/12.json");
        }),
    );
    add(
        "pack",
        "unlisted-file.tar.gz",
        variant(&|f| {
            f.insert("notes.txt".into(), b"not part of a pack\n".to_vec());
        }),
    );

    // bundle: the reference bundle framed, and two broken subsets.
    let policy = |name: &str| read(&format!("policies/{name}"));
    let names = [
        "common.cedar",
        "modelgate.cedarschema",
        "tier0.cedar",
        "tier1.cedar",
        "tier2.cedar",
    ];
    let bodies: Vec<Vec<u8>> = names.iter().map(|n| policy(n)).collect();
    let framed = |pick: &[usize]| {
        let files: Vec<(&str, &[u8])> = pick.iter().map(|&i| (names[i], &bodies[i][..])).collect();
        targets::bundle::frame(&files)
    };
    add("bundle", "reference", framed(&[0, 1, 2, 3, 4]));
    add("bundle", "no-schema", framed(&[0, 2, 3, 4]));
    add("bundle", "schema-and-tier2", framed(&[1, 4]));
    out
}

fn files_of(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

/// The committed seed corpora are exactly what [`seeds`] generates (`MODELGATE_BLESS=1`
/// rewrites them), so a seed never silently drifts from the fixtures it was made from.
#[test]
fn seed_corpora_are_generated_from_the_fixtures() {
    let corpus = root().join("fuzz/corpus");
    let seeds = seeds();
    if std::env::var_os("MODELGATE_BLESS").is_some_and(|v| v == "1") {
        for (name, _) in targets::TARGETS {
            for f in files_of(&corpus.join(name)) {
                std::fs::remove_file(f).unwrap();
            }
        }
        for (path, bytes) in &seeds {
            let path = corpus.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
    }
    let mut committed = BTreeMap::new();
    for (name, _) in targets::TARGETS {
        for f in files_of(&corpus.join(name)) {
            let rel = format!("{name}/{}", f.file_name().unwrap().to_string_lossy());
            committed.insert(rel, std::fs::read(&f).unwrap());
        }
    }
    let stale: Vec<&String> = seeds
        .keys()
        .filter(|k| committed.get(*k) != seeds.get(*k))
        .chain(committed.keys().filter(|k| !seeds.contains_key(*k)))
        .collect();
    assert!(
        stale.is_empty(),
        "seed corpora differ from their generator: {stale:?}; run MODELGATE_BLESS=1 cargo test --test fuzz_regressions"
    );
    let total: usize = committed.values().map(Vec::len).sum();
    assert!(total < 2 << 20, "seed corpora too large: {total} bytes");
}

fn replay(name: &str) {
    let (_, target) = targets::TARGETS.iter().find(|(n, _)| *n == name).unwrap();
    let mut files = files_of(&root().join("fuzz/corpus").join(name));
    assert!(!files.is_empty(), "target `{name}` has no seeds");
    files.extend(files_of(&root().join("fuzz/regressions").join(name)));
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let outcome = std::panic::catch_unwind(|| target(&bytes));
        assert!(
            outcome.is_ok(),
            "{} breaks the `{name}` invariants",
            f.display()
        );
    }
}

#[test]
fn dsse_seeds_and_regressions_hold() {
    replay("dsse");
}

#[test]
fn decision_seeds_and_regressions_hold() {
    replay("decision");
}

#[test]
fn admission_seeds_and_regressions_hold() {
    replay("admission");
}

#[test]
fn notes_seeds_and_regressions_hold() {
    replay("notes");
}

#[test]
fn pack_seeds_and_regressions_hold() {
    replay("pack");
}

#[test]
fn bundle_seeds_and_regressions_hold() {
    replay("bundle");
}

/// The seeds reach the deep end of their targets: the golden pack verifies (so the pack
/// target's forgery check runs), the complete requests are allowed by the reference bundle, and
/// the admission fixture admits a filed model (with a decision) and refuses an unfiled one.
#[test]
fn seeds_reach_the_invariants_they_guard() {
    assert!(modelgate::evidence::verify_pack(targets::pack::GOLDEN, None).ok);
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(modelgate::clock::FixedClock(personas::now()));
    let ws = modelgate::workspace::Workspace::init(dir.path(), None, clock.clone()).unwrap();
    let engine = ws.engine(clock.clone()).unwrap();
    let mut store = ws.store().unwrap();
    for change in personas::trust_changes() {
        modelgate::engine::change_trust(&mut store, clock.as_ref(), &change).unwrap();
    }
    for tier in [0, 1, 2] {
        let seed = read(&format!("fuzz/corpus/decision/tier{tier}-complete"));
        assert!(
            engine.decide(&mut store, &seed).unwrap().is_allow(),
            "tier {tier}"
        );
    }
    let seed = read("fuzz/corpus/decision/tier1-approval-by-untrusted");
    assert!(!engine.decide(&mut store, &seed).unwrap().is_allow());
    for (review, allowed) in [("pod-allowed", true), ("deployment-denied", false)] {
        let verdict = targets::admission::check(&read(&format!("fuzz/corpus/admission/{review}")));
        let verdict = verdict.unwrap_or_else(|| panic!("{review} does not parse"));
        assert_eq!(verdict.allowed, allowed, "{review}: {}", verdict.message);
        assert_eq!(
            verdict.decision.is_some(),
            allowed,
            "{review}: {}",
            verdict.message
        );
    }
}
