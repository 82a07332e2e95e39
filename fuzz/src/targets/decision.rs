//! `decision`: the input bytes as a promotion request body, decided by a real engine
//! ([`Engine::decide`]) with a fixed clock on a SQLite ledger in a scratch workspace, created
//! once per thread with the personas trusted.
//!
//! Invariants: a decision (allow or deny) is durable: the ledger holds, at the returned index
//! and leaf hash, a `decision` record whose body is exactly the answer; an invalid request
//! records nothing; every attestation the decision counts is an envelope of the request with a
//! signature by a trusted, valid key that really verifies over the PAE, and every counted
//! approval was signed by its approver's key, which holds the approving role.

use std::cell::RefCell;
use std::sync::Arc;

use modelgate::attest::{pae, Envelope, Role, TrustStore};
use modelgate::canonical::to_canonical_vec;
use modelgate::clock::{Clock, FixedClock};
use modelgate::digest::sha256_prefixed;
use modelgate::engine::{change_trust, load_trust, Decision, Engine, EngineError};
use modelgate::ledger::{parse_record, RecordKind, Store};
use modelgate::workspace::Workspace;
use serde_json::Value;

use super::personas::{now, trust_changes};

struct Fixture {
    engine: Engine,
    store: Box<dyn Store>,
    trust: TrustStore,
    // Dropped last: removes the workspace.
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = super::scratch_dir();
    let clock = Arc::new(FixedClock(now()));
    let ws = Workspace::init(dir.path(), None, clock.clone())
        .unwrap_or_else(|e| panic!("workspace: {e}"));
    let engine = ws
        .engine(clock.clone())
        .unwrap_or_else(|e| panic!("engine: {e}"));
    let mut store = ws.store().unwrap_or_else(|e| panic!("store: {e}"));
    for change in trust_changes() {
        change_trust(&mut store, clock.as_ref() as &dyn Clock, &change)
            .unwrap_or_else(|e| panic!("trust: {e}"));
    }
    let trust = load_trust(&store).unwrap_or_else(|e| panic!("trust: {e}"));
    Fixture {
        engine,
        store,
        trust,
        _dir: dir,
    }
}

thread_local! {
    static FIXTURE: RefCell<Option<Fixture>> = const { RefCell::new(None) };
}

/// The target.
pub fn run(data: &[u8]) {
    FIXTURE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let f = slot.get_or_insert_with(fixture);
        let before = f.store.size().unwrap_or_else(|e| panic!("size: {e}"));
        match f.engine.decide(&mut f.store, data) {
            Ok(decision) => check_decision(f, data, &decision),
            Err(EngineError::Invalid(_)) => {
                let after = f.store.size().unwrap_or_else(|e| panic!("size: {e}"));
                assert_eq!(before, after, "an invalid request was recorded");
            }
            Err(e) => panic!("the engine failed on a request: {e}"),
        }
    })
}

fn check_decision(f: &Fixture, data: &[u8], decision: &Decision) {
    let stored = match f.store.record(decision.ledger.index) {
        Ok(Some(stored)) => stored,
        other => panic!("no record at the decision's index: {other:?}"),
    };
    assert_eq!(hex::encode(stored.leaf_hash), decision.ledger.leaf_hash);
    let record = parse_record(&stored.bytes).unwrap_or_else(|e| panic!("record: {e}"));
    assert_eq!(record.kind, RecordKind::Decision);
    let answered = serde_json::to_value(&decision.body).unwrap_or_else(|e| panic!("body: {e}"));
    assert_eq!(
        to_canonical_vec(&record.body).ok(),
        to_canonical_vec(&answered).ok(),
        "the recorded decision is not the answer"
    );
    assert_eq!(
        record.body.get("decision").and_then(Value::as_str),
        Some(if decision.is_allow() { "allow" } else { "deny" })
    );

    let request: Value = serde_json::from_slice(data).unwrap_or_else(|e| panic!("json: {e}"));
    let carried: Vec<(String, Envelope)> = request
        .get("attestations")
        .and_then(Value::as_array)
        .map(|all| {
            all.iter()
                .filter_map(|v| {
                    let digest = sha256_prefixed(&to_canonical_vec(v).ok()?);
                    Some((digest, Envelope::from_value(v).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    let envelope = |digest: &str| {
        carried
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, e)| e)
            .unwrap_or_else(|| panic!("counted attestation {digest} is not in the request"))
    };
    let now = now();
    for counted in decision.body.attestations.iter().filter(|a| a.counted) {
        let env = envelope(&counted.digest);
        assert!(
            signers(&f.trust, env, now).next().is_some(),
            "attestation {} counted without a valid trusted signature",
            counted.digest
        );
    }
    for approval in &decision.body.approvals {
        assert!(
            decision
                .body
                .attestations
                .iter()
                .any(|a| a.counted && a.digest == approval.attestation),
            "approval {} is not a counted attestation",
            approval.attestation
        );
        let env = envelope(&approval.attestation);
        let role: Option<Role> = Role::ALL.into_iter().find(|r| r.as_str() == approval.role);
        assert!(
            signers(&f.trust, env, now)
                .any(|k| k.principal == approval.approver
                    && role.is_some_and(|r| k.roles.contains(&r))),
            "approval by `{}` as `{}` is not signed by a key of theirs holding that role",
            approval.approver,
            approval.role
        );
    }
}

/// The trusted keys, valid at `now` and not revoked, with a signature of `env` over its PAE.
fn signers<'a>(
    trust: &'a TrustStore,
    env: &'a Envelope,
    now: time::OffsetDateTime,
) -> impl Iterator<Item = &'a modelgate::attest::TrustedKey> + 'a {
    let msg = pae(&env.payload_type, &env.payload);
    trust.keys().filter(move |k| {
        k.revoked.is_none()
            && k.not_before.is_none_or(|nb| nb <= now)
            && k.not_after.is_none_or(|na| now <= na)
            && env
                .signatures
                .iter()
                .any(|s| k.public_key.verify_strict(&msg, &s.sig).is_ok())
    })
}
