//! The reference policy bundle in `policies/`: its data-driven cases, coverage, layout and digest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use modelgate::policy::{run_cases, CaseSuite, Mode, PolicyBundle, PolicyEffect};
use sha2::{Digest, Sha256};

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

fn reference_bundle() -> PolicyBundle {
    PolicyBundle::load(&policies_dir()).unwrap_or_else(|e| panic!("reference bundle: {e}"))
}

/// Guards the reference rules: every case in `policies/tests/` passes and every enforce policy
/// has an allow-side and a deny-side case.
#[test]
fn reference_cases_pass_with_full_coverage() {
    let bundle = reference_bundle();
    let suite = CaseSuite::load(&policies_dir().join("tests")).unwrap();
    let report = run_cases(&bundle, &suite);
    assert!(report.passed(), "\n{}", report.summary());
    assert!(
        report.results.len() >= 80,
        "only {} cases",
        report.results.len()
    );
}

/// Guards the bundle conventions: ids are `<file-stem>.<kebab-name>`, one permit, every forbid
/// says what it reads, and the bundle stays in the intended size.
#[test]
fn reference_bundle_follows_the_annotation_conventions() {
    let bundle = reference_bundle();
    let policies = bundle.policies();
    assert!(
        (35..=50).contains(&policies.len()),
        "{} policies",
        policies.len()
    );
    for p in policies {
        let stem = p.file.trim_end_matches(".cedar");
        let name =
            p.id.strip_prefix(&format!("{stem}."))
                .unwrap_or_else(|| panic!("`{}` is not prefixed by its file stem `{stem}`", p.id));
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "`{}` is not kebab-case",
            p.id
        );
        assert!(!p.reads.is_empty(), "`{}` has no @reads", p.id);
        for control in &p.controls {
            assert!(control.contains(':'), "`{}` control `{control}`", p.id);
        }
    }
    let permits: Vec<&str> = policies
        .iter()
        .filter(|p| p.effect == PolicyEffect::Permit)
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(permits, ["common.permit-promotion"]);
    let warn: Vec<&str> = policies
        .iter()
        .filter(|p| p.mode == Mode::Warn)
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(warn, ["tier0.validation-due-soon"]);
}

/// The recipe `sha256sum *.cedar *.cedarschema | LC_ALL=C sort -k2 | sha256sum`, computed here
/// independently of the library from the files on disk.
fn recipe_digest(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.') && (n.ends_with(".cedar") || n.ends_with(".cedarschema")))
        .collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut listing = String::new();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        listing.push_str(&format!(
            "{}  {name}\n",
            hex::encode(Sha256::digest(&bytes))
        ));
    }
    format!("sha256:{}", hex::encode(Sha256::digest(listing.as_bytes())))
}

/// Guards the documented digest recipe for the shipped bundle.
#[test]
fn bundle_digest_matches_the_sha256sum_recipe() {
    let bundle = reference_bundle();
    assert_eq!(bundle.digest(), recipe_digest(&policies_dir()));
    let names: Vec<&str> = bundle.files().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "common.cedar",
            "modelgate.cedarschema",
            "tier0.cedar",
            "tier1.cedar",
            "tier2.cedar"
        ]
    );
    assert!(bundle.listing().ends_with("  tier2.cedar\n"));
}

/// Guards what the digest covers: a changed policy file changes it; files outside the bundle
/// (subdirectories, other extensions, dot-files) do not.
#[test]
fn bundle_digest_covers_exactly_the_bundle_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "common.cedar",
        "tier0.cedar",
        "tier1.cedar",
        "tier2.cedar",
        "modelgate.cedarschema",
    ] {
        std::fs::copy(policies_dir().join(name), dir.path().join(name)).unwrap();
    }
    let original = PolicyBundle::load(dir.path()).unwrap();
    assert_eq!(original.digest(), reference_bundle().digest());

    std::fs::create_dir(dir.path().join("tests")).unwrap();
    std::fs::write(dir.path().join("tests/x.cedar"), "not cedar").unwrap();
    std::fs::write(dir.path().join("README.md"), "notes").unwrap();
    std::fs::write(dir.path().join(".draft.cedar"), "not cedar either").unwrap();
    let unchanged = PolicyBundle::load(dir.path()).unwrap();
    assert_eq!(unchanged.digest(), original.digest());

    let mut text = std::fs::read_to_string(dir.path().join("tier2.cedar")).unwrap();
    text.push_str("\n// a comment changes the bytes\n");
    std::fs::write(dir.path().join("tier2.cedar"), text).unwrap();
    let changed = PolicyBundle::load(dir.path()).unwrap();
    assert_ne!(changed.digest(), original.digest());
    assert_eq!(changed.digest(), recipe_digest(dir.path()));
}
