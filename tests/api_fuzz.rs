//! API fuzzing with schemathesis against a running `modelgate serve`: the OpenAPI document the
//! server publishes is the contract, and schemathesis sends schema-valid and schema-violating
//! requests for every operation (examples, coverage, fuzzing and stateful phases, every check:
//! no 5xx, responses match the documented status codes, content types, headers and schemas,
//! schema-violating requests are refused, schema-valid ones are not refused as malformed,
//! authentication is not ignored) once per caller: no token, then the pipeline, auditor and
//! admin tokens, with the admin's token revocations last so that the other runs keep their
//! tokens. Afterwards every allow the server answered (decisions and admission reviews) must be
//! a durable record in the ledger with the same leaf hash, and the ledger must verify.
//!
//! The workspace is the demo's (allowed and denied decisions, an evidence pack) with a kept
//! report and the MLflow webhook configured, so that reads reach real data. Before fuzzing, the
//! demo's signed requests are sent once over HTTP, so that the run holds real allows as well as
//! what schemathesis invents.
//!
//! `scripts/test-deps` installs schemathesis into `target/test-deps/schemathesis-venv`. Without
//! it the test says why it did not run and passes, unless `MODELGATE_REQUIRE_TEST_DEPS=1` (as
//! `.ci/run` sets) makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod serve_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use modelgate::ledger::{parse_record, RecordKind, SqliteStore, Store as _};
use serde_json::Value;
use serve_support::{mg, Server, BIN};

/// Test cases per operation and phase: bounded so that the five runs take about a minute on two
/// cores; `scripts/api-fuzz` runs longer.
const MAX_EXAMPLES: &str = "25";
/// Fixed, so that a failing run can be repeated exactly.
const SEED: &str = "20261127";

fn schemathesis() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-deps/schemathesis-venv/bin/schemathesis");
    path.is_file().then_some(path)
}

/// One schemathesis run; returns the HAR entries of its exchanges (one per request sent).
fn run(exe: &Path, dir: &Path, url: &str, label: &str, args: &[&str]) -> Vec<Value> {
    let har = dir.join(format!("{label}.har"));
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schemathesis.toml");
    let out = Command::new(exe)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{url}/openapi.json")])
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES])
        .args(["--seed", SEED, "--generation-database", "none"])
        .args(["--workers", "2", "--request-timeout", "30", "--no-color"])
        .args(["--report", "har", "--report-har-path"])
        .arg(&har)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis ({label}) found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let har: Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let entries = har["log"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !entries.is_empty(),
        "schemathesis ({label}) sent nothing:\n{stdout}"
    );
    entries
}

/// The ledger positions the server answered an allow with, from one exchange.
fn allows(entry: &Value) -> Vec<(u64, Option<String>)> {
    let method = entry["request"]["method"].as_str().unwrap_or("");
    let url = entry["request"]["url"].as_str().unwrap_or("");
    let status = entry["response"]["status"].as_u64().unwrap_or(0);
    let text = entry["response"]["content"]["text"].as_str().unwrap_or("");
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    if method != "POST" || status != 200 {
        return Vec::new();
    }
    if url.ends_with("/v1/decisions") && body["decision"] == "allow" {
        let index = body["ledger"]["index"]
            .as_u64()
            .expect("an allow names its record");
        let leaf = body["ledger"]["leaf_hash"].as_str().map(str::to_owned);
        return vec![(index, leaf)];
    }
    if url.ends_with("/v1/admission") && body["response"]["allowed"] == true {
        // An allowed review either judged a model (and names the record) or was not a model
        // deployment (no annotation, nothing to record).
        if let Some(index) = body["response"]["auditAnnotations"]["ledger-index"].as_str() {
            return vec![(index.parse().unwrap(), None)];
        }
    }
    Vec::new()
}

/// Sends the demo's signed requests once, so that the ledger and the run hold real allows.
fn send_demo_requests(home: &Path, url: &str, token: &str) -> Vec<(u64, Option<String>)> {
    let mut answered = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(home.join("requests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let body = std::fs::read(&path).unwrap();
        let answer = ureq::post(&format!("{url}/v1/decisions"))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .config()
            .http_status_as_error(false)
            .build()
            .send(&body[..])
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{}", path.display());
        let text = answer.into_body().read_to_string().unwrap();
        let entry = serde_json::json!({
            "request": {"method": "POST", "url": format!("{url}/v1/decisions")},
            "response": {"status": 200, "content": {"text": text}},
        });
        answered.extend(allows(&entry));
    }
    answered
}

#[test]
fn schemathesis_finds_no_5xx_no_contract_violation_and_no_allow_without_a_record() {
    let Some(exe) = schemathesis() else {
        let message = "schemathesis is not installed (scripts/test-deps installs it into \
                       target/test-deps/schemathesis-venv): the API fuzzing did not run";
        assert!(
            std::env::var_os("MODELGATE_REQUIRE_TEST_DEPS").is_none(),
            "{message}"
        );
        eprintln!("{message}");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("ws");
    mg(Path::new("."), &["demo", "--dir", home.to_str().unwrap()]);
    let secret = home.join("mlflow-webhook.secret");
    std::fs::write(&secret, "a-webhook-secret-for-the-api-fuzz-run\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut config = std::fs::read_to_string(home.join("modelgate.toml")).unwrap();
    config.push_str(
        "\n[[reports]]\nname = \"weekly\"\nschedule = \"0 6 * * 1\"\n\n\
         [inventory.mlflow]\nproduction_aliases = [\"production\"]\n\
         webhook_secret_path = \"mlflow-webhook.secret\"\n",
    );
    std::fs::write(home.join("modelgate.toml"), config).unwrap();
    let token = |role: &str| {
        let out = mg(&home, &["token", "create", "--role", role, "--name", role]);
        out.lines().last().unwrap().trim().to_owned()
    };
    let (pipeline, auditor, admin) = (token("pipeline"), token("auditor"), token("admin"));

    let server = Server::start(&home);
    let mut recorded = send_demo_requests(&home, &server.url, &pipeline);
    assert!(!recorded.is_empty(), "the demo holds allowed requests");

    let bearer = |t: &str| format!("Authorization: Bearer {t}");
    let runs: Vec<(&str, Vec<String>)> = vec![
        ("no-token", vec![]),
        ("pipeline", vec!["-H".into(), bearer(&pipeline)]),
        ("auditor", vec!["-H".into(), bearer(&auditor)]),
        (
            "admin",
            vec![
                "-H".into(),
                bearer(&admin),
                "--exclude-method".into(),
                "DELETE".into(),
            ],
        ),
        (
            "admin-revocations",
            vec![
                "-H".into(),
                bearer(&admin),
                "--include-method".into(),
                "DELETE".into(),
            ],
        ),
    ];
    let mut total = 0;
    let mut statuses = std::collections::BTreeMap::<u64, u64>::new();
    for (label, args) in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let entries = run(&exe, dir.path(), &server.url, label, &args);
        eprintln!("schemathesis {label}: {} requests", entries.len());
        total += entries.len();
        for entry in &entries {
            *statuses
                .entry(entry["response"]["status"].as_u64().unwrap_or(0))
                .or_default() += 1;
            recorded.extend(allows(entry));
        }
    }
    eprintln!("schemathesis: {total} requests in all; responses by status: {statuses:?}");
    assert!(
        statuses.keys().all(|s| (200..500).contains(s)),
        "every response is below 500: {statuses:?}"
    );

    // Every allow answered is a durable record, with the leaf hash the answer named.
    let store = SqliteStore::open_read_only(&home.join("ledger.db")).unwrap();
    for (index, leaf) in &recorded {
        let record = store
            .record(*index)
            .unwrap()
            .unwrap_or_else(|| panic!("allow answered with record {index}, which is absent"));
        let parsed = parse_record(&record.bytes).unwrap();
        assert_eq!(parsed.kind, RecordKind::Decision, "record {index}");
        assert_eq!(parsed.body["decision"], "allow", "record {index}");
        if let Some(leaf) = leaf {
            assert_eq!(&hex::encode(record.leaf_hash), leaf, "record {index}");
        }
    }
    eprintln!("allows answered: {}, each a durable record", recorded.len());
    let log = server.log.lock().unwrap().join("\n");
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    drop(server);
    let verify = Command::new(BIN)
        .arg("--home")
        .arg(&home)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "the ledger verifies after the run: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
