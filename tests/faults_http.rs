//! Injected storage faults through the HTTP API (`server::router`, no socket): the server state
//! is opened with a `FaultyStore` as the appender's store. While a fault is armed,
//! `POST /v1/decisions` is a 5xx in the shared error shape, never a 200 allow, and `/readyz` is
//! 503 with `ledger_writable: false` and the failure's message; once cleared, the next decision
//! is a 200 allow that is in the ledger, and `/readyz` is 200 again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod http_support;

use std::sync::Arc;

use common::*;
use http_support::{issue_tokens, Api};
use modelgate::ledger::{verify_store, Arming, Fault, Faults, FaultyStore, RecordKind, Store};
use modelgate::server::state::AppState;
use modelgate::workspace::Workspace;
use serde_json::Value;

/// A served workspace whose appender writes through a `FaultyStore` obeying the returned switch.
fn faulty_api() -> (Api, Faults) {
    let fx = Fixture::new();
    let (pipeline, auditor, admin) = issue_tokens(&fx.ws);
    let ws = Workspace::open(fx.dir.path()).unwrap();
    let faults = Faults::new();
    let appender_store = FaultyStore::with_faults(ws.store().unwrap(), faults.clone());
    let state = AppState::open_with(ws, fx.clock.clone(), Box::new(appender_store)).unwrap();
    let api = Api {
        fx,
        state: Arc::new(state),
        pipeline,
        auditor,
        admin,
    };
    (api, faults)
}

fn allowed() -> Value {
    let (md, approvals) = complete("fraud-scorer", "1.4.0", 2);
    request(
        "fraud-scorer",
        "1.4.0",
        "production",
        &with(&md, &approvals),
    )
}

fn decisions(api: &Api) -> usize {
    api.fx
        .store
        .records_of_kind(RecordKind::Decision)
        .unwrap()
        .len()
}

/// For each fault: while armed, decisions are 500 `internal` (the shared shape; the harness
/// checks it on every error answer) and nothing is answered as allowed; `/readyz` is 503
/// `not_ready` naming the failure (its own write probe fails too); after clearing, `/readyz` is
/// 200 again through its probe, a decision is a 200 allow whose record is in the ledger, and
/// the ledger verifies.
#[tokio::test]
async fn a_faulty_ledger_closes_the_gate_and_readiness_reports_it_until_a_write_succeeds() {
    for fault in Fault::ALL {
        let (api, faults) = faulty_api();
        api.send("GET", "/readyz", None, None).await.expect(200);
        let before = decisions(&api);

        faults.arm(fault, Arming::UntilCleared);
        for _ in 0..2 {
            let answer = api.decide(&allowed()).await;
            assert!(
                answer.status.is_server_error(),
                "{fault}: {} {}",
                answer.status,
                answer.text()
            );
            assert_eq!(answer.code(), "internal", "{fault}");
            assert!(
                !answer.text().contains("\"allow\""),
                "{fault}: {}",
                answer.text()
            );
        }
        let landed = if fault.lands() { 2 } else { 0 };
        assert_eq!(decisions(&api), before + landed, "{fault}");

        let ready = api.send("GET", "/readyz", None, None).await.expect(503);
        assert_eq!(ready.code(), "not_ready");
        let message = ready.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            message.contains("\"ledger_writable\":false"),
            "{fault}: {message}"
        );
        assert!(message.contains(fault.message()), "{fault}: {message}");
        // Two failed batches, then the probe readiness made, which failed too.
        assert!(
            message.contains("\"failed_writes_in_a_row\":3"),
            "{fault}: {message}"
        );

        faults.clear();
        // Probes are spaced (an unauthenticated caller cannot queue writes back to back).
        tokio::time::sleep(modelgate::ledger::group::PROBE_INTERVAL).await;
        // Once the cause is gone, readiness's own probe write succeeds: ready again without
        // waiting for a decision (a load balancer that took the instance out sends it traffic
        // again).
        let ready = api
            .send("GET", "/readyz", None, None)
            .await
            .expect(200)
            .json();
        assert!(ready["checks"].get("ledger_error").is_none(), "{ready:#}");
        let answer = api.decide(&allowed()).await.expect(200).json();
        assert_eq!(answer["decision"], "allow", "{fault}: {answer:#}");
        let index = answer["ledger"]["index"].as_u64().unwrap();
        let stored = api.fx.store.record(index).unwrap().unwrap();
        assert_eq!(
            hex::encode(stored.leaf_hash),
            answer["ledger"]["leaf_hash"].as_str().unwrap()
        );
        let ready = api
            .send("GET", "/readyz", None, None)
            .await
            .expect(200)
            .json();
        assert_eq!(ready["checks"]["ledger_writable"], true, "{fault}");
        assert!(ready["checks"].get("ledger_error").is_none(), "{ready:#}");
        assert_eq!(decisions(&api), before + landed + 1, "{fault}");
        let report = verify_store(&api.fx.store).unwrap();
        assert!(report.failure.is_none(), "{fault}: {:?}", report.failure);
        eprintln!("{fault} (http): {:?}", faults.counts());
    }
}

/// A full disk armed for one write: the one decision it hits is a 500, `/metrics` counts the
/// failed batch, and the very next decision is allowed without clearing anything.
#[tokio::test]
async fn a_one_shot_disk_full_fails_one_decision_and_is_counted_as_a_failed_batch() {
    let (api, faults) = faulty_api();
    faults.arm(Fault::DiskFull, Arming::Once);
    api.decide(&allowed()).await.expect(500);
    let metrics = api
        .send("GET", "/metrics", None, None)
        .await
        .expect(200)
        .text();
    let failed = metrics
        .lines()
        .find(|l| l.contains("ledger_failed_batches") && !l.starts_with('#'))
        .unwrap_or_else(|| panic!("no failed-batch counter in:\n{metrics}"));
    assert!(failed.ends_with(" 1"), "{failed}");
    let answer = api.decide(&allowed()).await.expect(200).json();
    assert_eq!(answer["decision"], "allow");
    api.send("GET", "/readyz", None, None).await.expect(200);
    assert_eq!(faults.counts().disk_full, 1);
}
