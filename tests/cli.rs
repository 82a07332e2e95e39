//! The `modelgate` binary as a pipeline or reviewer runs it: exit codes, output shapes, files.
//! Exit codes are a contract: 0 allow/ok, 2 deny, 3 invalid input or usage, 4 tampered, 1 internal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{code, stderr, stdout};

use common::mg;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn ok(o: Output) -> Output {
    assert_eq!(
        code(&o),
        0,
        "stdout:\n{}\nstderr:\n{}",
        stdout(&o),
        stderr(&o)
    );
    o
}

struct Setup {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    dir: PathBuf,
}

/// A workspace with a trusted author and owner, and a signed tier-2 metadata envelope.
fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let home = dir.join("ws");
    ok(mg(&home, &["init"]));
    for (name, principal, role) in [
        ("author", "alice@example.com", "model-author"),
        ("owner", "olivia@example.com", "owner"),
    ] {
        let key = dir.join(format!("{name}.key"));
        ok(mg(
            &home,
            &["key", "generate", "--out", key.to_str().unwrap()],
        ));
        ok(mg(
            &home,
            &[
                "trust",
                "add",
                "--key",
                &format!("{}.pub", key.display()),
                "--principal",
                principal,
                "--role",
                role,
            ],
        ));
    }
    let digest = modelgate::digest::sha256_prefixed(b"weights");
    let due = "2027-03-01";
    let md = modelgate::cli::demo::full_metadata("churn", "1.0.0", 2, &digest, due);
    std::fs::write(dir.join("md.json"), serde_json::to_vec(&md).unwrap()).unwrap();
    let p = |s: &str| dir.join(s).to_str().unwrap().to_string();
    ok(mg(
        &home,
        &[
            "sign",
            "--key",
            &p("author.key"),
            "--type",
            "model-metadata",
            "--predicate",
            &p("md.json"),
            "--subject",
            &format!("models/churn={digest}"),
            "--out",
            &p("md.dsse.json"),
        ],
    ));
    Setup {
        _tmp: tmp,
        home,
        dir,
    }
}

fn write_request(s: &Setup, name: &str, envelopes: &[&str], env: &str) -> String {
    let atts: Vec<Value> = envelopes
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(s.dir.join(f)).unwrap()).unwrap())
        .collect();
    let req = json!({"model": "churn", "version": "1.0.0", "environment": env,
        "artifact_digest": modelgate::digest::sha256_prefixed(b"weights"),
        "attestations": atts, "requested_by": "ci@example.com"});
    let path = s.dir.join(name);
    std::fs::write(&path, serde_json::to_vec(&req).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn init_creates_config_private_engine_key_and_refuses_a_second_init() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("ws");
    let o = ok(mg(&home, &["init"]));
    assert!(stdout(&o).contains("engine key"));
    assert!(home.join("modelgate.toml").exists());
    assert!(home.join("ledger.db").exists());
    let mode = std::fs::metadata(home.join("engine.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let again = mg(&home, &["init"]);
    assert_eq!(code(&again), 3);
    assert!(stderr(&again).contains("already exists"));
}

#[test]
fn key_generate_prints_the_sha256_of_the_spki_der_and_writes_a_0600_key() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("k.pem");
    let o = ok(mg(
        tmp.path(),
        &["key", "generate", "--out", key.to_str().unwrap()],
    ));
    let id = stdout(&o).trim().to_string();
    let pem = std::fs::read_to_string(tmp.path().join("k.pem.pub")).unwrap();
    let public = modelgate::attest::PublicKey::from_spki_pem(&pem).unwrap();
    assert_eq!(id, modelgate::digest::sha256_hex(&public.spki_der()));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn check_exit_codes_allow_0_deny_2_invalid_3() {
    let s = setup();
    let p = |f: &str| s.dir.join(f).to_str().unwrap().to_string();
    let expires =
        modelgate::clock::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::days(30));
    ok(mg(
        &s.home,
        &[
            "approve",
            "--key",
            &p("owner.key"),
            "--metadata",
            &p("md.dsse.json"),
            "--role",
            "owner",
            "--environment",
            "production",
            "--expires",
            &expires,
            "--out",
            &p("owner.dsse.json"),
        ],
    ));

    let allow = write_request(
        &s,
        "allow.json",
        &["md.dsse.json", "owner.dsse.json"],
        "production",
    );
    let o = mg(&s.home, &["check", "--request", &allow, "--format", "json"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["decision"], "allow");
    assert!(v["ledger"]["index"].as_u64().is_some());
    assert_eq!(v["ledger"]["leaf_hash"].as_str().unwrap().len(), 64);

    let deny = write_request(&s, "deny.json", &["md.dsse.json"], "production");
    let o = mg(&s.home, &["check", "--request", &deny]);
    assert_eq!(code(&o), 2, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).starts_with("DENY churn 1.0.0 -> production (tier 2)"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("ledger index"));

    let bad = s.dir.join("bad.json");
    std::fs::write(&bad, b"{not json").unwrap();
    let o = mg(&s.home, &["check", "--request", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("not valid JSON"), "{}", stderr(&o));

    let missing = mg(
        &s.home,
        &["check", "--request", "/nonexistent/request.json"],
    );
    assert_eq!(code(&missing), 3);
    let usage = mg(&s.home, &["check", "--no-such-flag"]);
    assert_eq!(code(&usage), 3, "usage errors must not look like a deny");
}

#[test]
fn check_json_reports_invalid_input_problems_with_pointers() {
    let s = setup();
    let req = write_request(&s, "env.json", &["md.dsse.json"], "moon");
    let o = mg(&s.home, &["check", "--request", &req, "--format", "json"]);
    assert_eq!(code(&o), 3);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["problems"][0]["pointer"], "/environment");
}

#[test]
fn approve_refuses_keys_the_workspace_does_not_know_without_approver() {
    let s = setup();
    let stranger = s.dir.join("stranger.key");
    ok(mg(
        &s.home,
        &["key", "generate", "--out", stranger.to_str().unwrap()],
    ));
    let o = mg(
        &s.home,
        &[
            "approve",
            "--key",
            stranger.to_str().unwrap(),
            "--metadata",
            s.dir.join("md.dsse.json").to_str().unwrap(),
            "--role",
            "owner",
            "--environment",
            "production",
            "--expires",
            "2099-01-01T00:00:00Z",
        ],
    );
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).contains("not in the trust store"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn sign_rejects_a_predicate_that_breaks_its_schema_naming_the_field() {
    let s = setup();
    std::fs::write(s.dir.join("bad.json"), br#"{"model":{"name":"m","version":"1"},"artifact":{"digest":"x"},"risk":{"tier":1},"ownership":{"owner":"o"}}"#).unwrap();
    let digest = modelgate::digest::sha256_prefixed(b"weights");
    let o = mg(
        &s.home,
        &[
            "sign",
            "--key",
            s.dir.join("author.key").to_str().unwrap(),
            "--type",
            "model-metadata",
            "--predicate",
            s.dir.join("bad.json").to_str().unwrap(),
            "--subject",
            &format!("m={digest}"),
        ],
    );
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("/artifact/digest"), "{}", stderr(&o));
}

#[test]
fn trust_list_revoke_and_key_change_records() {
    let s = setup();
    let o = ok(mg(&s.home, &["trust", "list", "--format", "json"]));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let id = keys
        .iter()
        .find(|k| k["principal"] == "olivia@example.com")
        .unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(mg(
        &s.home,
        &["trust", "revoke", &id, "--reason", "left the company"],
    ));
    let o = ok(mg(&s.home, &["trust", "list"]));
    assert!(stdout(&o).contains("REVOKED"), "{}", stdout(&o));
    let again = mg(&s.home, &["trust", "revoke", &id, "--reason", "twice"]);
    assert_eq!(code(&again), 3, "{}", stderr(&again));
    let tail = ok(mg(&s.home, &["audit", "tail", "-n", "50"]));
    assert_eq!(
        stdout(&tail).matches("key_change").count(),
        3,
        "{}",
        stdout(&tail)
    );
}

#[test]
fn audit_verify_detects_a_modified_record_with_exit_4_and_its_index() {
    let s = setup();
    let req = write_request(&s, "r.json", &["md.dsse.json"], "production");
    assert_eq!(code(&mg(&s.home, &["check", "--request", &req])), 2);
    let o = ok(mg(&s.home, &["audit", "verify"]));
    assert!(stdout(&o).contains("ledger intact"));
    let conn = rusqlite::Connection::open(s.home.join("ledger.db")).unwrap();
    conn.execute("UPDATE records SET bytes = CAST(REPLACE(CAST(bytes AS TEXT), 'alice', 'mallo') AS BLOB) WHERE idx = 1", []).unwrap();
    drop(conn);
    let o = mg(&s.home, &["audit", "verify"]);
    assert_eq!(code(&o), 4, "{}", stdout(&o));
    assert!(stdout(&o).contains("first bad record 1"), "{}", stdout(&o));
}

#[test]
fn audit_export_round_trips_and_a_modified_export_is_caught() {
    let s = setup();
    let req = write_request(&s, "r.json", &["md.dsse.json"], "production");
    mg(&s.home, &["check", "--request", &req]);
    let out = s.dir.join("ledger.jsonl");
    ok(mg(
        &s.home,
        &["audit", "export", "--out", out.to_str().unwrap()],
    ));
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        4,
        "bundle activation, two key changes, one decision"
    );
    for (i, line) in lines.iter().enumerate() {
        let shown = ok(mg(&s.home, &["audit", "show", &i.to_string()]));
        assert_eq!(
            stdout(&shown).trim_end_matches('\n'),
            *line,
            "line {i} is exactly the stored bytes"
        );
    }
    let intact = ok(mg(
        &s.home,
        &["audit", "verify", "--from-export", out.to_str().unwrap()],
    ));
    let head = stdout(&intact)
        .split("head ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(head.len(), 64);
    let verify = |name: &str, text: &str, extra: &[&str]| {
        let path = s.dir.join(name);
        std::fs::write(&path, text).unwrap();
        let mut args = vec!["audit", "verify", "--from-export", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        mg(&s.home, &args)
    };
    // A key change in the middle rewritten: the chain breaks right after it.
    let middle = text.replacen("olivia@example.com", "mallory@example.co", 1);
    let o = verify("middle.jsonl", &middle, &[]);
    assert_eq!(code(&o), 4, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("first bad record 2") || stdout(&o).contains("first bad record 3"),
        "{}",
        stdout(&o)
    );
    // The last record (the deny) turned into an allow: caught against the known head.
    let last = text.replacen("\"decision\":\"deny\"", "\"decision\":\"allow\"", 1);
    assert_ne!(last, text);
    let o = verify("last.jsonl", &last, &["--expect-head", &head]);
    assert_eq!(code(&o), 4, "{}", stdout(&o));
    assert!(stdout(&o).contains("first bad record 3"), "{}", stdout(&o));
    // A truncated export: also caught against the head.
    let cut: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    let o = verify("cut.jsonl", &cut, &["--expect-head", &head]);
    assert_eq!(code(&o), 4, "{}", stdout(&o));
}

#[test]
fn audit_show_of_a_missing_index_is_a_clear_error() {
    let s = setup();
    let o = mg(&s.home, &["audit", "show", "999"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("no record 999"), "{}", stderr(&o));
}

#[test]
fn commands_without_a_workspace_say_how_to_create_one() {
    let tmp = tempfile::tempdir().unwrap();
    let o = mg(&tmp.path().join("nothing"), &["audit", "verify"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("modelgate init"), "{}", stderr(&o));
}

#[test]
fn demo_runs_end_to_end_and_leaves_a_reusable_workspace() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let o = Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .args(["demo", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert_eq!(code(&o), 0, "{out}{}", stderr(&o));
    assert!(out.matches("ALLOW").count() >= 1, "{out}");
    assert!(out.matches("DENY").count() >= 2, "{out}");
    assert!(out.contains("intact"), "{out}");
    let n = |sub: &str| std::fs::read_dir(dir.join(sub)).unwrap().count();
    assert!(n("attestations") >= 6 && n("requests") >= 3);
    // The requests can be re-run by hand against the demo workspace.
    let req = dir.join("requests/fraud-detector-production.json");
    let o = mg(&dir, &["check", "--request", req.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stdout(&o));
    let req = dir.join("requests/credit-risk-scorer-production.json");
    assert_eq!(
        code(&mg(&dir, &["check", "--request", req.to_str().unwrap()])),
        0
    );
    ok(mg(&dir, &["audit", "verify"]));
    // The demo ends with an evidence pack that verifies on its own.
    assert!(
        out.contains("5. evidence pack") && !out.contains("FAIL"),
        "{out}"
    );
    let pack = dir.join("credit-risk-scorer-evidence.tar.gz");
    let o = mg(&dir, &["evidence", "verify", pack.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}
