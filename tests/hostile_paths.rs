//! Hostile paths: (a) `policy export` writes files named by a bundle listing stored in the
//! ledger, so a listing naming `../x`, an absolute path or a control character is refused before
//! anything is written; (b) a bundle directory with a symlink leading outside it, a FIFO, a
//! huge file or a directory in place of a policy file is refused with a clear error (never a
//! hang, never the outside file's content), while symlinks inside it (a Kubernetes ConfigMap
//! volume) still load; (c) `--out` under a missing directory, onto an existing directory or a
//! planted symlink is a clear error with a non-zero exit, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::{code, mg, stderr, stdout, Fixture};
use modelgate::digest::{sha256_hex, sha256_prefixed};
use modelgate::ledger::Store as _;
use modelgate::policy::{PolicyBundle, PolicyError};

/// The reference bundle's files, as `(name, bytes)`.
fn reference_files(fx: &Fixture) -> Vec<(String, Vec<u8>)> {
    PolicyBundle::read_sources(&fx.ws.policy_dir()).unwrap()
}

/// Stores a bundle listing in the ledger's blob store exactly as an activation would (the
/// listing under its digest, each file under its hash), with `rename` applied to the names;
/// returns the digest. The listing is canonical, so before names were checked the export
/// rebuilt this very digest and wrote the files.
fn store_crafted_bundle(fx: &mut Fixture, rename: &[(&str, &str)]) -> String {
    let mut files: Vec<(String, Vec<u8>)> = reference_files(fx)
        .into_iter()
        .map(|(name, bytes)| {
            let name = rename
                .iter()
                .find(|(from, _)| *from == name)
                .map_or(name, |(_, to)| (*to).to_owned());
            (name, bytes)
        })
        .collect();
    files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let listing: String = files
        .iter()
        .map(|(name, bytes)| format!("{}  {name}\n", sha256_hex(bytes)))
        .collect();
    for (_, bytes) in &files {
        fx.store
            .put_attestation(&sha256_prefixed(bytes), bytes)
            .unwrap();
    }
    let digest = sha256_prefixed(listing.as_bytes());
    fx.store
        .put_attestation(&digest, listing.as_bytes())
        .unwrap();
    digest
}

/// Every file under `dir`, recursively.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(tree(&p));
            }
            out.push(p);
        }
    }
    out
}

/// Guards `policy export` against a stored listing naming `../x`, an absolute path, a nested
/// path or control characters: exit 3 naming the problem, the output directory is not even
/// created, and nothing lands where the names point.
#[test]
fn export_refuses_stored_listings_that_name_paths_outside_the_directory() {
    let mut fx = Fixture::new();
    let home = fx.dir.path().to_path_buf();
    let work = tempfile::tempdir().unwrap();
    let outside = work.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let absolute = outside.join("absolute.cedar");
    let absolute_name = absolute.to_str().unwrap().to_owned();
    let cases: Vec<(&str, String)> = vec![
        ("parent", "../escaped.cedar".to_owned()),
        ("deeper parent", "../../escaped.cedar".to_owned()),
        ("absolute", absolute_name),
        ("nested", "sub/nested.cedar".to_owned()),
        ("escape sequence", "tier2\u{1b}[2J.cedar".to_owned()),
        ("carriage return", "tier2\r.cedar".to_owned()),
        ("tab", "tier2\t.cedar".to_owned()),
        ("backslash", "..\\escaped.cedar".to_owned()),
        ("dot-file", ".hidden.cedar".to_owned()),
    ];
    for (label, name) in cases {
        let digest = store_crafted_bundle(&mut fx, &[("tier2.cedar", name.as_str())]);
        let err = modelgate::engine::bundles::load_bundle(&fx.store, &digest)
            .expect_err(label)
            .to_string();
        assert!(err.contains("is not supported"), "{label}: {err}");
        let out = work.path().join("out").join(label.replace(' ', "-"));
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let o = mg(
            &home,
            &["policy", "export", &digest, "--out", out.to_str().unwrap()],
        );
        assert_eq!(code(&o), 3, "{label}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("is not supported"),
            "{label}: {}",
            stderr(&o)
        );
        assert!(
            !stderr(&o).contains('\u{1b}') && !stderr(&o).contains('\r'),
            "{label}: control characters are escaped in the message"
        );
        assert!(!out.exists(), "{label}: nothing is created");
    }
    assert!(tree(&outside).is_empty(), "{:?}", tree(&outside));
    assert!(!work.path().join("escaped.cedar").exists());
    assert!(!work.path().join("out").join("escaped.cedar").exists());
    // The genuine bundle still exports.
    let genuine = fx.engine.bundle().digest().to_owned();
    let out = work.path().join("genuine");
    let o = mg(
        &home,
        &["policy", "export", &genuine, "--out", out.to_str().unwrap()],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(PolicyBundle::load(&out).unwrap().digest(), genuine);
}

/// The name rule itself: one plain file name, no control character.
#[test]
fn bundle_file_names_must_be_one_plain_name() {
    for good in [
        "tier0.cedar",
        "modelgate.cedarschema",
        "a b.cedar",
        "é.cedar",
        "x..y.cedar",
    ] {
        PolicyBundle::check_file_name(good).unwrap();
    }
    for bad in [
        "",
        ".",
        "..",
        "../x.cedar",
        "/etc/x.cedar",
        "a/b.cedar",
        "a\\b.cedar",
        ".x.cedar",
        "a\nb.cedar",
        "a\rb.cedar",
        "a\tb.cedar",
        "a\u{1b}b.cedar",
        "a\u{7f}b.cedar",
        "a\u{85}b.cedar",
        "a\0b.cedar",
    ] {
        let e = PolicyBundle::check_file_name(bad).unwrap_err();
        assert!(matches!(e, PolicyError::FileName { .. }), "{bad:?}: {e:?}");
        assert!(
            !e.to_string().chars().any(|c| c.is_control()),
            "the message escapes the name: {e:?}"
        );
    }
    // Names handed to `from_files` (as read back from the ledger) follow the same rule.
    let fx = Fixture::new();
    let mut files = reference_files(&fx);
    files[0].0 = "../common.cedar".to_owned();
    let e = PolicyBundle::from_files(Path::new("stored"), files).unwrap_err();
    assert!(matches!(e, PolicyError::FileName { .. }), "{e:?}");
}

/// A copy of the reference bundle in a fresh directory, inside `root`.
fn bundle_copy(fx: &Fixture, root: &Path) -> PathBuf {
    let dir = root.join("bundle");
    std::fs::create_dir(&dir).unwrap();
    for (name, bytes) in reference_files(fx) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

/// Loads `dir` on another thread, failing (instead of hanging) after 20 s.
fn load_within_deadline(dir: &Path) -> Result<PolicyBundle, PolicyError> {
    let (tx, rx) = mpsc::channel();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(PolicyBundle::load(&dir));
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("loading a bundle does not hang")
}

/// A symlink leaving the bundle directory is refused, naming it; `policy validate` says so
/// without printing the outside file's content. Symlinks that stay inside (the layout of a
/// Kubernetes ConfigMap volume: `name -> ..data/name`) load, with the digest of the plain copy.
#[test]
fn bundle_symlinks_load_only_when_they_stay_inside_the_directory() {
    let fx = Fixture::new();
    let work = tempfile::tempdir().unwrap();
    let dir = bundle_copy(&fx, work.path());
    let plain = PolicyBundle::load(&dir).unwrap().digest().to_owned();

    let secret = work.path().join("secret-outside.cedar");
    std::fs::write(&secret, "SECRET-CONTENT-5b2e not a policy").unwrap();
    let link = dir.join("zz-outside.cedar");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    let e = load_within_deadline(&dir).unwrap_err().to_string();
    assert!(e.contains("outside the bundle directory"), "{e}");
    assert!(e.contains("zz-outside.cedar"), "{e}");
    let o = mg(
        fx.dir.path(),
        &["policy", "validate", "--bundle", dir.to_str().unwrap()],
    );
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains("outside the bundle directory"), "{all}");
    assert!(!all.contains("SECRET-CONTENT-5b2e"), "{all}");
    // A relative link climbing out is the same.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("../secret-outside.cedar", &link).unwrap();
    assert!(load_within_deadline(&dir).is_err());
    std::fs::remove_file(&link).unwrap();

    // ConfigMap layout: the files live in `..data/`, the names are links into it.
    let cm = work.path().join("configmap");
    let data = cm.join("..2026_11_27_12_00_00.000000001");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink("..2026_11_27_12_00_00.000000001", cm.join("..data")).unwrap();
    for (name, bytes) in reference_files(&fx) {
        std::fs::write(data.join(&name), bytes).unwrap();
        std::os::unix::fs::symlink(format!("..data/{name}"), cm.join(&name)).unwrap();
    }
    assert_eq!(load_within_deadline(&cm).unwrap().digest(), plain);
}

/// A FIFO, a directory or a file over the size limit in place of a policy file is refused with
/// the path and the reason — and loading never blocks on the FIFO.
#[test]
fn fifos_directories_and_huge_files_in_a_bundle_are_refused() {
    let fx = Fixture::new();
    let work = tempfile::tempdir().unwrap();
    let dir = bundle_copy(&fx, work.path());

    let fifo = dir.join("fifo.cedar");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let e = load_within_deadline(&dir).unwrap_err().to_string();
    assert!(
        e.contains("fifo.cedar") && e.contains("not a regular file"),
        "{e}"
    );
    let o = mg(
        fx.dir.path(),
        &["policy", "validate", "--bundle", dir.to_str().unwrap()],
    );
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    std::fs::remove_file(&fifo).unwrap();

    let sub = dir.join("sub.cedar");
    std::fs::create_dir(&sub).unwrap();
    let e = load_within_deadline(&dir).unwrap_err().to_string();
    assert!(
        e.contains("sub.cedar") && e.contains("not a regular file"),
        "{e}"
    );
    std::fs::remove_dir(&sub).unwrap();

    let huge = dir.join("huge.cedar");
    let file = std::fs::File::create(&huge).unwrap();
    // Sparse: the size is what counts, and it is refused before a byte is read.
    file.set_len(PolicyBundle::MAX_FILE_BYTES + 1).unwrap();
    drop(file);
    let e = load_within_deadline(&dir).unwrap_err().to_string();
    assert!(e.contains("huge.cedar") && e.contains("byte limit"), "{e}");
    let o = mg(
        fx.dir.path(),
        &["policy", "validate", "--bundle", dir.to_str().unwrap()],
    );
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(stdout(&o).contains("byte limit"), "{}", stdout(&o));
    std::fs::remove_file(&huge).unwrap();

    // Without them, the same directory loads.
    load_within_deadline(&dir).unwrap();
}

/// Asserts a clean failure: a non-zero exit, a message naming `path`, no panic.
fn assert_clean_failure(o: &std::process::Output, path: &Path, what: &str) {
    let err = stderr(o);
    assert_ne!(code(o), 0, "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert!(
        err.contains(&path.display().to_string()),
        "{what}: the message names `{}`: {err}",
        path.display()
    );
}

/// `--out` under a directory that does not exist, onto an existing directory, or onto a
/// symlink planted where the new directory should go: a clear error, a non-zero exit, no panic,
/// and nothing written through the symlink.
#[test]
fn out_paths_that_cannot_be_written_fail_cleanly() {
    let mut fx = Fixture::new();
    let (md, approvals) = common::complete("churn", "1.0.0", 2);
    let d = fx
        .decide(&common::request(
            "churn",
            "1.0.0",
            "production",
            &common::with(&md, &approvals),
        ))
        .unwrap();
    assert!(d.is_allow());
    let home = fx.dir.path();
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("no-such-dir");
    let existing = work.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    std::fs::write(existing.join("keep.txt"), "keep").unwrap();
    let digest = fx.engine.bundle().digest().to_owned();

    // policy export: the directory must be new and its parent must exist.
    let export = |out: &Path| {
        mg(
            home,
            &["policy", "export", &digest, "--out", out.to_str().unwrap()],
        )
    };
    let under_missing = missing.join("bundle");
    let o = export(&under_missing);
    assert_clean_failure(&o, &under_missing, "export under a missing directory");
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).contains("parent directory does not exist"),
        "{}",
        stderr(&o)
    );
    assert!(!missing.exists(), "no parent is created");
    let o = export(&existing);
    assert_clean_failure(&o, &existing, "export onto an existing directory");
    assert_eq!(code(&o), 3);
    assert_eq!(tree(&existing), vec![existing.join("keep.txt")]);
    let planted = work.path().join("planted");
    let target = work.path().join("target-of-link");
    std::os::unix::fs::symlink(&target, &planted).unwrap();
    let o = export(&planted);
    assert_clean_failure(&o, &planted, "export onto a dangling symlink");
    assert!(!target.exists(), "nothing is created through the link");

    // Commands writing one file.
    let checkpoint = mg(home, &["audit", "checkpoint"]);
    assert_eq!(code(&checkpoint), 0, "{}", stderr(&checkpoint));
    for (what, out) in [
        ("under a missing directory", missing.join("file.out")),
        ("onto a directory", existing.clone()),
    ] {
        let o_str = out.to_str().unwrap();
        for args in [
            vec!["audit", "export", "--out", o_str],
            vec!["audit", "checkpoint", "--out", o_str],
            vec!["key", "generate", "--out", o_str],
            vec!["evidence", "build", "--model", "churn", "--out", o_str],
        ] {
            let o = mg(home, &args);
            let label = format!("{} {what}", args[..2].join(" "));
            assert_clean_failure(&o, &out, &label);
        }
    }
    assert!(!missing.exists());
    assert_eq!(tree(&existing), vec![existing.join("keep.txt")]);
}
