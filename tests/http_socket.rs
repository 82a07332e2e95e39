//! The server over a real socket (127.0.0.1, an ephemeral port): `server::serve_until` answers
//! real HTTP/1.1, a stalled body meets the deadline, graceful shutdown finishes the decisions in
//! flight and leaves a whole ledger, and `modelgate serve` logs JSON lines without secrets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod http_support;

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::time::Duration;

use common::{complete, request, with, Fixture};
use http_support::wire::{self, WireAnswer};
use http_support::{issue_tokens, Running};
use modelgate::attest::Envelope;
use modelgate::ledger::{parse_record, verify_store, RecordKind, Store as _};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

/// The body of a complete (allowed) tier-2 production request for `model`.
fn allowed_body(model: &str) -> Vec<u8> {
    let (md, approvals) = complete(model, "1.0.0", 2);
    serde_json::to_vec(&request(
        model,
        "1.0.0",
        "production",
        &with(&md, &approvals),
    ))
    .unwrap()
}

fn decision_records(fx: &Fixture) -> Vec<(u64, String)> {
    let store = fx.ws.store().unwrap();
    store
        .records(0, store.size().unwrap())
        .unwrap()
        .into_iter()
        .filter(|r| parse_record(&r.bytes).unwrap().kind == RecordKind::Decision)
        .map(|r| (r.index, hex::encode(r.leaf_hash)))
        .collect()
}

/// The ledger position of a 200 decision answer.
fn position(answer: &WireAnswer) -> (u64, String) {
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let v = answer.json();
    assert_eq!(v["decision"], "allow", "{v:#}");
    (
        v["ledger"]["index"].as_u64().unwrap(),
        v["ledger"]["leaf_hash"].as_str().unwrap().to_owned(),
    )
}

/// Real HTTP/1.1 on a socket: a decision and an auditor read are answered; then shutdown is
/// triggered while decisions are in flight (their bodies still arriving, others racing the
/// close): each in-flight decision is answered 200, every 200 is in the ledger at the index and
/// leaf hash it was told, nothing unanswered is recorded, and the ledger verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_socket_decisions_are_answered_and_shutdown_keeps_every_answered_decision() {
    let fx = Fixture::new();
    let (pipeline, auditor, _) = issue_tokens(&fx.ws);
    let server = Running::start(&fx, |_| {}).await;
    let addr = server.addr;

    let body = allowed_body("model-0");
    let first = wire::exchange(
        addr,
        &wire::request("POST", "/v1/decisions", Some(&pipeline), Some(&body)),
    )
    .await
    .unwrap();
    assert_eq!(first.header("content-type"), Some("application/json"));
    let mut answered = vec![position(&first)];

    let listed = wire::exchange(
        addr,
        &wire::request("GET", "/v1/decisions?model=model-0", Some(&auditor), None),
    )
    .await
    .unwrap();
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.json()["decisions"][0]["ledger"]["index"],
        answered[0].0
    );
    let refused = wire::exchange(
        addr,
        &wire::request("GET", "/v1/decisions", Some(&pipeline), None),
    )
    .await
    .unwrap();
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["error"]["code"], "forbidden");

    // Decisions in flight: head and half the body sent, the rest after shutdown begins.
    let mut in_flight = Vec::new();
    for i in 1..=4 {
        let body = allowed_body(&format!("model-{i}"));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(&wire::head(
                "POST",
                "/v1/decisions",
                Some(&pipeline),
                Some(body.len()),
            ))
            .await
            .unwrap();
        let (now, later) = body.split_at(body.len() / 2);
        stream.write_all(now).await.unwrap();
        in_flight.push((stream, later.to_vec()));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Requests racing the close: each is either answered in full or never accepted.
    let racing: Vec<_> = (5..=8)
        .map(|i| {
            let bytes = wire::request(
                "POST",
                "/v1/decisions",
                Some(&pipeline),
                Some(&allowed_body(&format!("model-{i}"))),
            );
            tokio::spawn(async move { wire::exchange(addr, &bytes).await })
        })
        .collect();
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(50)).await;
    for (mut stream, rest) in in_flight {
        stream.write_all(&rest).await.unwrap();
        let answer = wire::read_answer(&mut stream).await.unwrap();
        answered.push(position(&answer));
    }
    for task in racing {
        if let Ok(answer) = task.await.unwrap() {
            answered.push(position(&answer));
        }
    }
    stopping.await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );

    answered.sort();
    assert_eq!(
        decision_records(&fx),
        answered,
        "recorded decisions = answered decisions"
    );
    let report = verify_store(&fx.ws.store().unwrap()).unwrap();
    assert!(report.failure.is_none(), "{:?}", report.failure);
}

/// A client that sends its head but never its body gets a 503 `deadline_exceeded` in the
/// shared error shape when the deadline passes, not a hung connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_answered_503_at_the_deadline() {
    let fx = Fixture::new();
    let (pipeline, _, _) = issue_tokens(&fx.ws);
    let server = Running::start(&fx, |s| s.deadline_ms = 300).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(&wire::head(
            "POST",
            "/v1/decisions",
            Some(&pipeline),
            Some(4096),
        ))
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), wire::read_answer(&mut stream))
        .await
        .expect("answered within 5 s")
        .unwrap();
    assert_eq!(answer.status, 503);
    let v = answer.json();
    assert_eq!(v["error"]["code"], "deadline_exceeded");
    assert_eq!(v.as_object().unwrap().len(), 1);
    server.stop().await;
    assert!(decision_records(&fx).is_empty());
}

/// Reads stderr lines of the child on a thread.
fn lines_of(stderr: std::process::ChildStderr) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// `modelgate serve` logs JSON lines: one `request` line per request (method, path, status,
/// latency; a decision's id and ledger index), and never a token, the Authorization header, or
/// a request body (no attestation payload). SIGTERM stops it cleanly (exit 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modelgate_serve_logs_one_json_line_per_request_and_no_secrets() {
    let fx = Fixture::new();
    let (pipeline, auditor, admin) = issue_tokens(&fx.ws);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_modelgate"))
        .arg("--home")
        .arg(fx.dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("MODELGATE_HOME")
        .env_remove("MODELGATE_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(child.stderr.take().unwrap());
    let mut log: Vec<String> = Vec::new();
    let addr: SocketAddr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the server says where it listens");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        log.push(line);
        if let Some(a) = v["address"].as_str() {
            break a.parse().unwrap();
        }
    };

    let (md, approvals) = complete("fraud-scorer", "1.4.0", 2);
    let envelopes = with(&md, &approvals);
    let body =
        serde_json::to_vec(&request("fraud-scorer", "1.4.0", "production", &envelopes)).unwrap();
    let decided = wire::exchange(
        addr,
        &wire::request("POST", "/v1/decisions", Some(&pipeline), Some(&body)),
    )
    .await
    .unwrap();
    assert_eq!(decided.status, 200);
    let index = decided.json()["ledger"]["index"].as_u64().unwrap();
    let created = wire::exchange(
        addr,
        &wire::request(
            "POST",
            "/v1/admin/tokens",
            Some(&admin),
            Some(br#"{"name":"late","role":"auditor"}"#),
        ),
    )
    .await
    .unwrap();
    assert_eq!(created.status, 201);
    let late = created.json()["token"].as_str().unwrap().to_owned();
    for (token, want) in [(&auditor, 200), (&late, 200), (&pipeline, 403)] {
        let a = wire::exchange(
            addr,
            &wire::request("GET", "/v1/decisions?limit=5", Some(token), None),
        )
        .await
        .unwrap();
        assert_eq!(a.status, want);
    }
    let unknown = "mg_not-a-token-anyone-was-given";
    let a = wire::exchange(
        addr,
        &wire::request("GET", "/v1/ledger/vkey", Some(unknown), None),
    )
    .await
    .unwrap();
    assert_eq!(a.status, 401);
    let sent = 6;

    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    log.extend(lines.iter());

    let events: Vec<Value> = log
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = events
        .iter()
        .filter(|e| e["message"] == "request")
        .collect();
    assert_eq!(
        requests.len(),
        sent,
        "one line per request:\n{}",
        log.join("\n")
    );
    for r in &requests {
        assert!(r["status"].is_u64() && r["latency_ms"].is_number(), "{r}");
        assert!(
            r["span"]["method"].is_string() && r["span"]["path"].is_string(),
            "{r}"
        );
    }
    let decision = requests
        .iter()
        .find(|r| r["span"]["path"] == "/v1/decisions" && r["span"]["method"] == "POST")
        .unwrap();
    assert_eq!(decision["status"], 200);
    assert_eq!(decision["span"]["ledger_index"], index);
    assert_eq!(
        decision["span"]["decision_id"],
        decided.json()["ledger"]["leaf_hash"]
    );
    assert!(
        events.iter().any(|e| e["message"] == "modelgate stopped"),
        "{}",
        log.join("\n")
    );

    let text = log.join("\n");
    for secret in [&pipeline, &auditor, &admin, &late, &unknown.to_owned()] {
        assert!(!text.contains(secret.as_str()), "a token is in the log");
    }
    assert!(!text.to_ascii_lowercase().contains("bearer"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("authorization"),
        "{text}"
    );
    for e in &envelopes {
        let payload = Envelope::to_json_value(e)["payload"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            !text.contains(&payload[..64]),
            "an attestation payload is in the log"
        );
    }
}
