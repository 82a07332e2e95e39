//! Decisions through the group-commit appender: the same answers as the direct path, every one
//! durable with its envelopes, concurrent callers sharing transactions, a trust change landing
//! between judgement and commit re-judged, and automatic checkpoints after batches.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[macro_use]
mod ledger_support;

use std::sync::{Arc, Mutex};

use common::*;
use modelgate::attest::KeyChange;
use modelgate::engine::audit::AutoCheckpoint;
use modelgate::engine::change_trust;
use modelgate::engine::Decision;
use modelgate::ledger::{
    verify_store, GroupCommit, GroupOptions, LedgerError, RecordKind, Store, StoredRecord,
};
use modelgate::policy::Outcome;

fn group(f: &Fixture, options: GroupOptions) -> GroupCommit {
    let store = f.ws.store().unwrap();
    GroupCommit::start(store, options).unwrap()
}

/// Eight threads decide allow and deny requests concurrently: each answer equals the direct
/// path's, each decision record and envelope is stored, and the ledger verifies.
#[test]
fn concurrent_grouped_decisions_match_direct_ones_and_are_all_durable() {
    let mut f = Fixture::new();
    f.engine.activate_bundle(&mut f.store).unwrap();
    let (md, approvals) = complete("credit-risk-scorer", "2.1.0", 0);
    let allow = serde_json::to_vec(&request(
        "credit-risk-scorer",
        "2.1.0",
        "production",
        &with(&md, &approvals),
    ))
    .unwrap();
    let deny =
        serde_json::to_vec(&request("credit-risk-scorer", "2.1.0", "production", &[md])).unwrap();
    let direct_allow = f.decide_bytes(&allow).unwrap();
    let direct_deny = f.decide_bytes(&deny).unwrap();
    assert_eq!(direct_allow.body.decision, Outcome::Allow);
    assert_eq!(direct_deny.body.decision, Outcome::Deny);

    let appender = group(&f, GroupOptions::default());
    let decisions = Mutex::new(Vec::<Decision>::new());
    let (engine, ws) = (&f.engine, &f.ws);
    std::thread::scope(|s| {
        for t in 0..8 {
            let appender_and_decisions = (&appender, &decisions);
            let (allow, deny) = (&allow, &deny);
            s.spawn(move || {
                let (appender, decisions) = appender_and_decisions;
                let reader = ws.read_store().unwrap();
                for i in 0..5 {
                    let bytes = if (t + i) % 2 == 0 { allow } else { deny };
                    let d = engine.decide_grouped(&*reader, appender, bytes).unwrap();
                    decisions.lock().unwrap().push(d);
                }
            });
        }
    });
    let stats = appender.stats();
    drop(appender);
    let decisions = decisions.into_inner().unwrap();
    assert_eq!(decisions.len(), 40);
    assert_eq!(stats.records, 40);
    for d in &decisions {
        let direct = match d.body.decision {
            Outcome::Allow => &direct_allow,
            Outcome::Deny => &direct_deny,
        };
        assert_eq!(d.body.reasons, direct.body.reasons);
        assert_eq!(d.body.input_digest, direct.body.input_digest);
        let stored = f.store.record(d.ledger.index).unwrap().unwrap();
        assert_eq!(hex::encode(stored.leaf_hash), d.ledger.leaf_hash);
        assert_eq!(stored.kind, RecordKind::Decision);
        for a in &d.body.attestations {
            assert!(f.store.attestation(&a.digest).unwrap().is_some());
        }
    }
    f.assert_ledger_intact();
}

/// Invalid input is refused before anything is queued: nothing is recorded.
#[test]
fn invalid_grouped_requests_record_nothing() {
    let f = Fixture::new();
    let appender = group(&f, GroupOptions::default());
    let before = f.size();
    let err = f
        .engine
        .decide_grouped(&f.store, &appender, b"{not json")
        .unwrap_err();
    assert!(!invalid(err).is_empty());
    drop(appender);
    assert_eq!(f.size(), before);
}

/// A key revoked after the trust store was read but before the batch committed: the guard
/// refuses the stale decision and the engine judges again, so the revoked key never counts.
#[test]
fn a_revocation_committed_in_between_is_seen_by_the_grouped_decision() {
    let f = Fixture::new();
    let (md, approvals) = complete("fraud-detector", "1.0.0", 2);
    let bytes = serde_json::to_vec(&request(
        "fraud-detector",
        "1.0.0",
        "production",
        &with(&md, &approvals),
    ))
    .unwrap();
    // The reader revokes the owner right after the engine has read the trust store.
    let revoked = RevokeAfterTrustRead {
        inner: f.ws.store().unwrap(),
        pending: Mutex::new(Some((f.ws.store().unwrap(), f.clock.clone()))),
        trust_reads: Mutex::new(0),
    };
    let appender = group(&f, GroupOptions::default());
    let d = f
        .engine
        .decide_grouped(&revoked, &appender, &bytes)
        .unwrap();
    drop(appender);
    assert_eq!(d.body.decision, Outcome::Deny, "{:?}", reason_ids(&d));
    assert_finding(&d, "revoked");
    assert_eq!(*revoked.trust_reads.lock().unwrap(), 2, "judged twice");
    f.assert_ledger_intact();
}

/// The writer and clock a [`RevokeAfterTrustRead`] revokes with.
type PendingRevocation = (Box<dyn Store>, Arc<modelgate::clock::FixedClock>);

/// A reader whose first trust read returns the trust store as it was, then commits a
/// revocation of the owner's key through another connection.
struct RevokeAfterTrustRead {
    inner: Box<dyn Store>,
    pending: Mutex<Option<PendingRevocation>>,
    trust_reads: Mutex<u32>,
}

impl Store for RevokeAfterTrustRead {
    fn records_of_kind(&self, kind: RecordKind) -> Result<Vec<StoredRecord>, LedgerError> {
        let before = self.inner.records_of_kind(kind)?;
        if kind == RecordKind::KeyChange {
            *self.trust_reads.lock().unwrap() += 1;
            if let Some((mut writer, clock)) = self.pending.lock().unwrap().take() {
                let change = KeyChange::Revoke {
                    key_id: key(OLIVIA.1).public_key().key_id(),
                    reason: "key compromised".into(),
                };
                change_trust(&mut writer, clock.as_ref(), &change).unwrap();
            }
        }
        Ok(before)
    }
    forward_store!(append);
    forward_store!(reads);
}

/// With automatic checkpoints every 3 records, the appender signs them after its batches.
#[test]
fn the_checkpoint_hook_signs_after_batches() {
    let f = Fixture::new();
    let engine =
        f.ws.engine(f.clock.clone())
            .unwrap()
            .with_auto_checkpoints(AutoCheckpoint {
                signer: f.ws.note_signer().unwrap(),
                origin: "modelgate.test/ledger".into(),
                every_records: 3,
                every_seconds: 0,
            });
    let options = GroupOptions {
        after_batch: engine.checkpoint_hook(),
        ..GroupOptions::default()
    };
    let appender = group(&f, options);
    let (md, _) = complete("credit-risk-scorer", "2.1.0", 0);
    let bytes =
        serde_json::to_vec(&request("credit-risk-scorer", "2.1.0", "production", &[md])).unwrap();
    for _ in 0..4 {
        engine.decide_grouped(&f.store, &appender, &bytes).unwrap();
    }
    drop(appender);
    let (size, note) = f.store.latest_checkpoint().unwrap().unwrap();
    assert!(size >= 3, "{size}");
    assert!(note.starts_with("modelgate.test/ledger\n"), "{note}");
    assert!(verify_store(&f.store).unwrap().is_intact());
}
