//! Secret files readable by group or others are refused, naming the file, its mode and the fix
//! (`chmod 600 PATH`): the engine key (library and CLI), the signing keys of `modelgate sign`
//! and `modelgate approve`, and the MLflow webhook secret — 0644 and 0640 refused, 0600
//! accepted — all through the one reader `secret_file::read_secret_file`, which also refuses
//! FIFOs (without blocking), directories and oversized files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use common::{code, mg, stderr, Fixture};
use modelgate::inventory::mlflow::webhook::load_secret;
use modelgate::secret_file::{read_secret_file, SecretFileError, MAX_SECRET_BYTES};

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Asserts that `message` names `path`, the mode and the fix.
fn assert_names_fix(message: &str, path: &Path, mode: u32) {
    let shown = path.display().to_string();
    assert!(message.contains(&shown), "names the file: {message}");
    assert!(
        message.contains(&format!("{mode:04o}")),
        "names the mode: {message}"
    );
    assert!(
        message.contains(&format!("chmod 600 {shown}")),
        "names the fix: {message}"
    );
}

/// The engine key: `init` writes it 0600 and it loads; at 0644 or 0640 the workspace refuses
/// to load it (so neither the server nor checkpoint signing starts) and says how to fix it.
#[test]
fn the_engine_key_is_refused_when_group_or_others_may_read_it() {
    let fx = Fixture::new();
    let key = fx.ws.engine_key_path();
    assert_eq!(mode(&key), 0o600, "init writes the key 0600");
    fx.ws.engine_key().unwrap();
    for bad in [0o644, 0o640] {
        chmod(&key, bad);
        let e = fx.ws.engine_key().unwrap_err().to_string();
        assert_names_fix(&e, &key, bad);
        assert!(fx.ws.note_signer().is_err(), "checkpoints are not signed");
        let ws = modelgate::workspace::Workspace::open(fx.dir.path()).unwrap();
        let opened = modelgate::server::state::AppState::open(ws, fx.clock.clone());
        assert!(
            opened.is_err(),
            "the server does not start with mode {bad:o}"
        );
        // The CLI says the same on stderr and fails.
        let o = mg(fx.dir.path(), &["audit", "checkpoint"]);
        assert_ne!(code(&o), 0);
        assert_names_fix(&stderr(&o), &key, bad);
    }
    chmod(&key, 0o600);
    fx.ws.engine_key().unwrap();
    let o = mg(fx.dir.path(), &["audit", "checkpoint"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// A workspace, a generated signing key (0600) and a metadata predicate to sign.
struct Signing {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    key: PathBuf,
    predicate: PathBuf,
    subject: String,
}

fn signing() -> Signing {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("ws");
    assert_eq!(code(&mg(&home, &["init"])), 0);
    let key = tmp.path().join("author.key");
    let o = mg(&home, &["key", "generate", "--out", key.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(mode(&key), 0o600, "key generate writes the key 0600");
    let digest = modelgate::digest::sha256_prefixed(b"weights");
    let md = modelgate::cli::demo::full_metadata("churn", "1.0.0", 2, &digest, "2027-03-01");
    let predicate = tmp.path().join("md.json");
    std::fs::write(&predicate, serde_json::to_vec(&md).unwrap()).unwrap();
    Signing {
        home,
        key,
        predicate,
        subject: format!("models/churn={digest}"),
        _tmp: tmp,
    }
}

fn sign(s: &Signing, out: &Path) -> std::process::Output {
    mg(
        &s.home,
        &[
            "sign",
            "--key",
            s.key.to_str().unwrap(),
            "--type",
            "model-metadata",
            "--predicate",
            s.predicate.to_str().unwrap(),
            "--subject",
            &s.subject,
            "--out",
            out.to_str().unwrap(),
        ],
    )
}

/// `modelgate sign` and `modelgate approve` refuse a signing key at 0644 or 0640 (exit 3,
/// nothing written) and sign with it at 0600.
#[test]
fn signing_keys_are_refused_when_group_or_others_may_read_them() {
    let s = signing();
    let envelope = s.key.with_file_name("md.dsse.json");
    for bad in [0o644, 0o640] {
        chmod(&s.key, bad);
        let o = sign(&s, &envelope);
        assert_eq!(code(&o), 3, "{}", stderr(&o));
        assert_names_fix(&stderr(&o), &s.key, bad);
        assert!(!envelope.exists(), "nothing is signed");
    }
    chmod(&s.key, 0o600);
    let o = sign(&s, &envelope);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(envelope.exists());

    let approval = s.key.with_file_name("approval.json");
    let approve = |s: &Signing| {
        mg(
            &s.home,
            &[
                "approve",
                "--key",
                s.key.to_str().unwrap(),
                "--metadata",
                envelope.to_str().unwrap(),
                "--role",
                "owner",
                "--environment",
                "production",
                "--expires",
                "2099-01-01T00:00:00Z",
                "--approver",
                "olivia@example.com",
                "--out",
                approval.to_str().unwrap(),
            ],
        )
    };
    for bad in [0o644, 0o640] {
        chmod(&s.key, bad);
        let o = approve(&s);
        assert_eq!(code(&o), 3, "{}", stderr(&o));
        assert_names_fix(&stderr(&o), &s.key, bad);
        assert!(!approval.exists());
    }
    chmod(&s.key, 0o600);
    let o = approve(&s);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(approval.exists());
}

/// The MLflow webhook secret file: 0644 and 0640 refused with the fix, 0600 accepted (one
/// trailing newline dropped).
#[test]
fn the_webhook_secret_is_refused_when_group_or_others_may_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlflow-webhook.secret");
    std::fs::write(&path, "s3cr3t\n").unwrap();
    for bad in [0o644, 0o640] {
        chmod(&path, bad);
        let e = load_secret(Some(&path), None).unwrap_err().to_string();
        assert_names_fix(&e, &path, bad);
    }
    chmod(&path, 0o600);
    let secret = load_secret(Some(&path), None).unwrap().unwrap();
    assert_eq!(
        secret,
        modelgate::inventory::mlflow::webhook::WebhookSecret::new("s3cr3t").unwrap()
    );
}

/// The shared reader: every group/other bit refuses (not only read), owner-only modes pass,
/// and the mode is that of the file a symlink leads to.
#[test]
fn the_secret_reader_refuses_any_group_or_other_permission() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, b"k").unwrap();
    for bad in [
        0o644, 0o640, 0o604, 0o620, 0o602, 0o610, 0o601, 0o666, 0o777,
    ] {
        chmod(&path, bad);
        match read_secret_file(&path) {
            Err(SecretFileError::Exposed { path: p, mode }) => {
                assert_eq!(p, path);
                assert_eq!(mode & 0o777, bad);
            }
            other => panic!("mode {bad:o}: {other:?}"),
        }
    }
    for ok in [0o600, 0o400] {
        chmod(&path, ok);
        assert_eq!(read_secret_file(&path).unwrap(), b"k");
    }
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert_eq!(read_secret_file(&link).unwrap(), b"k");
    chmod(&path, 0o644);
    assert!(matches!(
        read_secret_file(&link),
        Err(SecretFileError::Exposed { .. })
    ));
}

/// A FIFO (which would block a reader forever), a directory, a missing file and a file over
/// the size limit are refused with errors naming them; none hangs.
#[test]
fn the_secret_reader_refuses_fifos_directories_and_huge_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    chmod(&fifo, 0o600);
    let e = read_secret_file(&fifo).unwrap_err();
    assert!(matches!(e, SecretFileError::NotAFile { .. }), "{e:?}");
    assert!(e.to_string().contains("not a regular file"), "{e}");

    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    chmod(&sub, 0o700);
    assert!(matches!(
        read_secret_file(&sub),
        Err(SecretFileError::NotAFile { .. })
    ));

    let missing = dir.path().join("missing");
    let e = read_secret_file(&missing).unwrap_err();
    assert!(matches!(e, SecretFileError::Io { .. }), "{e:?}");
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );

    let huge = dir.path().join("huge");
    std::fs::write(&huge, vec![b'a'; MAX_SECRET_BYTES as usize + 1]).unwrap();
    chmod(&huge, 0o600);
    assert!(matches!(
        read_secret_file(&huge),
        Err(SecretFileError::TooLarge { .. })
    ));
    let fits = dir.path().join("fits");
    std::fs::write(&fits, vec![b'a'; MAX_SECRET_BYTES as usize]).unwrap();
    chmod(&fits, 0o600);
    assert_eq!(
        read_secret_file(&fits).unwrap().len(),
        MAX_SECRET_BYTES as usize
    );
}
