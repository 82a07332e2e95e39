//! Secrets stay out of logs. With every event captured at TRACE (the process-wide subscriber of
//! this test binary, so the server's worker and blocking threads and `log` records of the
//! dependencies are captured too), a real server on a socket handles an attestation filing, a
//! decision, an admission review, failed authentications, a token creation through the admin
//! API, record and evidence reads and a signed MLflow webhook delivery; `modelgate check` and
//! `modelgate token create` run with `MODELGATE_LOG=trace`. No log holds a bearer token, a
//! token's SHA-256, `PRIVATE KEY`, an envelope's signature or payload (base64), the receipt's,
//! or the webhook secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod http_support;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, Mutex, OnceLock};

use common::{complete, request, with, Fixture};
use http_support::wire::{exchange, request as wire_request, WireAnswer};
use http_support::{issue_tokens, Running, UNKNOWN_TOKEN};
use modelgate::attest::Envelope;
use modelgate::digest::sha256_hex;
use modelgate::inventory::mlflow::webhook::{signature, WebhookSecret};
use serde_json::{json, Value};

const WEBHOOK_SECRET: &str = "whsec-log-test-93af0c";
const WRONG_TOKEN: &str = "mg_wrongwrongwrongwrongwrongwrongwrongwrongwro";

/// Everything the process-wide subscriber wrote.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .try_init()
            .expect("this test binary installs the only subscriber");
        buffer
    })
}

/// A writer appending to the shared buffer.
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The base64 payload and every base64 signature of an envelope.
fn envelope_secrets(envelope: &Value) -> Vec<String> {
    let mut out = vec![envelope["payload"].as_str().unwrap().to_owned()];
    for s in envelope["signatures"].as_array().unwrap() {
        out.push(s["sig"].as_str().unwrap().to_owned());
    }
    out
}

/// Each token and its SHA-256.
fn token_secrets(tokens: &[&str]) -> Vec<String> {
    tokens
        .iter()
        .flat_map(|t| [(*t).to_owned(), sha256_hex(t.as_bytes())])
        .collect()
}

/// Asserts that `log` contains none of `secrets` (nor `PRIVATE KEY`).
fn assert_clean(log: &str, secrets: &[String], what: &str) {
    assert!(
        !log.contains("PRIVATE KEY"),
        "{what}: a private key is logged"
    );
    for s in secrets {
        assert!(!s.is_empty());
        if let Some(at) = log.find(s.as_str()) {
            let line = log[..at].rsplit('\n').next().unwrap_or("");
            panic!("{what}: the log holds `{s}` (line starting: {line})");
        }
    }
}

async fn send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> WireAnswer {
    let body = body.map(|b| serde_json::to_vec(b).unwrap());
    exchange(addr, &wire_request(method, path, token, body.as_deref()))
        .await
        .unwrap()
}

/// Guards the server's logs at TRACE: every kind of request, and none of its secrets logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_logs_no_secret_at_trace_level() {
    let buffer = captured();
    let fx = Fixture::new();
    let (pipeline, auditor, admin) = issue_tokens(&fx.ws);
    let home = fx.dir.path();
    let secret_file = home.join("mlflow-webhook.secret");
    std::fs::write(&secret_file, WEBHOOK_SECRET).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = home.join("modelgate.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[inventory.mlflow]\nwebhook_secret_path = \"mlflow-webhook.secret\"\n");
    text.push_str("\n[server.namespaces]\nml-prod = \"production\"\n");
    std::fs::write(&config, text).unwrap();

    let server = Running::start(&fx, |_| {}).await;
    let addr = server.addr;
    let mut secrets = token_secrets(&[&pipeline, &auditor, &admin, UNKNOWN_TOKEN, WRONG_TOKEN]);
    secrets.push(WEBHOOK_SECRET.to_owned());

    // File attestations, then decide with them inline too.
    let (md, approvals) = complete("log-model", "1.0.0", 2);
    let envelopes: Vec<Value> = with(&md, &approvals)
        .iter()
        .map(Envelope::to_json_value)
        .collect();
    for e in &envelopes {
        secrets.extend(envelope_secrets(e));
    }
    let filed = send(
        addr,
        "POST",
        "/v1/attestations",
        Some(&pipeline),
        Some(&json!({"model": "log-model", "version": "1.0.0", "attestations": envelopes})),
    )
    .await;
    assert_eq!(
        filed.status,
        200,
        "{}",
        String::from_utf8_lossy(&filed.body)
    );
    let decided = send(
        addr,
        "POST",
        "/v1/decisions",
        Some(&pipeline),
        Some(&request(
            "log-model",
            "1.0.0",
            "production",
            &with(&md, &approvals),
        )),
    )
    .await;
    assert_eq!(
        decided.status,
        200,
        "{}",
        String::from_utf8_lossy(&decided.body)
    );
    let answer = decided.json();
    assert_eq!(answer["decision"], "allow");
    secrets.extend(envelope_secrets(&answer["receipt"]));
    let index = answer["ledger"]["index"].as_u64().unwrap();

    // An admission review of the same model.
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "0000-log", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "ml-prod", "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:ci:deployer"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {
                "modelgate.dev/model": "log-model", "modelgate.dev/version": "1.0.0",
            }}},
        },
    });
    let admitted = send(
        addr,
        "POST",
        "/v1/admission",
        Some(&pipeline),
        Some(&review),
    )
    .await;
    assert_eq!(
        admitted.status,
        200,
        "{}",
        String::from_utf8_lossy(&admitted.body)
    );
    assert_eq!(
        admitted.json()["response"]["allowed"],
        true,
        "{}",
        admitted.json()
    );

    // Failed authentication: unknown and wrong tokens, a token of another role.
    for token in [UNKNOWN_TOKEN, WRONG_TOKEN] {
        let a = send(addr, "GET", "/v1/decisions", Some(token), None).await;
        assert_eq!(a.status, 401);
    }
    let a = send(addr, "GET", "/v1/decisions", Some(&pipeline), None).await;
    assert_eq!(a.status, 403);

    // A token made through the admin API.
    let created = send(
        addr,
        "POST",
        "/v1/admin/tokens",
        Some(&admin),
        Some(&json!({"name": "argo", "role": "pipeline"})),
    )
    .await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let new_token = created.json()["token"].as_str().unwrap().to_owned();
    secrets.extend(token_secrets(&[&new_token]));
    let a = send(addr, "GET", "/v1/decisions", Some(&new_token), None).await;
    assert_eq!(a.status, 403);

    // Reads of records, evidence and the decision list.
    for path in [
        format!("/v1/ledger/records/{index}"),
        "/v1/models/log-model/evidence".to_owned(),
        "/v1/decisions?model=log-model".to_owned(),
    ] {
        let a = send(addr, "GET", &path, Some(&auditor), None).await;
        assert_eq!(
            a.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&a.body)
        );
    }

    // A signed MLflow delivery, and one whose signature is wrong.
    let body = r#"{"entity": "registered_model", "action": "created", "data": {"name": "log-model", "tags": {}}}"#;
    let timestamp = fx.clock.0.unix_timestamp().to_string();
    let secret = WebhookSecret::new(WEBHOOK_SECRET).unwrap();
    let good = signature(&secret, "delivery-1", &timestamp, body.as_bytes()).unwrap();
    for (sig, status) in [
        (good.as_str(), 200),
        ("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 401),
    ] {
        let mut raw = format!(
            "POST /v1/integrations/mlflow/webhook HTTP/1.1\r\nHost: modelgate.test\r\n\
             Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             X-MLflow-Delivery-Id: delivery-1\r\nX-MLflow-Timestamp: {timestamp}\r\n\
             X-MLflow-Signature: {sig}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body.as_bytes());
        let a = exchange(addr, &raw).await.unwrap();
        assert_eq!(a.status, status, "{}", String::from_utf8_lossy(&a.body));
    }
    server.stop().await;

    let log = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    // The capture works: the request lines and trace-level events are there.
    assert!(
        log.contains("/v1/decisions"),
        "no request was logged:\n{log}"
    );
    assert!(log.contains("TRACE"), "nothing at TRACE was captured");
    assert!(log.contains("status=401"), "the refusals were logged");
    assert_clean(&log, &secrets, "server log");
}

/// Runs the binary on `home` with every log at TRACE.
fn mg_traced(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("MODELGATE_HOME")
        .env("MODELGATE_LOG", "trace")
        .env("RUST_LOG", "trace")
        .output()
        .unwrap()
}

/// `modelgate check` and `modelgate token create` at TRACE: stderr holds no envelope
/// signature or payload, no token or its hash, no private key.
#[test]
fn the_cli_logs_no_secret_at_trace_level() {
    let fx = Fixture::new();
    let (md, approvals) = complete("cli-model", "1.0.0", 2);
    let req = request("cli-model", "1.0.0", "production", &with(&md, &approvals));
    let mut secrets = Vec::new();
    for e in req["attestations"].as_array().unwrap() {
        secrets.extend(envelope_secrets(e));
    }
    let path = fx.dir.path().join("request.json");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&serde_json::to_vec(&req).unwrap())
        .unwrap();
    let o = mg_traced(
        fx.dir.path(),
        &[
            "check",
            "--request",
            path.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let err = common::stderr(&o);
    assert_eq!(common::code(&o), 0, "{err}");
    assert!(
        !err.is_empty(),
        "TRACE logging produced nothing: is the filter read?"
    );
    assert_clean(&err, &secrets, "`modelgate check` stderr");

    let o = mg_traced(
        fx.dir.path(),
        &["token", "create", "--role", "pipeline", "--name", "ci"],
    );
    assert_eq!(common::code(&o), 0, "{}", common::stderr(&o));
    let token = common::stdout(&o)
        .split_whitespace()
        .find(|w| w.starts_with("mg_"))
        .expect("the token is printed on stdout")
        .to_owned();
    assert_clean(
        &common::stderr(&o),
        &token_secrets(&[&token]),
        "`modelgate token create` stderr",
    );
}

/// The check itself sees a leak (so the tests above can fail).
#[test]
#[should_panic(expected = "the log holds `mg_leaked`")]
fn the_log_check_finds_a_leaked_secret() {
    assert_clean(
        "INFO request token=mg_leaked status=200",
        &["mg_leaked".to_owned()],
        "control",
    );
}
