//! Injected storage faults at the engine: with a write error, a failed sync, a sync that fails
//! after the write landed, or a full disk armed on the store, `Engine::decide` and
//! `Engine::decide_grouped` answer with an error, never an allow and never an answer without a
//! durable record. Once the fault clears, the next decision is allowed, the ledger verifies, and
//! a failed decision is absent (or, when the write landed, present exactly once and never
//! answered). Every write method of the store obeys the switch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Mutex;

use common::*;
use modelgate::engine::{audit, Decision, EngineError};
use modelgate::ledger::{
    verify_store, Arming, Fault, Faults, FaultyStore, GroupCommit, GroupOptions, LedgerError,
    RecordDraft, RecordKind, SqliteStore, Store,
};
use serde_json::json;

/// A complete tier-0 request to production, which the reference bundle allows.
fn allowed_request() -> Vec<u8> {
    let (md, approvals) = complete("credit-risk-scorer", "2.1.0", 0);
    serde_json::to_vec(&request(
        "credit-risk-scorer",
        "2.1.0",
        "production",
        &with(&md, &approvals),
    ))
    .unwrap()
}

fn decisions(store: &dyn Store) -> usize {
    store.records_of_kind(RecordKind::Decision).unwrap().len()
}

fn assert_verifies(store: &dyn Store) {
    let report = verify_store(store).unwrap();
    assert!(report.failure.is_none(), "{:?}", report.failure);
}

/// Asserts that `decision` is durable: its record is stored at its index with its leaf hash.
fn assert_durable(store: &dyn Store, decision: &Decision) {
    let stored = store
        .record(decision.ledger.index)
        .unwrap()
        .unwrap_or_else(|| panic!("answered decision {} is not stored", decision.ledger.index));
    assert_eq!(hex::encode(stored.leaf_hash), decision.ledger.leaf_hash);
    assert_eq!(stored.kind, RecordKind::Decision);
}

/// The error `err` carries the injected fault's message.
fn assert_names(err: &EngineError, fault: Fault) {
    let text = err.to_string();
    assert!(
        matches!(err, EngineError::Ledger(_)),
        "{fault}: not a ledger error: {err:?}"
    );
    assert!(text.contains(fault.message()), "{fault}: {text}");
}

/// Each fault, armed until cleared, fails three direct decisions in a row with the fault's
/// error; after clearing, the next decision is an allow, the ledger verifies, and the failed
/// decisions are absent, or (sync error after the write) present exactly once each.
#[test]
fn direct_decisions_under_each_fault_fail_closed_and_recover_after_clearing() {
    let bytes = allowed_request();
    for fault in Fault::ALL {
        let f = Fixture::new();
        let mut store = FaultyStore::new(f.ws.store().unwrap());
        let faults = store.faults();
        f.engine.activate_bundle(&mut store).unwrap();
        let (size, before) = (store.size().unwrap(), decisions(&store));

        faults.arm(fault, Arming::UntilCleared);
        for _ in 0..3 {
            let err = f.engine.decide(&mut store, &bytes).unwrap_err();
            assert_names(&err, fault);
        }
        let landed = if fault.lands() { 3 } else { 0 };
        assert_eq!(store.size().unwrap(), size + landed, "{fault}");
        assert_eq!(decisions(&store), before + landed as usize, "{fault}");
        assert_eq!(faults.counts().of(fault), 3, "{fault}");
        assert_eq!(faults.counts().injected(), 3, "{fault}");

        faults.clear();
        let d = f.engine.decide(&mut store, &bytes).unwrap();
        assert!(d.is_allow(), "{fault}");
        assert_eq!(d.ledger.index, size + landed, "{fault}");
        assert_durable(&store, &d);
        assert_eq!(decisions(&store), before + landed as usize + 1, "{fault}");
        assert_verifies(&store);
        eprintln!("{fault}: {:?}", faults.counts());
    }
}

/// A fault armed once fails exactly one decision: the next one, unarmed, is allowed.
#[test]
fn a_fault_armed_once_fails_one_decision_only() {
    let bytes = allowed_request();
    let f = Fixture::new();
    let mut store = FaultyStore::new(f.ws.store().unwrap());
    f.engine.activate_bundle(&mut store).unwrap();
    let faults = store.faults();
    faults.arm(Fault::DiskFull, Arming::Once);
    assert_names(
        &f.engine.decide(&mut store, &bytes).unwrap_err(),
        Fault::DiskFull,
    );
    assert_eq!(faults.armed(), None);
    let d = f.engine.decide(&mut store, &bytes).unwrap();
    assert!(d.is_allow());
    assert_durable(&store, &d);
    assert_eq!(faults.counts().disk_full, 1);
}

/// Through the group-commit appender: each fault fails the batch and every caller in it gets
/// `BatchFailed` naming the fault; the appender remembers the failure (for readiness) until the
/// next batch commits; after clearing, the next decision is allowed and the ledger verifies.
#[test]
fn grouped_decisions_under_each_fault_fail_closed_and_the_appender_remembers_the_failure() {
    let bytes = allowed_request();
    for fault in Fault::ALL {
        let f = Fixture::new();
        let path = f.ws.ledger_path();
        let faults = Faults::new();
        let appender = GroupCommit::start(
            Box::new(FaultyStore::with_faults(
                SqliteStore::open(&path).unwrap(),
                faults.clone(),
            )),
            GroupOptions::default(),
        )
        .unwrap();
        let reader = SqliteStore::open_read_only(&path).unwrap();
        let (size, before) = (reader.size().unwrap(), decisions(&reader));
        assert_eq!(appender.last_failure(), None);

        faults.arm(fault, Arming::UntilCleared);
        for attempt in 1..=2 {
            let err = f
                .engine
                .decide_grouped(&reader, &appender, &bytes)
                .unwrap_err();
            assert!(
                matches!(err, EngineError::Ledger(LedgerError::BatchFailed(_))),
                "{fault}: {err:?}"
            );
            assert_names(&err, fault);
            let failure = appender.last_failure().expect("the failure is remembered");
            assert!(failure.message.contains(fault.message()), "{failure:?}");
            assert_eq!(failure.consecutive, attempt);
        }
        let landed = if fault.lands() { 2 } else { 0 };
        assert_eq!(reader.size().unwrap(), size + landed, "{fault}");
        assert_eq!(decisions(&reader), before + landed as usize, "{fault}");

        faults.clear();
        let d = f.engine.decide_grouped(&reader, &appender, &bytes).unwrap();
        assert!(d.is_allow(), "{fault}");
        assert_durable(&reader, &d);
        assert_eq!(appender.last_failure(), None, "a commit clears the failure");
        assert_eq!(appender.stats().failed_batches, 2);
        drop(appender);
        assert_eq!(decisions(&reader), before + landed as usize + 1, "{fault}");
        assert_verifies(&reader);
        eprintln!("{fault} (grouped): {:?}", faults.counts());
    }
}

/// Four threads decide while a full disk comes and goes (armed for a few writes at a time):
/// every answer that is a decision is durable with the leaf hash it was answered with, every
/// other answer is the fault's error, and the ledger verifies.
#[test]
fn concurrent_grouped_decisions_under_intermittent_faults_are_answered_only_when_durable() {
    let bytes = allowed_request();
    let f = Fixture::new();
    let path = f.ws.ledger_path();
    let faults = Faults::new();
    let appender = GroupCommit::start(
        Box::new(FaultyStore::with_faults(
            SqliteStore::open(&path).unwrap(),
            faults.clone(),
        )),
        GroupOptions::default(),
    )
    .unwrap();
    let answered = Mutex::new(Vec::<Decision>::new());
    let failed = Mutex::new(0u32);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (appender, answered, failed, path, bytes) =
                (&appender, &answered, &failed, &path, &bytes);
            let engine = &f.engine;
            s.spawn(move || {
                let reader = SqliteStore::open_read_only(path).unwrap();
                for _ in 0..8 {
                    match engine.decide_grouped(&reader, appender, bytes) {
                        Ok(d) => answered.lock().unwrap().push(d),
                        Err(e) => {
                            assert_names(&e, Fault::DiskFull);
                            *failed.lock().unwrap() += 1;
                        }
                    }
                }
            });
        }
        for _ in 0..6 {
            faults.arm(Fault::DiskFull, Arming::Times(2));
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
    });
    drop(appender);
    let answered = answered.into_inner().unwrap();
    let failed = failed.into_inner().unwrap();
    let reader = SqliteStore::open_read_only(&path).unwrap();
    for d in &answered {
        assert_durable(&reader, d);
    }
    assert_eq!(answered.len() + failed as usize, 32);
    assert!(
        failed > 0,
        "the fault armed before the first commit failed nothing"
    );
    assert_eq!(decisions(&reader), answered.len());
    assert_verifies(&reader);
    eprintln!(
        "{} answered, {failed} failed; {:?}",
        answered.len(),
        faults.counts()
    );
}

/// Every write method of the trait obeys the switch: `append`, `append_unless`,
/// `append_batch`, `put_attestation`, `file_attestation` and `put_checkpoint` fail with the
/// fault, and land only for a sync error after the write; reads pass through while armed.
#[test]
fn every_write_method_obeys_the_switch_and_reads_pass_through() {
    let envelope =
        br#"{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[]}"#;
    let digest = modelgate::digest::sha256_prefixed(envelope);
    let draft = || RecordDraft {
        kind: RecordKind::Observation,
        time: now(),
        body: json!({"source": "drill", "model": "m", "version": "1", "environment": "dev"}),
    };
    for fault in Fault::ALL {
        let f = Fixture::new();
        let mut store = FaultyStore::new(f.ws.store().unwrap());
        let faults = store.faults();
        let signer = f.ws.note_signer().unwrap();
        let origin = f.ws.config().origin.clone();
        let size = store.size().unwrap();
        faults.arm(fault, Arming::UntilCleared);

        let writes: Vec<(&str, Result<(), LedgerError>)> = vec![
            ("append", store.append(&[draft()]).map(drop)),
            (
                "append_unless",
                store
                    .append_unless(RecordKind::KeyChange, size + 10, &[draft()])
                    .map(drop),
            ),
            (
                "append_batch",
                modelgate::ledger::append_one(
                    &mut store,
                    modelgate::ledger::AppendRequest::records(vec![draft()]),
                )
                .map(drop),
            ),
            ("put_attestation", store.put_attestation(&digest, envelope)),
            (
                "file_attestation",
                store.file_attestation("m", "1", &digest, envelope),
            ),
        ];
        for (name, result) in writes {
            let err = result.expect_err(name);
            assert!(err.to_string().contains(fault.message()), "{name}: {err}");
        }
        let landed = if fault.lands() { 3 } else { 0 };
        assert_eq!(store.size().unwrap(), size + landed, "{fault}");
        assert_eq!(
            store.attestation(&digest).unwrap().is_some(),
            fault.lands(),
            "{fault}"
        );
        assert_eq!(
            store.filed_attestations("m", "1").unwrap().len(),
            usize::from(fault.lands()),
            "{fault}"
        );
        let err = audit::checkpoint(&mut store, &signer, &origin).unwrap_err();
        assert!(err.to_string().contains(fault.message()), "{err}");
        let stored = store.latest_checkpoint().unwrap().map(|(s, _)| s);
        assert_eq!(
            stored == Some(size + landed),
            fault.lands(),
            "checkpoint landed iff the fault lands: {stored:?}"
        );
        // Reads while armed: the tree, proofs and records answer as usual.
        assert!(store.tree_root(store.size().unwrap()).is_ok());
        assert!(store.record(0).unwrap().is_some());
        assert_eq!(faults.counts().of(fault), 6, "{fault}");

        faults.clear();
        store.append(&[draft()]).unwrap();
        assert_verifies(&store);
        eprintln!("{fault} (write methods): {:?}", faults.counts());
    }
}
